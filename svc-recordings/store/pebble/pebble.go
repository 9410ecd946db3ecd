// Package pebble is the embedded recordings store on Pebble (CockroachDB's
// LSM key-value store), laid out like the wide-column model.
package pebble

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/platform/openfiles"
	"github.com/sightlinehq/sightline/platform/pebblemetrics"
	"github.com/sightlinehq/sightline/platform/storeformat"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Options tune the store.
type Options struct {
	// TombstoneTTL is how long a deleted session's id keeps re-delivered
	// chunks out. Default 30 days.
	TombstoneTTL time.Duration
	// Logger receives Pebble's own log lines; nil keeps Pebble's default.
	Logger pebble.Logger
	// Limits bound one session (zero: none).
	Limits store.Limits
	// CacheBytes sizes the block cache (uncompressed blocks); 0 means
	// 64 MiB. Heatmap reads scan many rows: a map that stays cached reads
	// several times faster than one decompressed again per request.
	CacheBytes int64
	// HeatmapsOff skips heatmap aggregation (recordings.heatmaps=false):
	// appends queue nothing; the aggregates already stored stay.
	HeatmapsOff bool
	// Metrics receives Pebble's own figures (pebblemetrics, store
	// "recordings"); nil exports none.
	Metrics metric.MeterProvider
	// MaxOpenFiles bounds the table and blob files Pebble holds open (0:
	// the store's share of the process's limit, openfiles.ForStore).
	MaxOpenFiles int
}

const stripes = 64

// Store is the Pebble backend of store.Store.
type Store struct {
	db    *pebble.DB
	opts  Options
	seed  maphash.Seed
	locks [stripes]sync.Mutex
	// tombs tells appends, without a read, that a session has no
	// tombstone (tombs.go).
	tombs   tombFilter
	outboxN atomic.Int64
	// floors are where the outboxes' pending scans start (outbox.go).
	floors outboxFloors

	// siteLocks order heatmap writers (read) against rebuild steps
	// (write), by site; taken before session stripes.
	siteLocks [stripes]sync.RWMutex
	// markers are the sites' unfinished heatmap rebuilds (as on disk);
	// rebuilds the ones running here.
	markerMu sync.Mutex
	markers  map[int64]*rebuildMarker
	rebuilds store.Rebuilds
	// rebuildStep is how many sessions a rebuild batch counts (tests
	// make it small).
	rebuildStep int
	// heatq holds appended heatmap changes until a flush merges them.
	heatq heatQueue
	// heatFolds counts flushed list operands and names the lists to fold
	// (heatfold.go).
	heatFolds heatFolds
	// listMerges counts merges of two or more cell lists (reads, folds and
	// compactions; the merger's).
	listMerges *atomic.Int64
	// heatOff skips heatmap aggregation (Options.HeatmapsOff).
	heatOff bool
	// pebbleMetrics exports the database's figures; heatm heatmap
	// aggregation's (heatmetrics.go).
	pebbleMetrics *pebblemetrics.Recorder
	heatm         *heatMetrics
	// rows keeps the session rows appends wrote (rowcache.go).
	rows rowCache
	// failWrite, when set, fails the writes it answers an error for, by
	// op ("append", "heat flush"), before they reach the database (tests:
	// a write the database refused; atomic, as the timed flusher reads it).
	failWrite atomic.Pointer[func(op string) error]
}

var _ store.Store = (*Store)(nil)

// writeFails answers the error a test makes op's write fail with (nil:
// none; see failWrite).
func (s *Store) writeFails(op string) error {
	if f := s.failWrite.Load(); f != nil {
		return (*f)(op)
	}
	return nil
}

// newMerger is the database's one merge operator (Pebble allows one per
// database and persists its name, so the name stays that of the first
// version, which only kept maxima). It dispatches on the key's kind:
//   - 'a' (latest chunk time per site) keeps the largest big-endian int64,
//     so concurrent appends need no read-modify-write;
//   - 'k' (snapshot pointers) keeps the largest value, which starts with
//     the big-endian server time: the newest snapshot wins, whatever the
//     order of arrival;
//   - 'h' (heatmap aggregates) add cell lists (heatlist.go), and 'g' (the
//     heatmap page dictionary) and 'h' rows of the previous layout, read
//     once to move them, add heatmap.Vecs.
//
// merges, when not nil, counts the merges of two or more cell lists.
func newMerger(merges *atomic.Int64) *pebble.Merger {
	return &pebble.Merger{
		Name: mergerName,
		Merge: func(key, value []byte) (pebble.ValueMerger, error) {
			if len(key) > 9 && key[0] == pHeat && key[9] == heatListMark {
				m := &listSum{merges: merges}
				return m, m.MergeNewer(value)
			}
			if len(key) > 0 && (key[0] == pHeat || key[0] == pHeatPage) {
				m := &vecSum{}
				return m, m.MergeNewer(value)
			}
			m := &maxValue{exact: len(key) == 0 || key[0] != pSnapshot}
			return m, m.MergeNewer(value)
		},
	}
}

// mergerName names the merger in the database's options file: stored rows
// are merged by it, so it never changes.
const mergerName = "sightline.recordings.max.v1"

type maxValue struct {
	v     []byte
	exact bool // operands are exactly 8 bytes
}

func (m *maxValue) MergeNewer(value []byte) error {
	if len(value) < 8 || (m.exact && len(value) != 8) {
		return errors.New("max merge: bad operand")
	}
	if m.v == nil || bytes.Compare(value, m.v) > 0 {
		m.v = append(m.v[:0], value...)
	}
	return nil
}
func (m *maxValue) MergeOlder(value []byte) error { return m.MergeNewer(value) }
func (m *maxValue) Finish(bool) ([]byte, io.Closer, error) {
	return m.v, nil, nil
}

// FormatVersion is the version of the store's keys and values; bump it
// with a change an older binary would misread (and upgrade older data in
// Open). 2: heatmap aggregates as cell lists (heatlist.go), moved at Open.
const FormatVersion = 2

// format is the store's marker (storeformat: a newer one is refused).
func format() storeformat.Marker {
	return storeformat.Marker{Store: "recordings", Version: FormatVersion}
}

// memTableBytes sizes Pebble's memtable (the default is 4 MiB). Much of
// what an append writes is gone within seconds — heatmap queue rows
// (deleted by the next flush), outbox entries (deleted once search has
// them), open-session rows — and the aggregate merges of many flushes
// land on the same cells: inside one memtable they cancel or collapse
// before they reach a table, where each would be written and compacted
// level by level. In bench-heatmaps the disk writes per chunk fell from
// 15.0 to 6.2 KB (heatmaps on) and from 7.3 to 2.9 KB (off). The cost is
// memory: up to two memtables (one flushing) of this size.
const memTableBytes = 64 << 20

// valueSeparation keeps chunk values (zstd, most above a kilobyte, written
// once) and their stats in blob files that compactions move by reference
// instead of rewriting them level by level; keys, other rows and the
// heatmap cells stay in the tables (chunksApart). It needs Pebble's format FormatValueSeparation
// (columnar tables), to which Open ratchets a store made by an older
// release; a release on the same Pebble opens it again. The format is
// named, not FormatNewest, so that upgrading Pebble does not ratchet the
// store (and refuse a rollback) unless we choose to. Garbage (sessions
// ended by retention or deleted) is rewritten out of a blob file once it
// is a fifth of it and the file is five minutes old. In 10-minute soaks at 1,600 batches/s of 10 KB,
// against the same binary without it, write amplification in the last
// three minutes was 2.33–2.63 instead of 2.94–3.52 and CPU per batch 4 %
// lower, rising less as the store grew. Blob files are held open in
// Pebble's file cache as tables are (1,000 files at most): 289 open files
// at the soak's end instead of 90 (527 when every value was separated,
// before chunksApart).
func valueSeparation() pebble.ValueSeparationPolicy {
	return pebble.ValueSeparationPolicy{
		Enabled:               true,
		MinimumSize:           512,
		MaxBlobReferenceDepth: 10,
		RewriteMinimumAge:     5 * time.Minute,
		TargetGarbageRatio:    0.2,
	}
}

// chunksApart is the span policy that keeps value separation to chunk
// values and their stats, each written once and read together or on rare
// paths (a deletion's heatmap changes, a fold of chunks out of order):
// rows rewritten at every append (session rows) and rows gone within
// seconds (outbox entries, heatmap queue rows) stay in the tables, where a
// read needs no second file and a rewrite leaves no garbage in a blob
// file. Stats went apart when heatmaps' anchors had made them about a
// kilobyte a chunk, rewritten level by level with the tables: in
// bench-heatmaps the append's CPU fell by 4–7 % (heatmaps on 136.9 and
// 130.8 → 128.0 and 121.5 µs per chunk, off 94.6 and 89.2 → 90.4 and
// 85.2; disk writes 6.15 → 5.55 KB per chunk).
func chunksApart(start []byte) (pebble.SpanPolicy, []byte, error) {
	inPlace := pebble.SpanPolicy{ValueStoragePolicy: pebble.ValueStorageLowReadLatency}
	switch {
	case len(start) == 0 || start[0] < pChunk:
		return inPlace, []byte{pChunk}, nil
	case start[0] == pChunk:
		return pebble.SpanPolicy{}, []byte{pChunk + 1}, nil
	case start[0] < pStats:
		return inPlace, []byte{pStats}, nil
	case start[0] == pStats:
		return pebble.SpanPolicy{}, []byte{pStats + 1}, nil
	default:
		return inPlace, nil, nil
	}
}

// Open opens (creating) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = 30 * 24 * time.Hour
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if err := format().Open(dir); err != nil {
		return nil, err
	}
	listMerges := new(atomic.Int64)
	po := &pebble.Options{Merger: newMerger(listMerges), CacheSize: opts.CacheBytes, MemTableSize: memTableBytes, MaxOpenFiles: cmp.Or(opts.MaxOpenFiles, openfiles.ForStore())}
	// Appends look up keys that mostly do not exist (a deleted session's
	// tombstone, a chunk already stored): a filter answers those without
	// reading each table's index and data blocks, which Pebble does by
	// default (no filter).
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	po.FormatMajorVersion = pebble.FormatValueSeparation
	po.Experimental.ValueSeparationPolicy = valueSeparation
	po.Experimental.SpanPolicyFunc = chunksApart
	if opts.Logger != nil {
		po.Logger = opts.Logger
	}
	pm := pebblemetrics.New("recordings")
	po.EventListener = pm.EventListener()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("pebble: open %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, pebbleMetrics: pm, seed: maphash.MakeSeed(), rebuildStep: defaultRebuildStep, heatOff: opts.HeatmapsOff, heatFolds: heatFolds{after: heatFoldAfter}, listMerges: listMerges}
	s.floors.init()
	// Outbox ids continue after the last one on disk.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{pOutbox}, UpperBound: []byte{pOutbox + 1}})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	if it.Last() {
		r := keyReader{b: it.Key()[1:]}
		s.outboxN.Store(r.u64())
	}
	if err := it.Close(); err != nil {
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	if err := s.loadMarkers(); err != nil {
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	if err := s.resetTombs(false); err != nil {
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	if opts.Metrics != nil {
		if err := pm.Register(opts.Metrics, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("pebble: open: %w", err)
		}
	}
	if s.heatm, err = newHeatMetrics(opts.Metrics, s); err != nil {
		pm.Close()
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	if err := s.startHeatQueue(); err != nil {
		_ = s.heatm.close() // the open's error is the one to answer
		pm.Close()
		db.Close()
		return nil, fmt.Errorf("pebble: open: %w", err)
	}
	return s, nil
}

// Close flushes queued heatmap changes and closes the database.
func (s *Store) Close() error {
	err := s.stopHeatQueue()
	return errors.Join(err, s.heatm.close(), s.pebbleMetrics.Close(), s.db.Close())
}

// Ping reads a key to prove the database answers.
func (s *Store) Ping(ctx context.Context) error {
	_, c, err := s.db.Get([]byte{pActivity})
	if err == nil {
		c.Close()
	}
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("pebble: ping: %w", err)
	}
	return nil
}

// decodeRow reads an 'm' value. Every append reads its sessions' rows:
// encoding/json's decode was 3.8 % of the whole server's CPU in a
// bench-pipeline soak profile; storedjson's (segmentio's, checked against
// encoding/json in TestRowDecodeMatchesStd) takes a quarter of its time on
// a recorded row. Keeping the rows appends wrote, decoded, to skip this
// when the bytes read are the ones written (a memo of 16 MiB of rows) was
// measured and dropped: at 1,600 batches/s CPU per batch rose 3 % (822 to
// 850 µs, 8 alternating rounds) and RSS by a third, the rows kept alive
// costing the collector more than the decodes they saved.
func decodeRow(v []byte, r *sessionRow) error { return storedjson.Unmarshal(v, r) }

// encodeRow writes an 'm' value, byte for byte what encoding/json's
// encoder writes with HTML escaping off (TestRowEncodeMatchesStd,
// FuzzRowDecode), with storedjson: every append rewrites its sessions'
// rows, which grow with the pages a session views
// (BenchmarkAppendLongSession), and encoding/json's reflection took as
// long as the decode. Escaping HTML wrote each '>' of the clicked
// elements' selector paths as \u003e, six bytes for one: 13 % of the
// bytes of the rows a bench-heatmaps visit (24 clicks) writes, one per
// chunk. Rows written either way read the same.
func encodeRow(r *sessionRow) ([]byte, error) { return storedjson.MarshalUnsorted(r) }

// sessionRow is the 'm' value.
type sessionRow struct {
	State     *summary.State `json:"s"`
	Version   int64          `json:"v"`
	CreatedMs int64          `json:"c"`
	// EndedMs is when EndIdleSessions ended the session (zero: open).
	// From then State is final; LateChunks and LateRaw count the chunks
	// stored since, for the session's limits.
	EndedMs    int64 `json:"ed,omitempty"`
	LateChunks int64 `json:"lc,omitempty"`
	LateRaw    int64 `json:"lr,omitempty"`
}

// summary is the session's summary as stored: the fold, its version and
// its end.
func (r *sessionRow) summary(site int64, session string) *sessionsv1.SessionSummary {
	return r.State.Stored(site, session, r.Version, r.EndedMs)
}

func (r *sessionRow) expired(nowMs int64) bool {
	return r.State.ExpiresMs > 0 && r.State.ExpiresMs <= nowMs
}

func (s *Store) stripe(site int64, session string) int {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(site))
	h.Write(b[:])
	h.WriteString(session)
	return int(h.Sum64() % stripes)
}

// lock takes the stripes of the given sessions in index order (no
// deadlock between calls) and returns the unlock.
func (s *Store) lock(idx []int) func() {
	idx = slices.Compact(slices.Sorted(slices.Values(idx)))
	for _, i := range idx {
		s.locks[i].Lock()
	}
	return func() {
		for _, i := range idx {
			s.locks[i].Unlock()
		}
	}
}

func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, c, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := slices.Clone(v)
	c.Close()
	return out, true, nil
}

func (s *Store) loadRow(site int64, session string) (*sessionRow, error) {
	v, ok, err := s.get(partition(pSession, site, session))
	if err != nil || !ok {
		return nil, err
	}
	var r sessionRow
	if err := decodeRow(v, &r); err != nil {
		return nil, fmt.Errorf("pebble: decode session %d/%s: %w", site, session, err)
	}
	if r.State == nil {
		r.State = summary.NewState()
	}
	return &r, nil
}

type group struct {
	site    int64
	session string
	idx     []int  // positions in the call
	trace   string // the call's traceparent, for its outbox entries
	stripe  int
	rowKey  []byte // the session row's key
	// wrote is the session row the call writes (nil: none) and wroteSize
	// its encoded size, for the row cache once the batch applies.
	wrote     *sessionRow
	wroteSize int
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, chunks []store.Chunk) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(chunks))
	groups := map[[2]any]*group{}
	tp := store.Traceparent(ctx)
	var order []*group
	var stripeIdx []int
	var sites []int64
	for i, c := range chunks {
		k := [2]any{c.SiteID, c.SessionID}
		g := groups[k]
		if g == nil {
			g = &group{site: c.SiteID, session: c.SessionID, trace: tp, stripe: s.stripe(c.SiteID, c.SessionID), rowKey: partition(pSession, c.SiteID, c.SessionID)}
			groups[k] = g
			order = append(order, g)
			stripeIdx = append(stripeIdx, g.stripe)
			sites = append(sites, c.SiteID)
		}
		g.idx = append(g.idx, i)
	}
	b, done := s.newOutboxBatch()
	defer done()
	applied, err := s.applyAppend(b, order, stripeIdx, sites, chunks, res)
	if !applied {
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	// The stripes are free while the WAL syncs: the next call for these
	// sessions (the forwarder keeps several in flight) reads and builds on
	// this one's rows meanwhile, as any reader already could (a write is
	// visible before its sync). Its own sync, later in the same WAL,
	// covers this one's, so nothing is acknowledged before what it built
	// on is durable. (SyncWait also after a failed apply: the batch may
	// not be closed before.)
	if err := errors.Join(err, b.SyncWait()); err != nil {
		return nil, fmt.Errorf("pebble: append chunks: %w", err)
	}
	return res, nil
}

// applyAppend writes the call into b and applies it, under the sessions'
// stripes and the sites' read locks, without waiting for the WAL's sync
// (the caller calls b.SyncWait when applied, even with an error: the
// apply was attempted); applied is false when there was nothing to write
// (every chunk a duplicate or refused: res says which) or the call failed
// before.
func (s *Store) applyAppend(b *pebble.Batch, order []*group, stripeIdx []int, sites []int64, chunks []store.Chunk, res []store.AppendResult) (applied bool, err error) {
	defer s.rlockSites(sites...)()
	defer s.lock(stripeIdx)()
	nowMs := time.Now().UnixMilli()
	// The call's heatmap changes, per site, summed over its sessions before
	// they are queued (heatqueue.go): chunks of one page share most cells.
	heat := s.callHeat(chunks)
	for _, g := range order {
		if err := s.appendSession(b, g, chunks, res, nowMs, heat); err != nil {
			return false, err
		}
	}
	queued, ok, err := s.recordHeat(b, heat)
	if err != nil {
		return false, fmt.Errorf("pebble: append chunks: %w", err)
	}
	if b.Empty() {
		return false, nil
	}
	if err := s.writeFails("append"); err != nil {
		return false, fmt.Errorf("pebble: append chunks: %w", err)
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return true, err
	}
	for _, g := range order {
		if g.wrote != nil {
			s.rows.keep(g.stripe, g.rowKey, g.wrote, g.wroteSize)
		}
	}
	if ok {
		s.enqueue(queued) // under the sites' read locks (heatqueue.go)
	}
	return true, nil
}

func (s *Store) appendSession(b *pebble.Batch, g *group, chunks []store.Chunk, res []store.AppendResult, nowMs int64, callHeat map[int64]*siteHeat) error {
	if dead, err := s.tombstoned(g.site, g.session, nowMs); err != nil {
		return fmt.Errorf("pebble: append chunk: %w", err)
	} else if dead {
		return nil // deleted: re-deliveries stay out
	}
	// Taken out of the cache: this append changes it in place.
	row := s.rows.take(g.stripe, g.rowKey)
	if row == nil {
		var err error
		if row, err = s.loadRow(g.site, g.session); err != nil {
			return err
		}
	}
	// Which chunks may be stored already, without a Get each: none of a
	// session without a row (a deletion removes both), and of an open
	// session none after State.MaxSeq, which folds every chunk stored. An
	// ended session's late chunks are not in its State.
	mayBeStored := func(seq int64) bool {
		return row != nil && (row.EndedMs > 0 || seq <= row.State.MaxSeq)
	}
	type key struct {
		seq int64
		pv  string
	}
	var cand []*store.Chunk
	pos := map[*store.Chunk]int{}
	seen := map[key]bool{}
	for _, i := range g.idx {
		c := &chunks[i]
		if seen[key{c.Seq, c.PageViewID}] {
			continue
		}
		seen[key{c.Seq, c.PageViewID}] = true
		if mayBeStored(c.Seq) {
			_, ok, err := s.get(chunkKey(pChunk, g.site, g.session, c.Seq, c.PageViewID))
			if err != nil {
				return fmt.Errorf("pebble: append chunk: %w", err)
			}
			if ok {
				continue
			}
		}
		cand = append(cand, c)
		pos[c] = i
	}
	// Admitted in key order, so which chunks a full session refuses does
	// not depend on the order inside the call.
	slices.SortFunc(cand, func(a, b *store.Chunk) int { return summary.CompareKey(a.Seq, a.PageViewID, b.Seq, b.PageViewID) })
	var n, raw int64
	if row != nil {
		n, raw = int64(row.State.Chunks)+row.LateChunks, row.State.RawBytes+row.LateRaw
	}
	var fresh []*store.Chunk
	for _, c := range cand {
		if err := s.opts.Limits.Admit(n, raw, c.Stats.RawBytes); err != nil {
			res[pos[c]].Refused = err
			continue
		}
		n, raw = n+1, raw+c.Stats.RawBytes
		res[pos[c]].Stored = true
		fresh = append(fresh, c)
	}
	if len(fresh) == 0 {
		return nil
	}
	if row != nil && row.EndedMs > 0 {
		return s.appendEnded(b, g, row, fresh, callHeat)
	}
	// Heatmaps: the fresh chunks' part comes, and what the fold's part
	// changes (its old part copied before the in-order path folds into
	// row.State in place).
	heat := s.sessionDeltas(callHeat, g.site)
	var before heatmap.StatePart
	if row != nil && !s.heatOff {
		before = heatmap.PartOf(row.State)
	}
	for _, c := range fresh {
		if !s.heatOff {
			heatmap.AddChunk(heat, &c.Stats, 1)
		}
	}
	if err := writeChunks(b, g, fresh); err != nil {
		return err
	}

	isNew := row == nil
	var stored *summary.State
	var oldExpires, oldCold int64
	var oldVisitor string
	oldActive := int64(-1)
	if row != nil {
		stored, oldExpires, oldCold, oldVisitor = row.State, row.State.ExpiresMs, row.State.ColdMs, row.State.VisitorID
		oldActive = row.State.LastActivityMs() // before the fold, which may work in place
	} else {
		row = &sessionRow{CreatedMs: nowMs}
	}
	stats := make([]*summary.ChunkStats, len(fresh))
	for i, c := range fresh {
		stats[i] = &c.Stats
	}
	// Answers: a state applied in order already carries its tally, as
	// AppendAnswers updates the row under the same stripe.
	step, err := summary.Advance(g.site, g.session, stored, stats, false, summary.Sources{
		All: func() ([]summary.ChunkStats, error) {
			all, err := s.stats(g.site, g.session)
			if err != nil {
				return nil, err
			}
			for _, c := range fresh { // in the batch, not yet stored
				all = append(all, c.Stats)
			}
			return all, nil
		},
		Answers: func() (*summary.AnswerTally, error) { return s.answerTally(g.site, g.session) },
	})
	if err != nil {
		return err
	}
	state := step.State
	row.State = state
	if !s.heatOff {
		heatmap.AddStateChange(heat, before, state)
		s.collectHeat(callHeat, g.site, g.session, heat)
		if err := mergeSnapshots(b, g.site, g.session, fresh); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	if step.Changed {
		row.Version++
		if err := s.outboxUpsert(b, g.site, g.session, g.trace); err != nil {
			return err
		}
	}
	if active := state.LastActivityMs(); isNew || active != oldActive {
		// The open-sessions index (ending.go), with the session's last
		// activity: a sweep reads the rows of those idle by then only.
		if err := b.Set(partition(pOpen, g.site, g.session), openValue(active), nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	if isNew || oldVisitor != state.VisitorID {
		// An earlier chunk arriving late may name the visitor.
		if !isNew {
			if err := b.Delete(newKey(pVisitor).u64(g.site).str(oldVisitor).str(g.session), nil); err != nil {
				return fmt.Errorf("pebble: append chunk: %w", err)
			}
		}
		if err := b.Set(newKey(pVisitor).u64(g.site).str(state.VisitorID).str(g.session), nil, nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	if isNew {
		if err := b.Set(newKey(pBegun).u64(g.site).u64(row.CreatedMs).str(g.session), nil, nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	return writeRow(b, g, row, oldExpires, oldCold, fresh)
}

// writeRow stores a session's row after an append of fresh chunks: it
// moves the session's expiry and cold entries from oldExpires and oldCold
// to the row's (a later chunk keeps the session longer), writes the row and
// records the site's activity (the chunks' latest server time).
func writeRow(b *pebble.Batch, g *group, row *sessionRow, oldExpires, oldCold int64, fresh []*store.Chunk) error {
	if err := moveCold(b, g.site, g.session, oldCold, row.State.ColdMs); err != nil {
		return fmt.Errorf("pebble: append chunk: %w", err)
	}
	if row.State.ExpiresMs != oldExpires {
		if oldExpires > 0 {
			if err := b.Delete(newKey(pExpiry).u64(oldExpires).u64(g.site).str(g.session), nil); err != nil {
				return fmt.Errorf("pebble: append chunk: %w", err)
			}
		}
		if row.State.ExpiresMs > 0 {
			if err := b.Set(newKey(pExpiry).u64(row.State.ExpiresMs).u64(g.site).str(g.session), nil, nil); err != nil {
				return fmt.Errorf("pebble: append chunk: %w", err)
			}
		}
	}
	rb, err := encodeRow(row)
	if err != nil {
		return fmt.Errorf("pebble: append chunk: %w", err)
	}
	if err := b.Set(g.rowKey, rb, nil); err != nil {
		return fmt.Errorf("pebble: append chunk: %w", err)
	}
	g.wrote, g.wroteSize = row, len(rb)
	var serverMs int64
	for _, c := range fresh {
		serverMs = max(serverMs, c.Stats.ServerMs)
	}
	if serverMs > 0 {
		if err := b.Merge(newKey(pActivity).u64(g.site), binary.BigEndian.AppendUint64(nil, uint64(serverMs)), nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	return nil
}

// writeChunks writes the rows of fresh chunks: the chunk, its stats and
// its times.
func writeChunks(b *pebble.Batch, g *group, fresh []*store.Chunk) error {
	var st []byte // reused: Set copies it into b
	for _, c := range fresh {
		var err error
		st, err = c.Stats.AppendMarshal(st[:0])
		if err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
		ck := chunkKey(pChunk, g.site, g.session, c.Seq, c.PageViewID)
		if err := b.Set(ck, encodeChunk(c.Stats.PageViewID, c.Stats.FirstMs, c.Stats.LastMs, c.Data), nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
		if err := b.Set(chunkKey(pStats, g.site, g.session, c.Seq, c.PageViewID), st, nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
		if err := b.Set(chunkKey(pIndex, g.site, g.session, c.Seq, c.PageViewID), encodeIndex(c.Stats.FirstMs, c.Stats.LastMs, c.Stats.FullSnapshotMs), nil); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	return nil
}

func (s *Store) stats(site int64, session string) ([]summary.ChunkStats, error) {
	var out []summary.ChunkStats
	err := s.scan(partition(pStats, site, session), nil, func(_, v []byte) error {
		st, err := summary.UnmarshalStats(v)
		if err != nil {
			return err
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: read stats %d/%s: %w", site, session, err)
	}
	return out, nil
}

// scan calls fn for every key with prefix, starting at from (or the prefix).
func (s *Store) scan(prefix, from []byte, fn func(k, v []byte) error) error {
	lo := prefix
	if from != nil {
		lo = from
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// outbox records e, a deletion, in the sessions' outbox. b must come
// from newOutboxBatch (the scan's floor waits for it).
func (s *Store) outbox(b *pebble.Batch, e store.OutboxEntry) error {
	return s.putOutbox(b, outboxValue{Kind: e.Kind, SiteID: e.SiteID, SessionIDs: e.SessionIDs, VisitorID: e.VisitorID, Traceparent: e.Traceparent})
}

// outboxUpsert records a change of a session's summary in the sessions'
// outbox, as the session's name: the session's row holds the summary
// already, and a copy per append was, after the chunk, the largest value
// an append wrote (1.4 KB for a live site's session with heatmaps, as
// base64 in JSON), rewritten by every append while search needs only the
// newest. OutboxPending reads the row instead, once per session and page
// of entries. b must come from newOutboxBatch.
func (s *Store) outboxUpsert(b *pebble.Batch, site int64, session, traceparent string) error {
	return s.putOutbox(b, outboxValue{Kind: store.OutboxUpsert, SiteID: site, Session: session, Traceparent: traceparent})
}

func (s *Store) putOutbox(b *pebble.Batch, ov outboxValue) error {
	v, err := storedjson.Marshal(ov)
	if err != nil {
		return fmt.Errorf("pebble: outbox: %w", err)
	}
	if err := b.Set(s.outboxKey(b), v, nil); err != nil {
		return fmt.Errorf("pebble: outbox: %w", err)
	}
	return nil
}

// timedOutbox records v (as JSON) in the outbox under prefix (the
// answers' or notify's); what names it in errors. Keys are (ms, n),
// milliseconds first: the counter restarts from the sessions' outbox after
// a restart, the clock does not. b must come from newOutboxBatch, as for
// outbox.
func (s *Store) timedOutbox(b *pebble.Batch, prefix byte, what string, v any) error {
	raw, err := storedjson.Marshal(v)
	if err != nil {
		return fmt.Errorf("pebble: %s: %w", what, err)
	}
	k := s.timedOutboxKey(b, prefix)
	if err := b.Set(k, raw, nil); err != nil {
		return fmt.Errorf("pebble: %s: %w", what, err)
	}
	return nil
}

// outboxValue is an outbox entry as stored. Fields are only ever added,
// optional, so entries written by an older version still decode.
type outboxValue struct {
	Kind    store.OutboxKind `json:"k"`
	SiteID  int64            `json:"s"`
	Summary []byte           `json:"m,omitempty"`
	// Session names the session of an upsert written without its summary
	// (all since Summary's were): OutboxPending renders the session's
	// summary from its row when read.
	Session     string   `json:"n,omitempty"`
	SessionIDs  []string `json:"i,omitempty"`
	VisitorID   string   `json:"v,omitempty"`
	Traceparent string   `json:"t,omitempty"`
}

// Session implements store.Store.
func (s *Store) Session(ctx context.Context, site int64, session string) (*sessionsv1.SessionSummary, error) {
	row, err := s.loadRow(site, session)
	if err != nil {
		return nil, err
	}
	if row == nil || row.expired(time.Now().UnixMilli()) {
		return nil, store.ErrNotFound
	}
	return row.summary(site, session), nil
}

// SessionDetail implements store.Store: one read of the session row.
func (s *Store) SessionDetail(ctx context.Context, site int64, session string) (*sessionsv1.SessionSummary, []*recordingsv1.Frustration, error) {
	row, err := s.loadRow(site, session)
	if err != nil {
		return nil, nil, err
	}
	if row == nil || row.expired(time.Now().UnixMilli()) {
		return nil, nil, store.ErrNotFound
	}
	return row.summary(site, session), row.State.FrustrationList(), nil
}

// ChunkIndex implements store.Store.
func (s *Store) ChunkIndex(ctx context.Context, site int64, session string) ([]store.ChunkMeta, error) {
	p := partition(pIndex, site, session)
	var out []store.ChunkMeta
	err := s.scan(p, nil, func(k, v []byte) error {
		r := keyReader{b: k[len(p):]}
		m := store.ChunkMeta{Seq: r.u64(), PageViewID: r.rest()}
		if r.err != nil {
			return r.err
		}
		var err error
		m.FirstMs, m.LastMs, m.FullSnapshotMs, err = decodeIndex(v)
		out = append(out, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: chunk index %d/%s: %w", site, session, err)
	}
	return out, nil
}

// ReadChunks implements store.Store: one range scan of the partition.
func (s *Store) ReadChunks(ctx context.Context, site int64, session string, fromSeq int64, fn func(store.StoredChunk) error) error {
	p := partition(pChunk, site, session)
	from := slices.Clone(p).u64(max(fromSeq, 0))
	return s.scan(p, from, func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := keyReader{b: k[len(p):]}
		seq, kpv := r.u64(), r.rest()
		if r.err != nil {
			return fmt.Errorf("pebble: read chunks: corrupt key")
		}
		pv, first, last, data, err := decodeChunk(v)
		if err != nil {
			return err
		}
		if pv != kpv {
			return fmt.Errorf("pebble: read chunk %d/%s/%d: page view %q in the key, %q in the value", site, session, seq, kpv, pv)
		}
		return fn(store.StoredChunk{Seq: seq, PageViewID: pv, FirstMs: first, LastMs: last, Data: slices.Clone(data)})
	})
}

// ListSessions implements store.Store; the token is the hex of the last
// key returned.
func (s *Store) ListSessions(ctx context.Context, site int64, token string, limit int) (store.Page, error) {
	prefix := newKey(pSession)
	if site != 0 {
		prefix = prefix.u64(site)
	}
	var page store.Page
	nowMs := time.Now().UnixMilli()
	next, err := s.scanPage(ctx, prefix, token, limit, func(k, v []byte) (bool, error) {
		r := keyReader{b: k[1:]}
		ksite, ksess := r.u64(), r.str()
		if r.err != nil {
			return false, fmt.Errorf("corrupt key")
		}
		var row sessionRow
		if err := decodeRow(v, &row); err != nil {
			return false, err
		}
		if row.State == nil || row.expired(nowMs) {
			return false, nil
		}
		page.Sessions = append(page.Sessions, row.summary(ksite, ksess))
		return true, nil
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("pebble: list sessions: %w", err)
	}
	page.Next = next
	return page, nil
}

// scanPage walks the rows under prefix after token (the hex of the key a
// page ended on; store.ErrBadToken when it is not one under prefix),
// handing each to take, which answers whether the page took it. Once limit
// rows are taken and another follows, next is the token of the page after.
func (s *Store) scanPage(ctx context.Context, prefix []byte, token string, limit int, take func(k, v []byte) (bool, error)) (next string, err error) {
	var from []byte
	if token != "" {
		k, err := hex.DecodeString(token)
		if err != nil || !bytes.HasPrefix(k, prefix) || len(k) <= len(prefix) {
			return "", store.ErrBadToken
		}
		from = append(k, 0) // strictly after
	}
	taken := 0
	var lastKey []byte
	errFull := errors.New("full")
	err = s.scan(prefix, from, func(k, v []byte) error {
		if taken == limit {
			return errFull
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		lastKey = slices.Clone(k)
		ok, err := take(k, v)
		if ok {
			taken++
		}
		return err
	})
	if errors.Is(err, errFull) {
		return hex.EncodeToString(lastKey), nil
	}
	return "", err
}

// deleteSession writes the removal of one session into b.
func (s *Store) deleteSession(b *pebble.Batch, site int64, session string, row *sessionRow, nowMs int64) error {
	// What the session added to heatmaps goes with it.
	heat := heatmap.Deltas{}
	if _, err := s.sessionHeat(heat, site, session, row, -1); err != nil {
		return err
	}
	if err := s.mergeHeat(b, site, session, heat); err != nil {
		return err
	}
	s.forgetRow(site, session)
	for _, p := range []byte{pChunk, pStats, pIndex} {
		k := partition(p, site, session)
		if err := b.DeleteRange(k, upperBound(k), nil); err != nil {
			return err
		}
	}
	dels := [][]byte{
		partition(pSession, site, session),
		partition(pOpen, site, session),
		newKey(pVisitor).u64(site).str(row.State.VisitorID).str(session),
		newKey(pBegun).u64(site).u64(row.CreatedMs).str(session),
	}
	if row.State.ExpiresMs > 0 {
		dels = append(dels, newKey(pExpiry).u64(row.State.ExpiresMs).u64(site).str(session))
	}
	if row.State.ColdMs > 0 {
		dels = append(dels, coldKey(row.State.ColdMs, site, session))
	}
	for _, k := range dels {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	tomb := binary.BigEndian.AppendUint64(nil, uint64(nowMs+s.opts.TombstoneTTL.Milliseconds()))
	s.markTombstone(site, session)
	return b.Set(partition(pTombstone, site, session), tomb, nil)
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, site int64, session string) error {
	defer s.rlockSites(site)()
	defer s.lock([]int{s.stripe(site, session)})()
	row, err := s.loadRow(site, session)
	if err != nil {
		return err
	}
	if row == nil {
		return store.ErrNotFound
	}
	b, done := s.newOutboxBatch()
	defer done()
	if err := s.deleteSession(b, site, session, row, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("pebble: delete session: %w", err)
	}
	if err := s.outbox(b, store.OutboxEntry{Kind: store.OutboxDeleteSessions, SiteID: site, SessionIDs: []string{session}, Traceparent: store.Traceparent(ctx)}); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble: delete session: %w", err)
	}
	return nil
}

// DeleteVisitor implements store.Store.
func (s *Store) DeleteVisitor(ctx context.Context, site int64, visitor string) ([]string, error) {
	p := newKey(pVisitor).u64(site).str(visitor)
	var sessions []string
	err := s.scan(p, nil, func(k, _ []byte) error {
		r := keyReader{b: k[len(p):]}
		sessions = append(sessions, r.str())
		return r.err
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: delete visitor: %w", err)
	}
	idx := make([]int, len(sessions))
	for i, sess := range sessions {
		idx[i] = s.stripe(site, sess)
	}
	defer s.rlockSites(site)()
	defer s.lock(idx)()
	b, done := s.newOutboxBatch()
	defer done()
	nowMs := time.Now().UnixMilli()
	var deleted []string
	for _, sess := range sessions {
		row, err := s.loadRow(site, sess)
		if err != nil {
			return nil, err
		}
		if row == nil {
			continue
		}
		if err := s.deleteSession(b, site, sess, row, nowMs); err != nil {
			return nil, fmt.Errorf("pebble: delete visitor: %w", err)
		}
		deleted = append(deleted, sess)
	}
	if err := s.outbox(b, store.OutboxEntry{Kind: store.OutboxDeleteVisitor, SiteID: site, VisitorID: visitor, Traceparent: store.Traceparent(ctx)}); err != nil {
		return nil, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("pebble: delete visitor: %w", err)
	}
	return deleted, nil
}

// SiteActivity implements store.Store.
func (s *Store) SiteActivity(ctx context.Context, site int64, since time.Time) (time.Time, int64, error) {
	v, ok, err := s.get(newKey(pActivity).u64(site))
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("pebble: site activity: %w", err)
	}
	var last time.Time
	if ok && len(v) == 8 {
		last = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
	}
	p := newKey(pBegun).u64(site)
	var n int64
	err = s.scan(p, slices.Clone(p).u64(max(since.UnixMilli(), 0)), func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("pebble: site activity: %w", err)
	}
	return last, n, nil
}

// Sweep implements store.Store: it walks the expiry index up to now, a
// thousand sessions at a time.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, more, err := s.sweepBatch(ctx, now.UnixMilli())
		total += n
		if err != nil || !more {
			if err == nil {
				err = s.sweepTombstones(now.UnixMilli())
			}
			return total, err
		}
	}
}

// sweepBatchSize bounds the expiry rows one sweep step reads.
const sweepBatchSize = 1000

// expired is one row of an expiry index: what expires when.
type expired struct {
	exp, site int64
	id        string
}

// expiredUpTo reads the first sweepBatchSize rows of the expiry index
// under prefix (the sessions' or the answers') that expire by nowMs.
func (s *Store) expiredUpTo(ctx context.Context, prefix byte, nowMs int64) ([]expired, error) {
	var out []expired
	errStop := errors.New("stop")
	err := s.scan([]byte{prefix}, nil, func(k, _ []byte) error {
		r := keyReader{b: k[1:]}
		x := expired{exp: r.u64(), site: r.u64(), id: r.str()}
		if r.err != nil {
			return r.err
		}
		if x.exp > nowMs || len(out) >= sweepBatchSize {
			return errStop
		}
		out = append(out, x)
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

func (s *Store) sweepBatch(ctx context.Context, nowMs int64) (int, bool, error) {
	victims, err := s.expiredUpTo(ctx, pExpiry, nowMs)
	if err != nil {
		return 0, false, fmt.Errorf("pebble: sweep: %w", err)
	}
	n := 0
	for _, v := range victims {
		done, err := s.sweepOne(v.site, v.id, nowMs)
		if err != nil {
			return n, false, err
		}
		if done {
			n++
		}
	}
	return n, len(victims) == sweepBatchSize, nil
}

func (s *Store) sweepOne(site int64, session string, nowMs int64) (bool, error) {
	defer s.rlockSites(site)()
	defer s.lock([]int{s.stripe(site, session)})()
	row, err := s.loadRow(site, session)
	if err != nil || row == nil || !row.expired(nowMs) {
		return false, err
	}
	b, done := s.newOutboxBatch()
	defer done()
	if err := s.deleteSession(b, site, session, row, nowMs); err != nil {
		return false, fmt.Errorf("pebble: sweep: %w", err)
	}
	if err := s.outbox(b, store.OutboxEntry{Kind: store.OutboxDeleteSessions, SiteID: site, SessionIDs: []string{session}}); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, fmt.Errorf("pebble: sweep: %w", err)
	}
	return true, nil
}

func (s *Store) sweepTombstones(nowMs int64) error {
	b := s.db.NewBatch()
	defer b.Close()
	err := s.scan([]byte{pTombstone}, nil, func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) <= nowMs {
			return b.Delete(slices.Clone(k), nil)
		}
		return nil
	})
	purged := !b.Empty()
	if err == nil && purged {
		err = b.Commit(pebble.NoSync) // losing a tombstone purge is harmless
	}
	if err != nil {
		return fmt.Errorf("pebble: sweep tombstones: %w", err)
	}
	if !purged {
		return nil
	}
	// The purged sessions' bits go (and the filter is sized again).
	return s.resetTombs(true)
}

// OutboxPending implements store.Store.
func (s *Store) OutboxPending(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	// The summaries of the sessions named so far: a session appended to
	// many times has many entries, all delivering its newest summary.
	type session struct {
		site int64
		id   string
	}
	current := map[session]*sessionsv1.SessionSummary{}
	out, err := outboxPending(s, pOutbox, limit, func(id string, ov outboxValue) (store.OutboxEntry, error) {
		e := store.OutboxEntry{ID: id, Kind: ov.Kind, SiteID: ov.SiteID, SessionIDs: ov.SessionIDs, VisitorID: ov.VisitorID, Traceparent: ov.Traceparent}
		switch {
		case ov.Summary != nil:
			e.Summary = &sessionsv1.SessionSummary{}
			if err := proto.Unmarshal(ov.Summary, e.Summary); err != nil {
				return e, err
			}
		case ov.Kind == store.OutboxUpsert && ov.Session != "":
			k := session{ov.SiteID, ov.Session}
			sum, ok := current[k]
			if !ok {
				row, err := s.loadRow(ov.SiteID, ov.Session)
				if err != nil {
					return e, err
				}
				if row != nil { // else deleted since: nothing to index
					sum = row.summary(ov.SiteID, ov.Session)
				}
				current[k] = sum
			}
			e.Summary = sum
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: outbox pending: %w", err)
	}
	return out, nil
}

// outboxPending reads the first limit entries of the outbox under prefix
// (the sessions', the answers' or notify's), in key order: oldest first.
// decode turns an entry's id (its key after the prefix, in hex) and its
// JSON value into an entry. The scan starts at the outbox's floor, which
// it then raises to the first entry it found (or to the lowest key still
// to come, if none), past the acked entries' tombstones.
func outboxPending[V, E any](s *Store, prefix byte, limit int, decode func(id string, v V) (E, error)) ([]E, error) {
	lo, floor := s.outboxFloor(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return nil, err
	}
	var out []E
	var first []byte
	for ok := it.First(); ok; ok = it.Next() {
		if first == nil {
			first = slices.Clone(it.Key())
		}
		if len(out) >= limit {
			break
		}
		raw, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, err
		}
		var v V
		if err := storedjson.Unmarshal(raw, &v); err != nil {
			it.Close()
			return nil, err
		}
		e, err := decode(hex.EncodeToString(it.Key()[1:]), v)
		if err != nil {
			it.Close()
			return nil, err
		}
		out = append(out, e)
	}
	if h := s.floors.onScan; h != nil {
		h(prefix, it.Stats())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	if first != nil && bytes.Compare(first, floor) < 0 {
		floor = first
	}
	s.raiseOutboxFloor(prefix, floor)
	return out, nil
}

// OutboxAck implements store.Store.
func (s *Store) OutboxAck(ctx context.Context, entries []store.OutboxEntry) error {
	if err := outboxAck(s, pOutbox, 8, entries, outboxID); err != nil {
		return fmt.Errorf("pebble: outbox ack: %w", err)
	}
	return nil
}

func outboxID(e store.OutboxEntry) string { return e.ID }

// outboxAck deletes the given entries of the outbox under prefix, whose
// ids (id(e), in hex) are idLen bytes.
func outboxAck[E any](s *Store, prefix byte, idLen int, entries []E, id func(E) string) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, e := range entries {
		k, err := hex.DecodeString(id(e))
		if err != nil || len(k) != idLen {
			return fmt.Errorf("bad id %q", id(e))
		}
		if err := b.Delete(append([]byte{prefix}, k...), nil); err != nil {
			return err
		}
	}
	// Sync: an ack lost in a crash only re-delivers (idempotent), but
	// keeping it cheap matters less than a depth that tells the truth.
	return b.Commit(pebble.Sync)
}

// OutboxDepth implements store.Store.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	n, err := s.outboxDepth(pOutbox)
	if err != nil {
		return 0, fmt.Errorf("pebble: outbox depth: %w", err)
	}
	return n, nil
}
