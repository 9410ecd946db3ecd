// Package outbox delivers the store's outbox to search: summaries in order
// of version, deletions in order, retried with backoff while search is
// down. Entries leave the outbox only after search accepted them, so a
// crash re-delivers (search ignores stale versions) and loses nothing.
//
// While search is down the relay retries the oldest entries with capped
// exponential backoff and jitter, logs once when delivery starts failing
// and once when it recovers (depstate), and exports its state as
// sightline.dependency.up{dependency="search",component="outbox"}. After
// the outage it delivers the backlog in the order it was written.
package outbox

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// Relay moves outbox entries to search.
type Relay struct {
	Store  store.Store
	Search searchv1.SearchInternalServiceClient
	Logger *slog.Logger
	// Batch is the most entries one delivery reads: what it can coalesce.
	// Under steady load the window fills with more entries than sessions
	// (a session writes a summary per batch); read whole, they go as one
	// summary per session. A full read is a backlog and does not wait.
	Batch int
	// CallSize and CallBytes bound one upsert call, of summaries or of
	// answers (search refuses more than its max-upsert-batch items, gRPC
	// more than its message size): a delivery goes in as many calls as
	// need be. An item over CallBytes goes alone.
	CallSize, CallBytes int
	// Delivered counts entries (optional).
	Delivered metric.Int64Counter
	// Loop runs the relay; its Dependency is search.
	Loop
}

// New returns a relay with defaults filled in.
func New(st store.Store, search searchv1.SearchInternalServiceClient, logger *slog.Logger) *Relay {
	return &Relay{
		Store: st, Search: search, Logger: logger, Batch: 8000, CallSize: 500, CallBytes: 4 << 20,
		Loop: newLoop(logger, "search", 2*time.Second),
	}
}

// Notify wakes the relay: new entries were written.
func (r *Relay) Notify() { r.wakeUp() }

// Run delivers until ctx ends (see loop). A failed delivery is retried,
// the same oldest entries first; MaxBackoff bounds how long after search
// returns the backlog starts to drain.
func (r *Relay) Run(ctx context.Context) error {
	return r.Loop.run(ctx, r.Batch, func(ctx context.Context) (delivery, error) {
		d, err := r.deliver(ctx)
		if err != nil {
			return d, err
		}
		// Answers' outbox next (answers.go): apart, so neither outbox's
		// backlog holds the other's entries back. The window follows the
		// summaries, which are what coalesce; a full read of either is a
		// backlog.
		m, err := r.OnceAnswers(ctx)
		switch {
		case m == r.Batch:
			d.entries = m
		case d.entries == 0:
			d = delivery{entries: m, items: m}
		}
		return d, err
	})
}

// traceparents lists the entries' trace contexts, for Loop.work's links.
func traceparents(entries []store.OutboxEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Traceparent
	}
	return out
}

func (r *Relay) upsert(ctx context.Context, sums []*sessionsv1.SessionSummary) error {
	return r.call(ctx, func(ctx context.Context) error {
		_, err := r.Search.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: sums})
		return err
	})
}

// Once delivers one batch and answers how many entries it took. A batch
// is one trace (Loop.work); finding none makes no span.
func (r *Relay) Once(ctx context.Context) (int, error) {
	d, err := r.deliver(ctx)
	return d.entries, err
}

// deliver is Once, also answering how many summaries and deletions the
// entries went as (Loop.MaxWindow).
func (r *Relay) deliver(ctx context.Context) (_ delivery, err error) {
	began := time.Now()
	entries, err := r.Store.OutboxPending(ctx, r.Batch)
	if err != nil || len(entries) == 0 {
		return delivery{}, err
	}
	items := 0
	ctx, end := r.work(ctx, "recordings.outbox deliver sessions", began, len(entries), traceparents(entries))
	defer end(&err)
	// Runs of upserts become one call, keeping each session's latest
	// version (versions only grow, so that is still in order); a deletion
	// flushes the run first so the order of changes is kept.
	var run []*sessionsv1.SessionSummary
	at := map[[2]any]int{}
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		items += len(run)
		// A failed call leaves the entries for a retry, which sends the
		// calls before it again; search ignores them (same version).
		if err := sendCalls(ctx, run, r.CallSize, r.CallBytes, r.upsert, func(s *sessionsv1.SessionSummary, err error) {
			r.Logger.ErrorContext(ctx, "outbox: search refused a summary; dropped", "site_id", s.GetSiteId(), "session_id", s.GetSessionId(), "version", s.GetVersion(), "err", err)
		}); err != nil {
			return err
		}
		run, at = nil, map[[2]any]int{}
		return nil
	}
	for _, e := range entries {
		switch e.Kind {
		case store.OutboxUpsert:
			if e.Summary == nil {
				continue
			}
			k := [2]any{e.Summary.GetSiteId(), e.Summary.GetSessionId()}
			if i, ok := at[k]; ok {
				if e.Summary.GetVersion() > run[i].GetVersion() {
					run[i] = e.Summary
				}
				continue
			}
			at[k] = len(run)
			run = append(run, e.Summary)
		case store.OutboxDeleteSessions, store.OutboxDeleteVisitor:
			if err := flush(); err != nil {
				return delivery{}, err
			}
			items++
			req := &searchv1.DeleteSessionsRequest{SiteId: e.SiteID}
			if e.Kind == store.OutboxDeleteVisitor {
				req.Selector = &searchv1.DeleteSessionsRequest_VisitorId{VisitorId: e.VisitorID}
			} else {
				req.Selector = &searchv1.DeleteSessionsRequest_SessionIds{SessionIds: &searchv1.SessionIds{Ids: e.SessionIDs}}
			}
			if err := r.deleteCall(ctx, "a deletion", e.SiteID, func(ctx context.Context) error {
				_, err := r.Search.DeleteSessions(ctx, req)
				return err
			}); err != nil {
				return delivery{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return delivery{}, err
	}
	if err := r.Store.OutboxAck(ctx, entries); err != nil {
		return delivery{}, err
	}
	r.delivered(ctx, len(entries))
	return delivery{entries: len(entries), items: items}, nil
}
