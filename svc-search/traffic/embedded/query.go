package embedded

import (
	"cmp"
	"context"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// filter is a TrafficFilter compiled against one site's dictionaries:
// every condition is an id comparison or a table lookup per row.
type filter struct {
	none                  bool // a condition no session can meet
	devices               []uint8
	countries, browsers   []uint32
	oses                  []uint32
	ref, utmS, utmM, utmC int64 // -1: any
	screen                int64
	direct                bool
	visited, entry, exit  []bool // by URL id; nil: any
}

func (st *site) compile(tf *trafficv1.TrafficFilter) *filter {
	f := &filter{ref: -1, utmS: -1, utmM: -1, utmC: -1, screen: -1}
	if tf == nil {
		return f
	}
	for _, d := range tf.GetDeviceTypes() {
		f.devices = append(f.devices, uint8(d))
	}
	set := func(vals []string) []uint32 {
		if len(vals) == 0 {
			return nil
		}
		ids := []uint32{}
		for _, v := range vals {
			if id, ok := st.strs.lookup(v); ok {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			f.none = true
		}
		return ids
	}
	f.countries, f.browsers, f.oses = set(tf.GetCountries()), set(tf.GetBrowsers()), set(tf.GetOses())
	one := func(v string) int64 {
		if v == "" {
			return -1
		}
		id, ok := st.strs.lookup(v)
		if !ok {
			f.none = true
		}
		return int64(id)
	}
	f.ref, f.utmS, f.utmM, f.utmC = one(tf.GetReferrerDomain()), one(tf.GetUtmSource()), one(tf.GetUtmMedium()), one(tf.GetUtmCampaign())
	f.screen = one(tf.GetScreenSize())
	f.direct = tf.GetDirect()
	f.visited, f.entry, f.exit = st.matchURLs(tf.GetVisitedPage()), st.matchURLs(tf.GetEntryPage()), st.matchURLs(tf.GetExitPage())
	return f
}

// maxRules bounds the page rules whose results a site keeps.
const maxRules = 256

// matchURLs answers, per URL id, whether the URL matches a page rule
// (traffic.MatchPage); nil matches all. Results are kept per rule and
// extended to URLs added since, so a rule is evaluated once per distinct
// URL, ever. The caller holds the site's read lock.
func (st *site) matchURLs(m *searchv1.UrlMatch) []bool {
	if m == nil || m.GetValue() == "" {
		return nil
	}
	n := len(st.urls.s)
	k := ruleKey{m.GetOperator(), m.GetValue()}
	st.cmu.Lock()
	defer st.cmu.Unlock()
	got := st.rules[k]
	if len(got) < n {
		if len(st.rules) >= maxRules {
			clear(st.rules)
		}
		match := st.matcher(m)
		for id := len(got); id < n; id++ {
			got = append(got, match(uint32(id)))
		}
		st.rules[k] = got
	}
	return got[:n]
}

// matcher is index.MatchURL on a URL id, with the URL's page key and path
// derived once per URL (the parse is what a rule costs). Under cmu.
func (st *site) matcher(m *searchv1.UrlMatch) func(id uint32) bool {
	v := m.GetValue()
	if index.PathForm(m) {
		for id := len(st.paths); id < len(st.urls.s); id++ {
			st.paths = append(st.paths, index.PagePath(st.urls.s[id]))
		}
		return func(id uint32) bool {
			target := st.paths[id]
			if target == "" {
				return false
			}
			switch m.GetOperator() {
			case searchv1.UrlMatch_OPERATOR_PREFIX:
				return strings.HasPrefix(target, v)
			case searchv1.UrlMatch_OPERATOR_PATTERN:
				return pagerule.Glob(v, target)
			default:
				return target == v
			}
		}
	}
	switch m.GetOperator() {
	case searchv1.UrlMatch_OPERATOR_CONTAINS:
		return func(id uint32) bool { return strings.Contains(st.urls.s[id], v) }
	case searchv1.UrlMatch_OPERATOR_PREFIX:
		return func(id uint32) bool { return strings.HasPrefix(st.urls.s[id], v) }
	case searchv1.UrlMatch_OPERATOR_PATTERN:
		return func(id uint32) bool { return pagerule.Glob(v, st.urls.s[id]) }
	}
	// A full-URL EQUALS compares page keys (pagerule.Rule.Match): the
	// URL's page key, or the URL itself when not http(s), is its PageKey.
	want, _ := (pagerule.Rule{Op: pagerule.Equals, Value: v}).Exact()
	return func(id uint32) bool { return st.strs.s[st.keyOf[id]] == want }
}

func (f *filter) match(st *site, r *row) bool {
	if f.devices != nil && !slices.Contains(f.devices, r.device) {
		return false
	}
	if (f.countries != nil && !slices.Contains(f.countries, r.country)) ||
		(f.browsers != nil && !slices.Contains(f.browsers, r.browser)) ||
		(f.oses != nil && !slices.Contains(f.oses, r.os)) {
		return false
	}
	if (f.ref >= 0 && int64(r.ref) != f.ref) || (f.direct && r.ref != 0) ||
		(f.utmS >= 0 && int64(r.utmS) != f.utmS) || (f.utmM >= 0 && int64(r.utmM) != f.utmM) ||
		(f.utmC >= 0 && int64(r.utmC) != f.utmC) || (f.screen >= 0 && int64(r.screen) != f.screen) {
		return false
	}
	if (f.entry != nil && !f.entry[r.entry]) || (f.exit != nil && !f.exit[r.exit]) {
		return false
	}
	if f.visited != nil {
		_, vs := st.timeline(r)
		for _, v := range vs {
			if v&evBit == 0 && f.visited[v] {
				return true
			}
		}
		return false
	}
	return true
}

// overviewScratch is an overview's row-sized buffers, kept for the next
// one (megabytes per million sessions that would otherwise be allocated
// and cleared per query).
type overviewScratch struct {
	durCur, durPrev []int64
	pairs           []uint64
}

// totals accumulates one period's tiles.
type totals struct {
	visitors, sessions, pvs, bounces int64
	recorded, rage, dead, errs       int64
	durs                             []int64 // ms
}

func (t *totals) add(r *row) {
	t.sessions++
	t.pvs += int64(r.pvs)
	if r.pvs == 1 {
		t.bounces++
	}
	if r.flags&rowMarked != 0 {
		t.recorded++
		if r.flags&flagRage != 0 {
			t.rage++
		}
		if r.flags&flagDead != 0 {
			t.dead++
		}
		if r.flags&flagErrors != 0 {
			t.errs++
		}
	}
	t.durs = append(t.durs, (r.end-r.start)/int64(time.Millisecond))
}

func (t *totals) merge(o *totals) {
	t.sessions += o.sessions
	t.pvs += o.pvs
	t.bounces += o.bounces
	t.recorded += o.recorded
	t.rage += o.rage
	t.dead += o.dead
	t.errs += o.errs
	t.durs = append(t.durs, o.durs...)
}

func (t *totals) proto() *trafficv1.TrafficTotals {
	out := &trafficv1.TrafficTotals{
		Visitors: t.visitors, Sessions: t.sessions, PageViews: t.pvs, Bounces: t.bounces, RecordedSessions: t.recorded,
	}
	if t.sessions > 0 {
		out.ViewsPerSession = float64(t.pvs) / float64(t.sessions)
		out.BounceRate = float64(t.bounces) / float64(t.sessions)
		out.MedianDuration = durationpb.New(time.Duration(lowerMedian(t.durs)) * time.Millisecond)
	}
	if t.recorded > 0 {
		n := float64(t.recorded)
		out.RageClickRate = proto.Float64(float64(t.rage) / n)
		out.DeadClickRate = proto.Float64(float64(t.dead) / n)
		out.ErrorRate = proto.Float64(float64(t.errs) / n)
	}
	return out
}

// window is what a query over a time range reads: the site's columns
// (held until done), the query's compiled filter and its range in Unix ns.
type window struct {
	*loaded
	st     *site
	f      *filter
	lo, hi int64
}

func (s *Store) window(ctx context.Context, q traffic.Query) (window, error) {
	l, err := s.site(ctx, q.SiteID)
	if err != nil {
		return window{}, err
	}
	return window{loaded: l, st: l.s, f: l.s.compile(q.Filter), lo: q.Start.UnixNano(), hi: q.End.UnixNano()}, nil
}

// Overview answers the tiles of q, of the previous period, and q's series.
func (s *Store) Overview(ctx context.Context, q traffic.Query, iv trafficv1.TrafficInterval) (*trafficv1.GetTrafficOverviewResponse, error) {
	loc := q.Loc()
	starts, err := traffic.Buckets(q.Start, q.End, iv, loc)
	if err != nil {
		return nil, err
	}
	bs := make([]int64, len(starts))
	for i, b := range starts {
		bs[i] = b.UnixNano()
	}
	w, err := s.window(ctx, q)
	if err != nil {
		return nil, err
	}
	defer w.done()
	st, f, lo, hi := w.st, w.f, w.lo, w.hi
	plo := lo - (hi - lo)
	type bucket struct{ visitors, sessions, pvs int64 }
	type part struct {
		cur, prev totals
		series    []bucket
		// pairs: bucket<<32 | visitor of every current session, grouped
		// by bucket below to count each bucket's distinct visitors.
		pairs []uint64
		// Visitors seen in the current and previous period: bitsets, so
		// a million visitors' random accesses stay in cache.
		seenCur, seenPrev []uint64
	}
	nv := st.vis.len()
	bix := newBucketIndex(bs, iv, loc)
	ps := make([]part, st.workers())
	// Each part fills its own stretch of shared buffers (no growing
	// appends); the stretches are joined below.
	n := len(st.rows)
	var durCur, durPrev []int64
	var allPairs []uint64
	if !f.none {
		sc, _ := st.scratch.Get().(*overviewScratch)
		if sc == nil || len(sc.durCur) < n {
			sc = &overviewScratch{make([]int64, n+n/8), make([]int64, n+n/8), make([]uint64, n+n/8)}
		}
		defer st.scratch.Put(sc)
		// Every stretch is written before it is read: no clearing needed.
		durCur, durPrev, allPairs = sc.durCur[:n], sc.durPrev[:n], sc.pairs[:n]
		parallel(n, len(ps), func(w, from, to int) {
			p := &ps[w]
			p.series = make([]bucket, len(bs))
			p.seenCur, p.seenPrev = make([]uint64, (nv+63)/64), make([]uint64, (nv+63)/64)
			p.cur.durs, p.prev.durs, p.pairs = durCur[from:from:to], durPrev[from:from:to], allPairs[from:from:to]
			for i := from; i < to; i++ {
				r := &st.rows[i]
				if r.flags&rowLive == 0 || r.start < plo || r.start >= hi || !f.match(st, r) {
					continue
				}
				if r.start < lo {
					p.prev.add(r)
					p.seenPrev[r.visitor>>6] |= 1 << (r.visitor & 63)
					continue
				}
				p.cur.add(r)
				p.seenCur[r.visitor>>6] |= 1 << (r.visitor & 63)
				b := bix.of(r.start)
				p.series[b].sessions++
				p.series[b].pvs += int64(r.pvs)
				p.pairs = append(p.pairs, uint64(b)<<32|uint64(r.visitor))
			}
		})
	}
	var cur, prev totals
	series := make([]bucket, len(bs))
	var pairs []uint64
	var seenCur, seenPrev []uint64
	for w, p := range ps {
		if w == 0 {
			cur, prev = p.cur, p.prev
			cur.durs, prev.durs = durCur[:len(p.cur.durs)], durPrev[:len(p.prev.durs)]
		} else {
			cur.merge(&p.cur)
			prev.merge(&p.prev)
		}
		for b := range p.series {
			series[b].sessions += p.series[b].sessions
			series[b].pvs += p.series[b].pvs
		}
		if w == 0 {
			pairs, seenCur, seenPrev = allPairs[:len(p.pairs)], p.seenCur, p.seenPrev
			continue
		}
		pairs = append(pairs, p.pairs...) // within allPairs: a copy, no growth
		for i := range p.seenCur {
			seenCur[i] |= p.seenCur[i]
			seenPrev[i] |= p.seenPrev[i]
		}
	}
	for i := range seenCur {
		cur.visitors += int64(bits.OnesCount64(seenCur[i]))
		prev.visitors += int64(bits.OnesCount64(seenPrev[i]))
	}
	if len(pairs) > 0 {
		count := make([]int, len(bs)+1)
		for _, p := range pairs {
			count[p>>32+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		grouped := make([]uint32, len(pairs))
		pos := slices.Clone(count)
		for _, p := range pairs {
			grouped[pos[p>>32]] = uint32(p)
			pos[p>>32]++
		}
		// One bitset for every bucket in turn, cleared by the bucket's own
		// visitors after it.
		set := make([]uint64, (nv+63)/64)
		for b := range bs {
			in := grouped[count[b]:count[b+1]]
			for _, v := range in {
				if w, m := v>>6, uint64(1)<<(v&63); set[w]&m == 0 {
					set[w] |= m
					series[b].visitors++
				}
			}
			for _, v := range in {
				set[v>>6] = 0
			}
		}
	}
	out := &trafficv1.GetTrafficOverviewResponse{Current: cur.proto(), Previous: prev.proto(), Interval: iv}
	for i, b := range series {
		out.Series = append(out.Series, &trafficv1.TrafficBucket{
			Start: timestamppb.New(starts[i]), Visitors: b.visitors, Sessions: b.sessions, PageViews: b.pvs,
		})
	}
	return out, nil
}

// Breakdown answers the top limit values of one dimension.
func (s *Store) Breakdown(ctx context.Context, q traffic.Query, dim trafficv1.TrafficDimension, limit int) (*trafficv1.GetTrafficBreakdownResponse, error) {
	if limit <= 0 {
		limit = 10
	}
	w, err := s.window(ctx, q)
	if err != nil {
		return nil, err
	}
	defer w.done()
	st, f, lo, hi := w.st, w.f, w.lo, w.hi
	n := len(st.strs.s)
	type part struct {
		sess, pvs, bounces          []int64 // by string id
		devSess, devPVs, devBounces [256]int64
		total                       int64
	}
	ps := make([]part, st.workers())
	page := dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE
	value := rowValue(dim)
	parallel(len(st.rows), len(ps), func(w, from, to int) {
		p := &ps[w]
		p.sess, p.pvs, p.bounces = make([]int64, n), make([]int64, n), make([]int64, n)
		var stamp []uint32
		if page {
			stamp = make([]uint32, n)
		}
		for i := from; i < to; i++ {
			r := &st.rows[i]
			if f.none || r.flags&rowLive == 0 || r.start < lo || r.start >= hi || !f.match(st, r) {
				continue
			}
			p.total++
			bounce := int64(0)
			if r.pvs == 1 {
				bounce = 1
			}
			switch {
			case page:
				_, vs := st.timeline(r)
				for _, it := range vs {
					if it&evBit != 0 {
						continue
					}
					k := st.keyOf[it]
					p.pvs[k]++
					if stamp[k] != uint32(i)+1 {
						stamp[k] = uint32(i) + 1
						p.sess[k]++
						p.bounces[k] += bounce
					}
				}
				continue
			case dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE:
				p.devSess[r.device]++
				p.devPVs[r.device] += int64(r.pvs)
				p.devBounces[r.device] += bounce
				continue
			case value == nil:
				continue
			}
			v := value(st, r)
			p.sess[v]++
			p.pvs[v] += int64(r.pvs)
			p.bounces[v] += bounce
		}
	})
	sess, pvs, bounces := ps[0].sess, ps[0].pvs, ps[0].bounces
	devSess, devPVs, devBounces := ps[0].devSess, ps[0].devPVs, ps[0].devBounces
	total := ps[0].total
	for _, p := range ps[1:] {
		total += p.total
		for v := range sess {
			sess[v] += p.sess[v]
			pvs[v] += p.pvs[v]
			bounces[v] += p.bounces[v]
		}
		for d := range devSess {
			devSess[d] += p.devSess[d]
			devPVs[d] += p.devPVs[d]
			devBounces[d] += p.devBounces[d]
		}
	}
	var rows []*trafficv1.TrafficRow
	if dim == trafficv1.TrafficDimension_TRAFFIC_DIMENSION_DEVICE_TYPE {
		byName := map[string]*trafficv1.TrafficRow{}
		for d := range devSess {
			if devSess[d] == 0 {
				continue
			}
			name := deviceName(uint8(d))
			r := byName[name]
			if r == nil {
				r = &trafficv1.TrafficRow{Value: name}
				byName[name] = r
				rows = append(rows, r)
			}
			r.Sessions += devSess[d]
			r.PageViews += devPVs[d]
			r.Bounces += devBounces[d]
		}
	} else {
		for id, c := range sess {
			if c > 0 {
				rows = append(rows, &trafficv1.TrafficRow{Value: st.strs.s[id], Sessions: c, PageViews: pvs[id], Bounces: bounces[id]})
			}
		}
	}
	slices.SortFunc(rows, func(a, b *trafficv1.TrafficRow) int {
		if a.Sessions != b.Sessions {
			return cmp.Compare(b.Sessions, a.Sessions)
		}
		return cmp.Compare(a.Value, b.Value)
	})
	out := &trafficv1.GetTrafficBreakdownResponse{Dimension: dim, TotalValues: int64(len(rows)), Sessions: total}
	out.Rows = rows[:min(limit, len(rows))]
	return out, nil
}

// bucketIndex finds a time's bucket (the one traffic.BucketStart
// names): by a table of the quarter hours from the first bucket's start
// when the bucket is the same all through each of them (every zone of
// this century offsets UTC and changes offset by quarter hours), else by
// BucketStart itself.
type bucketIndex struct {
	bs    []int64
	iv    trafficv1.TrafficInterval
	loc   *time.Location
	at    map[int64]int
	table []uint16 // quarter hour → bucket
}

const quarter = int64(15 * time.Minute)

func newBucketIndex(bs []int64, iv trafficv1.TrafficInterval, loc *time.Location) bucketIndex {
	bi := bucketIndex{bs: bs, iv: iv, loc: loc, at: make(map[int64]int, len(bs))}
	for i, b := range bs {
		bi.at[b] = i
	}
	if len(bs) == 0 || bs[0]%quarter != 0 {
		return bi
	}
	// The last bucket lasts at most a week (and an hour).
	table := make([]uint16, (bs[len(bs)-1]-bs[0])/quarter+8*24*4)
	for j := range table {
		q := bs[0] + int64(j)*quarter
		b, ok := bi.at[traffic.BucketStart(time.Unix(0, q), iv, loc).UnixNano()]
		e, ok2 := bi.at[traffic.BucketStart(time.Unix(0, q+quarter-1), iv, loc).UnixNano()]
		if !ok || !ok2 || b != e {
			if !ok && !ok2 && j > 0 {
				table = table[:j] // past the last bucket
				break
			}
			return bi
		}
		table[j] = uint16(b)
	}
	bi.table = table
	return bi
}

// of answers the bucket of t, a time in the series' range.
func (bi *bucketIndex) of(t int64) int {
	if bi.table != nil {
		if j := (t - bi.bs[0]) / quarter; t >= bi.bs[0] && j < int64(len(bi.table)) {
			return int(bi.table[j])
		}
	}
	return bi.at[traffic.BucketStart(time.Unix(0, t), bi.iv, bi.loc).UnixNano()]
}

// workers is how many goroutines scan the rows: the cores, for enough
// rows to pay for them.
func (st *site) workers() int {
	if len(st.rows) < max(st.parallelRows, 1) {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), 8))
}

// parallel calls fn for w contiguous parts of [0, n), each on its own
// goroutine (the first on the caller's), and waits.
func parallel(n, w int, fn func(w, from, to int)) {
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, n*i/w, n*(i+1)/w)
		}()
	}
	fn(0, 0, n/w)
	wg.Wait()
}

// lowerMedian answers the element at (n-1)/2 of v in sorted order (v may
// be reordered); 0 when empty.
func lowerMedian(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	k := (len(v) - 1) / 2
	if len(v) < 1<<16 {
		return quickselect(v, k)
	}
	// Radix select: a histogram of the top 16 bits of v's range finds
	// the bucket holding the k-th; only that bucket's values are
	// selected among. Two sequential passes instead of quickselect's
	// partitioning of everything.
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	shift := 0
	for (hi-lo)>>shift >= 1<<16 {
		shift++
	}
	var hist [1 << 16]int
	for _, x := range v {
		hist[(x-lo)>>shift]++
	}
	b := 0
	for ; k >= hist[b]; b++ {
		k -= hist[b]
	}
	in := make([]int64, 0, hist[b])
	for _, x := range v {
		if int((x-lo)>>shift) == b {
			in = append(in, x)
		}
	}
	return quickselect(in, k)
}

// quickselect answers the k-th smallest of v in expected linear time.
func quickselect(v []int64, k int) int64 {
	lo, hi := 0, len(v)-1
	seed := uint64(len(v))*0x9E3779B97F4A7C15 + 1
	for lo < hi {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		p := v[lo+int(seed%uint64(hi-lo+1))]
		// Three-way partition: < p | == p | > p.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case v[i] < p:
				v[lt], v[i] = v[i], v[lt]
				lt++
				i++
			case v[i] > p:
				v[i], v[gt] = v[gt], v[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return v[k]
}

// rowValue reads the string id a single-valued breakdown dimension takes
// from a row (entry and exit pages as their page keys); nil for the page
// and device dimensions, which count otherwise, and for unknown ones.
func rowValue(dim trafficv1.TrafficDimension) func(st *site, r *row) uint32 {
	return map[trafficv1.TrafficDimension]func(*site, *row) uint32{
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_ENTRY_PAGE:   func(st *site, r *row) uint32 { return st.keyOf[r.entry] },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE:    func(st *site, r *row) uint32 { return st.keyOf[r.exit] },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER:     func(_ *site, r *row) uint32 { return r.ref },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_SOURCE:   func(_ *site, r *row) uint32 { return r.utmS },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_MEDIUM:   func(_ *site, r *row) uint32 { return r.utmM },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UTM_CAMPAIGN: func(_ *site, r *row) uint32 { return r.utmC },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_COUNTRY:      func(_ *site, r *row) uint32 { return r.country },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_BROWSER:      func(_ *site, r *row) uint32 { return r.browser },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS:           func(_ *site, r *row) uint32 { return r.os },
		trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE:  func(_ *site, r *row) uint32 { return r.screen },
	}[dim]
}
