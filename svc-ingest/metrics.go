package ingest

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/platform/depstate"
)

type instruments struct {
	batches metric.Int64Counter
	answers metric.Int64Counter
	// answerCountErrors counts failed GetAnswerCounts calls.
	answerCountErrors metric.Int64Counter
	limitHits         metric.Int64Counter
	limitAttrs        map[string]metric.AddOption
	codeAttrs         map[int]metric.AddOption
	commitRecords     metric.Int64Histogram
	fsync             metric.Float64Histogram
	delivered         metric.Int64Counter
	forwardFailures   metric.Int64Counter
	deadLettered      metric.Int64Counter
	deadPruned        metric.Int64Counter
	accountsErrors    metric.Int64Counter
}

func (s *Service) initMetrics(m metric.Meter) error {
	var errs [10]error
	s.m.batches, errs[0] = m.Int64Counter("ingest.batches", metric.WithDescription("Batches received, by HTTP answer."))
	s.m.limitHits, errs[1] = m.Int64Counter("ingest.limit.hits", metric.WithDescription("Batches refused or dropped by a limit, by limit name."))
	s.m.commitRecords, errs[2] = m.Int64Histogram("ingest.spool.commit.records", metric.WithDescription("Records sharing one group commit (one fsync)."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	s.m.fsync, errs[3] = m.Float64Histogram("ingest.spool.commit.duration", metric.WithUnit("s"), metric.WithDescription("Write and fdatasync time of one group commit."))
	s.m.delivered, errs[4] = m.Int64Counter("ingest.forwarder.delivered", metric.WithDescription("Chunks delivered to recordings."))
	s.m.forwardFailures, errs[5] = m.Int64Counter("ingest.forwarder.failures", metric.WithDescription("Failed AppendChunks attempts (retried)."))
	s.m.deadLettered, errs[6] = m.Int64Counter("ingest.forwarder.dead_lettered", metric.WithDescription("Records moved to the spool's dead-letter area, by reason (refused, invalid_argument, undecodable, attempts_exceeded)."))
	s.m.accountsErrors, errs[7] = m.Int64Counter("ingest.accounts.errors", metric.WithDescription("Failed calls to accounts (site config, quota leases)."))
	_, errs[8] = m.Int64ObservableGauge("ingest.spool.bytes", metric.WithUnit("By"), metric.WithDescription("Undelivered bytes in the spool."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			st := s.spool.Stats()
			o.Observe(st.Bytes)
			return nil
		}))
	_, errs[9] = m.Float64ObservableGauge("ingest.spool.age", metric.WithUnit("s"), metric.WithDescription("Age of the oldest undelivered batch (forwarder lag)."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(lag(s.spool.Stats().Oldest).Seconds())
			return nil
		}))
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("ingest: metrics: %w", err)
		}
	}
	var err error
	if s.m.answers, err = m.Int64Counter("ingest.answers", metric.WithDescription("Feedback and survey answers received, by HTTP answer.")); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if s.m.answerCountErrors, err = m.Int64Counter("ingest.answer_counts.errors", metric.WithDescription("Failed calls to recordings for surveys' response counts (the bootstrap keeps the last known counts).")); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.spool.age_exceeded", metric.WithDescription("1 when the oldest undelivered batch is older than ingest.spool.max-age (alert)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if s.cfg.SpoolMaxAge > 0 && lag(s.spool.Stats().Oldest) > s.cfg.SpoolMaxAge {
				v = 1
			}
			o.Observe(v)
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.spool.records", metric.WithDescription("Undelivered records in the spool."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.spool.Stats().Records)
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	// The forwarder's view of recordings, 1 up / 0 failing. s.fwd is made
	// after the instruments; a collection before that observes nothing.
	if err := depstate.Register(m, func() []*depstate.State {
		if s.fwd == nil {
			return nil
		}
		return []*depstate.State{s.fwd.Recordings()}
	}); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if err := s.initDeadLetterMetrics(m); err != nil {
		return err
	}
	s.m.limitAttrs = map[string]metric.AddOption{}
	for _, n := range limitNames {
		s.m.limitAttrs[n] = metric.WithAttributeSet(attribute.NewSet(attribute.String("limit", n)))
	}
	s.m.codeAttrs = map[int]metric.AddOption{}
	for _, c := range []int{204, 304, 400, 403, 404, 405, 408, 413, 415, 429, 503} {
		s.m.codeAttrs[c] = metric.WithAttributeSet(attribute.NewSet(attribute.Int("http.response.status_code", c)))
	}
	return nil
}
