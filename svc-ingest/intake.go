package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	contract "github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-ingest/limits"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

func (s *Service) serveBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b := s.newBatch(w, r, start)
	// A slow body is cut at a deadline proportionate to what it may send
	// (readBody answers 408), not only at the server's read timeout.
	// net/http lifts it once the body is in, so it never cuts the handler.
	if err := http.NewResponseController(w).SetReadDeadline(start.Add(s.bodyDeadline(r.ContentLength, s.cfg.MaxBodyBytes))); err != nil {
		s.log.DebugContext(r.Context(), "cannot set the body read deadline", "error", err)
	}
	b.originHost, b.originOK = originHost(b.origin)
	a := s.intake(r, b)
	if b.span == nil {
		b.ctx, b.span = s.startSpan(r, start, "", "ingest.batch")
	}
	span := b.span
	if b.env.SessionID != "" {
		span.SetAttributes(attribute.String("sightline.session_id", b.env.SessionID), attribute.Int64("sightline.seq", b.env.Seq),
			attribute.Int("sightline.events", b.env.EventCount))
	}
	s.reply(b, a, "batch")
	if a.code >= 400 {
		s.rejected.Add(1)
	}
	if attr, ok := s.m.codeAttrs[a.code]; ok {
		s.m.batches.Add(b.ctx, 1, attr)
	} else {
		s.m.batches.Add(b.ctx, 1)
	}
	span.End()
	b.release()
}

// batch carries one request through intake (a batch, or an answer: see
// answerIntake).
type batch struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	ctx   context.Context
	span  trace.Span
	site  *siteconfig.Site
	env   contract.Envelope
	buf   *bytes.Buffer
	// The request's query, Origin header and the Origin's host, parsed once.
	query      url.Values
	origin     string
	originHost string
	originOK   bool
}

// newBatch starts one request's state; release ends it.
func (s *Service) newBatch(w http.ResponseWriter, r *http.Request, start time.Time) *batch {
	b := batchPool.Get().(*batch)
	*b = batch{w: w, r: r, start: start, query: r.URL.Query(), origin: r.Header.Get("Origin")}
	return b
}

// release returns the request's body buffer to the pool.
func (b *batch) release() {
	if b.buf != nil && b.buf.Cap() <= 1<<20 {
		b.buf.Reset()
		bufPool.Put(b.buf)
	}
	*b = batch{}
	batchPool.Put(b)
}

// batchPool recycles the per-request state: it escapes to the heap (the
// intake steps take it through closures), and one allocation of its size
// per batch showed in BenchmarkServeBatch.
var batchPool = sync.Pool{New: func() any { return new(batch) }}

// startSpan starts the intake span at the request's start, continuing the
// envelope's traceparent or else the request's headers.
func (s *Service) startSpan(r *http.Request, start time.Time, envTraceparent, name string) (context.Context, trace.Span) {
	ctx := r.Context()
	var parent context.Context
	if envTraceparent != "" {
		parent = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": envTraceparent})
	}
	if parent == nil || !trace.SpanContextFromContext(parent).IsValid() {
		parent = s.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return s.tracer.Start(parent, name, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
}

func (s *Service) intake(r *http.Request, b *batch) answer {
	ip, checkedOrigin, a := s.admitByKey(r, b, s.batchSiteChecks)
	if a != nil {
		return *a
	}
	ctx, now := b.ctx, b.start
	body, a := s.readRequest(ctx, r, b, s.batchLimits)
	if a != nil {
		return *a
	}
	// The batch contract: what passes here is what recordings stores.
	env, err := contract.Decode(body, s.cfg.MaxEventsPerBatch)
	if err != nil {
		if errors.Is(err, contract.ErrTooManyEvents) {
			return s.refuse(ctx, http.StatusRequestEntityTooLarge, "events_per_batch", 0, "more than %d events in one batch", s.cfg.MaxEventsPerBatch)
		}
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	b.env = env
	b.ctx, b.span = s.startSpan(r, b.start, env.Traceparent, "ingest.batch")
	ctx = b.ctx
	if a := s.admitByBody(ctx, r, b, checkedOrigin, s.batchSiteChecks); a != nil {
		return *a
	}

	sk := limits.SessionKey{Site: b.site.GetSiteId(), Session: env.SessionID}
	limit, isNew := s.sessions.Check(sk, int64(len(body)), now)
	if limit != "" {
		return s.refuse(ctx, http.StatusRequestEntityTooLarge, limit, 0, "session exceeds its %s limit", strings.TrimPrefix(limit, "session_"))
	}
	if isNew {
		var perDay int64
		if p := b.site.GetPlan(); p != nil {
			perDay = p.GetSessionsPerDay()
		}
		if err := s.quota.Take(ctx, b.site.GetSiteId(), perDay, now); err != nil {
			return s.refuse(ctx, http.StatusTooManyRequests, "quota_site", limits.UntilMidnightUTC(now), "the site's daily session quota is used up")
		}
	}

	payload, release, err := s.chunk(ctx, r, b, ip, now)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	err = s.spool.Append(ctx, payload)
	release()
	if err != nil {
		if errors.Is(err, spool.ErrFull) {
			return s.refuse(ctx, http.StatusServiceUnavailable, "spool_full", s.cfg.RetryAfter, "spool full, retry later")
		}
		s.log.ErrorContext(ctx, "spool append failed", "error", err)
		return answer{code: http.StatusServiceUnavailable, msg: "could not store the batch, retry later", retryAfter: s.cfg.RetryAfter}
	}
	s.sessions.Record(sk, int64(len(body)), now)
	s.accepted.Add(1)
	return answer{code: http.StatusNoContent}
}

// siteChecks are an endpoint's own checks of a known site (its rate, its
// privacy rules): before the body when ?k= names the site, after it
// otherwise.
type siteChecks func(ctx context.Context, r *http.Request, b *batch, now time.Time) *answer

func (s *Service) batchSiteChecks(ctx context.Context, r *http.Request, b *batch, now time.Time) *answer {
	if a := s.checkSiteRate(ctx, b, now); a != nil {
		return a
	}
	return s.dropByPrivacy(ctx, r, b)
}

// admitByKey runs the checks that need no body, cheapest first: the
// per-IP rate, then, when ?k= names the site, the site, the origin and
// the endpoint's own checks. checkedOrigin reports whether the Origin
// header was checked.
func (s *Service) admitByKey(r *http.Request, b *batch, checks siteChecks) (ip netip.Addr, checkedOrigin bool, a *answer) {
	ctx := r.Context()
	b.ctx = ctx
	// The per-IP rate comes first: it is the cheapest defence.
	ip = s.clientIP(r)
	if ok, wait := s.ipRate.Allow(rateKey(ip), b.start); !ok {
		a := s.refuse(ctx, http.StatusTooManyRequests, "rate_ip", wait, "too many requests from this address")
		return ip, false, &a
	}
	// Reject on the site key before reading the body when it is given.
	k := b.query.Get("k")
	if k == "" {
		return ip, false, nil
	}
	if a := s.lookupSite(ctx, b, k); a != nil {
		return ip, false, a
	}
	if b.origin != "" {
		if a := s.checkSite(b); a != nil {
			return ip, false, a
		}
		checkedOrigin = true
	}
	return ip, checkedOrigin, checks(ctx, r, b, b.start)
}

// admitByBody runs, once the decoded body (b.env) names the site, the
// checks admitByKey could not: the site, the origin (page.url standing in
// for a missing Origin header) and the endpoint's own checks.
func (s *Service) admitByBody(ctx context.Context, r *http.Request, b *batch, checkedOrigin bool, checks siteChecks) *answer {
	siteFromBody := b.site == nil
	if siteFromBody {
		if a := s.lookupSite(ctx, b, b.env.SiteKey); a != nil {
			return a
		}
	} else if b.env.SiteKey != b.site.GetSiteKey() {
		return &answer{code: http.StatusBadRequest, msg: "siteKey in the body differs from ?k="}
	}
	if !checkedOrigin {
		if b.origin == "" && b.env.URL == "" {
			return &answer{code: http.StatusForbidden, msg: "no Origin header and no page.url to check against the site's domains"}
		}
		if a := s.checkSite(b); a != nil {
			return a
		}
	}
	if siteFromBody { // the checks done before the body when ?k= is given
		return checks(ctx, r, b, b.start)
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

// checkSite applies the checks that need the site: origin, site rate, DNT.
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
	if !siteconfig.MatchDomain(b.site.GetDomains(), host) {
		return &answer{code: http.StatusForbidden, msg: fmt.Sprintf("origin %q is not one of the site's domains", host)}
	}
	return nil
}

func (s *Service) checkSiteRate(ctx context.Context, b *batch, now time.Time) *answer {
	if ok, wait := s.siteRate.Allow(strconv.FormatInt(b.site.GetSiteId(), 10), now); !ok {
		a := s.refuse(ctx, http.StatusTooManyRequests, "rate_site", wait, "too many requests for this site")
		return &a
	}
	return nil
}

// dropByPrivacy answers 204 without storing when the visitor asked not to
// be tracked and the site respects it, or the site does not record: the
// tracker must not retry, and nothing about the visitor is kept.
func (s *Service) dropByPrivacy(ctx context.Context, r *http.Request, b *batch) *answer {
	st := b.site.GetSettings()
	if st == nil {
		return nil
	}
	if !st.GetRecordingEnabled() {
		s.hit(ctx, "recording_disabled")
		return &answer{code: http.StatusNoContent}
	}
	if st.GetRespectDoNotTrack() && (r.Header.Get("DNT") == "1" || r.Header.Get("Sec-GPC") == "1") {
		s.hit(ctx, "dnt")
		return &answer{code: http.StatusNoContent}
	}
	return nil
}
