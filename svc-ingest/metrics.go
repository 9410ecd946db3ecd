package ingest

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
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

	// Traffic beacons (hits.go).
	hitRequests, hitsAccepted, hitsRefused, hitsDropped metric.Int64Counter
	hitReasonAttrs, hitDropAttrs                        map[string]metric.AddOption
	// Which spool a measurement is of, and which sink a forwarder's.
	batchSpool, trafficSpool   metric.MeasurementOption
	recordingsSink, searchSink metric.MeasurementOption
}

// spools are the spools to observe, each with its attribute.
func (s *Service) spools() []struct {
	sp   *spool.Spool
	attr metric.MeasurementOption
} {
	out := []struct {
		sp   *spool.Spool
		attr metric.MeasurementOption
	}{{s.spool, s.m.batchSpool}}
	if s.hitSpool != nil {
		out = append(out, struct {
			sp   *spool.Spool
			attr metric.MeasurementOption
		}{s.hitSpool, s.m.trafficSpool})
	}
	return out
}

func (s *Service) initMetrics(m metric.Meter) error {
	s.m.batchSpool = metric.WithAttributeSet(attribute.NewSet(attribute.String("spool", "batches")))
	s.m.trafficSpool = metric.WithAttributeSet(attribute.NewSet(attribute.String("spool", "traffic")))
	s.m.recordingsSink = metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", "recordings")))
	s.m.searchSink = metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", "search")))
	var errs [10]error
	s.m.batches, errs[0] = m.Int64Counter("ingest.batches", metric.WithDescription("Batches received, by HTTP answer."))
	s.m.limitHits, errs[1] = m.Int64Counter("ingest.limit.hits", metric.WithDescription("Batches refused or dropped by a limit, by limit name."))
	s.m.commitRecords, errs[2] = m.Int64Histogram("ingest.spool.commit.records", metric.WithDescription("Records sharing one group commit (one fsync)."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	// Explicit buckets: the SDK's default ones (0, 5, 10, … 10000) suit
	// milliseconds, and a commit takes a fraction of one to a few, in
	// seconds; every commit fell in the first bucket.
	s.m.fsync, errs[3] = m.Float64Histogram("ingest.spool.commit.duration", metric.WithUnit("s"), metric.WithDescription("Write and fdatasync time of one group commit."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	s.m.delivered, errs[4] = m.Int64Counter("ingest.forwarder.delivered", metric.WithDescription("Chunks delivered, by sink (recordings; search for the traffic spool)."))
	s.m.forwardFailures, errs[5] = m.Int64Counter("ingest.forwarder.failures", metric.WithDescription("Failed deliveries (retried), by sink (recordings: AppendChunks; search: AppendHits)."))
	s.m.deadLettered, errs[6] = m.Int64Counter("ingest.forwarder.dead_lettered", metric.WithDescription("Records moved to the spool's dead-letter area, by reason (refused, invalid_argument, undecodable, attempts_exceeded)."))
	s.m.accountsErrors, errs[7] = m.Int64Counter("ingest.accounts.errors", metric.WithDescription("Failed calls to accounts (site config, quota leases)."))
	_, errs[8] = m.Int64ObservableGauge("ingest.spool.bytes", metric.WithUnit("By"), metric.WithDescription("Undelivered bytes in the spool, by spool (batches, traffic)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, sp := range s.spools() {
				o.Observe(sp.sp.Stats().Bytes, sp.attr)
			}
			return nil
		}))
	_, errs[9] = m.Float64ObservableGauge("ingest.spool.age", metric.WithUnit("s"), metric.WithDescription("Age of the oldest undelivered record (forwarder lag), by spool (batches, traffic)."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			for _, sp := range s.spools() {
				o.Observe(lag(sp.sp.Stats().Oldest).Seconds(), sp.attr)
			}
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
			for _, sp := range s.spools() {
				v := int64(0)
				if s.cfg.SpoolMaxAge > 0 && lag(sp.sp.Stats().Oldest) > s.cfg.SpoolMaxAge {
					v = 1
				}
				o.Observe(v, sp.attr)
			}
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.spool.records", metric.WithDescription("Undelivered records in the spool, by spool (batches, traffic)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, sp := range s.spools() {
				o.Observe(sp.sp.Stats().Records, sp.attr)
			}
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
		if s.hitFwd != nil {
			return []*depstate.State{s.fwd.Recordings(), s.hitFwd.Recordings()}
		}
		return []*depstate.State{s.fwd.Recordings()}
	}); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if err := s.initHitMetrics(m); err != nil {
		return err
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
