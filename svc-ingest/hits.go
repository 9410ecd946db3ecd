package ingest

// Traffic beacons: POST /i/v1/hit?k=<site key> (the tracker's page views,
// page-view ends and custom events of every visitor it may count, recorded
// or not). Each hit becomes one recordings.v1.Chunk with `hit` set,
// appended — all hits of a body in one group commit — to the traffic
// spool, a second spool beside the batches' with its own forwarder to
// search's TrafficService.AppendHits: a search outage never holds
// recordings' chunks, nor a recordings outage the traffic counts.
//
// Hits have their own body limit and per-IP and per-site rates, and are
// not counted against the per-session limits or the daily recorded-session
// quota (traffic counts sessions over the quota too). Bots answer 204 and
// are not stored.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	contract "github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// Reasons hits are refused or dropped (the ingest.hits.refused and
// ingest.hits.dropped metrics' reason attribute).
var hitRefusals = []string{"invalid", "body_bytes", "rate_ip", "rate_site", "origin", "unknown_site", "spool_full", "unavailable"}

func (s *Service) serveHit(w http.ResponseWriter, r *http.Request) {
	b := s.newBatch(w, r, s.cfg.HitMaxBytes)
	b.ctx, b.span = s.startSpan(r, b.start, "", "ingest.hit")
	var n int
	a, reason := s.hitIntake(r, b, &n)
	if n > 0 {
		b.span.SetAttributes(attribute.Int("sightline.hits", n))
	}
	s.reply(b, a, "hit")
	if reason != "" {
		s.m.hitsRefused.Add(b.ctx, 1, s.m.hitReasonAttrs[reason])
	}
	s.finish(b, a.code, s.m.hitRequests)
}

// hitIntake admits one beacon body, cheapest checks first, and spools its
// hits. n is set to the number of hits decoded; reason names a refusal.
func (s *Service) hitIntake(r *http.Request, b *batch, n *int) (a answer, reason string) {
	if s.hitSpool == nil {
		return answer{code: http.StatusNotFound, msg: "traffic beacons are not enabled on this ingest"}, ""
	}
	ctx, now := b.ctx, b.start
	ip := s.cfg.trusted.ClientIP(r)
	if ok, wait := s.hitIPRate.Allow(rateKey(ip), now); !ok {
		return s.refuse(ctx, http.StatusTooManyRequests, "hit_rate_ip", wait, "too many hits from this address"), "rate_ip"
	}
	k := b.query.Get("k")
	if k == "" {
		return answer{code: http.StatusBadRequest, msg: "the site key is required (?k=<site key>)"}, "invalid"
	}
	if a := s.lookupSite(ctx, b, k); a != nil {
		if a.code == http.StatusNotFound {
			return answer{code: http.StatusForbidden, msg: a.msg}, "unknown_site"
		}
		return *a, "unavailable"
	}
	if b.origin != "" {
		if a := s.checkSite(b); a != nil {
			return *a, "origin"
		}
	}
	if ok, wait := s.hitSiteRate.Allow(strconv.FormatInt(b.site.GetSiteId(), 10), now); !ok {
		return s.refuse(ctx, http.StatusTooManyRequests, "hit_rate_site", wait, "too many hits for this site"), "rate_site"
	}
	body, ap := s.readRequest(b, s.hitLimits)
	if ap != nil {
		if ap.code == http.StatusRequestEntityTooLarge {
			return *ap, "body_bytes"
		}
		return *ap, "invalid"
	}
	hits, err := contract.DecodeHits(body)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}, "invalid"
	}
	*n = len(hits.Hits)
	if len(hits.Hits) > s.cfg.HitMaxPerBody {
		return s.refuse(ctx, http.StatusRequestEntityTooLarge, "hit_count", 0, "more than %d hits in one body", s.cfg.HitMaxPerBody), "body_bytes"
	}
	b.span.SetAttributes(attribute.String("sightline.session_id", hits.SessionID))
	if b.origin == "" {
		// No Origin (not a browser, or an old one): judge by a page URL.
		for _, h := range hits.Hits {
			if h.URL != "" {
				b.env.URL = h.URL
				break
			}
		}
		if b.env.URL == "" {
			return answer{code: http.StatusForbidden, msg: "no Origin header and no hit url to check against the site's domains"}, "origin"
		}
		if a := s.checkSite(b); a != nil {
			return *a, "origin"
		}
	}
	if b.site.GetSettings().GetRespectDoNotTrack() && (r.Header.Get("DNT") == "1" || r.Header.Get("Sec-GPC") == "1") {
		s.hit(ctx, "dnt")
		s.m.hitsDropped.Add(ctx, int64(len(hits.Hits)), s.m.hitDropAttrs["dnt"])
		return answer{code: http.StatusNoContent}, ""
	}
	client := s.enrich.Client(r.UserAgent(), ip)
	if client.GetDeviceType() == sessionsv1.DeviceType_DEVICE_TYPE_BOT {
		// 204: a bot that retries on errors must not be invited to.
		s.hit(ctx, "hit_bot")
		s.m.hitsDropped.Add(ctx, int64(len(hits.Hits)), s.m.hitDropAttrs["bot"])
		return answer{code: http.StatusNoContent}, ""
	}
	payloads, err := s.hitChunks(ctx, b, &hits, client, now)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}, "invalid"
	}
	if err := s.hitSpool.AppendAll(ctx, payloads); err != nil {
		if errors.Is(err, spool.ErrFull) {
			return s.refuse(ctx, http.StatusServiceUnavailable, "hit_spool_full", s.cfg.RetryAfter, "traffic spool full, retry later"), "spool_full"
		}
		s.log.ErrorContext(ctx, "traffic spool append failed", "error", err)
		return answer{code: http.StatusServiceUnavailable, msg: "could not store the hits, retry later", retryAfter: s.cfg.RetryAfter}, "unavailable"
	}
	s.m.hitsAccepted.Add(ctx, int64(len(hits.Hits)))
	return answer{code: http.StatusNoContent}, ""
}

// hitChunks builds and encodes one spool record per hit: the enriched
// chunk carrying the intake span's trace context, checked against the
// contract search applies (what is spooled is storable).
func (s *Service) hitChunks(ctx context.Context, b *batch, hits *contract.Hits, client *sessionsv1.Client, accept time.Time) ([][]byte, error) {
	var traceparent string
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, carrier)
		traceparent = carrier["traceparent"]
	}
	retention := retentionDays(b.site)
	out := make([][]byte, len(hits.Hits))
	for i := range hits.Hits {
		c := &recordingsv1.Chunk{
			SiteId: b.site.GetSiteId(), OrganizationId: b.site.GetOrganizationId(),
			Client: client, Traceparent: traceparent, RetentionDays: retention,
		}
		hits.Fill(c, i, accept)
		if err := contract.CheckHit(c); err != nil {
			return nil, fmt.Errorf("hits[%d]: %w", i, err)
		}
		p, err := proto.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode hit chunk: %w", err)
		}
		out[i] = p
	}
	return out, nil
}

// initHitMetrics makes the hit instruments (the spools' and forwarders'
// shared ones carry a spool or sink attribute instead).
func (s *Service) initHitMetrics(m metric.Meter) error {
	var errs [4]error
	s.m.hitRequests, errs[0] = m.Int64Counter("ingest.hit.requests", metric.WithDescription("Traffic beacon bodies received, by HTTP answer."))
	s.m.hitsAccepted, errs[1] = m.Int64Counter("ingest.hits.accepted", metric.WithDescription("Traffic hits stored in the traffic spool."))
	s.m.hitsRefused, errs[2] = m.Int64Counter("ingest.hits.refused", metric.WithDescription("Traffic beacon bodies refused, by reason (invalid, body_bytes, rate_ip, rate_site, origin, unknown_site, spool_full, unavailable)."))
	s.m.hitsDropped, errs[3] = m.Int64Counter("ingest.hits.dropped", metric.WithDescription("Traffic hits answered 204 and not stored, by reason (bot, dnt)."))
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("ingest: metrics: %w", err)
		}
	}
	s.m.hitReasonAttrs = map[string]metric.AddOption{}
	for _, r := range hitRefusals {
		s.m.hitReasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	s.m.hitDropAttrs = map[string]metric.AddOption{}
	for _, r := range []string{"bot", "dnt"} {
		s.m.hitDropAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return nil
}
