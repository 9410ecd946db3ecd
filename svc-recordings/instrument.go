package recordings

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/outbox"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

type instruments struct {
	rawBytes        metric.Int64Counter
	storedBytes     metric.Int64Counter
	chunks          metric.Int64Counter
	duplicates      metric.Int64Counter
	rejected        metric.Int64Counter
	refused         metric.Int64Counter
	ratio           metric.Float64Histogram
	storeLatency    metric.Float64Histogram
	outboxDelivered metric.Int64Counter
	outboxFailures  metric.Int64Counter
	notifyEntries   metric.Int64Counter
	notifyFailures  metric.Int64Counter
	ended           metric.Int64Counter
	meter           metric.Meter
}

func newInstruments(m metric.Meter) (*instruments, error) {
	i := &instruments{meter: m}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	i.rawBytes, err = m.Int64Counter("recordings.chunk.raw_bytes", metric.WithUnit("By"), metric.WithDescription("Uncompressed event bytes of stored chunks."))
	add(err)
	i.storedBytes, err = m.Int64Counter("recordings.chunk.stored_bytes", metric.WithUnit("By"), metric.WithDescription("Compressed bytes written for stored chunks."))
	add(err)
	i.chunks, err = m.Int64Counter("recordings.chunks.stored", metric.WithDescription("Chunks stored for the first time."))
	add(err)
	i.duplicates, err = m.Int64Counter("recordings.chunks.duplicates", metric.WithDescription("Re-delivered chunks (already stored)."))
	add(err)
	i.rejected, err = m.Int64Counter("recordings.chunks.rejected", metric.WithDescription("AppendChunks calls rejected as a whole (more chunks than a request may hold)."))
	add(err)
	i.refused, err = m.Int64Counter("recordings.chunks.refused", metric.WithDescription("Chunks refused for good, by reason: invalid, session_chunks, session_bytes."))
	add(err)
	i.ratio, err = m.Float64Histogram("recordings.chunk.compression_ratio", metric.WithDescription("Uncompressed over compressed size of a chunk."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 6, 8, 10, 15, 20, 30, 50))
	add(err)
	i.storeLatency, err = storecall.NewLatency(m, "recordings")
	add(err)
	i.outboxDelivered, err = m.Int64Counter("recordings.outbox.delivered", metric.WithDescription("Outbox entries delivered to search."))
	add(err)
	i.outboxFailures, err = m.Int64Counter("recordings.outbox.failures", metric.WithDescription("Failed deliveries to search (retried)."))
	add(err)
	i.notifyEntries, err = m.Int64Counter("recordings.notify_outbox.entries", metric.WithDescription("Notify outbox entries taken, by result: published, skipped (object deleted), refused, discarded (no notify)."))
	add(err)
	i.notifyFailures, err = m.Int64Counter("recordings.notify_outbox.failures", metric.WithDescription("Failed PublishEvents calls to notify (retried)."))
	add(err)
	i.ended, err = m.Int64Counter("recordings.sessions.ended", metric.WithDescription("Sessions ended after recordings.session-idle (session.ended)."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("recordings: metrics: %w", err)
	}
	return i, nil
}

func (i *instruments) chunk(ctx context.Context, raw, stored int64) {
	i.chunks.Add(ctx, 1)
	i.rawBytes.Add(ctx, raw)
	i.storedBytes.Add(ctx, stored)
	if stored > 0 {
		i.ratio.Record(ctx, float64(raw)/float64(stored))
	}
}

// observeOutbox exports the depths of both outboxes as gauges read at
// collection.
func (i *instruments) observeOutbox(st store.Store, closed *atomic.Bool) error {
	if err := i.depthGauge("recordings.outbox.depth", "Summary changes and deletions waiting for search.", closed, st.OutboxDepth); err != nil {
		return err
	}
	return i.depthGauge("recordings.notify_outbox.depth", "session.ended and answer events waiting for notify.", closed, st.NotifyOutboxDepth)
}

// depthGauge registers a gauge that asks the store for a depth at each
// collection, with a deadline so a slow store cannot stall a scrape.
func (i *instruments) depthGauge(name, desc string, closed *atomic.Bool, depth func(context.Context) (int64, error)) error {
	_, err := i.meter.Int64ObservableGauge(name,
		metric.WithDescription(desc),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			if closed.Load() {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			n, err := depth(ctx)
			if err != nil {
				return err
			}
			o.Observe(n)
			return nil
		}))
	if err != nil {
		return fmt.Errorf("recordings: metrics: %w", err)
	}
	return nil
}

// observeDependencies exports sightline.dependency.up for the outbox's
// view of search (when there is a relay) and the retention sweep's view of
// the store.
func (i *instruments) observeDependencies(relay *outbox.Relay, sweeps *depstate.State, events *outbox.NotifyRelay) error {
	states := []*depstate.State{sweeps}
	if relay != nil {
		states = append(states, relay.Dependency)
	}
	if events != nil && events.Client != nil {
		states = append(states, events.Dependency)
	}
	if err := depstate.Register(i.meter, func() []*depstate.State { return states }); err != nil {
		return fmt.Errorf("recordings: metrics: %w", err)
	}
	return nil
}

// traced wraps a store with a span and a latency sample per call.
type traced struct {
	next  store.Store
	calls storecall.Calls
}

func siteAttr(id int64) attribute.KeyValue { return attribute.Int64("sightline.site_id", id) }

func (t *traced) Append(ctx context.Context, chunks []store.Chunk) (_ []store.AppendResult, err error) {
	ctx, end := t.calls.Start(ctx, "append", attribute.Int("chunks", len(chunks)))
	defer end(&err)
	return t.next.Append(ctx, chunks)
}

func (t *traced) Session(ctx context.Context, siteID int64, id string) (_ *sessionsv1.SessionSummary, err error) {
	ctx, end := t.calls.Start(ctx, "session", siteAttr(siteID))
	defer end(&err)
	return t.next.Session(ctx, siteID, id)
}

func (t *traced) SessionDetail(ctx context.Context, siteID int64, id string) (_ *sessionsv1.SessionSummary, _ []*recordingsv1.Frustration, err error) {
	ctx, end := t.calls.Start(ctx, "session_detail", siteAttr(siteID))
	defer end(&err)
	return t.next.SessionDetail(ctx, siteID, id)
}

func (t *traced) ChunkIndex(ctx context.Context, siteID int64, id string) (_ []store.ChunkMeta, err error) {
	ctx, end := t.calls.Start(ctx, "chunk_index", siteAttr(siteID))
	defer end(&err)
	return t.next.ChunkIndex(ctx, siteID, id)
}

func (t *traced) ReadChunks(ctx context.Context, siteID int64, id string, from int64, fn func(store.StoredChunk) error) (err error) {
	ctx, end := t.calls.Start(ctx, "read_chunks", siteAttr(siteID))
	defer end(&err)
	return t.next.ReadChunks(ctx, siteID, id, from, fn)
}

func (t *traced) ListSessions(ctx context.Context, siteID int64, token string, limit int) (_ store.Page, err error) {
	ctx, end := t.calls.Start(ctx, "list_sessions", siteAttr(siteID))
	defer end(&err)
	return t.next.ListSessions(ctx, siteID, token, limit)
}

func (t *traced) DeleteSession(ctx context.Context, siteID int64, id string) (err error) {
	ctx, end := t.calls.Start(ctx, "delete_session", siteAttr(siteID))
	defer end(&err)
	return t.next.DeleteSession(ctx, siteID, id)
}

func (t *traced) DeleteVisitor(ctx context.Context, siteID int64, visitor string) (_ []string, err error) {
	ctx, end := t.calls.Start(ctx, "delete_visitor", siteAttr(siteID))
	defer end(&err)
	return t.next.DeleteVisitor(ctx, siteID, visitor)
}

func (t *traced) SiteActivity(ctx context.Context, siteID int64, since time.Time) (_ time.Time, _ int64, err error) {
	ctx, end := t.calls.Start(ctx, "site_activity", siteAttr(siteID))
	defer end(&err)
	return t.next.SiteActivity(ctx, siteID, since)
}

func (t *traced) Sweep(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, end := t.calls.Start(ctx, "sweep")
	defer end(&err)
	return t.next.Sweep(ctx, now)
}

func (t *traced) OutboxPending(ctx context.Context, limit int) (_ []store.OutboxEntry, err error) {
	ctx, end := t.calls.Start(ctx, "outbox_pending")
	defer end(&err)
	return t.next.OutboxPending(ctx, limit)
}

func (t *traced) OutboxAck(ctx context.Context, entries []store.OutboxEntry) (err error) {
	ctx, end := t.calls.Start(ctx, "outbox_ack")
	defer end(&err)
	return t.next.OutboxAck(ctx, entries)
}

func (t *traced) OutboxDepth(ctx context.Context) (_ int64, err error) {
	return t.next.OutboxDepth(ctx) // scraped often; no span
}

func (t *traced) Heat(ctx context.Context, q store.HeatQuery, fn func(heatmap.Kind, string, heatmap.Vec) error) (err error) {
	ctx, end := t.calls.Start(ctx, "heat", siteAttr(q.SiteID), attribute.Int("pages", len(q.Pages)), attribute.Int("days", int(q.ToDay-q.FromDay+1)))
	defer end(&err)
	return t.next.Heat(ctx, q, fn)
}

func (t *traced) HeatPages(ctx context.Context, siteID int64, after string, fn func(string, heatmap.Vec) error) (err error) {
	ctx, end := t.calls.Start(ctx, "heat_pages", siteAttr(siteID))
	defer end(&err)
	return t.next.HeatPages(ctx, siteID, after, fn)
}

func (t *traced) HeatSnapshot(ctx context.Context, siteID int64, page string, device int32) (_ store.HeatSnapshot, _ bool, err error) {
	ctx, end := t.calls.Start(ctx, "heat_snapshot", siteAttr(siteID))
	defer end(&err)
	return t.next.HeatSnapshot(ctx, siteID, page, device)
}

func (t *traced) RebuildHeat(ctx context.Context, siteID int64, sinceDay int32, progress func(done, total int64)) (err error) {
	ctx, end := t.calls.Start(ctx, "rebuild_heat", siteAttr(siteID))
	defer end(&err)
	return t.next.RebuildHeat(ctx, siteID, sinceDay, progress)
}

func (t *traced) Ping(ctx context.Context) error { return t.next.Ping(ctx) }

func (t *traced) Close() error { return t.next.Close() }

func (t *traced) EndIdleSessions(ctx context.Context, idleBefore time.Time, limit int) (_ []*sessionsv1.SessionSummary, _ bool, err error) {
	ctx, end := t.calls.Start(ctx, "end_idle_sessions", attribute.Int("limit", limit))
	defer end(&err)
	return t.next.EndIdleSessions(ctx, idleBefore, limit)
}

func (t *traced) NotifyOutboxPending(ctx context.Context, limit int) (_ []store.NotifyEntry, err error) {
	ctx, end := t.calls.Start(ctx, "notify_outbox_pending")
	defer end(&err)
	return t.next.NotifyOutboxPending(ctx, limit)
}

func (t *traced) NotifyOutboxAck(ctx context.Context, entries []store.NotifyEntry) (err error) {
	ctx, end := t.calls.Start(ctx, "notify_outbox_ack")
	defer end(&err)
	return t.next.NotifyOutboxAck(ctx, entries)
}

func (t *traced) NotifyOutboxDepth(ctx context.Context) (_ int64, err error) {
	return t.next.NotifyOutboxDepth(ctx) // scraped often; no span
}

func (t *traced) ColdDue(ctx context.Context, now time.Time, limit int) (_ []store.ColdRef, err error) {
	ctx, end := t.calls.Start(ctx, "cold_due")
	defer end(&err)
	return t.next.ColdDue(ctx, now, limit)
}

func (t *traced) DropChunkData(ctx context.Context, siteID int64, id string, coldMs int64, keys []store.ChunkKey) (err error) {
	ctx, end := t.calls.Start(ctx, "drop_chunk_data", siteAttr(siteID))
	defer end(&err)
	return t.next.DropChunkData(ctx, siteID, id, coldMs, keys)
}
