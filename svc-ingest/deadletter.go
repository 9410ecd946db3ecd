package ingest

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/svc-ingest/forwarder"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// degradedError is a readiness answer that reports a problem without
// failing readiness: platform/admin shows it as "degraded" in /readyz
// (the Degraded method is the contract).
type degradedError string

func (e degradedError) Error() string  { return string(e) }
func (e degradedError) Degraded() bool { return true }

func (s *Service) countDeadLetter(reason string, sink metric.MeasurementOption) {
	s.m.deadLettered.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))), sink)
}

// stalled reports whether records wait longer than stall-after while the
// forwarder moved none out of the spool within that time. A large backlog
// that is being drained (after an outage) is lag, not a stall.
func (s *Service) stalled(st spool.Stats, fs forwarder.Stats, now time.Time) bool {
	if st.Records == 0 || st.Oldest.IsZero() || now.Sub(st.Oldest) <= s.cfg.ForwardStallAfter {
		return false
	}
	progress := fs.LastProgress()
	return progress.IsZero() || now.Sub(progress) > s.cfg.ForwardStallAfter
}

// degradation lists what is wrong with delivery, for /readyz.
func (s *Service) degradation(now time.Time) []string {
	out := s.streamDegradation(now, s.spool.Stats(), s.fwd.Stats(), "forwarder", "records wait", "records", "")
	if s.hitFwd != nil {
		out = append(out, s.streamDegradation(now, s.hitSpool.Stats(), s.hitFwd.Stats(), "traffic forwarder", "hits wait for search", "hits", " on the traffic spool")...)
	}
	return out
}

// streamDegradation is degradation for one spool and its forwarder:
// stalled, or dead-lettering lately. The words name the stream: the
// forwarder, what waits, what is dead-lettered, and where its list is.
func (s *Service) streamDegradation(now time.Time, st spool.Stats, fs forwarder.Stats, fwd, waiting, items, where string) []string {
	var out []string
	if s.stalled(st, fs, now) {
		out = append(out, fmt.Sprintf("%s stalled: %d %s, the oldest for %s; nothing delivered for over %s; last error: %s",
			fwd, st.Records, waiting, now.Sub(st.Oldest).Round(time.Second), s.cfg.ForwardStallAfter, fs.LastError))
	}
	if !fs.LastDeadLetter.IsZero() && now.Sub(fs.LastDeadLetter) <= s.cfg.ForwardStallAfter {
		out = append(out, fmt.Sprintf("%s are being dead-lettered: %d since start, the last %s ago (sightline spool dead-letter list%s)",
			items, fs.DeadLettered, now.Sub(fs.LastDeadLetter).Round(time.Second), where))
	}
	return out
}

// deadLetterUpkeep carries out replay requests (every second: an operator
// waits on them) and prunes the dead-letter area (every minute).
func (s *Service) deadLetterUpkeep(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		prune := false
		if now := time.Now(); now.Sub(lastPrune) >= time.Minute {
			lastPrune, prune = now, true
		}
		for _, sp := range s.spools() {
			if n, err := sp.sp.ProcessReplays(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "spool: dead-letter replay failed; the request stays for the next try", "replayed", n, "error", err)
			}
			if !prune {
				continue
			}
			expired, over, err := sp.sp.PruneDead(time.Now())
			if err != nil {
				s.log.ErrorContext(ctx, "spool: dead-letter pruning failed", "error", err)
			}
			s.m.deadPruned.Add(ctx, int64(expired), metric.WithAttributeSet(attribute.NewSet(attribute.String("cause", "retention"))), sp.attr)
			s.m.deadPruned.Add(ctx, int64(over), metric.WithAttributeSet(attribute.NewSet(attribute.String("cause", "max_bytes"))), sp.attr)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Service) initDeadLetterMetrics(m metric.Meter) error {
	var err error
	if s.m.deadPruned, err = m.Int64Counter("ingest.spool.dead_letter.pruned",
		metric.WithDescription("Dead letters deleted, by cause: retention (older than ingest.spool.dead-letter.retention) or max_bytes.")); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.spool.dead_letter.records", metric.WithDescription("Records in the spool's dead-letter area."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, sp := range s.spools() {
				o.Observe(sp.sp.Stats().DeadRecords, sp.attr)
			}
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.spool.dead_letter.bytes", metric.WithUnit("By"), metric.WithDescription("Payload bytes in the spool's dead-letter area."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, sp := range s.spools() {
				o.Observe(sp.sp.Stats().DeadBytes, sp.attr)
			}
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	if _, err := m.Int64ObservableGauge("ingest.forwarder.stalled",
		metric.WithDescription("1 when records wait longer than ingest.forward.stall-after and nothing was delivered within it (alert; intake stays ready)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if s.fwd != nil && s.stalled(s.spool.Stats(), s.fwd.Stats(), time.Now()) {
				v = 1
			}
			o.Observe(v, s.m.recordingsSink)
			if s.hitFwd != nil {
				v = 0
				if s.stalled(s.hitSpool.Stats(), s.hitFwd.Stats(), time.Now()) {
					v = 1
				}
				o.Observe(v, s.m.searchSink)
			}
			return nil
		})); err != nil {
		return fmt.Errorf("ingest: metrics: %w", err)
	}
	return nil
}
