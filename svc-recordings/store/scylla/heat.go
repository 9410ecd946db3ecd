package scylla

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"golang.org/x/sync/errgroup"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Heatmap aggregates on ScyllaDB (migration 003). Counters are applied after
// the chunk and summary writes succeed (the contract: a crash in between can
// miss one chunk's part, which RebuildHeat repairs), in counter batches that
// are not idempotent (a retried increment would count twice).
//
// Counters cannot be cleared and counted again, so partitions carry a
// generation. heat_layout holds, per site, which generation holds which
// days (segments, each from its first day on) and the page dictionary, and
// an unfinished rebuild: RebuildHeat counts days ≥ since and the pages
// into a fresh generation while writers keep the live one exact, then
// switches the layout and drops what the new generation replaces.
//
// Writers read the layout on each call. A rebuild's cursor advances after
// it counts a batch of sessions, so a write to a session inside the batch
// being counted can be missed or counted twice by the new generation (no
// lock spans the cluster); running RebuildHeat again repairs it.

// heatSeg: days ≥ From (up to the next segment) live in generation Gen.
type heatSeg struct {
	Gen  int32 `json:"g"`
	From int32 `json:"f"`
}

type heatLayout struct {
	Segs  []heatSeg `json:"s"`
	Pages int32     `json:"p"`
	Next  int32     `json:"n"`
}

// heatMarker is an unfinished rebuild: sessions ≤ Cursor are counted in Gen.
type heatMarker struct {
	Gen    int32  `json:"g"`
	Since  int32  `json:"since"`
	Cursor string `json:"cursor,omitempty"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
}

type heatState struct {
	layout  heatLayout
	marker  *heatMarker
	version int64
	exists  bool
}

func defaultLayout() heatLayout {
	return heatLayout{Segs: []heatSeg{{Gen: 0, From: math.MinInt32}}, Next: 1}
}

// genOf is the generation holding day.
func (l heatLayout) genOf(day int32) int32 {
	g := l.Segs[0].Gen
	for _, s := range l.Segs {
		if s.From <= day {
			g = s.Gen
		}
	}
	return g
}

// recounts tells whether the unfinished rebuild counts key k of session
// in its generation too (the session is behind its cursor).
func (m *heatMarker) recounts(session string, k heatmap.Key) bool {
	return m != nil && m.Cursor != "" && session <= m.Cursor && (k.Kind == heatmap.Page || k.Day >= m.Since)
}

func (s *Store) loadHeat(ctx context.Context, site int64) (heatState, error) {
	it := s.ex.Iter(ctx, Stmt{CQL: "SELECT layout, marker, version FROM " + s.t("heat_layout") + " WHERE site_id = ?", Args: []any{site}, Idempotent: true})
	var layout, marker []byte
	var hs heatState
	hs.exists = it.Scan(&layout, &marker, &hs.version)
	if err := it.Close(); err != nil {
		return hs, fmt.Errorf("scylla: heatmap layout: %w", err)
	}
	hs.layout = defaultLayout()
	if len(layout) > 0 {
		if err := json.Unmarshal(layout, &hs.layout); err != nil || len(hs.layout.Segs) == 0 {
			return hs, fmt.Errorf("scylla: heatmap layout of site %d: corrupt (%v)", site, err)
		}
	}
	if len(marker) > 0 {
		hs.marker = &heatMarker{}
		if err := json.Unmarshal(marker, hs.marker); err != nil {
			return hs, fmt.Errorf("scylla: heatmap rebuild marker of site %d: %w", site, err)
		}
	}
	return hs, nil
}

// saveHeat writes a new layout and marker if nobody did since hs was read.
func (s *Store) saveHeat(ctx context.Context, site int64, hs heatState, l heatLayout, m *heatMarker) error {
	lb, err := json.Marshal(l)
	if err != nil {
		return err
	}
	var mb []byte
	if m != nil {
		if mb, err = json.Marshal(m); err != nil {
			return err
		}
	}
	st := Stmt{
		CQL:    "UPDATE " + s.t("heat_layout") + " SET layout = ?, marker = ?, version = ? WHERE site_id = ? IF version = ?",
		Args:   []any{lb, mb, hs.version + 1, site, hs.version},
		Serial: true,
	}
	if !hs.exists {
		st = Stmt{
			CQL:    "INSERT INTO " + s.t("heat_layout") + " (site_id, layout, marker, version) VALUES (?, ?, ?, ?) IF NOT EXISTS",
			Args:   []any{site, lb, mb, int64(1)},
			Serial: true,
		}
	}
	applied, err := s.ex.ExecCAS(ctx, st)
	if err != nil {
		return fmt.Errorf("scylla: heatmap layout: %w", err)
	}
	if !applied {
		return fmt.Errorf("scylla: heatmap layout of site %d changed concurrently (another rebuild?)", site)
	}
	return nil
}

// counter is the increment of one aggregate in generation gen.
func (s *Store) counter(site int64, gen int32, k heatmap.Key, v heatmap.Vec) Stmt {
	if k.Kind == heatmap.Page {
		return Stmt{
			CQL:  "UPDATE " + s.t("heat_pages") + " SET n = n + ?, x = x + ? WHERE site_id = ? AND gen = ? AND page = ?",
			Args: []any{v.N, v.X, site, gen, k.Page},
		}
	}
	return Stmt{
		CQL:  "UPDATE " + s.t("heat") + " SET n = n + ?, x = x + ?, y = y + ?, k = k + ?, rx = rx + ?, ry = ry + ? WHERE site_id = ? AND gen = ? AND page = ? AND device = ? AND kind = ? AND day = ? AND cell = ?",
		Args: []any{v.N, v.X, v.Y, v.K, v.RX, v.RY, site, gen, k.Page, k.Device, int8(k.Kind), k.Day, []byte(k.Cell)},
	}
}

// counterBatch bounds a counter batch.
const counterBatch = 64

func (s *Store) runCounters(ctx context.Context, sts []Stmt) error {
	for len(sts) > 0 {
		n := min(len(sts), counterBatch)
		if err := s.ex.Counters(ctx, sts[:n]); err != nil {
			return fmt.Errorf("scylla: heatmap counters: %w", err)
		}
		sts = sts[n:]
	}
	return nil
}

// applyHeat adds a session's aggregate changes to the live generations and,
// when an unfinished rebuild has counted the session, to its generation.
func (s *Store) applyHeat(ctx context.Context, site int64, session string, d heatmap.Deltas) error {
	if len(d.Prune()) == 0 {
		return nil
	}
	hs, err := s.loadHeat(ctx, site)
	if err != nil {
		return err
	}
	var sts []Stmt
	for _, k := range d.Sorted() {
		gen := hs.layout.Pages
		if k.Kind != heatmap.Page {
			gen = hs.layout.genOf(k.Day)
		}
		sts = append(sts, s.counter(site, gen, k, d[k]))
		if hs.marker.recounts(session, k) {
			sts = append(sts, s.counter(site, hs.marker.Gen, k, d[k]))
		}
	}
	return s.runCounters(ctx, sts)
}

// snapValue is heat_snapshots' (and heat_snapshot's) v.
type snapValue struct {
	Session  string `json:"s"`
	PV       string `json:"p"`
	Seq      int64  `json:"q"`
	Full     int64  `json:"f"`
	ServerMs int64  `json:"t"`
	URL      string `json:"u,omitempty"`
	W        int32  `json:"w,omitempty"`
	H        int32  `json:"h,omitempty"`
}

// snapshotStmts point each page's snapshot (for the chunk's device class
// and the session's slot) at the fresh chunks holding one; the write time
// is the server time.
func (s *Store) snapshotStmts(site int64, session string, fresh []store.Chunk) []Stmt {
	var out []Stmt
	for i := range fresh {
		c := &fresh[i]
		for _, cs := range store.ChunkSnapshots(session, c) {
			sn := cs.Snap
			v, _ := json.Marshal(snapValue{Session: session, PV: sn.PageViewID, Seq: sn.Seq, Full: sn.FullSnapshotMs, ServerMs: sn.ServerMs, URL: sn.URL, W: sn.ViewportW, H: sn.ViewportH})
			out = append(out, Stmt{
				CQL:        "INSERT INTO " + s.t("heat_snapshots") + " (site_id, page, device, slot, v) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
				Args:       []any{site, cs.Page, cs.Device, int32(cs.Slot), v, max(c.Stats.ServerMs, 1) * 1000},
				Idempotent: true,
			})
		}
	}
	return out
}

// sessionHeat adds what a stored session contributes to d, and answers
// the stats it read.
func (s *Store) sessionHeat(ctx context.Context, d heatmap.Deltas, site int64, session string, row *sessionRow, sign int64) ([]summary.ChunkStats, error) {
	stats, err := s.allStats(ctx, site, session)
	if err != nil {
		return nil, err
	}
	heatmap.Session(d, stats, row.state, sign)
	return stats, nil
}

var heatKinds = []heatmap.Kind{heatmap.Click, heatmap.Move, heatmap.Scroll, heatmap.Rage, heatmap.Dead, heatmap.Sessions}

// allDevices are the device classes ingest assigns (a query for every
// device reads each one's partition).
func allDevices() []int32 {
	var out []int32
	for v := range sessionsv1.DeviceType_name {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// heatReads are the statements of q: per page, one slice of days per
// generation the days span, across the partitions of its devices and kinds.
func (s *Store) heatReads(q store.HeatQuery, l heatLayout) []Stmt {
	if q.FromDay > q.ToDay {
		return nil
	}
	pages := slices.Compact(slices.Sorted(slices.Values(q.Pages)))
	devices := slices.Compact(slices.Sorted(slices.Values(q.Devices)))
	if len(devices) == 0 {
		devices = allDevices()
	}
	kinds := slices.Compact(slices.Sorted(slices.Values(q.Kinds)))
	if len(kinds) == 0 {
		kinds = heatKinds
	}
	var ks []int8
	for _, k := range kinds {
		if k != heatmap.Page {
			ks = append(ks, int8(k))
		}
	}
	if len(ks) == 0 {
		return nil
	}
	var out []Stmt
	for _, page := range pages {
		if len(page) > pagerule.MaxKey {
			continue // no such page is stored
		}
		for i, seg := range l.Segs {
			end := int32(math.MaxInt32)
			if i+1 < len(l.Segs) {
				end = l.Segs[i+1].From - 1
			}
			lo, hi := max(q.FromDay, seg.From), min(q.ToDay, end)
			if lo > hi {
				continue
			}
			out = append(out, Stmt{
				CQL:  "SELECT kind, cell, n, x, y, k, rx, ry FROM " + s.t("heat") + " WHERE site_id = ? AND gen = ? AND page = ? AND device IN ? AND kind IN ? AND day >= ? AND day <= ?",
				Args: []any{q.SiteID, seg.Gen, page, devices, ks, lo, hi}, Idempotent: true, PageSize: 5000,
			})
		}
	}
	return out
}

// heatReadsInFlight bounds the statements of one Heat read running at
// once. A map reads a partition slice per page: a rule matching 10,000
// pages is 10,000 statements, which one after another would wait 10,000
// round trips.
const heatReadsInFlight = 16

// heatRowsBatch is how many rows a statement's reader hands over at once:
// with heatReadsInFlight, what a read holds in memory beyond fn's own.
const heatRowsBatch = 1024

type heatRow struct {
	kind heatmap.Kind
	cell string
	v    heatmap.Vec
}

// Heat implements store.Store: the statements run heatReadsInFlight at a
// time, their rows handed to fn, one call at a time, on the caller's
// goroutine.
func (s *Store) Heat(ctx context.Context, q store.HeatQuery, fn func(heatmap.Kind, string, heatmap.Vec) error) error {
	hs, err := s.loadHeat(ctx, q.SiteID)
	if err != nil {
		return err
	}
	sts := s.heatReads(q, hs.layout)
	if len(sts) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(heatReadsInFlight)
	rows := make(chan []heatRow, heatReadsInFlight)
	read := make(chan error, 1)
	go func() {
		for _, st := range sts {
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error { return s.scanHeat(gctx, st, rows) })
		}
		read <- g.Wait()
		close(rows)
	}()
	var fnErr error
	for batch := range rows {
		for _, r := range batch {
			if fnErr != nil {
				break
			}
			if fnErr = fn(r.kind, r.cell, r.v); fnErr != nil {
				cancel() // the readers stop; their batches are drained
			}
		}
	}
	if err := <-read; fnErr == nil && err != nil {
		return fmt.Errorf("scylla: heat: %w", err)
	}
	return fnErr
}

// scanHeat runs one of Heat's statements, handing its non-zero rows to out
// in batches.
func (s *Store) scanHeat(ctx context.Context, st Stmt, out chan<- []heatRow) error {
	it := s.ex.Iter(ctx, st)
	send := func(b []heatRow) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	batch := make([]heatRow, 0, 64)
	var kind int8
	var cell []byte
	var v heatmap.Vec
	for it.Scan(&kind, &cell, &v.N, &v.X, &v.Y, &v.K, &v.RX, &v.RY) {
		if v.Zero() {
			continue
		}
		batch = append(batch, heatRow{heatmap.Kind(kind), string(cell), v})
		if len(batch) == heatRowsBatch {
			if err := send(batch); err != nil {
				it.Close()
				return err
			}
			batch = make([]heatRow, 0, heatRowsBatch)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	return send(batch)
}

// HeatPages implements store.Store.
func (s *Store) HeatPages(ctx context.Context, site int64, after string, fn func(string, heatmap.Vec) error) error {
	hs, err := s.loadHeat(ctx, site)
	if err != nil {
		return err
	}
	it := s.ex.Iter(ctx, s.heatPagesRead(site, hs.layout.Pages, after))
	var page string
	var v heatmap.Vec
	for it.Scan(&page, &v.N, &v.X) {
		if v.Zero() {
			continue
		}
		if err := fn(page, v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scylla: heatmap pages: %w", err)
	}
	return nil
}

func (s *Store) heatPagesRead(site int64, gen int32, after string) Stmt {
	return Stmt{
		CQL:  "SELECT page, n, x FROM " + s.t("heat_pages") + " WHERE site_id = ? AND gen = ? AND page > ?",
		Args: []any{site, gen, after}, Idempotent: true, PageSize: 1000,
	}
}

// HeatSnapshot implements store.Store: the page's pointers, one per slot
// and heat_snapshot's of before slots.
func (s *Store) HeatSnapshot(ctx context.Context, site int64, page string, device int32) (store.HeatSnapshot, bool, error) {
	var ps []store.SlotPointer
	read := func(st Stmt, slotted bool) error {
		it := s.ex.Iter(ctx, st)
		var raw []byte
		slot := int32(store.SnapshotSlots) // heat_snapshot's
		dest := []any{&raw}
		if slotted {
			dest = []any{&slot, &raw}
		}
		for it.Scan(dest...) {
			var sv snapValue
			if err := json.Unmarshal(raw, &sv); err != nil {
				it.Close()
				return err
			}
			ps = append(ps, store.SlotPointer{Slot: int(slot), Snap: store.HeatSnapshot{
				SessionID: sv.Session, PageViewID: sv.PV, Seq: sv.Seq, FullSnapshotMs: sv.Full, ServerMs: sv.ServerMs,
				URL: sv.URL, ViewportW: sv.W, ViewportH: sv.H,
			}})
		}
		return it.Close()
	}
	if err := read(Stmt{
		CQL:  "SELECT slot, v FROM " + s.t("heat_snapshots") + " WHERE site_id = ? AND page = ? AND device = ?",
		Args: []any{site, page, device}, Idempotent: true,
	}, true); err != nil {
		return store.HeatSnapshot{}, false, fmt.Errorf("scylla: heatmap snapshot: %w", err)
	}
	if err := read(Stmt{
		CQL:  "SELECT v FROM " + s.t("heat_snapshot") + " WHERE site_id = ? AND page = ? AND device = ?",
		Args: []any{site, page, device}, Idempotent: true,
	}, false); err != nil {
		return store.HeatSnapshot{}, false, fmt.Errorf("scylla: heatmap snapshot: %w", err)
	}
	now := s.now().UnixMilli()
	return store.NewestLive(ps, func(session string) (bool, error) {
		row, err := s.loadRow(ctx, site, session)
		return row != nil && (row.expiresMs == 0 || row.expiresMs > now), err
	})
}

// RebuildHeat implements store.Store. An unfinished rebuild with an earlier
// or equal sinceDay is resumed (it recounts at least those days); one with
// a later sinceDay is abandoned for a new generation.
func (s *Store) RebuildHeat(ctx context.Context, site int64, sinceDay int32, progress func(done, total int64)) error {
	end, err := s.rebuilds.Start(site)
	if err != nil {
		return fmt.Errorf("scylla: rebuild heatmaps of site %d: %w", site, err)
	}
	defer end()
	hs, err := s.loadHeat(ctx, site)
	if err != nil {
		return err
	}
	if hs.marker == nil || hs.marker.Since > sinceDay {
		total, err := s.countSessions(ctx, site)
		if err != nil {
			return err
		}
		l := hs.layout
		m := &heatMarker{Gen: l.Next, Since: sinceDay, Total: total}
		l.Next++
		if err := s.saveHeat(ctx, site, hs, l, m); err != nil {
			return err
		}
		if hs.marker != nil {
			// The abandoned generation is never read: drop it.
			s.dropGen(ctx, site, hs.marker.Gen, hs.marker.Since, hs.marker.Gen)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if hs, err = s.loadHeat(ctx, site); err != nil {
			return err
		}
		m := hs.marker
		if m == nil {
			return fmt.Errorf("scylla: rebuild heatmaps of site %d: the marker is gone", site)
		}
		ids, err := s.sessionsAfter(ctx, site, m.Cursor, s.rebuildStep)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return s.finishRebuild(ctx, site, hs, progress)
		}
		d := heatmap.Deltas{}
		for _, id := range ids {
			row, err := s.loadRow(ctx, site, id)
			if err != nil {
				return err
			}
			if row == nil {
				continue
			}
			stats, err := s.sessionHeat(ctx, d, site, id, row, 1)
			if err != nil {
				return err
			}
			// Written at the chunk's server time: a newer pointer wins.
			for _, st := range s.snapshotStmts(site, id, store.StatsChunks(stats)) {
				if err := s.ex.Exec(ctx, st); err != nil {
					return fmt.Errorf("scylla: heatmap snapshot: %w", err)
				}
			}
		}
		var sts []Stmt
		for _, k := range d.Prune().Sorted() {
			if k.Kind == heatmap.Page || k.Day >= m.Since {
				sts = append(sts, s.counter(site, m.Gen, k, d[k]))
			}
		}
		if err := s.runCounters(ctx, sts); err != nil {
			return err
		}
		nm := *m
		nm.Cursor, nm.Done = ids[len(ids)-1], m.Done+int64(len(ids))
		nm.Total = max(nm.Total, nm.Done)
		if err := s.saveHeat(ctx, site, hs, hs.layout, &nm); err != nil {
			return err
		}
		if progress != nil {
			progress(nm.Done, nm.Total)
		}
	}
}

// finishRebuild switches the layout to the rebuilt generation and drops
// what it replaces.
func (s *Store) finishRebuild(ctx context.Context, site int64, hs heatState, progress func(done, total int64)) error {
	m := hs.marker
	l := heatLayout{Pages: m.Gen, Next: hs.layout.Next}
	for _, seg := range hs.layout.Segs {
		if seg.From < m.Since {
			l.Segs = append(l.Segs, seg)
		}
	}
	l.Segs = append(l.Segs, heatSeg{Gen: m.Gen, From: m.Since})
	if err := s.saveHeat(ctx, site, hs, l, nil); err != nil {
		return err
	}
	// Replaced rows are never read again; dropping them leaves no deleted
	// visitor's clicks behind (best effort: a failure leaves unread rows).
	for i, seg := range hs.layout.Segs {
		end := int32(math.MaxInt32)
		if i+1 < len(hs.layout.Segs) {
			end = hs.layout.Segs[i+1].From - 1
		}
		if end >= m.Since {
			s.dropGen(ctx, site, seg.Gen, max(seg.From, m.Since), hs.layout.Pages)
		}
	}
	if hs.layout.Pages != m.Gen {
		_ = s.ex.Exec(ctx, Stmt{CQL: "DELETE FROM " + s.t("heat_pages") + " WHERE site_id = ? AND gen = ?", Args: []any{site, hs.layout.Pages}, Idempotent: true})
	}
	if progress != nil {
		progress(m.Done, max(m.Total, m.Done))
	}
	return nil
}

// dropGen deletes generation gen's rows of days ≥ from, for the pages of
// generation pagesGen's dictionary (best effort).
func (s *Store) dropGen(ctx context.Context, site int64, gen, from, pagesGen int32) {
	it := s.ex.Iter(ctx, s.heatPagesRead(site, pagesGen, ""))
	var pages []string
	var page string
	var n, x int64
	for it.Scan(&page, &n, &x) {
		pages = append(pages, page)
	}
	if it.Close() != nil {
		return
	}
	for _, p := range pages {
		for _, d := range allDevices() {
			for _, k := range heatKinds {
				_ = s.ex.Exec(ctx, Stmt{
					CQL:  "DELETE FROM " + s.t("heat") + " WHERE site_id = ? AND gen = ? AND page = ? AND device = ? AND kind = ? AND day >= ?",
					Args: []any{site, gen, p, d, int8(k), from}, Idempotent: true,
				})
			}
		}
	}
}

func (s *Store) countSessions(ctx context.Context, site int64) (int64, error) {
	it := s.ex.Iter(ctx, Stmt{CQL: "SELECT COUNT(*) FROM " + s.t("sessions_by_site") + " WHERE site_id = ?", Args: []any{site}, Idempotent: true})
	var n int64
	it.Scan(&n)
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("scylla: count sessions: %w", err)
	}
	return n, nil
}

func (s *Store) sessionsAfter(ctx context.Context, site int64, after string, limit int) ([]string, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT session_id FROM " + s.t("sessions_by_site") + " WHERE site_id = ? AND session_id > ? LIMIT ?",
		Args: []any{site, after, limit}, Idempotent: true,
	})
	var ids []string
	var id string
	for it.Scan(&id) {
		ids = append(ids, id)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: rebuild heatmaps: %w", err)
	}
	return ids, nil
}
