package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// MaxEvents is the most events one PublishEvents call carries (notify's
// contract).
const MaxEvents = 500

// NotifyRelay moves the store's notify outbox (store.Ending) to
// NotifyInternalService.PublishEvents: the third stream, apart from the
// search relay's two, with its own loop, backoff and dependency state
// (sightline.dependency.up{dependency="notify",component="outbox"}), so a
// notify outage never holds search's entries back, nor the reverse.
//
// Entries name their object; the relay reads it when it publishes and
// skips (acknowledges unpublished) one deleted meanwhile. Event ids are
// stable (store.NotifyEntry.EventID), so a crash between publishing and
// acknowledging re-publishes ids notify ignores.
//
// With no client (Client nil: a deployment without notify), entries are
// acknowledged unpublished as they come, counted as discarded, so the
// outbox stays empty rather than growing without bound.
type NotifyRelay struct {
	Store  store.Store
	Client notifyv1.NotifyInternalServiceClient
	Logger *slog.Logger
	// Batch is the most entries read (and events sent) at once, at most
	// MaxEvents.
	Batch int
	// Entries counts entries by result: published, skipped (object gone),
	// refused (notify answered InvalidArgument), discarded (no client)
	// (optional).
	Entries metric.Int64Counter
	// Loop runs the relay; its Dependency is notify.
	Loop
}

// NewNotify returns a notify relay with defaults filled in.
func NewNotify(st store.Store, client notifyv1.NotifyInternalServiceClient, logger *slog.Logger) *NotifyRelay {
	return &NotifyRelay{
		Store: st, Client: client, Logger: logger, Batch: MaxEvents,
		Loop: newLoop(logger, "notify", 5*time.Second),
	}
}

// Wake wakes the relay: new entries were written.
func (r *NotifyRelay) Wake() { r.wakeUp() }

// Run delivers until ctx ends (see loop), retrying the oldest entries
// after a doubling backoff while notify fails.
func (r *NotifyRelay) Run(ctx context.Context) error {
	if r.Client == nil {
		r.Logger.WarnContext(ctx, "recordings: no notify client; session.ended and answer events are discarded")
	}
	return r.Loop.run(ctx, r.batch(), func(ctx context.Context) (delivery, error) {
		n, err := r.Once(ctx)
		return delivery{entries: n, items: n}, err
	})
}

func (r *NotifyRelay) batch() int { return min(max(r.Batch, 1), MaxEvents) }

func (r *NotifyRelay) count(ctx context.Context, result string, n int) {
	if r.Entries != nil && n > 0 {
		r.Entries.Add(ctx, int64(n), metric.WithAttributes(attribute.String("result", result)))
	}
}

// Once publishes one batch and answers how many entries it took.
func (r *NotifyRelay) Once(ctx context.Context) (_ int, err error) {
	began := time.Now()
	entries, err := r.Store.NotifyOutboxPending(ctx, r.batch())
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	ctx, end := r.work(ctx, "recordings.outbox publish events", began, len(entries), nil)
	defer end(&err)
	if r.Client == nil {
		if err := r.Store.NotifyOutboxAck(ctx, entries); err != nil {
			return 0, err
		}
		r.count(ctx, "discarded", len(entries))
		return len(entries), nil
	}
	events, err := r.events(ctx, entries)
	if err != nil {
		return 0, err
	}
	refused := 0
	if len(events) > 0 {
		err := sendEach(ctx, events, r.publish, func(e *notifyv1.Event, err error) {
			r.Logger.ErrorContext(ctx, "outbox: notify refused an event; dropped", "event_id", e.GetId(), "err", err)
			refused++
		})
		if err != nil {
			return 0, err
		}
	}
	if err := r.Store.NotifyOutboxAck(ctx, entries); err != nil {
		return 0, err
	}
	r.count(ctx, "published", len(events)-refused)
	r.count(ctx, "refused", refused)
	r.count(ctx, "skipped", len(entries)-len(events))
	return len(entries), nil
}

func (r *NotifyRelay) publish(ctx context.Context, events []*notifyv1.Event) error {
	return r.call(ctx, func(ctx context.Context) error {
		_, err := r.Client.PublishEvents(ctx, &notifyv1.PublishEventsRequest{Events: events})
		return err
	})
}

// events reads the entries' objects and builds their events, in order,
// leaving out those whose object is gone.
func (r *NotifyRelay) events(ctx context.Context, entries []store.NotifyEntry) ([]*notifyv1.Event, error) {
	// Answers are read per site in one call each.
	answerIDs := map[int64][]string{}
	for _, e := range entries {
		if e.Type != store.EventSessionEnded {
			answerIDs[e.SiteID] = append(answerIDs[e.SiteID], e.AnswerID)
		}
	}
	answers := map[[2]any]*notifyv1.Event_Answer{}
	for site, ids := range answerIDs {
		as, err := r.Store.GetAnswers(ctx, site, ids)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			answers[[2]any{site, a.GetId()}] = &notifyv1.Event_Answer{Answer: a}
		}
	}
	var out []*notifyv1.Event
	for _, e := range entries {
		ev := &notifyv1.Event{Id: e.EventID(), Type: e.Type, SiteId: e.SiteID, Time: timestamppb.New(time.UnixMilli(e.TimeMs))}
		if e.Type == store.EventSessionEnded {
			sum, err := r.Store.Session(ctx, e.SiteID, e.SessionID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted or expired since: nothing to tell
			}
			if err != nil {
				return nil, err
			}
			ev.Payload = &notifyv1.Event_Session{Session: sum}
		} else {
			a := answers[[2]any{e.SiteID, e.AnswerID}]
			if a == nil {
				continue
			}
			ev.Payload = a
		}
		out = append(out, ev)
	}
	return out, nil
}
