package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sightlinehq/sightline/keyrate"
	"github.com/sightlinehq/sightline/sitedomain"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

// The admission steps batches and answers share, in the order
// docs/wire-format.md lists them: the client (admitClient), then the site
// (admitSite), checked once.

// siteChecks are an endpoint's own checks of an admitted site and origin:
// its rate, its privacy rules.
type siteChecks func(b *batch) *answer

// admitClient applies the per-IP rate, the cheapest defence, and keeps the
// client's address for enrichment.
func (s *Service) admitClient(b *batch) *answer {
	b.ip = s.cfg.trusted.ClientIP(b.r)
	return s.admitRate(b.ctx, s.ipRate, rateKey(b.ip), b.start, "rate_ip", "too many requests from this address")
}

// admitRate takes a token from key's bucket in lim, or refuses with 429,
// counting the hit under limit.
func (s *Service) admitRate(ctx context.Context, lim *keyrate.Limiter, key string, now time.Time, limit, msg string) *answer {
	if ok, wait := lim.Allow(key, now); !ok {
		a := s.refuse(ctx, http.StatusTooManyRequests, limit, wait, "%s", msg)
		return &a
	}
	return nil
}

// siteRateKey is a site's key in the per-site rate limiters.
func siteRateKey(site *siteconfig.Site) string { return strconv.FormatInt(site.GetSiteId(), 10) }

// dropByDNT answers 204 without storing when the visitor sends
// Do-Not-Track or Global Privacy Control and the site respects it.
func (s *Service) dropByDNT(b *batch) *answer {
	if b.site.GetSettings().GetRespectDoNotTrack() && (b.r.Header.Get("DNT") == "1" || b.r.Header.Get("Sec-GPC") == "1") {
		s.hit(b.ctx, "dnt")
		return &answer{code: http.StatusNoContent}
	}
	return nil
}

// admitSite checks the site once: it is known (?k=, else the body's
// siteKey), the origin is one of its domains (the Origin header, else the
// page URL), then the endpoint's own checks. The tracker sends ?k= and a
// browser sends Origin, so refusing a browser's request costs no body
// read; a request without one of them (not a browser, or an old one) is
// judged by its body, which read reads first (read records that it did:
// the intake's own read step then has nothing left to do).
func (s *Service) admitSite(b *batch, checks siteChecks, read func(*batch) *answer) *answer {
	key := b.query.Get("k")
	if key == "" || b.origin == "" {
		if a := read(b); a != nil {
			return a
		}
		if key == "" {
			key = b.env.SiteKey
		}
	}
	if a := s.lookupSite(b.ctx, b, key); a != nil {
		return a
	}
	if b.origin == "" && b.env.URL == "" {
		return &answer{code: http.StatusForbidden, msg: "no Origin header and no page.url to check against the site's domains"}
	}
	if a := s.checkSite(b); a != nil {
		return a
	}
	return checks(b)
}

// matchKey refuses a body whose siteKey is not the ?k= the request was
// admitted under (read steps call it once the body is decoded).
func matchKey(b *batch) *answer {
	if k := b.query.Get("k"); k != "" && b.env.SiteKey != k {
		return &answer{code: http.StatusBadRequest, msg: "siteKey in the body differs from ?k="}
	}
	return nil
}

func (s *Service) lookupSite(ctx context.Context, b *batch, key string) *answer {
	site, err := s.sites.Get(ctx, key)
	switch {
	case errors.Is(err, siteconfig.ErrNotFound):
		return &answer{code: http.StatusNotFound, msg: "unknown site key"}
	case err != nil:
		s.log.WarnContext(ctx, "site config unavailable", "error", err)
		return &answer{code: http.StatusServiceUnavailable, msg: "site configuration unavailable, retry later", retryAfter: s.cfg.RetryAfter}
	}
	b.site = site
	return nil
}

// checkSite checks the request's origin against the site's domains: the
// Origin header's host, or, without one, the host of the page URL the body
// names (b.env.URL).
func (s *Service) checkSite(b *batch) *answer {
	host := ""
	if b.origin != "" {
		if !b.originOK {
			return &answer{code: http.StatusForbidden, msg: "invalid Origin header"}
		}
		host = b.originHost
	} else if b.env.URL != "" {
		// No Origin (not a browser, or an old one): judge by the page URL.
		if u, err := url.Parse(b.env.URL); err == nil {
			host = u.Hostname()
		}
	}
	if !sitedomain.Match(b.site.GetDomains(), host) {
		return &answer{code: http.StatusForbidden, msg: fmt.Sprintf("origin %q is not one of the site's domains", host)}
	}
	return nil
}
