package recordings

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// The heatmap tests send visits a tracker would record (each batch opened by
// sl:view, clicks followed by sl:click, pointer samples, document scrolls,
// full snapshots) and compare GetHeatmap's answers with what a model of the
// same visits, written here from the tracker's wire format, expects.

const (
	heatDocW = 1000 // document width: move and click x in thousandths equal client x
	siteB    = site + 1
)

var heatSelectors = []string{
	"body>main>button#buy", "body>nav>a.home", "body>main>div.gallery>img:nth-child(2)",
	"body>footer>a.terms", "body>main>form>input[name=q]",
}

// heatURLs are a site's pages (with a query string the page key drops) and
// their page keys.
var heatURLs = [][2]string{
	{"https://shop.example.com/product/1?utm_source=mail", "https://shop.example.com/product/1"},
	{"https://shop.example.com/product/2", "https://shop.example.com/product/2"},
	{"https://shop.example.com/product/3/", "https://shop.example.com/product/3"},
	{"https://shop.example.com/cart", "https://shop.example.com/cart"},
	{"https://Shop.example.com/", "https://shop.example.com/"},
}

type heatClick struct {
	sel    string
	cx, cy int // client position
	rx, ry int
	x, y   int // document position (x in thousandths)
}

// visit is one session of one page view.
type visit struct {
	site     int64
	session  string
	visitor  string
	page     int // index in heatURLs
	device   sessionsv1.DeviceType
	day      int32
	serverMs int64
	scrollY  int // the deepest document scroll
	docH     int
	vh       int
	moves    [][2]int // document cells (x thousandths, y px), weight 1 each
	clicks   []heatClick
	rage     *heatClick // first click of a rage burst
	dead     *heatClick
	snapshot bool
	twoParts bool
	chunks   []*recordingsv1.Chunk
}

func (v *visit) key() string { return heatURLs[v.page][1] }

// pct is how deep the visit scrolled, in % of the document.
func (v *visit) pct() int { return min((v.scrollY+v.vh)*100/v.docH, 100) }

func heatEvents(t *testing.T, evs []ev) []byte { return events(t, evs...) }

func custom(ts int64, tag string, payload ev) ev {
	return ev{"type": 5, "timestamp": ts, "data": ev{"tag": tag, "payload": payload}}
}

// build writes the visit's chunks as the tracker would.
func (v *visit) build(t *testing.T) {
	ts := v.serverMs
	next := func(d int64) int64 { ts += d; return ts }
	view := func(y int) ev {
		return custom(next(1), "sl:view", ev{"x": 0, "y": y, "w": heatDocW, "h": v.docH, "v": v.vh, "d": 1})
	}
	url := heatURLs[v.page][0]
	part := []ev{view(0)}
	if v.snapshot {
		part = append(part,
			ev{"type": 4, "timestamp": next(1), "data": ev{"href": url, "width": 1280, "height": v.vh}},
			ev{"type": 2, "timestamp": next(10), "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": []any{}}, "initialOffset": ev{"top": 0, "left": 0}}})
	}
	for _, m := range v.moves {
		// One sample every 100 ms: each rests two units, the chunk's last one.
		part = append(part, ev{"type": 3, "timestamp": next(100), "data": ev{"source": 1, "positions": []any{ev{"x": m[0], "y": m[1], "id": 5, "timeOffset": 0}}}})
	}
	part = append(part, ev{"type": 3, "timestamp": next(100), "data": ev{"source": 3, "id": 1, "x": 0, "y": v.scrollY}})
	click := func(c heatClick, react bool) {
		part = append(part, ev{"type": 3, "timestamp": next(1200), "data": ev{"source": 2, "type": 2, "id": 40, "x": c.cx, "y": c.cy}})
		part = append(part, custom(next(1), "sl:click", ev{"id": 40, "s": c.sel, "rx": c.rx, "ry": c.ry}))
		if react {
			part = append(part, ev{"type": 3, "timestamp": next(100), "data": ev{"source": 0, "adds": []any{ev{"parentId": 1, "node": ev{"type": 3, "id": 900 + len(part), "textContent": "ok"}}}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}})
		}
	}
	var chunks [][]ev
	for i, c := range v.clicks {
		if v.twoParts && i == len(v.clicks)/2 {
			chunks = append(chunks, part)
			part = []ev{view(v.scrollY)}
		}
		click(c, true)
	}
	if v.rage != nil {
		// Three clicks 200 ms apart on one spot, then the page reacts.
		click(*v.rage, false)
		for range 2 {
			part = append(part, ev{"type": 3, "timestamp": next(200), "data": ev{"source": 2, "type": 2, "id": 40, "x": v.rage.cx, "y": v.rage.cy}})
			part = append(part, custom(next(1), "sl:click", ev{"id": 40, "s": v.rage.sel, "rx": v.rage.rx, "ry": v.rage.ry}))
		}
		part = append(part, ev{"type": 3, "timestamp": next(100), "data": ev{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{ev{"id": 1, "attributes": ev{"class": "x"}}}}})
	}
	if v.dead != nil {
		// Nothing reacts; the page view goes on past the window (a sample).
		click(*v.dead, false)
		part = append(part, ev{"type": 3, "timestamp": next(1600), "data": ev{"source": 1, "positions": []any{ev{"x": 0, "y": 0, "id": 5, "timeOffset": 0}}}})
	}
	chunks = append(chunks, part)
	pv := "p_" + v.session[2:]
	for seq, evs := range chunks {
		c := &recordingsv1.Chunk{
			SiteId: v.site, OrganizationId: 4_000_000_001, SessionId: v.session, VisitorId: v.visitor, PageViewId: pv,
			Seq: int64(seq), Url: url, Events: heatEvents(t, evs),
			ServerTime: timestamppb.New(time.UnixMilli(v.serverMs + int64(seq))), Viewport: &recordingsv1.Viewport{Width: 1280, Height: int32(v.vh)},
			Client: &sessionsv1.Client{DeviceType: v.device, Browser: "Chrome", Os: "Linux"}, RetentionDays: 60,
		}
		v.chunks = append(v.chunks, c)
	}
}

// heatVisits makes n visits of a site over days [day0, day0+days).
func heatVisits(t *testing.T, rng *rand.Rand, siteID int64, n int, day0 int32, days int, visitors []string) []*visit {
	// Bots and the classes without maps of their own (other, unknown)
	// visit too.
	devices := []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET,
		sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_OTHER, sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED, sessionsv1.DeviceType_DEVICE_TYPE_BOT}
	var out []*visit
	for i := range n {
		v := &visit{
			site: siteID, session: fmt.Sprintf("s_heat%d_%04d", siteID%100, i), visitor: visitors[i%len(visitors)],
			page: rng.IntN(len(heatURLs)), device: devices[rng.IntN(len(devices))], day: day0 + int32(rng.IntN(days)),
			docH: 2000 + 8*rng.IntN(200), vh: 600 + 8*rng.IntN(50),
		}
		v.serverMs = int64(v.day)*dayMs + int64(i)*60_000 + 1
		v.scrollY = 8 * rng.IntN((v.docH-v.vh)/8+1)
		for range rng.IntN(6) {
			v.moves = append(v.moves, [2]int{summary.MoveXStep * rng.IntN(1000/summary.MoveXStep), summary.MoveYStep * rng.IntN(v.vh/summary.MoveYStep)})
		}
		mk := func() heatClick {
			c := heatClick{sel: heatSelectors[rng.IntN(len(heatSelectors))], cx: rng.IntN(1000), cy: rng.IntN(v.vh), rx: rng.IntN(101), ry: 20 + 2*rng.IntN(15)}
			c.x, c.y = c.cx, c.cy+v.scrollY
			return c
		}
		for range rng.IntN(5) {
			v.clicks = append(v.clicks, mk())
		}
		v.twoParts = len(v.clicks) >= 2 && rng.IntN(3) == 0
		if !v.twoParts && rng.IntN(6) == 0 {
			c := mk()
			v.rage = &c
		}
		if !v.twoParts && len(v.moves) == 0 && rng.IntN(4) == 0 {
			// (Without samples before it: the sample after the dead click
			// would make the last of them rest the whole wait.)
			c := mk()
			v.dead = &c
		}
		v.snapshot = rng.IntN(3) == 0
		v.build(t)
		out = append(out, v)
	}
	return out
}

// heatWant is what the model expects of one query.
type heatWant struct {
	sessions  int64
	total     int64
	rage      int64 // rage and dead clicks, answered with click maps
	dead      int64
	rageOn    map[string]int64 // per element, answered with the click map
	deadOn    map[string]int64
	clicks    map[[3]string][5]int64 // (sel, cell's rx, ry) → count, Σx, Σy, Σrx, Σry
	elements  map[string]int64
	cells     map[[2]int32]int64
	depths    []int // per page view
	foldSum   int64
	heightSum int64
	pages     map[string]int64 // page views per key (ListHeatmapPages)
	clickN    map[string]int64 // clicks per key
}

type heatQuery struct {
	site     int64
	match    func(key string) bool
	devices  []sessionsv1.DeviceType
	from, to int32
	kind     recordingsv1.HeatmapKind
}

func model(visits []*visit, q heatQuery) heatWant {
	w := heatWant{clicks: map[[3]string][5]int64{}, elements: map[string]int64{}, cells: map[[2]int32]int64{}, pages: map[string]int64{}, clickN: map[string]int64{},
		rageOn: map[string]int64{}, deadOn: map[string]int64{}}
	add := func(c heatClick) {
		// Click cells are heatmap.ClickStep % of the element's box.
		k := [3]string{c.sel, fmt.Sprint(c.rx / heatmap.ClickStep * heatmap.ClickStep), fmt.Sprint(c.ry / heatmap.ClickStep * heatmap.ClickStep)}
		v := w.clicks[k]
		w.clicks[k] = [5]int64{v[0] + 1, v[1] + int64(c.x), v[2] + int64(c.y), v[3] + int64(c.rx), v[4] + int64(c.ry)}
		w.elements[c.sel]++
		w.total++
	}
	for _, v := range visits {
		if v.site != q.site || !q.match(v.key()) || !slices.Contains(q.devices, v.device) || v.day < q.from || v.day > q.to {
			continue
		}
		w.sessions++
		switch q.kind {
		case recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, recordingsv1.HeatmapKind_HEATMAP_KIND_RAGE, recordingsv1.HeatmapKind_HEATMAP_KIND_DEAD:
			if v.rage != nil {
				w.rage++
			}
			if v.dead != nil {
				w.dead++
			}
			if q.kind == recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK {
				if v.rage != nil {
					w.rageOn[v.rage.sel]++
				}
				if v.dead != nil {
					w.deadOn[v.dead.sel]++
				}
			}
		}
		switch q.kind {
		case recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK:
			for _, c := range v.clicks {
				add(c)
			}
			for _, c := range []*heatClick{v.rage, v.dead} {
				if c != nil {
					add(*c)
				}
			}
			if v.rage != nil {
				// The burst's two other clicks, at the same place.
				add(*v.rage)
				add(*v.rage)
			}
		case recordingsv1.HeatmapKind_HEATMAP_KIND_RAGE:
			if v.rage != nil {
				add(*v.rage)
			}
		case recordingsv1.HeatmapKind_HEATMAP_KIND_DEAD:
			if v.dead != nil {
				add(*v.dead)
			}
		case recordingsv1.HeatmapKind_HEATMAP_KIND_MOVE:
			for i, m := range v.moves {
				// Samples 100 ms apart rest 2 units; the chunk's last counts once.
				n := int64(2)
				if i == len(v.moves)-1 {
					n = 1
				}
				w.cells[[2]int32{int32(m[0]), int32(m[1])}] += n
				w.total += n
			}
			if v.dead != nil {
				// The sample after the dead click, at client (0, 0).
				w.cells[[2]int32{0, int32(v.scrollY / summary.MoveYStep * summary.MoveYStep)}]++
				w.total++
			}
		case recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL:
			w.depths = append(w.depths, v.pct())
			w.foldSum += int64(v.vh)
			w.heightSum += int64(v.docH)
			w.total++
		}
	}
	return w
}

// pagesModel counts page views and clicks per page key of a site (all
// time; a bot's and an "other" browser's count nowhere).
func pagesModel(visits []*visit, siteID int64) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, v := range visits {
		if v.site != siteID || v.device == sessionsv1.DeviceType_DEVICE_TYPE_BOT || v.device == sessionsv1.DeviceType_DEVICE_TYPE_OTHER {
			continue
		}
		n := int64(len(v.clicks))
		if v.rage != nil {
			n += 3
		}
		if v.dead != nil {
			n++
		}
		p := out[v.key()]
		out[v.key()] = [2]int64{p[0] + 1, p[1] + n}
	}
	return out
}

// check compares an answer with the model.
func (w heatWant) check(t *testing.T, what string, kind recordingsv1.HeatmapKind, got *recordingsv1.GetHeatmapResponse) {
	t.Helper()
	if got.GetSessions() != w.sessions || got.GetTotal() != w.total {
		t.Errorf("%s: sessions %d total %d, want %d and %d", what, got.GetSessions(), got.GetTotal(), w.sessions, w.total)
	}
	if got.GetRageClicks() != w.rage || got.GetDeadClicks() != w.dead {
		t.Errorf("%s: rage clicks %d, dead clicks %d, want %d and %d", what, got.GetRageClicks(), got.GetDeadClicks(), w.rage, w.dead)
	}
	switch kind {
	case recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, recordingsv1.HeatmapKind_HEATMAP_KIND_RAGE, recordingsv1.HeatmapKind_HEATMAP_KIND_DEAD:
		if len(got.GetClicks()) != len(w.clicks) || got.GetTruncated() {
			t.Errorf("%s: %d click cells (truncated %v), want %d", what, len(got.GetClicks()), got.GetTruncated(), len(w.clicks))
		}
		for i, c := range got.GetClicks() {
			// A cell is answered at its clicks' centroid (rounded).
			k := [3]string{c.GetSelector(), fmt.Sprint(c.GetRx() / heatmap.ClickStep * heatmap.ClickStep), fmt.Sprint(c.GetRy() / heatmap.ClickStep * heatmap.ClickStep)}
			m := w.clicks[k]
			n := max(m[0], 1)
			if c.GetCount() != m[0] || !c.GetPositioned() || int64(c.GetX()) != m[1]/n || int64(c.GetY()) != m[2]/n ||
				int64(c.GetRx()) != (m[3]+n/2)/n || int64(c.GetRy()) != (m[4]+n/2)/n {
				t.Errorf("%s: cell %v = %d at (%d, %d) %d×%d %% positioned %v, want %d at (%d, %d) %d×%d %%", what, k, c.GetCount(), c.GetX(), c.GetY(), c.GetRx(), c.GetRy(),
					c.GetPositioned(), m[0], m[1]/n, m[2]/n, (m[3]+n/2)/n, (m[4]+n/2)/n)
			}
			if i > 0 && c.GetCount() > got.GetClicks()[i-1].GetCount() {
				t.Errorf("%s: click cells not ranked by count", what)
			}
		}
		if len(got.GetElements()) != len(w.elements) {
			t.Errorf("%s: %d elements, want %d", what, len(got.GetElements()), len(w.elements))
		}
		for i, e := range got.GetElements() {
			if e.GetCount() != w.elements[e.GetSelector()] || math.Abs(e.GetShare()-float64(e.GetCount())/float64(w.total)) > 1e-9 {
				t.Errorf("%s: element %q = %d (share %v), want %d of %d", what, e.GetSelector(), e.GetCount(), e.GetShare(), w.elements[e.GetSelector()], w.total)
			}
			if e.GetRageClicks() != w.rageOn[e.GetSelector()] || e.GetDeadClicks() != w.deadOn[e.GetSelector()] {
				t.Errorf("%s: element %q: %d rage and %d dead clicks, want %d and %d", what, e.GetSelector(), e.GetRageClicks(), e.GetDeadClicks(), w.rageOn[e.GetSelector()], w.deadOn[e.GetSelector()])
			}
			if i > 0 && e.GetCount() > got.GetElements()[i-1].GetCount() {
				t.Errorf("%s: elements not ranked by count", what)
			}
		}
	case recordingsv1.HeatmapKind_HEATMAP_KIND_MOVE:
		if len(got.GetCells()) != len(w.cells) {
			t.Errorf("%s: %d move cells, want %d", what, len(got.GetCells()), len(w.cells))
		}
		for _, c := range got.GetCells() {
			if n := w.cells[[2]int32{c.GetX(), c.GetY()}]; c.GetCount() != n {
				t.Errorf("%s: move cell (%d, %d) = %d, want %d", what, c.GetX(), c.GetY(), c.GetCount(), n)
			}
		}
	case recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL:
		sm := got.GetScroll()
		views := int64(len(w.depths))
		if sm.GetPageViews() != views || len(sm.GetReached()) != 101 {
			t.Fatalf("%s: scroll page views %d (%d depths), want %d", what, sm.GetPageViews(), len(sm.GetReached()), views)
		}
		if views == 0 {
			return
		}
		half := 0
		for d := 0; d <= 100; d++ {
			n := 0
			for _, p := range w.depths {
				if p >= d {
					n++
				}
			}
			if share := float64(n) / float64(views); math.Abs(sm.GetReached()[d]-share) > 1e-9 {
				t.Errorf("%s: reached[%d] = %v, want %v", what, d, sm.GetReached()[d], share)
			}
			if 2*int64(n) >= views {
				half = d
			}
		}
		if int(sm.GetHalfDepth()) != half || int64(sm.GetAverageFold()) != w.foldSum/views || int64(sm.GetAverageHeight()) != w.heightSum/views {
			t.Errorf("%s: half depth %d fold %d height %d, want %d, %d, %d", what, sm.GetHalfDepth(), sm.GetAverageFold(), sm.GetAverageHeight(), half, w.foldSum/views, w.heightSum/views)
		}
	}
}

var heatKinds = []recordingsv1.HeatmapKind{
	recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, recordingsv1.HeatmapKind_HEATMAP_KIND_MOVE, recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL,
	recordingsv1.HeatmapKind_HEATMAP_KIND_RAGE, recordingsv1.HeatmapKind_HEATMAP_KIND_DEAD,
}

// allDevices are the classes of a map of all devices; bots and "other" count
// nowhere (nor, but in the page list, an unknown class, which ingest gives
// a request without a User-Agent).
var allDevices = []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET}

func dayTime(d int32) *timestamppb.Timestamp {
	return timestamppb.New(time.UnixMilli(int64(d) * dayMs))
}

// rule is a test page rule with the model's matcher.
type rule struct {
	name  string
	match *searchv1.UrlMatch
	keys  func(string) bool
}

var heatRules = []rule{
	{"equals with a query string", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://shop.example.com/product/1?utm_source=other#top"},
		func(k string) bool { return k == "https://shop.example.com/product/1" }},
	{"prefix", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "https://shop.example.com/product/"},
		func(k string) bool { return strings.HasPrefix(k, "https://shop.example.com/product/") }},
	{"pattern", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/*/2"},
		func(k string) bool { return k == "https://shop.example.com/product/2" }},
	{"contains", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "cart"},
		func(k string) bool { return k == "https://shop.example.com/cart" }},
	{"contains compares bytes", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "CART"},
		func(k string) bool { return false }},
	{"path pattern", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/product/*"},
		func(k string) bool { return strings.HasPrefix(k, "https://shop.example.com/product/") }},
	{"path prefix", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/cart"},
		func(k string) bool { return k == "https://shop.example.com/cart" }},
	{"path equals", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/product/3/"},
		func(k string) bool { return k == "https://shop.example.com/product/3" }},
	everyPage,
}

var everyPage = rule{"pattern over every page", &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/*"},
	func(k string) bool { return true }}

func getHeat(t *testing.T, h *harness, req *recordingsv1.GetHeatmapRequest) *recordingsv1.GetHeatmapResponse {
	t.Helper()
	got, err := h.client.GetHeatmap(context.Background(), req)
	if err != nil {
		t.Fatalf("GetHeatmap %v: %v", req, err)
	}
	return got
}

// checkAll asks every kind of every rule for every device choice over the
// range and compares with the model.
func checkAll(t *testing.T, h *harness, visits []*visit, from, to int32, stage string) map[string]*recordingsv1.GetHeatmapResponse {
	t.Helper()
	answers := map[string]*recordingsv1.GetHeatmapResponse{}
	for _, r := range heatRules {
		for _, dev := range []sessionsv1.DeviceType{0, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE} {
			devices := allDevices
			if dev != 0 {
				devices = []sessionsv1.DeviceType{dev}
			}
			for _, kind := range heatKinds {
				got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: kind, Page: r.match, DeviceType: dev, StartTime: dayTime(from), EndTime: dayTime(to + 1)})
				what := fmt.Sprintf("%s: %s, %v, %v", stage, r.name, dev, kind)
				model(visits, heatQuery{site: site, match: r.keys, devices: devices, from: from, to: to, kind: kind}).check(t, what, kind, got)
				// Every class's sessions, whichever was asked, in the
				// switch's order (desktop, tablet, mobile).
				var classes []string
				for _, d := range got.GetDeviceSessions() {
					want := model(visits, heatQuery{site: site, match: r.keys, devices: []sessionsv1.DeviceType{d.GetDeviceType()}, from: from, to: to, kind: kind}).sessions
					if d.GetSessions() != want {
						t.Errorf("%s: %v sessions %d, want %d", what, d.GetDeviceType(), d.GetSessions(), want)
					}
					classes = append(classes, d.GetDeviceType().String())
				}
				if want := "DEVICE_TYPE_DESKTOP DEVICE_TYPE_TABLET DEVICE_TYPE_MOBILE"; strings.Join(classes, " ") != want {
					t.Errorf("%s: device sessions for %v, want %s", what, classes, want)
				}
				got.Snapshot = nil // compared apart
				answers[what[len(stage):]] = got
			}
		}
	}
	return answers
}

// TestHeatmapsThroughTheService: two sites, three devices, several days,
// through the real gRPC service.
func TestHeatmapsThroughTheService(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 13))
	today := int32(time.Now().UnixMilli() / dayMs)
	day0 := today - 6
	const forgotten = "v_forgetme000000000000"
	visitors := []string{"v_heatvisitor0000000001", "v_heatvisitor0000000002", forgotten, "v_heatvisitor0000000003"}
	visits := heatVisits(t, rng, site, 160, day0, 5, visitors)
	visits = append(visits, heatVisits(t, rng, siteB, 40, day0, 5, visitors)...)
	var chunks []*recordingsv1.Chunk
	for _, v := range visits {
		chunks = append(chunks, v.chunks...)
	}
	rng.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
	for i := 0; i < len(chunks); i += 50 {
		r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks[i:min(i+50, len(chunks))]})
		if err != nil {
			t.Fatal(err)
		}
		if r.Refused > 0 {
			t.Fatalf("refused: %v", r.Results)
		}
	}
	from, to := day0, day0+4
	before := checkAll(t, h, visits, from, to, "first delivery")
	var nRage, nDead, nSnap, nTwo, nBot, nOther int
	for _, v := range visits {
		nRage += btoi(v.rage != nil)
		nDead += btoi(v.dead != nil)
		nSnap += btoi(v.snapshot)
		nBot += btoi(v.device == sessionsv1.DeviceType_DEVICE_TYPE_BOT && v.site == site && (len(v.clicks) > 0 || len(v.moves) > 0))
		nOther += btoi(v.device == sessionsv1.DeviceType_DEVICE_TYPE_OTHER && v.site == site)
		nTwo += btoi(v.twoParts)
	}
	all := before[": pattern over every page, DEVICE_TYPE_UNSPECIFIED, HEATMAP_KIND_CLICK"]
	t.Logf("%d visits (%d chunks): %d with a rage burst, %d a dead click, %d a snapshot, %d in two chunks, %d bots' with clicks or moves, %d of other devices; site A's click map: %d clicks in %d cells on %d elements, %d sessions",
		len(visits), len(chunks), nRage, nDead, nSnap, nTwo, nBot, nOther, all.GetTotal(), len(all.GetClicks()), len(all.GetElements()), all.GetSessions())
	if nRage == 0 || nDead == 0 || nSnap == 0 || nTwo == 0 || nBot == 0 || nOther == 0 || all.GetTotal() == 0 {
		t.Fatal("the visits lack a case")
	}

	// A duplicate delivery counts once.
	r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks[:100]})
	if err != nil || r.Duplicates != 100 {
		t.Fatalf("re-delivery: %v %v", r, err)
	}
	if again := checkAll(t, h, visits, from, to, "after a re-delivery"); !sameAnswers(before, again) {
		t.Error("a re-delivery changed an answer")
	}

	t.Run("day range", func(t *testing.T) {
		all := everyPage
		// [day0+1 00:00, day0+3 00:00) reads days day0+1 and day0+2 only.
		got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: all.match, StartTime: dayTime(day0 + 1), EndTime: dayTime(day0 + 3)})
		model(visits, heatQuery{site: site, match: all.keys, devices: allDevices, from: day0 + 1, to: day0 + 2, kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK}).check(t, "two days", recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, got)
		if !got.GetStartTime().AsTime().Equal(dayTime(day0+1).AsTime()) || !got.GetEndTime().AsTime().Equal(dayTime(day0+3).AsTime()) {
			t.Errorf("days read [%v, %v)", got.GetStartTime().AsTime(), got.GetEndTime().AsTime())
		}
		// One millisecond into a day reads all of it; a range ending a
		// millisecond after midnight reads the next day too.
		got = getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL, Page: all.match,
			StartTime: timestamppb.New(dayTime(day0 + 2).AsTime().Add(-time.Millisecond)), EndTime: timestamppb.New(dayTime(day0 + 3).AsTime().Add(time.Millisecond))})
		model(visits, heatQuery{site: site, match: all.keys, devices: allDevices, from: day0 + 1, to: day0 + 3, kind: recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL}).check(t, "edges", recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL, got)
		if !got.GetStartTime().AsTime().Equal(dayTime(day0+1).AsTime()) || !got.GetEndTime().AsTime().Equal(dayTime(day0+4).AsTime()) {
			t.Errorf("days read [%v, %v)", got.GetStartTime().AsTime(), got.GetEndTime().AsTime())
		}
		// The default range is the 30 days up to now.
		got = getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: all.match})
		model(visits, heatQuery{site: site, match: all.keys, devices: allDevices, from: day0, to: today, kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK}).check(t, "default range", recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, got)
		if d := got.GetEndTime().AsTime().Sub(got.GetStartTime().AsTime()); d != 31*24*time.Hour {
			t.Errorf("the default range reads %v", d)
		}
	})

	t.Run("max_cells", func(t *testing.T) {
		all := everyPage
		full := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: all.match, StartTime: dayTime(from), EndTime: dayTime(to + 1)})
		cut := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: all.match, StartTime: dayTime(from), EndTime: dayTime(to + 1), MaxCells: 3})
		if len(full.Clicks) <= 3 || len(cut.Clicks) != 3 || !cut.Truncated || cut.Total != full.Total || !proto.Equal(cut.Clicks[2], full.Clicks[2]) {
			t.Errorf("max_cells 3: %d cells truncated %v total %d; uncut %d cells total %d", len(cut.Clicks), cut.Truncated, cut.Total, len(full.Clicks), full.Total)
		}
		moves := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_MOVE, Page: all.match, StartTime: dayTime(from), EndTime: dayTime(to + 1), MaxCells: 5})
		if len(moves.Cells) != 5 || !moves.Truncated || moves.Cells[4].Count < moves.Cells[len(moves.Cells)-1].Count {
			t.Errorf("move max_cells 5: %d cells truncated %v", len(moves.Cells), moves.Truncated)
		}
		if full.Pages != int32(len(heatURLs)) {
			t.Errorf("pages %d, want %d", full.Pages, len(heatURLs))
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		for _, r := range heatRules {
			for _, dev := range []sessionsv1.DeviceType{0, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET} {
				got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL, Page: r.match, DeviceType: dev})
				want := newestSnapshot(visits, func(*visit) bool { return false }, site, r.keys, dev)
				checkSnapshot(t, h, r.name, want, got.Snapshot)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		pm := pagesModel(visits, site)
		list, err := h.client.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: site})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Pages) != len(pm) {
			t.Fatalf("%d pages, want %d: %v", len(list.Pages), len(pm), list.Pages)
		}
		for i, p := range list.Pages {
			if m := pm[p.Url]; p.PageViews != m[0] || p.Clicks != m[1] {
				t.Errorf("page %s: %d views %d clicks, want %d and %d", p.Url, p.PageViews, p.Clicks, m[0], m[1])
			}
			if i > 0 && cmp.Or(cmp.Compare(list.Pages[i-1].PageViews, p.PageViews), cmp.Compare(p.Url, list.Pages[i-1].Url)) <= 0 {
				t.Errorf("pages not ranked by views, then key: %v", list.Pages)
			}
		}
		// The search finds what a Contains rule of it maps: a path's case matters, a host's does not.
		top, err := h.client.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: site, Query: "Shop.Example.com/product", PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		if none, err := h.client.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: site, Query: "PRODUCT"}); err != nil || len(none.Pages) != 0 {
			t.Errorf("PRODUCT finds %v (%v), want nothing: paths keep their case, as in a Contains rule", none.GetPages(), err)
		}
		var want []string
		for _, p := range list.Pages {
			if strings.Contains(p.Url, "product") {
				want = append(want, p.Url)
			}
		}
		if len(top.Pages) != 2 || top.Pages[0].Url != want[0] || top.Pages[1].Url != want[1] {
			t.Errorf("top 2 product pages %v, want %v", top.Pages, want[:2])
		}
	})

	t.Run("hostile", func(t *testing.T) {
		all := everyPage.match
		base := func(change func(*recordingsv1.GetHeatmapRequest)) *recordingsv1.GetHeatmapRequest {
			r := &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: all}
			change(r)
			return r
		}
		now := time.Now()
		for name, req := range map[string]*recordingsv1.GetHeatmapRequest{
			"no site": base(func(r *recordingsv1.GetHeatmapRequest) { r.SiteId = 0 }),
			"no page": base(func(r *recordingsv1.GetHeatmapRequest) { r.Page = nil }),
			"no operator": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.Page = &searchv1.UrlMatch{Value: "https://shop.example.com/"}
			}),
			"unknown op": base(func(r *recordingsv1.GetHeatmapRequest) { r.Page = &searchv1.UrlMatch{Operator: 9, Value: "x"} }),
			"empty value": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.Page = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX}
			}),
			"17 stars": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.Page = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: strings.Repeat("*a", 17)}
			}),
			"huge value": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.Page = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: strings.Repeat("a", 4096)}
			}),
			"no kind":        base(func(r *recordingsv1.GetHeatmapRequest) { r.Kind = 0 }),
			"unknown kind":   base(func(r *recordingsv1.GetHeatmapRequest) { r.Kind = 77 }),
			"bot device":     base(func(r *recordingsv1.GetHeatmapRequest) { r.DeviceType = sessionsv1.DeviceType_DEVICE_TYPE_BOT }),
			"unknown device": base(func(r *recordingsv1.GetHeatmapRequest) { r.DeviceType = 99 }),
			"401 days": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.StartTime, r.EndTime = timestamppb.New(now.Add(-401*24*time.Hour)), timestamppb.New(now)
			}),
			"start after end": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.StartTime, r.EndTime = timestamppb.New(now), timestamppb.New(now.Add(-time.Hour))
			}),
			"empty range": base(func(r *recordingsv1.GetHeatmapRequest) {
				r.StartTime, r.EndTime = timestamppb.New(now), timestamppb.New(now)
			}),
			"start only, far": base(func(r *recordingsv1.GetHeatmapRequest) { r.StartTime = timestamppb.New(now.Add(-500 * 24 * time.Hour)) }),
			"bad timestamp":   base(func(r *recordingsv1.GetHeatmapRequest) { r.EndTime = &timestamppb.Timestamp{Seconds: math.MaxInt64} }),
			"negative cells":  base(func(r *recordingsv1.GetHeatmapRequest) { r.MaxCells = -1 }),
			"too many cells":  base(func(r *recordingsv1.GetHeatmapRequest) { r.MaxCells = 100_001 }),
		} {
			_, err := h.client.GetHeatmap(ctx, req)
			if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
				t.Errorf("%s: %v, want InvalidArgument with a message", name, err)
			}
		}
		// 400 days is allowed.
		if _, err := h.client.GetHeatmap(ctx, base(func(r *recordingsv1.GetHeatmapRequest) {
			r.StartTime, r.EndTime = timestamppb.New(now.Add(-400*24*time.Hour)), timestamppb.New(now)
		})); err != nil {
			t.Errorf("400 days: %v", err)
		}
		for name, req := range map[string]*recordingsv1.ListHeatmapPagesRequest{
			"no site":       {},
			"huge query":    {SiteId: site, Query: strings.Repeat("q", 2049)},
			"negative size": {SiteId: site, PageSize: -1},
		} {
			_, err := h.client.ListHeatmapPages(ctx, req)
			if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
				t.Errorf("pages %s: %v, want InvalidArgument with a message", name, err)
			}
		}
		// Another organisation's site is NotFound, whatever else is asked.
		foreign := h.authz.deny
		if _, err := h.client.GetHeatmap(ctx, base(func(r *recordingsv1.GetHeatmapRequest) { r.SiteId = foreign })); status.Code(err) != codes.NotFound {
			t.Errorf("GetHeatmap of a foreign site: %v", err)
		}
		if _, err := h.client.GetHeatmap(ctx, base(func(r *recordingsv1.GetHeatmapRequest) { r.SiteId, r.MaxCells = foreign, -1 })); status.Code(err) != codes.NotFound {
			t.Errorf("GetHeatmap of a foreign site with a bad request: %v", err)
		}
		if _, err := h.client.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: foreign}); status.Code(err) != codes.NotFound {
			t.Errorf("ListHeatmapPages of a foreign site: %v", err)
		}
	})

	// Rebuilding recomputes the same aggregates.
	rebuild(t, h, site, nil)
	if again := checkAll(t, h, visits, from, to, "after a rebuild"); !sameAnswers(before, again) {
		t.Error("a rebuild changed an answer")
	}

	// Deleting a visitor removes their clicks, moves and scrolls (and a
	// snapshot of theirs is no longer offered).
	if _, err := h.client.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: site, VisitorId: forgotten}); err != nil {
		t.Fatal(err)
	}
	deleted := func(v *visit) bool { return v.site == site && v.visitor == forgotten }
	kept := slices.DeleteFunc(slices.Clone(visits), deleted)
	if len(kept) == len(visits) {
		t.Fatal("the deleted visitor had no visits")
	}
	after := checkAll(t, h, kept, from, to, "after DeleteVisitor")
	if sameAnswers(before, after) {
		t.Error("deleting a visitor changed nothing")
	}
	for _, r := range heatRules {
		got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: r.match})
		checkSnapshot(t, h, "after DeleteVisitor: "+r.name, newestSnapshot(visits, deleted, site, r.keys, 0), got.Snapshot)
	}
	// Site B was never touched by any of it.
	for _, kind := range heatKinds {
		got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: siteB, Kind: kind, Page: everyPage.match, StartTime: dayTime(from), EndTime: dayTime(to + 1)})
		model(visits, heatQuery{site: siteB, match: everyPage.keys, devices: allDevices, from: from, to: to, kind: kind}).check(t, "site B", kind, got)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sameAnswers(a, b map[string]*recordingsv1.GetHeatmapResponse) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !proto.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// newestSnapshot is the visit whose snapshot a map over the rule's pages
// is drawn on, as the store keeps them: for the first device class
// (desktop, tablet, mobile when none is asked for) and the
// matched pages from the most viewed (all devices, all time; ties by key),
// the newest snapshot of the page on the class still stored among the
// newest of each store.SnapshotSlot — the page passed over when every one
// of those was deleted since (gone).
func newestSnapshot(visits []*visit, gone func(*visit) bool, siteID int64, match func(string) bool, dev sessionsv1.DeviceType) *visit {
	order := []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_TABLET, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE}
	if dev != 0 {
		order = []sessionsv1.DeviceType{dev}
	}
	views := pagesModel(slices.DeleteFunc(slices.Clone(visits), gone), siteID)
	var pages []string
	for k := range views {
		if match(k) {
			pages = append(pages, k)
		}
	}
	slices.SortFunc(pages, func(a, b string) int { return cmp.Or(cmp.Compare(views[b][0], views[a][0]), strings.Compare(a, b)) })
	for _, d := range order {
		for _, p := range pages {
			// The newest of each slot (store.SnapshotSlot) is kept; the
			// newest of those still stored answers (ties: the lower slot).
			var slots [store.SnapshotSlots]*visit
			for _, v := range visits {
				if v.site != siteID || !v.snapshot || v.device != d || v.key() != p {
					continue
				}
				if n := &slots[store.SnapshotSlot(v.session)]; *n == nil || v.serverMs > (*n).serverMs {
					*n = v
				}
			}
			var newest *visit
			for _, v := range slots {
				if v != nil && !gone(v) && (newest == nil || v.serverMs > newest.serverMs) {
					newest = v
				}
			}
			if newest != nil {
				return newest
			}
		}
	}
	return nil
}

// TestHeatmapSnapshotOfTheMostViewedPage: a rule matching several pages
// draws over the most viewed of them that has a snapshot on the device
// (its newest snapshot), not over whichever page was snapshotted last;
// equally viewed pages go by key, so the choice does not change between
// calls.
func TestHeatmapSnapshotOfTheMostViewedPage(t *testing.T) {
	h := start(t, testConfig(t), t.TempDir(), "")
	ctx := context.Background()
	day := int32(time.Now().UnixMilli()/dayMs) - 1
	desktop, mobile := sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE
	n := 0
	add := func(page int, dev sessionsv1.DeviceType, snapshot bool) *visit {
		n++
		v := &visit{site: site, session: fmt.Sprintf("s_most%04d", n), visitor: "v_heatvisitor0000000001", page: page, device: dev, day: day,
			serverMs: int64(day)*dayMs + int64(n)*60_000, docH: 2000, vh: 800, snapshot: snapshot}
		v.build(t)
		if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: v.chunks}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// product/1: three views, its snapshot the oldest; product/2: one view, snapshotted last.
	popular := add(0, desktop, true)
	newer := add(0, desktop, true)
	add(0, mobile, false)
	add(1, desktop, true)
	// product/3 and the cart: one view each, mobile snapshots only (a tie, by key).
	add(3, mobile, true)
	add(2, mobile, true)
	pattern := &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/*"}
	ask := func(dev sessionsv1.DeviceType) *recordingsv1.HeatmapSnapshot {
		return getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: pattern, DeviceType: dev}).Snapshot
	}
	if got := ask(desktop); got.GetSessionId() != newer.session {
		t.Errorf("desktop: snapshot of %s (%s), want %s's (the newest of the most viewed page, %s; first %s)", got.GetSessionId(), got.GetUrl(), newer.session, newer.key(), popular.session)
	}
	// Mobile: product/1 has no mobile snapshot; product/3 and the cart have one view each: the cart's key sorts first.
	for range 3 {
		if got := ask(mobile); got.GetUrl() != heatURLs[3][0] {
			t.Errorf("mobile: snapshot of %s, want the cart's (a tie of views goes by key)", got.GetUrl())
		}
	}
	// An exact URL counts as a matched page only when it was recorded.
	for value, want := range map[string]int32{"https://shop.example.com/product/1": 1, "https://SHOP.example.com/product/1/?x=1": 1, "https://shop.example.com/product/9": 0, "https://shop.example.com/product": 0} {
		got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: value}})
		if got.Pages != want || (want == 0 && got.Snapshot != nil) {
			t.Errorf("exact %s: %d pages matched (snapshot %v), want %d", value, got.Pages, got.Snapshot, want)
		}
	}
}

// TestHeatmapSnapshotOfASession: GetHeatmapSnapshot answers the session's
// first page view that the rule matches and that holds a full snapshot
// (one that matches without a snapshot is passed over), with its offset
// from the session's start; NotFound when no page view qualifies or the
// session is gone; InvalidArgument for what cannot be a request.
func TestHeatmapSnapshotOfASession(t *testing.T) {
	h := start(t, testConfig(t), t.TempDir(), "")
	ctx := context.Background()
	day := int32(time.Now().UnixMilli()/dayMs) - 1
	const session = "s_snapchoice00000001"
	var views []*visit
	seq := int64(0)
	// The cart (snapshot), product/1 (none), product/2 (snapshot), a minute apart.
	for i, pg := range []struct {
		page int
		snap bool
	}{{3, true}, {0, false}, {1, true}} {
		v := &visit{site: site, session: session, visitor: "v_heatvisitor0000000001", page: pg.page, device: sessionsv1.DeviceType_DEVICE_TYPE_TABLET, day: day,
			serverMs: int64(day)*dayMs + int64(i)*60_000, docH: 2000, vh: 700, snapshot: pg.snap, clicks: []heatClick{{sel: "body>a#buy", cx: 10, cy: 10, rx: 50, ry: 50}}}
		v.build(t)
		for _, c := range v.chunks {
			c.PageViewId, c.Seq = fmt.Sprintf("p_snapchoice%08d", i), seq
			seq++
		}
		if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: v.chunks}); err != nil {
			t.Fatal(err)
		}
		views = append(views, v)
	}
	sess, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: session})
	if err != nil {
		t.Fatal(err)
	}
	startMs := sess.GetSession().GetStartTime().AsTime().UnixMilli()
	ask := func(sessionID string, page *searchv1.UrlMatch) (*recordingsv1.GetHeatmapSnapshotResponse, error) {
		return h.client.GetHeatmapSnapshot(ctx, &recordingsv1.GetHeatmapSnapshotRequest{SiteId: site, SessionId: sessionID, Page: page})
	}
	rule := func(op searchv1.UrlMatch_Operator, v string) *searchv1.UrlMatch {
		return &searchv1.UrlMatch{Operator: op, Value: v}
	}
	for _, c := range []struct {
		page *searchv1.UrlMatch
		want int // index in views
	}{
		{rule(searchv1.UrlMatch_OPERATOR_PATTERN, "https://shop.example.com/product/*"), 2},
		{rule(searchv1.UrlMatch_OPERATOR_PATTERN, "/product/*"), 2},
		{rule(searchv1.UrlMatch_OPERATOR_EQUALS, "https://SHOP.example.com/cart/?from=mail"), 0},
		{rule(searchv1.UrlMatch_OPERATOR_CONTAINS, "example.com"), 0},
		{rule(searchv1.UrlMatch_OPERATOR_PREFIX, "https://shop.example.com/product/2"), 2},
	} {
		r, err := ask(session, c.page)
		if err != nil {
			t.Errorf("%v: %v", c.page, err)
			continue
		}
		v := views[c.want]
		snapMs := v.serverMs + 12 // sl:view at +1, Meta at +2, the snapshot at +12
		got := r.GetSnapshot()
		if got.GetPageViewId() != fmt.Sprintf("p_snapchoice%08d", c.want) || got.GetUrl() != heatURLs[v.page][0] || got.GetSessionId() != session ||
			got.GetTime().AsTime().UnixMilli() != snapMs || got.GetOffset().AsDuration() != time.Duration(snapMs-startMs)*time.Millisecond ||
			got.GetViewportWidth() != 1280 || got.GetViewportHeight() != 700 || r.GetDeviceType() != sessionsv1.DeviceType_DEVICE_TYPE_TABLET {
			t.Errorf("%v: %v (device %v), want page view %d (%s) at %d ms, %d ms into the session, 1280×700, tablet", c.page, got, r.GetDeviceType(), c.want, heatURLs[v.page][0], snapMs, snapMs-startMs)
		}
	}
	for what, c := range map[string]struct {
		session string
		page    *searchv1.UrlMatch
		code    codes.Code
	}{
		"a matching page view without a snapshot": {session, rule(searchv1.UrlMatch_OPERATOR_EQUALS, "https://shop.example.com/product/1"), codes.NotFound},
		"no matching page view":                   {session, rule(searchv1.UrlMatch_OPERATOR_PREFIX, "https://shop.example.com/blog"), codes.NotFound},
		"no such session":                         {"s_snapchoice99999999", rule(searchv1.UrlMatch_OPERATOR_CONTAINS, "shop"), codes.NotFound},
		"a session id that cannot be one":         {"s_snap choice/..", rule(searchv1.UrlMatch_OPERATOR_CONTAINS, "shop"), codes.InvalidArgument},
		"no page":                                 {session, nil, codes.InvalidArgument},
		"no operator":                             {session, &searchv1.UrlMatch{Value: "shop"}, codes.InvalidArgument},
		"a rule too long":                         {session, rule(searchv1.UrlMatch_OPERATOR_CONTAINS, strings.Repeat("a", 5000)), codes.InvalidArgument},
		"an empty rule":                           {session, rule(searchv1.UrlMatch_OPERATOR_EQUALS, ""), codes.InvalidArgument},
	} {
		if _, err := ask(c.session, c.page); status.Code(err) != c.code {
			t.Errorf("%s: %v, want %v", what, err, c.code)
		}
	}
	if _, err := h.client.GetHeatmapSnapshot(ctx, &recordingsv1.GetHeatmapSnapshotRequest{SiteId: 0, SessionId: session, Page: rule(searchv1.UrlMatch_OPERATOR_CONTAINS, "shop")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("site 0: %v, want InvalidArgument", err)
	}
	// A single-page app's route change: the route is rebuilt from its page
	// view's snapshot replayed to the change, so it is answered at the
	// change; a route of a page view without a snapshot is not.
	const spa = "s_snaproute000000001"
	spaMs := int64(day)*dayMs + 10*60_000
	route := func(pv string, seq int64, evs []ev) *recordingsv1.Chunk {
		return &recordingsv1.Chunk{
			SiteId: site, OrganizationId: 4_000_000_001, SessionId: spa, VisitorId: "v_heatvisitor0000000002", PageViewId: pv, Seq: seq,
			Url: "https://shop.example.com/cart", Events: heatEvents(t, evs), ServerTime: timestamppb.New(time.UnixMilli(spaMs + seq*5000)),
			Viewport: &recordingsv1.Viewport{Width: 1024, Height: 700}, Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}, RetentionDays: 60,
		}
	}
	nav := func(ms int64, to, from string) ev {
		return custom(ms, "sl:navigation", ev{"url": "https://shop.example.com" + to, "referrer": "https://shop.example.com" + from})
	}
	view := func(ms int64, doc int) ev {
		return custom(ms, "sl:view", ev{"x": 0, "y": 0, "w": heatDocW, "h": 2000, "v": 700, "d": doc})
	}
	spaChunks := []*recordingsv1.Chunk{
		route("p_snaproute000000001", 0, []ev{view(spaMs, -1),
			{"type": 4, "timestamp": spaMs + 1, "data": ev{"href": "https://shop.example.com/cart", "width": 1024, "height": 700}},
			{"type": 2, "timestamp": spaMs + 2, "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": []any{}}, "initialOffset": ev{"top": 0, "left": 0}}}}),
		route("p_snaproute000000001", 1, []ev{view(spaMs+5000, 1), nav(spaMs+6000, "/product/7?size=l", "/cart"), nav(spaMs+8000, "/cart", "/product/7?size=l")}),
		// A second page view whose first chunk (with its snapshot) never came.
		route("p_snaproute000000002", 3, []ev{view(spaMs+15_000, 1), nav(spaMs+16_000, "/product/8", "/cart")}),
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: spaChunks}); err != nil {
		t.Fatal(err)
	}
	spaSess, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: spa})
	if err != nil {
		t.Fatal(err)
	}
	spaStart := spaSess.GetSession().GetStartTime().AsTime().UnixMilli()
	for _, c := range []struct {
		rule  string
		pv, u string
		at    int64
	}{
		{"https://shop.example.com/product/7", "p_snaproute000000001", "https://shop.example.com/product/7?size=l", spaMs + 6000},
		{"https://shop.example.com/cart", "p_snaproute000000001", "https://shop.example.com/cart", spaMs + 2}, // the load, not the way back
	} {
		r, err := ask(spa, rule(searchv1.UrlMatch_OPERATOR_EQUALS, c.rule))
		got := r.GetSnapshot()
		if err != nil || got.GetPageViewId() != c.pv || got.GetUrl() != c.u || got.GetTime().AsTime().UnixMilli() != c.at ||
			got.GetOffset().AsDuration() != time.Duration(c.at-spaStart)*time.Millisecond || got.GetViewportWidth() != 1024 {
			t.Errorf("route %s: %v %v, want page view %s, %s at %d ms (%d into the session)", c.rule, got, err, c.pv, c.u, c.at, c.at-spaStart)
		}
	}
	if _, err := ask(spa, rule(searchv1.UrlMatch_OPERATOR_EQUALS, "https://shop.example.com/product/8")); status.Code(err) != codes.NotFound {
		t.Errorf("a route of a page view without a snapshot: %v, want NotFound", err)
	}
	// GetHeatmap of the route points at the same place.
	spaMap, err := h.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK,
		Page: rule(searchv1.UrlMatch_OPERATOR_EQUALS, "https://shop.example.com/product/7"), DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP})
	if sn := spaMap.GetSnapshot(); err != nil || sn.GetSessionId() != spa || sn.GetTime().AsTime().UnixMilli() != spaMs+6000 || sn.GetUrl() != "https://shop.example.com/product/7?size=l" {
		t.Errorf("GetHeatmap of the route: snapshot %v, %v", sn, err)
	}
	// Deleted, the session offers no snapshot.
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: session}); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(session, rule(searchv1.UrlMatch_OPERATOR_CONTAINS, "shop")); status.Code(err) != codes.NotFound {
		t.Errorf("after its deletion: %v, want NotFound", err)
	}
}

func checkSnapshot(t *testing.T, h *harness, what string, want *visit, got *recordingsv1.HeatmapSnapshot) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s: snapshot %v, want none", what, got)
		}
		return
	}
	if got == nil {
		t.Errorf("%s: no snapshot, want %s's", what, want.session)
		return
	}
	// The snapshot is the third event: sl:view at +1, Meta at +2, it at +12.
	snapMs := want.serverMs + 12
	sess, err := h.client.GetSession(context.Background(), &recordingsv1.GetSessionRequest{SiteId: site, SessionId: want.session})
	if err != nil {
		t.Fatal(err)
	}
	wantOffset := time.Duration(snapMs-sess.Session.GetStartTime().AsTime().UnixMilli()) * time.Millisecond
	if got.SessionId != want.session || got.PageViewId != "p_"+want.session[2:] || got.Url != heatURLs[want.page][0] ||
		got.Offset.AsDuration() != wantOffset || got.Time.AsTime().UnixMilli() != snapMs || got.ViewportHeight != int32(want.vh) || got.ViewportWidth != 1280 {
		t.Errorf("%s: snapshot %v, want session %s at %v (%d ms) of %s, viewport 1280×%d", what, got, want.session, wantOffset, snapMs, heatURLs[want.page][0], want.vh)
	}
}

// rebuild runs RebuildHeatmaps to the end and checks its progress.
func rebuild(t *testing.T, h *harness, siteID int64, since *timestamppb.Timestamp) {
	t.Helper()
	stream, err := h.client.RebuildHeatmaps(context.Background(), &recordingsv1.RebuildHeatmapsRequest{SiteId: siteID, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var last *recordingsv1.RebuildHeatmapsResponse
	for _, m := range recvAll(t, stream) {
		if last.GetFinished() {
			t.Fatal("a message after the finished one")
		}
		if m.SessionsDone > m.SessionsTotal {
			t.Fatalf("progress %d of %d", m.SessionsDone, m.SessionsTotal)
		}
		last = m
	}
	if !last.GetFinished() || last.SessionsDone != last.SessionsTotal || last.SessionsTotal == 0 {
		t.Fatalf("last progress %v", last)
	}
}

// TestRebuildHeatmapsInvalid: the internal RPC checks its request.
func TestRebuildHeatmapsInvalid(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	for name, req := range map[string]*recordingsv1.RebuildHeatmapsRequest{
		"no site":       {},
		"negative site": {SiteId: -4},
		"bad since":     {SiteId: site, Since: &timestamppb.Timestamp{Seconds: math.MaxInt64}},
		"before 1970":   {SiteId: site, Since: timestamppb.New(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))},
	} {
		stream, err := h.client.RebuildHeatmaps(context.Background(), req)
		if err == nil {
			_, err = stream.Recv()
		}
		if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// A site with nothing recorded rebuilds to nothing, and says it finished.
	stream, err := h.client.RebuildHeatmaps(context.Background(), &recordingsv1.RebuildHeatmapsRequest{SiteId: site, Since: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var last *recordingsv1.RebuildHeatmapsResponse
	if msgs := recvAll(t, stream); len(msgs) > 0 {
		last = msgs[len(msgs)-1]
	}
	if !last.GetFinished() || last.SessionsTotal != 0 {
		t.Fatalf("empty rebuild: last message %v", last)
	}
}

// TestFitAnswer: an answer's cells are cut, the least counted first, to fit
// the byte budget, and the cut is said.
func TestFitAnswer(t *testing.T) {
	mk := func() *recordingsv1.GetHeatmapResponse {
		out := &recordingsv1.GetHeatmapResponse{Total: 1000}
		for i := range 100 {
			out.Clicks = append(out.Clicks, &recordingsv1.HeatmapClick{Selector: strings.Repeat("div>", 50), Rx: 50, Ry: 50, Count: int64(100 - i), X: 10, Y: 10, Positioned: true})
			out.Cells = append(out.Cells, &recordingsv1.HeatmapCell{X: int32(i), Y: 8, Count: int64(100 - i)})
		}
		return out
	}
	whole := mk()
	fitAnswer(whole, 1<<20)
	if len(whole.Clicks) != 100 || len(whole.Cells) != 100 || whole.Truncated {
		t.Fatalf("an answer within the budget was cut: %d clicks %d cells", len(whole.Clicks), len(whole.Cells))
	}
	for _, budget := range []int{0, 1000, 12_000, 21_000} {
		out := mk()
		fitAnswer(out, budget)
		size := proto.Size(&recordingsv1.GetHeatmapResponse{Clicks: out.Clicks, Cells: out.Cells})
		if size > budget || !out.Truncated || len(out.Clicks) == 100 {
			t.Errorf("budget %d: %d bytes of cells (%d clicks, %d cells), truncated %v", budget, size, len(out.Clicks), len(out.Cells), out.Truncated)
		}
		// What is kept is the most counted, and as much as fits.
		if len(out.Clicks) > 0 && out.Clicks[len(out.Clicks)-1].Count != int64(101-len(out.Clicks)) {
			t.Errorf("budget %d: kept clicks are not the most counted", budget)
		}
		if next := proto.Size(mk().Clicks[0]) + 3; size+next <= budget {
			t.Errorf("budget %d: %d bytes used, room for more", budget, size)
		}
	}
}

// TestHeatmapsTurnedOff: with recordings.heatmaps=false the heatmap RPCs
// answer FailedPrecondition (after authorization) and appends store no
// heat data: turned on again, the chunks appended meanwhile count nothing,
// not even after a rebuild (which recounts stored stats), while chunks
// appended since count as usual.
func TestHeatmapsTurnedOff(t *testing.T) {
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	dir := t.TempDir()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	today := int32(time.Now().UnixMilli() / dayMs)
	day0 := today - 6
	visitors := []string{"v_heatvisitor0000000001", "v_heatvisitor0000000002"}
	appendVisits := func(h *harness, visits []*visit) {
		t.Helper()
		var chunks []*recordingsv1.Chunk
		for _, v := range visits {
			chunks = append(chunks, v.chunks...)
		}
		r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks})
		if err != nil || int(r.Stored) != len(chunks) {
			t.Fatalf("AppendChunks: %v %v", r, err)
		}
	}
	off := heatVisits(t, rng, site, 40, day0, 5, visitors)
	t.Run("off", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Heatmaps = false
		h := start(t, cfg, dir, searchAddr)
		appendVisits(h, off)
		want := func(what string, err error) {
			t.Helper()
			if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || st.Message() != "heatmaps are turned off on this instance" {
				t.Errorf("%s: %v, want FailedPrecondition", what, err)
			}
		}
		_, err := h.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: everyPage.match})
		want("GetHeatmap", err)
		_, err = h.client.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: site})
		want("ListHeatmapPages", err)
		_, err = h.client.GetHeatmapSnapshot(ctx, &recordingsv1.GetHeatmapSnapshotRequest{SiteId: site, SessionId: "s_anysession00001", Page: everyPage.match})
		want("GetHeatmapSnapshot", err)
		stream, err := h.client.RebuildHeatmaps(ctx, &recordingsv1.RebuildHeatmapsRequest{SiteId: site})
		if err == nil {
			_, err = stream.Recv()
		}
		want("RebuildHeatmaps", err)
		// Another organisation's site is still NotFound, whatever the switch.
		_, err = h.client.GetHeatmap(ctx, &recordingsv1.GetHeatmapRequest{SiteId: h.authz.deny, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK, Page: everyPage.match})
		if status.Code(err) != codes.NotFound {
			t.Errorf("GetHeatmap of a foreign site: %v, want NotFound", err)
		}
	})
	if t.Failed() {
		return
	}
	h := start(t, testConfig(t), dir, searchAddr)
	for _, kind := range heatKinds {
		got := getHeat(t, h, &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: kind, Page: everyPage.match, StartTime: dayTime(day0), EndTime: dayTime(today + 1)})
		if got.GetTotal() != 0 || got.GetSessions() != 0 || len(got.GetCells())+len(got.GetClicks()) != 0 || got.GetScroll().GetPageViews() != 0 || got.GetSnapshot() != nil {
			t.Fatalf("%v: chunks appended while heatmaps were off counted: %v", kind, got)
		}
	}
	// Sessions of their own (the generator numbers them from 0 again).
	on := heatVisits(t, rng, site, 40, day0, 5, visitors)
	for _, v := range on {
		v.session = strings.Replace(v.session, "s_heat", "s_heaton", 1)
		for _, c := range v.chunks {
			c.SessionId = v.session
		}
	}
	appendVisits(h, on)
	before := checkAll(t, h, on, day0, day0+4, "on again")
	rebuild(t, h, site, nil)
	if again := checkAll(t, h, on, day0, day0+4, "rebuilt"); !sameAnswers(before, again) {
		t.Error("the rebuild changed an answer")
	}
}
