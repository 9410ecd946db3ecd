// Package cold is svc-recordings' cold tier: sessions past their site's
// cold age leave the primary store (Pebble, ScyllaDB) for object storage
// (blob.Store: files or S3), and are read back from there transparently.
//
// A move writes the session's chunks still in the primary store, in their
// stored (compressed) form, as one object — a segment, named by its
// content's hash under <prefix>/<site>/<session>/ — reads it back and
// compares, and only then drops those chunks' data from the primary store
// (store.Cold.DropChunkData; the summary, chunk stats and chunk index
// stay). Every step is idempotent and a crash between any two leaves the
// session readable: before the drop the chunks are in both places (the
// reader prefers the primary copy), and the session stays due, so the
// next pass writes the same segment again (same content, same name) and
// drops. A segment is never overwritten with other content, so two
// concurrent moves of one session cannot lose each other's chunks.
package cold

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
	"github.com/sightlinehq/sightline/wireid"
)

// Config is the cold tier's configuration (flags "recordings.cold.*").
// Where the objects live is the assets' choice (assets.OpenStore): the
// assets' S3 bucket when recordings.assets.s3-endpoint is set, else files
// under <data-dir>/cold.
type Config struct {
	// Prefix is the key prefix of the cold objects in the store.
	Prefix string `yaml:"prefix"`
	// SweepLimit bounds the sessions one pass moves.
	SweepLimit int `yaml:"sweep_limit"`
	// CollectInterval is the shortest time between two collections
	// (Collect) of segments whose sessions retention removed: each lists
	// every cold object and looks its session up, and a scheduled
	// retention job runs up to 50 passes (0: every pass that removed
	// sessions).
	CollectInterval time.Duration `yaml:"collect_interval"`
}

// RegisterFlags registers the flags and their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Prefix, "recordings.cold.prefix", "cold", "key prefix of cold recordings in object storage (the assets' S3 bucket when recordings.assets.s3-endpoint is set, else files under <data-dir>/cold)")
	fs.IntVar(&c.SweepLimit, "recordings.cold.sweep-limit", 1000, "most sessions one cold pass moves to object storage (the next pass continues)")
	fs.DurationVar(&c.CollectInterval, "recordings.cold.collect-interval", time.Hour, "shortest time between two collections of the cold segments of sessions retention removed (each lists every cold object); they go at most this long after their sessions; 0: after every retention pass that removed sessions. Deleting a session or visitor removes its segments at once")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Prefix == "" || strings.Contains(c.Prefix, "/") || !blob.ValidKey(c.Prefix) {
		return fmt.Errorf("recordings.cold.prefix: %q is not one key segment of [A-Za-z0-9._-]", c.Prefix)
	}
	if c.SweepLimit < 1 {
		return errors.New("recordings.cold.sweep-limit: at least 1")
	}
	if c.CollectInterval < 0 || c.CollectInterval > 24*time.Hour {
		return errors.New("recordings.cold.collect-interval: 0 to 24h")
	}
	return nil
}

// Tier moves sessions to object storage and reads them back.
type Tier struct {
	blobs  blob.Store
	prefix string
	log    *slog.Logger
	tracer trace.Tracer
	// maxObject bounds what a read loads (a segment is at most a session).
	maxObject int64

	sessions, bytes, failures, reads metric.Int64Counter
}

// New returns the tier over blobs; maxObject is the largest segment read
// back.
func New(blobs blob.Store, cfg Config, maxObject int64, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*Tier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Tier{blobs: blobs, prefix: cfg.Prefix, log: log, maxObject: maxObject,
		tracer: tp.Tracer("github.com/sightlinehq/sightline/svc-recordings/cold")}
	m := mp.Meter("github.com/sightlinehq/sightline/svc-recordings/cold")
	var errs [4]error
	t.sessions, errs[0] = m.Int64Counter("recordings.cold.sessions", metric.WithDescription("Sessions moved to object storage."))
	t.bytes, errs[1] = m.Int64Counter("recordings.cold.bytes", metric.WithUnit("By"), metric.WithDescription("Bytes written to object storage by moves (segments, stored form)."))
	t.failures, errs[2] = m.Int64Counter("recordings.cold.failures", metric.WithDescription("Moves that failed, by step: read, put, verify, drop; the session stays readable and due."))
	t.reads, errs[3] = m.Int64Counter("recordings.cold.reads", metric.WithDescription("Recording reads that needed object storage."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("cold: instruments: %w", err)
	}
	return t, nil
}

// sessionPrefix is where a session's segments live.
func (t *Tier) sessionPrefix(site int64, session string) string {
	return t.prefix + "/" + strconv.FormatInt(site, 10) + "/" + session + "/"
}

// Sweep moves up to limit sessions due at now out of st (the primary store,
// not a reader that merges cold chunks), and answers how many moved and
// whether more may be due. A session that fails is left as it was and
// the others are still tried; the errors are joined.
func (t *Tier) Sweep(ctx context.Context, st store.Store, now time.Time, limit int) (int, bool, error) {
	refs, err := st.ColdDue(ctx, now, limit)
	if err != nil {
		return 0, false, fmt.Errorf("cold: list due sessions: %w", err)
	}
	moved := 0
	var errs []error
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return moved, true, err
		}
		ok, err := t.Move(ctx, st, ref)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			moved++
		}
	}
	return moved, len(refs) == limit, errors.Join(errs...)
}

// Move moves one due session: put, verify, drop. It answers whether
// chunks moved (false when none were left in the primary store: the due
// entry is dropped only).
func (t *Tier) Move(ctx context.Context, st store.Store, ref store.ColdRef) (moved bool, err error) {
	ctx, span := t.tracer.Start(ctx, "cold move", trace.WithAttributes(
		attribute.Int64("sightline.site_id", ref.SiteID), attribute.String("sightline.session_id", ref.SessionID)))
	var step string
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			t.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("step", step)))
			err = fmt.Errorf("cold: move %d/%s: %s: %w", ref.SiteID, ref.SessionID, step, err)
		}
		span.End()
	}()
	step = "read"
	var chunks []store.StoredChunk
	if err := st.ReadChunks(ctx, ref.SiteID, ref.SessionID, 0, func(c store.StoredChunk) error {
		chunks = append(chunks, c)
		return nil
	}); err != nil {
		return false, err
	}
	keys := make([]store.ChunkKey, len(chunks))
	for i, c := range chunks {
		keys[i] = store.ChunkKey{Seq: c.Seq, PageViewID: c.PageViewID}
	}
	if len(chunks) > 0 {
		obj := encode(chunks)
		key := t.sessionPrefix(ref.SiteID, ref.SessionID) + name(obj)
		step = "put"
		if err := t.blobs.Put(ctx, key, bytes.NewReader(obj), int64(len(obj)), contentType); err != nil {
			return false, err
		}
		step = "verify"
		if err := t.verify(ctx, key, obj); err != nil {
			return false, err
		}
		span.SetAttributes(attribute.Int("sightline.chunks", len(chunks)), attribute.Int("sightline.bytes", len(obj)))
		t.bytes.Add(ctx, int64(len(obj)))
	}
	step = "drop"
	if err := st.DropChunkData(ctx, ref.SiteID, ref.SessionID, ref.ColdMs, keys); err != nil {
		return false, err
	}
	if len(chunks) > 0 {
		t.sessions.Add(ctx, 1)
	}
	return len(chunks) > 0, nil
}

// verify reads the object at key back and compares it with obj.
func (t *Tier) verify(ctx context.Context, key string, obj []byte) error {
	rc, _, err := t.blobs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(obj))+1))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, obj) {
		return fmt.Errorf("%s reads back %d bytes that differ from the %d written", key, len(got), len(obj))
	}
	return nil
}

// segments loads every chunk of a session's segments, by key.
func (t *Tier) segments(ctx context.Context, site int64, session string) (map[store.ChunkKey]store.StoredChunk, error) {
	out := map[store.ChunkKey]store.StoredChunk{}
	for info, err := range t.blobs.List(ctx, t.sessionPrefix(site, session)) {
		if err != nil {
			return nil, fmt.Errorf("cold: list %d/%s: %w", site, session, err)
		}
		if info.Size > t.maxObject {
			return nil, fmt.Errorf("cold: %s: %d bytes, more than a session may hold (%d)", info.Key, info.Size, t.maxObject)
		}
		obj, err := t.get(ctx, info.Key)
		if err != nil {
			return nil, err
		}
		chunks, err := decode(obj)
		if err != nil {
			// A put whose verify failed left it; its chunks are still in
			// the primary store (the drop never ran), and the next move
			// overwrites it (same name). A chunk that is nowhere else
			// fails the read below.
			t.log.WarnContext(ctx, "cold: a segment does not decode; skipped", "key", info.Key, "err", err)
			continue
		}
		for _, c := range chunks {
			out[store.ChunkKey{Seq: c.Seq, PageViewID: c.PageViewID}] = c
		}
	}
	return out, nil
}

func (t *Tier) get(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := t.blobs.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("cold: get %s: %w", key, err)
	}
	defer rc.Close()
	obj, err := io.ReadAll(io.LimitReader(rc, t.maxObject+1))
	if err != nil {
		return nil, fmt.Errorf("cold: get %s: %w", key, err)
	}
	return obj, nil
}

// ReadChunks is st.ReadChunks over both tiers: every chunk of the session's
// chunk index with seq ≥ fromSeq, in key order, from the primary store when
// it still holds the chunk, else from the session's segments (loaded on the
// first chunk missing, so a session never moved costs one index read).
// The drop follows the put, so a chunk missing from the primary scan is in
// a segment by the time the segments are loaded.
func (t *Tier) ReadChunks(ctx context.Context, st store.Store, site int64, session string, fromSeq int64, fn func(store.StoredChunk) error) error {
	idx, err := st.ChunkIndex(ctx, site, session)
	if err != nil {
		return err
	}
	var segs map[store.ChunkKey]store.StoredChunk
	fromCold := func(m store.ChunkMeta) error {
		if segs == nil {
			ctx, span := t.tracer.Start(ctx, "cold read", trace.WithAttributes(
				attribute.Int64("sightline.site_id", site), attribute.String("sightline.session_id", session)))
			segs, err = t.segments(ctx, site, session)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
			if err != nil {
				return err
			}
			t.reads.Add(ctx, 1)
		}
		c, ok := segs[store.ChunkKey{Seq: m.Seq, PageViewID: m.PageViewID}]
		if !ok {
			return fmt.Errorf("cold: chunk %d/%s of session %d/%s is neither in the store nor in object storage", m.Seq, m.PageViewID, site, session)
		}
		return fn(c)
	}
	i := 0
	for i < len(idx) && idx[i].Seq < fromSeq {
		i++
	}
	err = st.ReadChunks(ctx, site, session, fromSeq, func(c store.StoredChunk) error {
		for ; i < len(idx); i++ {
			d := summary.CompareKey(idx[i].Seq, idx[i].PageViewID, c.Seq, c.PageViewID)
			if d > 0 {
				break
			}
			if d == 0 {
				i++
				break
			}
			if err := fromCold(idx[i]); err != nil {
				return err
			}
		}
		return fn(c)
	})
	if err != nil {
		return err
	}
	for ; i < len(idx); i++ {
		if err := fromCold(idx[i]); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSession removes a session's segments (the store has deleted the
// session; Collect catches what a failure here leaves).
func (t *Tier) DeleteSession(ctx context.Context, site int64, session string) error {
	for info, err := range t.blobs.List(ctx, t.sessionPrefix(site, session)) {
		if err != nil {
			return fmt.Errorf("cold: list %d/%s: %w", site, session, err)
		}
		if err := t.blobs.Delete(ctx, info.Key); err != nil {
			return fmt.Errorf("cold: delete %s: %w", info.Key, err)
		}
	}
	return nil
}

// Collect removes the segments of sessions st no longer has (expired,
// deleted alone or with their visitor) of site (0: every site) and answers
// how many sessions' segments it removed. Retention runs it after the
// store's sweep; it also catches what a failed DeleteSession left.
func (t *Tier) Collect(ctx context.Context, st store.Store, site int64) (int, error) {
	prefix := t.prefix + "/"
	if site != 0 {
		prefix += strconv.FormatInt(site, 10) + "/"
	}
	type sess struct {
		site int64
		id   string
	}
	var last sess
	var gone []sess
	for info, err := range t.blobs.List(ctx, prefix) {
		if err != nil {
			return 0, fmt.Errorf("cold: collect: %w", err)
		}
		parts := strings.Split(strings.TrimPrefix(info.Key, t.prefix+"/"), "/")
		site, perr := strconv.ParseInt(parts[0], 10, 64)
		if len(parts) != 3 || perr != nil || !wireid.Valid(parts[1]) {
			t.log.WarnContext(ctx, "cold: an object that is no segment under the prefix; left alone", "key", info.Key)
			continue
		}
		s := sess{site, parts[1]}
		if s == last {
			continue
		}
		last = s
		_, err = st.Session(ctx, s.site, s.id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			gone = append(gone, s)
		case err != nil:
			return 0, fmt.Errorf("cold: collect: %w", err)
		}
	}
	for i, s := range gone {
		if err := t.DeleteSession(ctx, s.site, s.id); err != nil {
			return i, err
		}
	}
	return len(gone), nil
}

// Collections decides when retention collects (Collect): when sessions
// were removed since the last collection and CollectInterval has passed.
// One is owed from the start, so a crash between a session's removal and
// its segments' leaves nothing for good.
type Collections struct {
	mu    sync.Mutex
	every time.Duration
	// removals counts passes that removed sessions (plus the one owed at
	// the start); collected is the count the last collection covered.
	removals, collected uint64
	last                time.Time
}

// NewCollections returns the schedule for cfg.
func NewCollections(cfg Config) *Collections {
	return &Collections{every: cfg.CollectInterval, removals: 1}
}

// Removed records a pass that removed sessions.
func (c *Collections) Removed() {
	c.mu.Lock()
	c.removals++
	c.mu.Unlock()
}

// Due tells whether to collect at now; if so, the caller collects and then
// calls Done with the mark.
func (c *Collections) Due(now time.Time) (mark uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removals == c.collected || (!c.last.IsZero() && now.Sub(c.last) < c.every) {
		return 0, false
	}
	c.last = now
	return c.removals, true
}

// Done records a collection that succeeded, covering the removals
// recorded before its Due.
func (c *Collections) Done(mark uint64) {
	c.mu.Lock()
	c.collected = max(c.collected, mark)
	c.mu.Unlock()
}
