package ingest

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	contract "github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-ingest/limits"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

func (s *Service) serveBatch(w http.ResponseWriter, r *http.Request) {
	b := s.newBatch(w, r, s.cfg.MaxBodyBytes)
	a := s.intake(b)
	if b.span == nil {
		b.ctx, b.span = s.startSpan(r, b.start, "", "ingest.batch")
	}
	if b.env.SessionID != "" {
		b.span.SetAttributes(attribute.String("sightline.session_id", b.env.SessionID), attribute.Int64("sightline.seq", b.env.Seq),
			attribute.Int("sightline.events", b.env.EventCount))
	}
	s.reply(b, a, "batch")
	if a.code >= 400 {
		s.rejected.Add(1)
	}
	s.finish(b, a.code, s.m.batches)
}

// intake admits one batch, cheapest step first (docs/wire-format.md lists
// the answers in this order): the client, the site, the body, the
// session's limits, then the spool.
func (s *Service) intake(b *batch) answer {
	if a := s.admitClient(b); a != nil {
		return *a
	}
	if a := s.admitSite(b, s.batchSiteChecks, s.readBatch); a != nil {
		return *a
	}
	if a := s.readBatch(b); a != nil {
		return *a
	}
	if a := s.admitSession(b); a != nil {
		return *a
	}
	return s.spoolBatch(b)
}

// readBatch reads the body and decodes it with the batch contract (what
// passes here is what recordings stores), then starts the intake span,
// continuing the envelope's traceparent. Once done, it does nothing.
func (s *Service) readBatch(b *batch) *answer {
	if b.read {
		return nil
	}
	body, a := s.readRequest(b, s.batchLimits)
	if a != nil {
		return a
	}
	env, err := contract.Decode(body, s.cfg.MaxEventsPerBatch)
	if err != nil {
		if errors.Is(err, contract.ErrTooManyEvents) {
			a := s.refuse(b.ctx, http.StatusRequestEntityTooLarge, "events_per_batch", 0, "more than %d events in one batch", s.cfg.MaxEventsPerBatch)
			return &a
		}
		return &answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	b.body, b.env, b.read = body, env, true
	b.ctx, b.span = s.startSpan(b.r, b.start, env.Traceparent, "ingest.batch")
	return matchKey(b)
}

// batchSiteChecks are the batches' own checks of an admitted site: its
// rate, then the privacy rules, which answer 204 without storing (the
// tracker must not retry, and nothing about the visitor is kept) when the
// site does not record or the visitor asked not to be tracked.
func (s *Service) batchSiteChecks(b *batch) *answer {
	if a := s.admitRate(b.ctx, s.siteRate, siteRateKey(b.site), b.start, "rate_site", "too many requests for this site"); a != nil {
		return a
	}
	if st := b.site.GetSettings(); st != nil && !st.GetRecordingEnabled() {
		s.hit(b.ctx, "recording_disabled")
		return &answer{code: http.StatusNoContent}
	}
	return s.dropByDNT(b)
}

// admitSession applies the session's limits (batches, bytes) and, to a new
// session, the site's daily session quota.
func (s *Service) admitSession(b *batch) *answer {
	sk := limits.SessionKey{Site: b.site.GetSiteId(), Session: b.env.SessionID}
	limit, isNew := s.sessions.Check(sk, int64(len(b.body)), b.start)
	if limit != "" {
		a := s.refuse(b.ctx, http.StatusRequestEntityTooLarge, limit, 0, "session exceeds its %s limit", strings.TrimPrefix(limit, "session_"))
		return &a
	}
	if !isNew {
		return nil
	}
	var perDay int64
	if p := b.site.GetPlan(); p != nil {
		perDay = p.GetSessionsPerDay()
	}
	if err := s.quota.Take(b.ctx, b.site.GetSiteId(), perDay, b.start); err != nil {
		a := s.refuse(b.ctx, http.StatusTooManyRequests, "quota_site", limits.UntilMidnightUTC(b.start), "the site's daily session quota is used up")
		return &a
	}
	return nil
}

// spoolBatch appends the batch's chunk to the spool (fsync'd when it
// returns) and counts it against its session.
func (s *Service) spoolBatch(b *batch) answer {
	payload, release, err := s.chunk(b)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	a := s.appendToSpool(b.ctx, payload, "batch")
	release()
	if a != nil {
		return *a
	}
	s.sessions.Record(limits.SessionKey{Site: b.site.GetSiteId(), Session: b.env.SessionID}, int64(len(b.body)), b.start)
	s.accepted.Add(1)
	return answer{code: http.StatusNoContent}
}

// appendToSpool appends one record to the spool: nil once it is fsync'd,
// else the answer (what names the record in it).
func (s *Service) appendToSpool(ctx context.Context, payload []byte, what string) *answer {
	err := s.spool.Append(ctx, payload)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, spool.ErrFull):
		a := s.refuse(ctx, http.StatusServiceUnavailable, "spool_full", s.cfg.RetryAfter, "spool full, retry later")
		return &a
	}
	s.log.ErrorContext(ctx, "spool append failed", "error", err)
	return &answer{code: http.StatusServiceUnavailable, msg: "could not store the " + what + ", retry later", retryAfter: s.cfg.RetryAfter}
}
