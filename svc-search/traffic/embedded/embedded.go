// Package embedded is the embedded traffic store (traffic.Store): every
// session's hits folded into one Pebble record, written with synced
// commits, and a per-site in-memory columnar copy of the counted sessions,
// loaded from Pebble on a site's first query and kept up to date by every
// write, that queries scan.
//
// Derivations (the conformance suite's reference shares them):
//   - Page key: index.PageKey — pagerule.Key of the URL, or the URL as is
//     when it is not an http(s) URL (as search's page facet and EQUALS
//     filter index it), so such a page is a page of its own, never "".
//   - Referrer domain: referrer.External(entry URL, entry referrer) — the
//     referrer's host lower-cased without "www.", and "" (direct) when
//     there is no referrer or its domain is the entry page's own (same
//     host after lower-casing and dropping "www.").
//   - UTM: referrer.UTM(entry URL) — utm_source/medium/campaign of the
//     entry page view's query, as recordings' summary parses them.
//   - Device: index.DeviceName; screen "WxH" of the entry page view, ""
//     when either side is 0.
//   - Funnel conversion: 0 for every step (the first too) when nobody
//     entered; step_conversion 0 when the previous step has none.
//   - Realtime counts the hits of counted sessions only (sessions with a
//     page view), each for its session's visitor (its entry page view's).
//
// Memory: a loaded site costs about 80 bytes per session (its row) and
// 12 per page view and event (its timeline), plus its session and visitor
// ids interned in arenas and the dictionaries: measured, 187 MB for a
// million sessions with four million page views. A site is loaded on its
// first query (from a Pebble snapshot, while writes go on: about 6 s per
// million sessions on two cores) and stays loaded while the store is open.
//
// Speed (the benchmarks in this package, 1M sessions over 30 days, two
// cores): the whole overview about 23 ms (p95 40 ms), a 4-step funnel
// about 20 ms, realtime 5 ms; scans are split across the cores.
//
// Hostile input: a page view id is scoped to its session here (a second
// session claiming the same page view id keeps its own copy).
package embedded

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/platform/openfiles"
	"github.com/sightlinehq/sightline/platform/pebblemetrics"
	"github.com/sightlinehq/sightline/platform/storeformat"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Options tune the store.
type Options struct {
	// CacheBytes is Pebble's block cache (default 32 MiB).
	CacheBytes int64
	// Logger receives Pebble's logs (default: Pebble's).
	Logger pebble.Logger
	// ParallelRows is the fewest sessions a query scans on every core
	// (default 20,000; fewer are scanned on one).
	ParallelRows int
	// Metrics receives Pebble's own figures (pebblemetrics, store
	// "traffic"); nil exports none.
	Metrics metric.MeterProvider
	// MaxOpenFiles bounds the files Pebble holds open (0: the store's share
	// of the process's limit, openfiles.ForStore).
	MaxOpenFiles int
}

// Store is the embedded traffic store.
type Store struct {
	db   *pebble.DB
	opts Options
	// pebbleMetrics exports the database's figures.
	pebbleMetrics *pebblemetrics.Recorder

	// life is held (read) by every call and taken by Close, so Close
	// waits for calls in flight and later calls fail cleanly.
	life   sync.RWMutex
	closed bool

	// wmu serialises writes: each reads, folds and rewrites whole session
	// records, and the in-memory copies change under it in commit order.
	wmu sync.Mutex
	// smu guards sites; a site's own lock guards its contents.
	smu   sync.Mutex
	sites map[int64]*loaded
}

type loaded struct {
	mu    sync.RWMutex
	s     *site
	store *Store
	// ready is closed once s is loaded (or err says why not). Until
	// then, writes queue in pending (under smu) for the loader to apply.
	ready   chan struct{}
	err     error
	loading bool
	pending []pendingPut
}

type pendingPut struct {
	id string
	ss *session // nil: removed
}

// put applies one session's new state to the copy, or queues it while
// the copy loads (under smu).
func (l *loaded) put(id string, ss *session) {
	if l.loading {
		l.pending = append(l.pending, pendingPut{id, ss})
		return
	}
	l.mu.Lock()
	l.s.put(id, ss)
	l.mu.Unlock()
}

// done ends a query on a site (see Store.site).
func (l *loaded) done() {
	l.mu.RUnlock()
	l.store.life.RUnlock()
}

var _ traffic.Store = (*Store)(nil)

// Key layout: 's' | site (8 bytes, big-endian) | session id → session.
const pSession = 's'

func siteKey(site int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pSession}, uint64(site))
}

func sessionKey(site int64, id string) []byte {
	return append(siteKey(site), id...)
}

func siteBounds(site int64) (lo, hi []byte) {
	return siteKey(site), siteKey(site + 1)
}

// FormatVersion is the version of the store's keys and values; bump it
// with a change an older binary would misread.
const FormatVersion = 1

// format is the store's marker (storeformat: a newer one is refused).
func format() storeformat.Marker {
	return storeformat.Marker{Store: "traffic", Version: FormatVersion}
}

// Open opens (creating) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 32 << 20
	}
	if err := format().Open(dir); err != nil {
		return nil, err
	}
	po := &pebble.Options{MaxOpenFiles: cmp.Or(opts.MaxOpenFiles, openfiles.ForStore())}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref()
	po.Cache = cache
	if opts.Logger != nil {
		po.Logger = opts.Logger
	}
	pm := pebblemetrics.New("traffic")
	po.EventListener = pm.EventListener()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("traffic embedded: open %s: %w", dir, err)
	}
	if opts.Metrics != nil {
		if err := pm.Register(opts.Metrics, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("traffic embedded: open: %w", err)
		}
	}
	if opts.ParallelRows <= 0 {
		opts.ParallelRows = 20_000
	}
	return &Store{db: db, sites: map[int64]*loaded{}, opts: opts, pebbleMetrics: pm}, nil
}

var errClosed = errors.New("traffic embedded: closed")

// enter starts a call; the caller defers s.life.RUnlock() when it is nil.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return errClosed
	}
	return nil
}

// Ready reports whether the store can serve.
func (s *Store) Ready(context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.life.RUnlock()
	return nil
}

// Close releases the store.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := errors.Join(s.pebbleMetrics.Close(), s.db.Close())
	s.smu.Lock()
	s.sites = map[int64]*loaded{}
	s.smu.Unlock()
	if err != nil {
		return fmt.Errorf("traffic embedded: close: %w", err)
	}
	return nil
}

type sessRef struct {
	site int64
	id   string
}

// get reads one session record (nil when absent).
func (s *Store) get(site int64, id string) (*session, error) {
	v, closer, err := s.db.Get(sessionKey(site, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("traffic embedded: read session: %w", err)
	}
	defer closer.Close()
	ss, err := decodeSession(v)
	if err != nil {
		return nil, fmt.Errorf("traffic embedded: session %d/%q: %w", site, id, err)
	}
	return ss, nil
}

// update folds changes into sessions and commits them durably, then into
// the loaded sites' copies. fn answers whether it changed the session.
func (s *Store) update(ctx context.Context, refs []sessRef, fn func(i int, ss *session) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	changed := make([]*session, len(refs))
	var buf []byte
	for i, r := range refs {
		ss, err := s.get(r.site, r.id)
		if err != nil {
			return err
		}
		if ss == nil {
			ss = &session{}
		}
		if !fn(i, ss) {
			continue
		}
		buf = ss.encode(buf)
		if err := b.Set(sessionKey(r.site, r.id), buf, nil); err != nil {
			return fmt.Errorf("traffic embedded: write: %w", err)
		}
		changed[i] = ss
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("traffic embedded: commit: %w", err)
	}
	s.apply(refs, changed)
	return nil
}

// apply brings loaded sites' copies up to date (under wmu).
func (s *Store) apply(refs []sessRef, changed []*session) {
	s.smu.Lock()
	defer s.smu.Unlock()
	for i, r := range refs {
		if changed[i] == nil {
			continue
		}
		if l := s.sites[r.site]; l != nil {
			l.put(r.id, changed[i])
		}
	}
}

// AddHits stores hits (any sites), durably before it returns.
func (s *Store) AddHits(ctx context.Context, hits []traffic.Hit) error {
	return s.updateEach(ctx, len(hits),
		func(j int) sessRef { return sessRef{hits[j].SiteID, hits[j].SessionID} },
		func(j int, ss *session) bool { return ss.apply(&hits[j]) })
}

// SetRecorded marks recorded sessions (any sites).
func (s *Store) SetRecorded(ctx context.Context, marks []traffic.Recorded) error {
	return s.updateEach(ctx, len(marks),
		func(j int) sessRef { return sessRef{marks[j].SiteID, marks[j].SessionID} },
		func(j int, ss *session) bool { return ss.mark(marks[j]) })
}

// updateEach applies change to the session ref(j) of each of n items
// (j = 0…n-1): the sessions in sortRefs order, each read and written once
// with all of its items, in their order.
func (s *Store) updateEach(ctx context.Context, n int, ref func(j int) sessRef, change func(j int, ss *session) bool) error {
	groups := map[sessRef][]int{}
	var refs []sessRef
	for j := range n {
		r := ref(j)
		if _, ok := groups[r]; !ok {
			refs = append(refs, r)
		}
		groups[r] = append(groups[r], j)
	}
	sortRefs(refs)
	return s.update(ctx, refs, func(i int, ss *session) bool {
		changed := false
		for _, j := range groups[refs[i]] {
			if change(j, ss) {
				changed = true
			}
		}
		return changed
	})
}

func sortRefs(refs []sessRef) {
	slices.SortFunc(refs, func(a, b sessRef) int {
		if a.site != b.site {
			return cmp.Compare(a.site, b.site)
		}
		return strings.Compare(a.id, b.id)
	})
}

// Delete removes one site's sessions chosen by sel and answers how many
// of them had a page view.
func (s *Store) Delete(ctx context.Context, siteID int64, sel index.Selector) (int64, error) {
	if err := sel.Validate(); err != nil {
		return 0, fmt.Errorf("traffic embedded: delete: %w", err)
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var gone []string
	var n int64
	if len(sel.SessionIDs) > 0 {
		for _, id := range slices.Compact(slices.Sorted(slices.Values(sel.SessionIDs))) {
			ss, err := s.get(siteID, id)
			if err != nil {
				return 0, err
			}
			if ss != nil {
				gone = append(gone, id)
				if ss.hasPageView() {
					n++
				}
			}
		}
	} else {
		before := sel.StartedBefore.UnixNano()
		err := s.scan(ctx, siteID, func(id string, ss *session) {
			pv := ss.hasPageView()
			switch {
			case sel.WholeSite:
			case sel.VisitorID != "":
				if !hasVisitor(ss, sel.VisitorID) {
					return
				}
			default:
				if !pv || startOf(ss) >= before {
					return
				}
			}
			gone = append(gone, id)
			if pv {
				n++
			}
		})
		if err != nil {
			return 0, err
		}
	}
	if err := s.remove(siteID, gone, sel.WholeSite); err != nil {
		return 0, err
	}
	return n, nil
}

// remove deletes sessions durably, then from the loaded copy.
func (s *Store) remove(siteID int64, ids []string, whole bool) error {
	if len(ids) == 0 && !whole {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	if whole {
		lo, hi := siteBounds(siteID)
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return fmt.Errorf("traffic embedded: delete: %w", err)
		}
	} else {
		for _, id := range ids {
			if err := b.Delete(sessionKey(siteID, id), nil); err != nil {
				return fmt.Errorf("traffic embedded: delete: %w", err)
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("traffic embedded: delete: %w", err)
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	l := s.sites[siteID]
	if l == nil {
		return nil
	}
	if whole {
		delete(s.sites, siteID)
		return nil
	}
	for _, id := range ids {
		l.put(id, nil)
	}
	if !l.loading {
		l.mu.RLock()
		stale := l.s.stale()
		l.mu.RUnlock()
		if stale {
			delete(s.sites, siteID) // the next query loads it afresh
		}
	}
	return nil
}

// Sweep removes expired sessions of every site.
func (s *Store) Sweep(ctx context.Context, now time.Time, defaultRetention time.Duration) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	gone := map[int64][]string{}
	var n int64
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{pSession}, UpperBound: []byte{pSession + 1}})
	if err != nil {
		return 0, fmt.Errorf("traffic embedded: sweep: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		old, err := expired(it.Value(), now, defaultRetention)
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("traffic embedded: sweep %q: %w", k, err)
		}
		if !old {
			continue
		}
		ss, err := decodeSession(it.Value())
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("traffic embedded: sweep %q: %w", k, err)
		}
		site := int64(binary.BigEndian.Uint64(k[1:9]))
		gone[site] = append(gone[site], string(k[9:]))
		if ss.hasPageView() {
			n++
		}
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("traffic embedded: sweep: %w", err)
	}
	for site, ids := range gone {
		if err := s.remove(site, ids, false); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// scan decodes every session of a site (under wmu, or with writes
// otherwise excluded).
func (s *Store) scan(ctx context.Context, siteID int64, fn func(id string, ss *session)) error {
	lo, hi := siteBounds(siteID)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("traffic embedded: scan: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		ss, err := decodeSession(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("traffic embedded: scan %q: %w", it.Key()[9:], err)
		}
		fn(string(it.Key()[9:]), ss)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("traffic embedded: scan: %w", err)
	}
	return nil
}

// site answers the loaded copy of a site, loading it on first use (with
// writes held off so no write falls between the scan and the copy taking
// updates). The caller holds the answer's read lock and the store's life
// lock until done with it: l.done().
func (s *Store) site(ctx context.Context, siteID int64) (*loaded, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	l, err := s.loadedSite(ctx, siteID)
	if err != nil {
		s.life.RUnlock()
		return nil, err
	}
	l.mu.RLock()
	return l, nil
}

func (s *Store) loadedSite(ctx context.Context, siteID int64) (*loaded, error) {
	s.smu.Lock()
	l := s.sites[siteID]
	s.smu.Unlock()
	if l == nil {
		// Register the site and take a snapshot with writes held off, so
		// every write is either in the snapshot or queued for the loader;
		// then load from the snapshot while writes go on.
		s.wmu.Lock()
		s.smu.Lock()
		if l = s.sites[siteID]; l == nil {
			l = &loaded{store: s, ready: make(chan struct{}), loading: true}
			s.sites[siteID] = l
			snap := s.db.NewSnapshot()
			s.smu.Unlock()
			s.wmu.Unlock()
			// One caller's deadline must not fail the others waiting.
			st := newSite()
			st.parallelRows = s.opts.ParallelRows
			err := s.load(context.WithoutCancel(ctx), snap, siteID, st)
			snap.Close()
			s.smu.Lock()
			if err != nil {
				if s.sites[siteID] == l {
					delete(s.sites, siteID)
				}
				l.err = err
			} else {
				l.mu.Lock()
				for _, p := range l.pending {
					st.put(p.id, p.ss)
				}
				l.s, l.loading, l.pending = st, false, nil
				l.mu.Unlock()
			}
			s.smu.Unlock()
			close(l.ready)
		} else {
			s.smu.Unlock()
			s.wmu.Unlock()
		}
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, l.err
	}
	return l, nil
}

// load fills a site's copy from a snapshot: one goroutine reads, others
// decode and prepare, this one interns and builds the rows.
func (s *Store) load(ctx context.Context, snap *pebble.Snapshot, siteID int64, st *site) error {
	type rec struct {
		id string
		p  *prepared
		v  []byte
	}
	const batch = 2048
	raw := make(chan []rec, 4)
	decoded := make(chan []rec, 4)
	var readErr, decErr error
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		if decErr == nil {
			decErr = err
		}
		errMu.Unlock()
	}
	go func() {
		defer close(raw)
		lo, hi := siteBounds(siteID)
		it, err := snap.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			readErr = fmt.Errorf("traffic embedded: load: %w", err)
			return
		}
		b := make([]rec, 0, batch)
		for it.First(); it.Valid(); it.Next() {
			b = append(b, rec{id: string(it.Key()[9:]), v: slices.Clone(it.Value())})
			if len(b) == batch {
				raw <- b
				b = make([]rec, 0, batch)
			}
		}
		if len(b) > 0 {
			raw <- b
		}
		if err := it.Close(); err != nil {
			readErr = fmt.Errorf("traffic embedded: load: %w", err)
		}
	}()
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range raw {
				for i := range b {
					ss, err := decodeSession(b[i].v)
					if err != nil {
						fail(fmt.Errorf("traffic embedded: load %q: %w", b[i].id, err))
					} else {
						b[i].p = prepare(ss)
					}
					b[i].v = nil
				}
				decoded <- b
			}
		}()
	}
	go func() {
		wg.Wait()
		close(decoded)
	}()
	for b := range decoded {
		for _, r := range b {
			if r.p != nil {
				st.putPrepared(r.id, r.p)
			}
		}
	}
	if readErr != nil {
		return readErr
	}
	if decErr != nil {
		return decErr
	}
	// Drop the slack of growing by appends (up to half of the arenas).
	st.rows, st.itT, st.itV = slices.Clone(st.rows), slices.Clone(st.itT), slices.Clone(st.itV)
	return nil
}

// hasVisitor tells whether any hit of a session carries the visitor id.
func hasVisitor(ss *session, v string) bool {
	for i := range ss.pvs {
		if ss.pvs[i].visitor == v {
			return true
		}
	}
	for i := range ss.events {
		if ss.events[i].visitor == v {
			return true
		}
	}
	return false
}

// startOf is the earliest page view's Time (the session has one).
func startOf(ss *session) int64 {
	first := true
	var t int64
	for i := range ss.pvs {
		if p := &ss.pvs[i]; p.seen && (first || p.time < t) {
			t, first = p.time, false
		}
	}
	return t
}
