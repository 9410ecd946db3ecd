package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/testseed"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// The heatmap section: aggregates checked key by key against a reference
// model (heatmap.Session over the stats of the sessions the model holds and
// their fold) after every step of a random run.

const dayMs = 24 * 60 * 60 * 1000

// heatPages are the URLs the model's sessions visit (some shared by both
// sites, query strings that fold into one page key).
var heatPages = []string{
	"https://shop.example.com/",
	"https://shop.example.com/p/1?utm_source=x",
	"https://shop.example.com/p/1",
	"https://shop.example.com/p/2",
	"https://blog.example.com/post",
}

var heatSelectors = []string{"body>main>button#buy", "body>nav>a.home", "body>main>div.card:nth-child(2)", "body>footer>a"}

// heatModel is the reference: what the store should hold.
type heatModel struct {
	t     testing.TB
	sites [2]int64
	rng   *rand.Rand
	// sessions by (site, session): stored chunks' stats by key.
	sessions map[sessKey]*modelSession
	// deleted sessions take no chunk again.
	deleted map[sessKey]bool
	// pending chunks not sent yet, and every chunk sent (for re-delivery).
	pending []store.Chunk
	sent    []store.Chunk
	// snaps: the newest chunk with a snapshot ever stored, per site, page,
	// device and slot (the pointer outlives its session).
	snaps  map[snapSlot]snapRef
	days   []int32
	serial int64
	// unfinished is the sinceDay of sites[0]'s interrupted rebuild: until
	// it is resumed, its days ≥ unfinished and its pages are partial
	// (the contract), so only the rest is compared.
	unfinished *int32
	// kinds seen in the reference (the run must exercise every one).
	kinds map[heatmap.Kind]bool
}

type sessKey struct {
	site    int64
	session string
}

type modelSession struct {
	stats     map[[2]any]summary.ChunkStats
	visitor   string
	expiresMs int64
}

type snapKey struct {
	site   int64
	page   string
	device int32
}

// snapSlot is one of a snapKey's store.SnapshotSlots.
type snapSlot struct {
	snapKey
	slot int
}

type snapRef struct {
	key      sessKey
	pv       string
	seq      int64
	serverMs int64
}

func newHeatModel(t testing.TB, seed uint64) *heatModel {
	m := &heatModel{
		t: t, sites: [2]int64{newSite(), newSite()}, rng: rand.New(rand.NewPCG(seed, 13)),
		sessions: map[sessKey]*modelSession{}, kinds: map[heatmap.Kind]bool{}, deleted: map[sessKey]bool{}, snaps: map[snapSlot]snapRef{},
	}
	today := int32(time.Now().UnixMilli() / dayMs)
	m.days = []int32{today - 3, today - 2, today - 1, today}
	return m
}

func ev(t int64, typ int, data map[string]any) map[string]any {
	return map[string]any{"type": typ, "timestamp": t, "data": data}
}

func custom(t int64, tag string, payload map[string]any) map[string]any {
	return ev(t, 5, map[string]any{"tag": tag, "payload": payload})
}

// newSession plans the chunks of one session: 1–4 chunks over one or two
// page views, with sl:view, snapshots, scrolls, pointer movement, clicks
// with and without sl:click, rage bursts, dead clicks and route changes.
func (m *heatModel) newSession(n int) {
	r := m.rng
	site := m.sites[r.IntN(2)]
	id := fmt.Sprintf("s_heat%016d", n)
	visitor := fmt.Sprintf("v_heat%016d", r.IntN(6))
	device := int32(r.IntN(4)) // 0 (unknown), desktop, mobile, tablet
	day := m.days[r.IntN(len(m.days))]
	expires := time.Now().Add(time.Hour).UnixMilli()
	if r.IntN(6) == 0 {
		expires = time.Now().Add(-time.Hour).UnixMilli() // expired: the sweep takes it
	}
	pvs := []string{fmt.Sprintf("p_heat%016d", n)}
	if r.IntN(4) == 0 {
		pvs = append(pvs, fmt.Sprintf("p_heat%016dx", n))
	}
	chunks := 1 + r.IntN(4)
	for seq := range int64(chunks) {
		pv := pvs[r.IntN(len(pvs))]
		m.serial++
		// Distinct server times: the newest snapshot is never a tie.
		serverMs := int64(day)*dayMs + 3_600_000 + m.serial*1000 + int64(r.IntN(1000))
		url := heatPages[r.IntN(len(heatPages))]
		t0 := int64(1763890000000) + seq*20_000
		docH := 2000 + r.IntN(4)*500
		vh := 700
		sy := r.IntN(3) * 300
		evs := []map[string]any{custom(t0, "sl:view", map[string]any{"x": 0, "y": sy, "w": 1280, "h": docH, "v": vh, "d": 1})}
		if r.IntN(2) == 0 {
			evs = append(evs,
				ev(t0, 4, map[string]any{"href": url, "width": 1280, "height": vh}),
				ev(t0+1, 2, map[string]any{"node": map[string]any{"type": 0, "id": 1, "childNodes": []any{}}, "initialOffset": map[string]any{"top": sy, "left": 0}}))
		}
		t := t0 + 100
		for range 1 + r.IntN(6) {
			t += 50 + int64(r.IntN(400))
			switch r.IntN(7) {
			case 0: // pointer samples
				var ps []any
				for i := range 1 + r.IntN(4) {
					ps = append(ps, map[string]any{"x": r.IntN(1280), "y": r.IntN(vh), "id": 5, "timeOffset": -50 * (3 - i)})
				}
				evs = append(evs, ev(t, 3, map[string]any{"source": 1, "positions": ps}))
			case 1: // scroll the document
				evs = append(evs, ev(t, 3, map[string]any{"source": 3, "id": 1, "x": 0, "y": r.IntN(docH)}))
			case 2: // a click anchored to an element, the page reacting
				node := 10 + r.IntN(5)
				evs = append(evs,
					ev(t, 3, map[string]any{"source": 2, "type": 2, "id": node, "x": r.IntN(1280), "y": r.IntN(vh)}),
					custom(t+1, "sl:click", map[string]any{"id": node, "s": heatSelectors[r.IntN(len(heatSelectors))], "rx": r.IntN(101), "ry": r.IntN(101)}),
					ev(t+100, 3, map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}))
				t += 200
			case 3: // a click without sl:click (position only), reacted to
				evs = append(evs,
					ev(t, 3, map[string]any{"source": 2, "type": 2, "id": 20, "x": r.IntN(1280), "y": r.IntN(vh)}),
					ev(t+50, 3, map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}))
				t += 100
			case 4: // a rage burst
				x, y := r.IntN(1200), r.IntN(vh)
				sel := heatSelectors[r.IntN(len(heatSelectors))]
				for i := range 3 + r.IntN(2) {
					ts := t + int64(i)*150
					evs = append(evs,
						ev(ts, 3, map[string]any{"source": 2, "type": 2, "id": 30, "x": x + i, "y": y}),
						custom(ts+1, "sl:click", map[string]any{"id": 30, "s": sel, "rx": 40 + i, "ry": 50}))
				}
				t += 800
			case 5: // a dead click: nothing reacts for 2 s
				evs = append(evs,
					ev(t, 3, map[string]any{"source": 2, "type": 2, "id": 40, "x": r.IntN(1280), "y": r.IntN(vh)}),
					custom(t+1, "sl:click", map[string]any{"id": 40, "s": "body>main>span.price", "rx": 10, "ry": 90}))
				t += 2500
			case 6: // a route change
				evs = append(evs, custom(t, "sl:navigation", map[string]any{"url": heatPages[r.IntN(len(heatPages))], "referrer": url}))
			}
		}
		raw, err := json.Marshal(evs)
		if err != nil {
			m.t.Fatal(err)
		}
		ch := &recordingsv1.Chunk{
			SiteId: site, OrganizationId: site + 1, SessionId: id, VisitorId: visitor, PageViewId: pv, Seq: seq, Url: url,
			Events: raw, ServerTime: timestamppb.New(time.UnixMilli(serverMs)),
			Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType(device), Browser: "Firefox"},
		}
		st, err := summary.Extract(ch, int64(len(raw)), expires)
		if err != nil {
			m.t.Fatal(err)
		}
		m.pending = append(m.pending, store.Chunk{SiteID: site, SessionID: id, Seq: seq, PageViewID: pv, Data: raw, Stats: st})
	}
}

// appendSome sends a random part of the pending chunks (in random order,
// with re-deliveries of chunks sent before) in one call, and records what
// the store must have kept.
func (m *heatModel) appendSome(ctx context.Context, s store.Store) error {
	r := m.rng
	r.Shuffle(len(m.pending), func(i, j int) { m.pending[i], m.pending[j] = m.pending[j], m.pending[i] })
	n := min(len(m.pending), 1+r.IntN(12))
	call := slices.Clone(m.pending[:n])
	m.pending = m.pending[n:]
	for range r.IntN(4) {
		if len(m.sent) > 0 {
			call = append(call, m.sent[r.IntN(len(m.sent))])
		}
	}
	r.Shuffle(len(call), func(i, j int) { call[i], call[j] = call[j], call[i] })
	res, err := s.Append(ctx, call)
	if err != nil {
		return err
	}
	for i, c := range call {
		k := sessKey{c.SiteID, c.SessionID}
		ck := [2]any{c.Seq, c.PageViewID}
		ms := m.sessions[k]
		want := !m.deleted[k] && (ms == nil || !hasKey(ms.stats, ck))
		if res[i].Stored != want {
			// A chunk twice in one call: only its first occurrence is stored.
			if !(!res[i].Stored && slices.IndexFunc(call[:i], func(o store.Chunk) bool {
				return o.SiteID == c.SiteID && o.SessionID == c.SessionID && o.Seq == c.Seq && o.PageViewID == c.PageViewID
			}) >= 0) {
				return fmt.Errorf("chunk %s/%d/%s: stored %v, want %v", c.SessionID, c.Seq, c.PageViewID, res[i].Stored, want)
			}
		}
		if !res[i].Stored {
			continue
		}
		if ms == nil {
			ms = &modelSession{stats: map[[2]any]summary.ChunkStats{}, visitor: c.Stats.VisitorID}
			m.sessions[k] = ms
		}
		ms.stats[ck] = c.Stats
		ms.expiresMs = max(ms.expiresMs, c.Stats.ExpiresMs)
		m.sent = append(m.sent, c)
		for _, cs := range store.ChunkSnapshots(c.SessionID, &c) {
			sk := snapSlot{snapKey{c.SiteID, cs.Page, cs.Device}, cs.Slot}
			if cur, ok := m.snaps[sk]; !ok || c.Stats.ServerMs > cur.serverMs {
				m.snaps[sk] = snapRef{k, c.PageViewID, c.Seq, c.Stats.ServerMs}
			}
		}
	}
	return nil
}

func hasKey(m map[[2]any]summary.ChunkStats, k [2]any) bool { _, ok := m[k]; return ok }

// randomSession picks a session the model holds (ok false when none).
func (m *heatModel) randomSession() (sessKey, bool) {
	keys := slices.SortedFunc(maps.Keys(m.sessions), func(a, b sessKey) int {
		return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.session, b.session))
	})
	if len(keys) == 0 {
		return sessKey{}, false
	}
	return keys[m.rng.IntN(len(keys))], true
}

func (m *heatModel) deleteSession(ctx context.Context, s store.Store) error {
	k, ok := m.randomSession()
	if !ok {
		return nil
	}
	if err := s.DeleteSession(ctx, k.site, k.session); err != nil {
		return fmt.Errorf("DeleteSession: %w", err)
	}
	delete(m.sessions, k)
	m.deleted[k] = true
	return nil
}

func (m *heatModel) deleteVisitor(ctx context.Context, s store.Store) error {
	k, ok := m.randomSession()
	if !ok {
		return nil
	}
	visitor := m.sessions[k].visitor
	var want []string
	for o, ms := range m.sessions {
		if o.site == k.site && ms.visitor == visitor {
			want = append(want, o.session)
			delete(m.sessions, o)
			m.deleted[o] = true
		}
	}
	got, err := s.DeleteVisitor(ctx, k.site, visitor)
	if err != nil {
		return fmt.Errorf("DeleteVisitor: %w", err)
	}
	slices.Sort(got)
	if slices.Sort(want); !slices.Equal(got, want) {
		return fmt.Errorf("DeleteVisitor deleted sessions %v, want %v", got, want)
	}
	return nil
}

func (m *heatModel) sweep(ctx context.Context, s store.Store) error {
	now := time.Now()
	if _, err := s.Sweep(ctx, now); err != nil {
		return fmt.Errorf("store.Sweep: %w", err)
	}
	for k, ms := range m.sessions {
		if ms.expiresMs > 0 && ms.expiresMs <= now.UnixMilli() {
			delete(m.sessions, k)
			m.deleted[k] = true
		}
	}
	return nil
}

// want is the reference aggregates of a site.
func (m *heatModel) want(site int64) heatmap.Deltas {
	d := heatmap.Deltas{}
	for k, ms := range m.sessions {
		if k.site != site {
			continue
		}
		stats := slices.Collect(maps.Values(ms.stats))
		heatmap.Session(d, stats, summary.Fold(stats), 1)
	}
	for k := range d.Prune() {
		m.kinds[k.Kind] = true
	}
	return d
}

// pageKeys are the page keys the model's chunks can count under.
func pageKeys() []string {
	var out []string
	for _, u := range heatPages {
		out = append(out, pagerule.Key(u))
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

var allKinds = []heatmap.Kind{heatmap.Click, heatmap.Move, heatmap.Scroll, heatmap.Rage, heatmap.Dead, heatmap.Sessions}

// heatRows reads the store's rows of one query, summed per kind and cell,
// zeros left out.
func heatRows(ctx context.Context, s store.Store, q store.HeatQuery) (map[heatmap.Kind]map[string]heatmap.Vec, error) {
	sums := heatmap.Sums{}
	if err := s.Heat(ctx, q, func(k heatmap.Kind, cell string, v heatmap.Vec) error {
		sums.Add(k, cell, v)
		return nil
	}); err != nil {
		return nil, err
	}
	return nonZero(sums), nil
}

func nonZero(s heatmap.Sums) map[heatmap.Kind]map[string]heatmap.Vec {
	out := map[heatmap.Kind]map[string]heatmap.Vec{}
	for k, cells := range s {
		for c, v := range cells {
			if !v.Zero() {
				if out[k] == nil {
					out[k] = map[string]heatmap.Vec{}
				}
				out[k][c] = *v
			}
		}
	}
	return out
}

// check compares the store with the model, key by key: every (page,
// device, day) of both sites, the page dictionaries, day ranges, the
// device filter's absence, and the snapshot pointers.
func (m *heatModel) check(ctx context.Context, s store.Store) error {
	pages := pageKeys()
	devices := []int32{0, 1, 2, 3}
	for _, site := range m.sites {
		want := m.want(site)
		// Per page, device and day.
		per := map[[3]any]heatmap.Sums{}
		wantPages := map[string]heatmap.Vec{}
		for k, v := range want {
			if k.Kind == heatmap.Page {
				wantPages[k.Page] = v
				continue
			}
			pk := [3]any{k.Page, k.Device, k.Day}
			if per[pk] == nil {
				per[pk] = heatmap.Sums{}
			}
			per[pk].Add(k.Kind, k.Cell, v)
		}
		partial := func(day int32) bool { return site == m.sites[0] && m.unfinished != nil && day >= *m.unfinished }
		for _, p := range pages {
			for _, dev := range devices {
				for _, day := range m.days {
					if partial(day) {
						continue
					}
					got, err := heatRows(ctx, s, store.HeatQuery{SiteID: site, Pages: []string{p}, Devices: []int32{dev}, FromDay: day, ToDay: day, Kinds: allKinds})
					if err != nil {
						return fmt.Errorf("store.Heat: %w", err)
					}
					w := nonZero(per[[3]any{p, dev, day}])
					if !equalSums(got, w) {
						return fmt.Errorf("site %d page %s device %d day %d:\n got %s\nwant %s", site, p, dev, day, dump(got), dump(w))
					}
				}
			}
			if partial(m.days[2]) {
				continue
			}
			// Every device and a day range: the sum over them (inclusive
			// bounds), the kinds filter honoured.
			all := heatmap.Sums{}
			for pk, sums := range per {
				if pk[0] == p && pk[2].(int32) >= m.days[1] && pk[2].(int32) <= m.days[2] {
					for k, cells := range sums {
						if k == heatmap.Click || k == heatmap.Scroll {
							for c, v := range cells {
								all.Add(k, c, *v)
							}
						}
					}
				}
			}
			got, err := heatRows(ctx, s, store.HeatQuery{SiteID: site, Pages: []string{p, p}, FromDay: m.days[1], ToDay: m.days[2], Kinds: []heatmap.Kind{heatmap.Scroll, heatmap.Click}})
			if err != nil {
				return fmt.Errorf("store.Heat: %w", err)
			}
			if w := nonZero(all); !equalSums(got, w) {
				return fmt.Errorf("site %d page %s, all devices, days %d..%d:\n got %s\nwant %s", site, p, m.days[1], m.days[2], dump(got), dump(w))
			}
		}
		gotPages := map[string]heatmap.Vec{}
		if err := s.HeatPages(ctx, site, "", func(p string, v heatmap.Vec) error {
			if !v.Zero() {
				gotPages[p] = v
			}
			return nil
		}); err != nil {
			return fmt.Errorf("HeatPages: %w", err)
		}
		if !maps.Equal(gotPages, wantPages) && !(site == m.sites[0] && m.unfinished != nil) {
			return fmt.Errorf("site %d page dictionary:\n got %v\nwant %v", site, gotPages, wantPages)
		}
		for _, p := range pages {
			for _, dev := range devices {
				if err := m.checkSnapshot(ctx, s, snapKey{site, p, dev}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (m *heatModel) checkSnapshot(ctx context.Context, s store.Store, k snapKey) error {
	got, ok, err := s.HeatSnapshot(ctx, k.site, k.page, k.device)
	if err != nil {
		return fmt.Errorf("HeatSnapshot: %w", err)
	}
	// The newest of the slots' pointers (ties: the lower slot) whose
	// session is live.
	var ref snapRef
	live := false
	for slot := range store.SnapshotSlots {
		r, known := m.snaps[snapSlot{k, slot}]
		ms := m.sessions[r.key]
		if known && ms != nil && (ms.expiresMs == 0 || ms.expiresMs > time.Now().UnixMilli()) && (!live || r.serverMs > ref.serverMs) {
			ref, live = r, true
		}
	}
	if ok != live {
		return fmt.Errorf("HeatSnapshot(%d, %s, %d): found %v, want %v (newest live %+v)", k.site, k.page, k.device, ok, live, ref)
	}
	if ok && (got.SessionID != ref.key.session || got.PageViewID != ref.pv || got.Seq != ref.seq || got.ServerMs != ref.serverMs || got.FullSnapshotMs == 0) {
		return fmt.Errorf("HeatSnapshot(%d, %s, %d) = %+v, want %+v", k.site, k.page, k.device, got, ref)
	}
	return nil
}

func equalSums(a, b map[heatmap.Kind]map[string]heatmap.Vec) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]heatmap.Vec) bool { return maps.Equal(x, y) })
}

func dump(s map[heatmap.Kind]map[string]heatmap.Vec) string {
	out := ""
	for _, k := range slices.Sorted(maps.Keys(s)) {
		out += fmt.Sprintf("[kind %d:", k)
		for _, c := range slices.Sorted(maps.Keys(s[k])) {
			out += fmt.Sprintf(" %q=%v", c, s[k][c])
		}
		out += "]"
	}
	return out
}

// rebuild runs RebuildHeat; cut > 0 cancels it from its cut-th progress
// call (an interrupted run the next call resumes).
func (m *heatModel) rebuild(ctx context.Context, s store.Store, since int32, cut int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	calls := 0
	var last [2]int64
	err := s.RebuildHeat(ctx, m.sites[0], since, func(done, total int64) {
		calls++
		if done < last[0] || done > total {
			m.t.Errorf("rebuild progress %d/%d after %d/%d", done, total, last[0], last[1])
		}
		last = [2]int64{done, total}
		if cut > 0 && calls >= cut {
			cancel()
		}
	})
	if cut > 0 {
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted RebuildHeat: %w", err)
		}
		if err != nil {
			// Resuming an unfinished rebuild from an earlier day covers
			// this one's days too.
			if m.unfinished == nil || *m.unfinished > since {
				m.unfinished = &since
			}
		} else {
			m.unfinished = nil
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("RebuildHeat: %w", err)
	}
	m.unfinished = nil
	if calls == 0 {
		return errors.New("RebuildHeat never reported progress")
	}
	return nil
}

// HeatModel runs the random reference-model check on s (exported so a
// backend can run it again with its own knobs, such as a small rebuild
// step that makes interrupted rebuilds stop midway).
func HeatModel(t *testing.T, s store.Store, seed uint64) {
	ctx := context.Background()
	m := newHeatModel(t, seed)
	for i := range 40 {
		m.newSession(i)
	}
	steps := 0
	step := func(name string, err error) {
		t.Helper()
		steps++
		t.Logf("step %d: %s", steps, name)
		if err != nil {
			t.Fatalf("step %d (%s): %v", steps, name, err)
		}
		if err := m.check(ctx, s); err != nil {
			t.Fatalf("after step %d (%s): %v", steps, name, err)
		}
	}
	for len(m.pending) > 0 {
		step("append", m.appendSome(ctx, s))
		switch m.rng.IntN(8) {
		case 0:
			step("delete session", m.deleteSession(ctx, s))
		case 1:
			step("delete visitor", m.deleteVisitor(ctx, s))
		case 2:
			step("sweep", m.sweep(ctx, s))
		case 3:
			step("rebuild", m.rebuild(ctx, s, m.days[m.rng.IntN(len(m.days))], 0))
		}
	}
	// An interrupted rebuild, writes while it is unfinished, then the
	// resumption; a rebuild from an earlier day than the unfinished one
	// starts over.
	for i := 40; i < 60; i++ {
		m.newSession(i)
	}
	since := m.days[1]
	step("interrupted rebuild", m.rebuild(ctx, s, since, 1))
	step("append", m.appendSome(ctx, s))
	step("delete session", m.deleteSession(ctx, s))
	step("interrupted rebuild again", m.rebuild(ctx, s, since, 2))
	step("append", m.appendSome(ctx, s))
	step("delete visitor", m.deleteVisitor(ctx, s))
	step("sweep", m.sweep(ctx, s))
	step("resumed rebuild", m.rebuild(ctx, s, since, 0))
	step("interrupted rebuild", m.rebuild(ctx, s, m.days[2], 1))
	step("append", m.appendSome(ctx, s))
	step("rebuild from an earlier day", m.rebuild(ctx, s, m.days[0], 0))
	// A rebuild racing writers.
	var wg sync.WaitGroup
	var rebuildErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rebuildErr = s.RebuildHeat(ctx, m.sites[0], m.days[0], nil)
	}()
	var err error
	for len(m.pending) > 0 && err == nil {
		err = m.appendSome(ctx, s)
		if err == nil && m.rng.IntN(3) == 0 {
			err = m.deleteSession(ctx, s)
		}
	}
	wg.Wait()
	step("writes during a rebuild", errors.Join(err, rebuildErr))
	if len(m.sessions) == 0 {
		t.Fatal("the model run deleted every session: nothing was compared at the end")
	}
	for _, k := range append(allKinds, heatmap.Page) {
		if !m.kinds[k] {
			t.Errorf("the run never had an aggregate of kind %d", k)
		}
	}
}

func testHeatModel(t *testing.T, s store.Store) { HeatModel(t, s, testseed.Seed(t)) }

// testHeatBasics: the rules named one by one, on a small hand-made site.
func testHeatBasics(t *testing.T, s store.Store) {
	ctx := context.Background()
	siteA, siteB := newSite(), newSite()
	page := "https://shop.example.com/p/1"
	today := int32(time.Now().UnixMilli() / dayMs)
	mk := func(site int64, n int, device int32, day int32, seq int64, snap bool) store.Chunk {
		b := &Builder{Site: site, Session: fmt.Sprintf("s_basic%015d", n), Visitor: fmt.Sprintf("v_basic%015d", n), ServerMs: int64(day)*dayMs + int64(n)*1000}
		evs := []map[string]any{custom(baseMs, "sl:view", map[string]any{"x": 0, "y": 0, "w": 1000, "h": 3000, "v": 800, "d": 1})}
		if snap {
			evs = append(evs, ev(baseMs, 2, map[string]any{"node": map[string]any{"type": 0, "id": 1}, "initialOffset": map[string]any{"top": 0, "left": 0}}))
		}
		evs = append(evs,
			ev(baseMs+100, 3, map[string]any{"source": 2, "type": 2, "id": 7, "x": 100, "y": 50}),
			custom(baseMs+101, "sl:click", map[string]any{"id": 7, "s": "body>button#buy", "rx": 25, "ry": 75}),
			ev(baseMs+200, 3, map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}))
		raw, _ := json.Marshal(evs)
		ch := &recordingsv1.Chunk{
			SiteId: site, OrganizationId: site + 1, SessionId: b.Session, VisitorId: b.Visitor, PageViewId: "p_basic000000000000001", Seq: seq, Url: page,
			Events: raw, ServerTime: timestamppb.New(time.UnixMilli(b.ServerMs + seq)), Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType(device)},
		}
		st, err := summary.Extract(ch, int64(len(raw)), 0)
		if err != nil {
			t.Fatal(err)
		}
		return store.Chunk{SiteID: site, SessionID: b.Session, Seq: seq, PageViewID: ch.PageViewId, Data: raw, Stats: st}
	}
	clicks := func(site int64, devices []int32, from, to int32) int64 {
		t.Helper()
		var n int64
		err := s.Heat(ctx, store.HeatQuery{SiteID: site, Pages: []string{page}, Devices: devices, FromDay: from, ToDay: to, Kinds: []heatmap.Kind{heatmap.Click}}, func(k heatmap.Kind, cell string, v heatmap.Vec) error {
			if k != heatmap.Click {
				t.Errorf("asked for clicks, got kind %d", k)
			}
			rx, ry, sel, ok := heatmap.ParseClickCell(cell)
			// The click at 25 %, 75 % of the button's box, in its cell,
			// with its place kept in the sums.
			if !ok || cell != heatmap.ClickCell(25, 75, "body>button#buy") || rx > 25 || ry > 75 || sel != "body>button#buy" || v.RX != 25*v.N || v.RY != 75*v.N {
				t.Errorf("click cell %q %+v", cell, v)
			}
			if v.K > 0 && (v.X/v.K != 100 || v.Y/v.K != 50) {
				t.Errorf("click position %+v", v)
			}
			n += v.N
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Site A: desktop on day-2 and today, mobile today; site B: desktop today.
	a1, a2, a3 := mk(siteA, 1, 1, today-2, 0, true), mk(siteA, 2, 1, today, 0, true), mk(siteA, 3, 2, today, 0, false)
	appendOK(t, s, a1, a2, a3, mk(siteB, 1, 1, today, 0, true))
	appendOK(t, s, a1, a2) // re-delivery counts once
	for _, c := range []struct {
		site     int64
		devices  []int32
		from, to int32
		want     int64
	}{
		{siteA, nil, today - 2, today, 3},
		{siteA, []int32{1}, today - 2, today, 2},
		{siteA, []int32{2}, today - 2, today, 1},
		{siteA, []int32{1, 2, 2}, today - 2, today, 3},
		{siteA, []int32{3}, today - 2, today, 0},
		{siteA, nil, today - 2, today - 2, 1}, // bounds inclusive
		{siteA, nil, today, today, 2},
		{siteA, nil, today - 1, today - 1, 0},
		{siteA, nil, today + 1, today - 5, 0}, // an empty range
		{siteA, nil, -1 << 31, 1<<31 - 1, 3},  // the widest
		{siteB, nil, today - 2, today, 1},     // tenants apart
		{newSite(), nil, today - 2, today, 0},
	} {
		if got := clicks(c.site, c.devices, c.from, c.to); got != c.want {
			t.Errorf("clicks of site %d devices %v days %d..%d: %d, want %d", c.site, c.devices, c.from, c.to, got, c.want)
		}
	}
	var pages []string
	if err := s.HeatPages(ctx, siteA, "", func(p string, v heatmap.Vec) error {
		pages = append(pages, p)
		if v.X != 3 {
			t.Errorf("page %s counts %d clicks, want 3", p, v.X)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pages, []string{page}) {
		t.Fatalf("pages %q", pages)
	}
	if err := s.HeatPages(ctx, siteA, page, func(p string, _ heatmap.Vec) error { return fmt.Errorf("page %s after itself", p) }); err != nil {
		t.Fatal(err)
	}
	// The newest snapshot of the page on desktop is a2's (later server
	// time, sent in the same call).
	snap, ok, err := s.HeatSnapshot(ctx, siteA, page, 1)
	if err != nil || !ok || snap.SessionID != a2.SessionID || snap.ServerMs != a2.Stats.ServerMs || snap.URL != page || snap.FullSnapshotMs == 0 {
		t.Fatalf("snapshot %+v %v %v, want session %s", snap, ok, err, a2.SessionID)
	}
	if _, ok, err := s.HeatSnapshot(ctx, siteA, page, 2); ok || err != nil {
		t.Fatalf("mobile snapshot without one: %v %v", ok, err)
	}
	// An older snapshot arriving later does not win.
	older := mk(siteA, 4, 1, today-3, 0, true)
	appendOK(t, s, older)
	if snap, _, _ := s.HeatSnapshot(ctx, siteA, page, 1); snap.SessionID != a2.SessionID {
		t.Fatalf("an older snapshot replaced the newest: %+v", snap)
	}
	// Deleted: the next-newest session's snapshot (another slot) answers;
	// the clicks are gone.
	if err := s.DeleteSession(ctx, siteA, a2.SessionID); err != nil {
		t.Fatal(err)
	}
	wantSnap := func(what string, session string) {
		t.Helper()
		snap, ok, err := s.HeatSnapshot(ctx, siteA, page, 1)
		if err != nil || ok != (session != "") || snap.SessionID != session {
			t.Fatalf("%s: snapshot %+v %v %v, want session %q", what, snap, ok, err, session)
		}
	}
	wantSnap("after deleting the newest snapshot's session", a1.SessionID)
	if got := clicks(siteA, nil, today-3, today); got != 3 {
		t.Fatalf("after deleting a session: %d clicks, want 3", got)
	}
	if ids, err := s.DeleteVisitor(ctx, siteA, a1.Stats.VisitorID); err != nil || len(ids) != 1 {
		t.Fatalf("DeleteVisitor: %v %v", ids, err)
	}
	if got := clicks(siteA, []int32{1}, today-3, today); got != 1 {
		t.Fatalf("after deleting a visitor: %d desktop clicks, want 1", got)
	}
	if got := clicks(siteB, nil, today-3, today); got != 1 {
		t.Fatalf("site B lost clicks to site A's deletions: %d", got)
	}
	// A slot keeps its newest session's pointer: sessions 4 and 17 share
	// one, 9 and 12 another (store.SnapshotSlot).
	wantSnap("after deleting the visitor", older.SessionID)
	appendOK(t, s, mk(siteA, 17, 1, today-4, 0, true))
	wantSnap("an older session of the same slot", older.SessionID)
	s9, s12 := mk(siteA, 9, 1, today-1, 0, true), mk(siteA, 12, 1, today-2, 0, true)
	if store.SnapshotSlot(s9.SessionID) != store.SnapshotSlot(s12.SessionID) || store.SnapshotSlot(older.SessionID) != store.SnapshotSlot("s_basic000000000000017") ||
		store.SnapshotSlot(s9.SessionID) == store.SnapshotSlot(older.SessionID) {
		t.Fatal("the sessions are not in the slots this test needs")
	}
	appendOK(t, s, s9, s12)
	wantSnap("a newer session of another slot", s9.SessionID)
	if err := s.DeleteSession(ctx, siteA, s9.SessionID); err != nil {
		t.Fatal(err)
	}
	// 12's pointer lost its slot to 9's: 4's answers, not the newer 12's.
	wantSnap("the slot's newest deleted", older.SessionID)
	if err := s.DeleteSession(ctx, siteA, older.SessionID); err != nil {
		t.Fatal(err)
	}
	// 17's pointer lost its slot to 4's.
	wantSnap("every slot's newest deleted", "")
}

// testHeatRouteSnapshot: a single-page app's route change points its page's
// snapshot at the change (its time and URL), beside the full snapshot's
// page; a later change to the page takes the pointer over; a change back
// to the full snapshot's page leaves that page's pointer on the snapshot.
func testHeatRouteSnapshot(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	const origin = "https://shop.example.com"
	chunk := func(n int, seq int64, serverMs int64, evs []map[string]any) store.Chunk {
		t.Helper()
		session, visitor := fmt.Sprintf("s_route%015d", n), fmt.Sprintf("v_route%015d", n)
		raw, _ := json.Marshal(evs)
		ch := &recordingsv1.Chunk{
			SiteId: site, OrganizationId: site + 1, SessionId: session, VisitorId: visitor, PageViewId: "p_route000000000000001", Seq: seq, Url: origin + "/p/1",
			Events: raw, ServerTime: timestamppb.New(time.UnixMilli(serverMs)), Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP},
			Viewport: &recordingsv1.Viewport{Width: 1280, Height: 800},
		}
		st, err := summary.Extract(ch, int64(len(raw)), 0)
		if err != nil {
			t.Fatal(err)
		}
		return store.Chunk{SiteID: site, SessionID: session, Seq: seq, PageViewID: ch.PageViewId, Data: raw, Stats: st}
	}
	view := func(ms int64, doc int) map[string]any {
		return custom(ms, "sl:view", map[string]any{"x": 0, "y": 0, "w": 1280, "h": 3000, "v": 800, "d": doc})
	}
	click := func(ms int64) []map[string]any {
		return []map[string]any{
			ev(ms, 3, map[string]any{"source": 2, "type": 2, "id": 7, "x": 100, "y": 50}),
			custom(ms+1, "sl:click", map[string]any{"id": 7, "s": "body>button#pay", "rx": 50, "ry": 50}),
		}
	}
	nav := func(ms int64, from, to string) map[string]any {
		return custom(ms, "sl:navigation", map[string]any{"url": origin + to, "referrer": origin + from})
	}
	now := time.Now().UnixMilli()
	// Session 1 loads /p/1 (a full snapshot), goes to /cart?step=2, clicks,
	// and back to /p/1, all in its first batch.
	first := []map[string]any{view(baseMs, -1),
		ev(baseMs+1, 4, map[string]any{"href": origin + "/p/1", "width": 1280, "height": 800}),
		ev(baseMs+2, 2, map[string]any{"node": map[string]any{"type": 0, "id": 1}, "initialOffset": map[string]any{"top": 0, "left": 0}}),
		nav(baseMs+1000, "/p/1", "/cart?step=2")}
	first = append(first, click(baseMs+1500)...)
	first = append(first, nav(baseMs+3000, "/cart?step=2", "/p/1"))
	a := chunk(1, 0, now-60_000, first)
	appendOK(t, s, a)
	want := func(page string, c store.Chunk, fullMs int64, u string) {
		t.Helper()
		snap, ok, err := s.HeatSnapshot(ctx, site, origin+page, int32(sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP))
		if err != nil || !ok {
			t.Fatalf("HeatSnapshot(%s): %v %v", page, ok, err)
		}
		if snap.SessionID != c.SessionID || snap.Seq != c.Seq || snap.FullSnapshotMs != fullMs || snap.URL != origin+u || snap.ServerMs != c.Stats.ServerMs || snap.ViewportW != 1280 {
			t.Fatalf("HeatSnapshot(%s) = %+v, want session %s seq %d at %d, URL %s", page, snap, c.SessionID, c.Seq, fullMs, origin+u)
		}
	}
	want("/p/1", a, baseMs+2, "/p/1")
	want("/cart", a, baseMs+1000, "/cart?step=2")
	// Session 2 reaches /cart by a route change in its second batch (no
	// full snapshot in it): the newer pointer.
	b0 := chunk(2, 0, now-30_000, []map[string]any{view(baseMs, -1),
		ev(baseMs+1, 4, map[string]any{"href": origin + "/p/1", "width": 1280, "height": 800}),
		ev(baseMs+2, 2, map[string]any{"node": map[string]any{"type": 0, "id": 1}, "initialOffset": map[string]any{"top": 0, "left": 0}})})
	b1 := chunk(2, 1, now-25_000, append([]map[string]any{view(baseMs+5000, 1), nav(baseMs+6000, "/p/1", "/cart")}, click(baseMs+6500)...))
	appendOK(t, s, b0, b1)
	want("/cart", b1, baseMs+6000, "/cart")
	want("/p/1", b0, baseMs+2, "/p/1")
	// Gone with its session: the route's pointer too; session 1's (in
	// another slot) answers again, then none.
	if err := s.DeleteSession(ctx, site, b1.SessionID); err != nil {
		t.Fatal(err)
	}
	want("/cart", a, baseMs+1000, "/cart?step=2")
	if err := s.DeleteSession(ctx, site, a.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.HeatSnapshot(ctx, site, origin+"/cart", int32(sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP)); ok || err != nil {
		t.Fatalf("the route's snapshot after its sessions were deleted: %v %v", ok, err)
	}
}
