package summary

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const t0 = int64(1763890000000)

type ev = map[string]any

func meta(t int64, href string) ev {
	return ev{"type": 4, "timestamp": t, "data": ev{"href": href, "width": 1280, "height": 720}}
}
func full(t int64) ev {
	return ev{"type": 2, "timestamp": t, "data": ev{"node": ev{"type": 0, "childNodes": []any{}}, "initialOffset": ev{"top": 0, "left": 0}}}
}
func mutation(t int64) ev {
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 0, "adds": []any{ev{"parentId": 1, "node": ev{"type": 3, "textContent": "x"}}}, "removes": []any{}, "texts": []any{}, "attributes": []any{}}}
}
func move(t int64) ev {
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 1, "positions": []any{ev{"x": 10, "y": 10, "id": 5, "timeOffset": 0}}}}
}
func click(t int64, x, y int) ev {
	return ev{"type": 3, "timestamp": t, "data": ev{"source": 2, "type": 2, "id": 7, "x": x, "y": y}}
}
func custom(t int64, tag string, payload any) ev {
	return ev{"type": 5, "timestamp": t, "data": ev{"tag": tag, "payload": payload}}
}

func chunk(t *testing.T, seq int64, pv, url string, events ...ev) *recordingsv1.Chunk {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingsv1.Chunk{
		SiteId: 3_000_000_001, OrganizationId: 4_000_000_001, SessionId: "s_0123456789abcdefghijkl",
		VisitorId: "v_0123456789abcdefghijkl", PageViewId: pv, Seq: seq, Url: url,
		Referrer: "https://www.Google.com/search?q=x", Events: b, EventCount: int32(len(events)),
		ServerTime: timestamppb.New(time.UnixMilli(t0 + seq*1000)),
		Viewport:   &recordingsv1.Viewport{Width: 1280, Height: 720},
		Client:     &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, Browser: "Chrome", Os: "Linux", Country: "DE"},
	}
}

// scripted is a two-page session: one good click, a rage click (three
// clicks, all answered by a mutation), a dead click, an error, an identify,
// a custom event, an SPA navigation and a click on the second page.
func scripted(t *testing.T) []ChunkStats {
	const entry = "https://shop.example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=bf"
	chunks := []*recordingsv1.Chunk{
		chunk(t, 0, "p_aaaaaaaaaaaaaaaaaaaaaa", entry,
			meta(t0, entry), full(t0+10), move(t0+1000), click(t0+2000, 100, 100), mutation(t0+2300)),
		chunk(t, 1, "p_aaaaaaaaaaaaaaaaaaaaaa", entry,
			click(t0+5000, 200, 200), click(t0+5200, 205, 203), click(t0+5400, 210, 198), mutation(t0+5500),
			custom(t0+6000, "sl:error", ev{"message": "boom", "source": "exception"}),
			custom(t0+6100, "sl:identify", ev{"userId": "u-42", "attributes": ev{"plan": "pro", "seats": 5}})),
		chunk(t, 2, "p_aaaaaaaaaaaaaaaaaaaaaa", entry,
			click(t0+8000, 500, 500), custom(t0+9000, "sl:event", ev{"name": "signup", "properties": ev{"a": 1}}), move(t0+10000)),
		chunk(t, 3, "p_aaaaaaaaaaaaaaaaaaaaaa", entry,
			custom(t0+12000, "sl:navigation", ev{"url": "https://shop.example.com/checkout", "referrer": ""}), mutation(t0+12050),
			click(t0+13000, 50, 60), mutation(t0+13100), move(t0+20000)),
	}
	var out []ChunkStats
	for _, c := range chunks {
		st, err := Extract(c, 100, t0+86400000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

func TestScriptedSession(t *testing.T) {
	sum := Fold(scripted(t)).Summary(3_000_000_001, "s_0123456789abcdefghijkl")
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("clicks", sum.ClickCount, int32(6))
	check("rage", sum.RageClickCount, int32(1))
	check("dead", sum.DeadClickCount, int32(1))
	check("errors", sum.ErrorCount, int32(1))
	check("pages", sum.PageCount, int32(2))
	check("entry", sum.EntryUrl, "https://shop.example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=bf")
	check("exit", sum.ExitUrl, "https://shop.example.com/checkout")
	check("page2 referrer", sum.Pages[1].Referrer, sum.EntryUrl)
	check("page1 duration", sum.Pages[0].Duration.AsDuration(), 12*time.Second)
	check("page2 duration", sum.Pages[1].Duration.AsDuration(), 8*time.Second)
	check("utm_source", sum.UtmSource, "news")
	check("utm_medium", sum.UtmMedium, "email")
	check("utm_campaign", sum.UtmCampaign, "bf")
	check("referrer domain", sum.ReferrerDomain, "google.com")
	check("user", sum.UserId, "u-42")
	check("attrs", len(sum.UserAttributes), 2)
	check("attr plan", sum.UserAttributes[0].Key+"="+sum.UserAttributes[0].Value, "plan=pro")
	check("attr seats", sum.UserAttributes[1].Key+"="+sum.UserAttributes[1].Value, "seats=5")
	check("custom", len(sum.CustomEvents), 1)
	check("custom[0]", sum.CustomEvents[0], "signup")
	check("start", sum.StartTime.AsTime().UnixMilli(), t0)
	check("end", sum.EndTime.AsTime().UnixMilli(), t0+20000)
	check("duration", sum.Duration.AsDuration(), 20*time.Second)
	// Activity: 1000..7000 (move, click, clicks through 5400+5s=10400),
	// 8000..15000, 13000..18000 merged with it → 1000..18000; the move at
	// 20000 is the last event, its span is clipped there.
	check("active", sum.ActiveDuration.AsDuration(), 17*time.Second)
	check("country", sum.Client.GetCountry(), "DE")
	check("browser", sum.Client.GetBrowser(), "Chrome")
	check("viewport", sum.ViewportWidth*10000+sum.ViewportHeight, int32(1280*10000+720))
	check("chunks", sum.ChunkCount, int32(4))
	check("events", sum.EventCount, int64(19))
	check("stored", sum.StoredBytes, int64(400))
	check("visitor", sum.VisitorId, "v_0123456789abcdefghijkl")
}

func TestFoldIsOrderIndependentAndIncremental(t *testing.T) {
	stats := scripted(t)
	want := Fold(stats).Summary(1, "s_x")
	// Incremental in seq order, through the stored encoding, equals Fold.
	st := NewState()
	for i := range stats {
		b, err := stats[i].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c, err := UnmarshalStats(b)
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(&c)
		enc, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if st, err = UnmarshalState(enc); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Summary(1, "s_x"); !proto.Equal(got, want) {
		t.Fatalf("incremental fold differs:\n got %v\nwant %v", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]ChunkStats(nil), stats...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Fold(shuffled).Summary(1, "s_x"); !proto.Equal(got, want) {
			t.Fatalf("fold of %v differs", shuffled)
		}
	}
}

// Two tabs of one session can send the same seq: the fold orders them by
// page view id, so it does not depend on which arrives first, and both
// count.
func TestFoldTwoTabsSameSeq(t *testing.T) {
	const u = "https://shop.example.com/"
	const pvA, pvB = "p_aaaaaaaaaaaaaaaaaaaaaa", "p_bbbbbbbbbbbbbbbbbbbbbb"
	ex := func(c *recordingsv1.Chunk) ChunkStats {
		st, err := Extract(c, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	stats := []ChunkStats{
		ex(chunk(t, 0, pvA, u, meta(t0, u), full(t0+1), click(t0+100, 1, 1), mutation(t0+200))),
		ex(chunk(t, 1, pvB, u+"b", meta(t0+50, u+"b"), full(t0+51), click(t0+300, 9, 9), mutation(t0+400))),
		ex(chunk(t, 1, pvA, u, click(t0+500, 1, 1), mutation(t0+600))),
		ex(chunk(t, 2, pvA, u, move(t0+900))),
	}
	want := Fold(stats).Summary(1, "s_x")
	if want.ChunkCount != 4 || want.ClickCount != 3 || want.PageCount != 2 {
		t.Fatalf("two tabs: chunks %d clicks %d pages %d, want 4, 3, 2", want.ChunkCount, want.ClickCount, want.PageCount)
	}
	for _, perm := range [][]int{{3, 2, 1, 0}, {2, 1, 0, 3}, {1, 0, 3, 2}, {0, 2, 1, 3}} {
		var in []ChunkStats
		for _, i := range perm {
			in = append(in, stats[i])
		}
		if got := Fold(in).Summary(1, "s_x"); !proto.Equal(got, want) {
			t.Fatalf("fold of order %v differs:\n got %v\nwant %v", perm, got, want)
		}
	}
	// Successive Apply in key order is the fold.
	st := NewState()
	for _, i := range []int{0, 2, 1, 3} { // pvA < pvB at seq 1
		st.Apply(&stats[i])
	}
	if got := st.Summary(1, "s_x"); !proto.Equal(got, want) {
		t.Fatalf("Apply in key order differs from Fold")
	}
	if CompareKey(1, pvA, 1, pvB) >= 0 || CompareKey(1, pvB, 2, pvA) >= 0 || CompareKey(3, pvA, 3, pvA) != 0 {
		t.Fatal("CompareKey does not order by seq, then page view id")
	}
}

func TestDeadClickAcrossChunks(t *testing.T) {
	pv := "p_aaaaaaaaaaaaaaaaaaaaaa"
	u := "https://a.example/"
	ex := func(c *recordingsv1.Chunk) ChunkStats {
		st, err := Extract(c, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// A click at the end of chunk 0, answered early in chunk 1: not dead.
	answered := Fold([]ChunkStats{
		ex(chunk(t, 0, pv, u, move(t0), click(t0+1000, 1, 1))),
		ex(chunk(t, 1, pv, u, mutation(t0+1400), move(t0+5000))),
	}).Summary(1, "s")
	if answered.DeadClickCount != 0 {
		t.Errorf("answered click counted dead")
	}
	// Not answered, and data goes on past the window: dead.
	dead := Fold([]ChunkStats{
		ex(chunk(t, 0, pv, u, move(t0), click(t0+1000, 1, 1))),
		ex(chunk(t, 1, pv, u, move(t0+2000), mutation(t0+2600))),
	}).Summary(1, "s")
	if dead.DeadClickCount != 1 {
		t.Errorf("dead = %d, want 1", dead.DeadClickCount)
	}
	// A click at the very end of the recording is not yet judged.
	open := Fold([]ChunkStats{ex(chunk(t, 0, pv, u, move(t0), click(t0+1000, 1, 1)))}).Summary(1, "s")
	if open.DeadClickCount != 0 || open.ClickCount != 1 {
		t.Errorf("open click: dead=%d clicks=%d", open.DeadClickCount, open.ClickCount)
	}
	// Rage across a chunk boundary, and clicks too far apart are no rage.
	rage := Fold([]ChunkStats{
		ex(chunk(t, 0, pv, u, click(t0, 10, 10), click(t0+300, 12, 12))),
		ex(chunk(t, 1, pv, u, click(t0+600, 14, 9), click(t0+700, 300, 300), click(t0+800, 300, 300), click(t0+2500, 300, 300))),
	}).Summary(1, "s")
	if rage.RageClickCount != 1 {
		t.Errorf("rage = %d, want 1", rage.RageClickCount)
	}
}

func TestExtractRejectsNonArrays(t *testing.T) {
	for _, in := range []string{``, `{}`, `[]`, `[1,2]`, `["x"]`, `[{"type":3,"timestamp":-5}]`, `[{"type":3,"timestamp":"x"}]`, `[{`} {
		c := &recordingsv1.Chunk{Events: []byte(in)}
		if _, err := Extract(c, 0, 0); err == nil {
			t.Errorf("Extract(%q) accepted", in)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte(`[{"type":4,"timestamp":1,"data":{"href":"https://x/","width":1,"height":2}}]`))
	f.Add([]byte(`[{"type":3,"timestamp":5,"data":{"source":2,"type":2,"x":1e300,"y":-3}},{"type":3,"timestamp":6,"data":{"source":0}}]`))
	f.Add([]byte(`[{"type":5,"timestamp":9,"data":{"tag":"sl:identify","payload":{"userId":"u","attributes":{"a":null,"b":[1]}}}}]`))
	f.Add([]byte(`[{"type":5,"timestamp":9,"data":{"tag":"sl:navigation","payload":{"url":"/x"}}}]`))
	f.Add([]byte(`[{"type":2,"timestamp":1,"data":{"node":{"type":0,"id":1,"childNodes":[{"type":2,"id":2,"tagName":"label","attributes":{"for":"a"},"childNodes":[]},` +
		`{"type":2,"id":3,"tagName":"INPUT","attributes":{"id":"a","type":7},"childNodes":[]},{"type":2,"id":4,"tagName":"div","attributes":{"contenteditable":true},` +
		`"childNodes":[{"type":2,"id":1e99,"tagName":"p","attributes":{}}]}]}}},` +
		`{"type":3,"timestamp":2,"data":{"source":0,"adds":[{"parentId":4,"node":{"type":2,"id":9,"tagName":"select","attributes":{}}}],"attributes":[{"id":5,"attributes":{"contenteditable":"false"}}]}},` +
		`{"type":3,"timestamp":3,"data":{"source":2,"type":2,"id":9,"x":1,"y":1}},{"type":3,"timestamp":4,"data":{"source":2,"type":5,"id":-1}},` +
		`{"type":5,"timestamp":5,"data":{"tag":"sl:focus","payload":{"id":null,"visible":true}}}]`))
	// Heatmap events: sl:view, a click and its sl:click, pointer samples, a
	// document scroll, a snapshot offset and a route change.
	f.Add([]byte(`[{"type":5,"timestamp":1,"data":{"tag":"sl:view","payload":{"x":0,"y":10,"w":1000,"h":5000,"v":700,"d":1}}},` +
		`{"type":2,"timestamp":2,"data":{"node":{"type":0,"id":1,"childNodes":[]},"initialOffset":{"left":0,"top":40}}},` +
		`{"type":3,"timestamp":3,"data":{"source":2,"type":2,"id":7,"x":5,"y":6}},` +
		`{"type":5,"timestamp":3,"data":{"tag":"sl:click","payload":{"id":7,"s":"body>a#b","rx":120,"ry":-3}}},` +
		`{"type":3,"timestamp":9,"data":{"source":1,"positions":[{"x":1,"y":2,"id":7,"timeOffset":-50},{"x":1e9,"y":-2,"timeOffset":0}]}},` +
		`{"type":3,"timestamp":10,"data":{"source":3,"id":1,"x":0,"y":900}},` +
		`{"type":5,"timestamp":11,"data":{"tag":"sl:navigation","payload":{"url":"https://x.example/b","referrer":"https://x.example/a"}}},` +
		`{"type":3,"timestamp":12,"data":{"source":4,"width":300,"height":600}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Extract(&recordingsv1.Chunk{Events: b, PageViewId: "p", Url: "https://x.example/a"}, int64(len(b)), 0)
		if err != nil {
			return
		}
		if st.EventCount == 0 || st.FirstMs > st.LastMs {
			t.Fatalf("bad stats %+v", st)
		}
		// The stored form reads back the same stats.
		enc, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if back, err := UnmarshalStats(enc); err != nil || !reflect.DeepEqual(back, st) {
			t.Fatalf("stored %s read back %+v (%v), want %+v", enc, back, err, st)
		}
		next := st
		next.Seq++
		// The same key twice is one chunk (the store keeps the first write).
		s := Fold([]ChunkStats{st, next, st})
		sum := s.Summary(1, "s")
		if sum.ClickCount != 2*st.ClickCount || sum.ActiveDuration.AsDuration() > sum.Duration.AsDuration() {
			t.Fatalf("bad summary %v", sum)
		}
		if h := st.Heat; h != nil {
			for _, m := range h.Moves {
				if int(m.Page) >= len(h.Pages) || m.X < 0 || m.X > 1000 || m.Y < 0 || m.N < 1 {
					t.Fatalf("bad move %+v of %d pages", m, len(h.Pages))
				}
			}
			for _, sc := range h.Scrolls {
				if int(sc.Page) >= len(h.Pages) || sc.Doc <= 0 || sc.Fold <= 0 {
					t.Fatalf("bad scroll %+v", sc)
				}
			}
		}
		for _, r := range s.Reach {
			if r.Pct < 0 || r.Pct > 100 {
				t.Fatalf("reach %+v", r)
			}
		}
	})
}
