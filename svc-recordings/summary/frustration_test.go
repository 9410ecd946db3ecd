package summary

import (
	"fmt"
	"slices"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Synthetic cases of the definition the recorded test cannot stage.
func TestFrustrationRules(t *testing.T) {
	const pv, pv2 = "p_aaaaaaaaaaaaaaaaaaaaaa", "p_bbbbbbbbbbbbbbbbbbbbbb"
	u := "https://a.example/"
	inc := func(ts int64, d ev) ev { return ev{"type": 3, "timestamp": ts, "data": d} }
	clickOn := func(ts int64, node, x int) ev {
		return inc(ts, ev{"source": 2, "type": 2, "id": node, "x": x, "y": 10})
	}
	focusOn := func(ts int64, node int) ev { return inc(ts, ev{"source": 2, "type": 5, "id": node}) }
	// press is rrweb's MouseDown (kind 1) or TouchStart (kind 7).
	press := func(ts int64, kind, node, x int) ev {
		return inc(ts, ev{"source": 2, "type": kind, "id": node, "x": x, "y": 10})
	}
	el := func(id int, tag string, attrs ev, kids ...any) ev {
		return ev{"type": 2, "id": id, "tagName": tag, "attributes": attrs, "childNodes": kids}
	}
	snapshot := func(ts int64, kids ...any) ev {
		return ev{"type": 2, "timestamp": ts, "data": ev{"node": ev{"type": 0, "id": 1, "childNodes": kids}}}
	}
	add := func(ts int64, parent int, node ev) ev {
		return inc(ts, ev{"source": 0, "adds": []any{ev{"parentId": parent, "node": node}}, "removes": []any{}, "texts": []any{}, "attributes": []any{}})
	}
	page := snapshot(t0,
		el(2, "input", ev{"type": "submit"}),
		el(3, "input", ev{}),
		el(4, "div", ev{"contenteditable": ""}, el(5, "span", ev{})),
		el(6, "label", ev{"for": "email"}),
		el(7, "input", ev{"type": "email", "id": "email"}),
		el(8, "button", ev{}),
		el(9, "div", ev{"contenteditable": "false"}),
	)
	type chunkSpec struct {
		pv  string
		evs []ev
	}
	fold := func(t *testing.T, specs ...chunkSpec) *State {
		t.Helper()
		var st []ChunkStats
		for i, s := range specs {
			c, err := Extract(chunk(t, int64(i), s.pv, u, s.evs...), 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			st = append(st, c)
		}
		return Fold(st)
	}
	later := func(ts int64) ev { return move(ts) }
	cases := []struct {
		name       string
		chunks     []chunkSpec
		dead, rage int32
	}{
		{"button-like input with nothing after: dead", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 2, 0), later(t0 + 3000)}}}, 1, 0},
		{"text input, in a later chunk than its snapshot", []chunkSpec{{pv, []ev{page}}, {pv, []ev{clickOn(t0+1000, 3, 0), later(t0 + 3000)}}}, 0, 0},
		{"inside a contenteditable", []chunkSpec{{pv, []ev{page}}, {pv, []ev{clickOn(t0+1000, 5, 0), later(t0 + 3000)}}}, 0, 0},
		{"contenteditable=false is not editable", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 9, 0), later(t0 + 3000)}}}, 1, 0},
		{"a label for a field", []chunkSpec{{pv, []ev{page}}, {pv, []ev{clickOn(t0+1000, 6, 0), later(t0 + 3000)}}}, 0, 0},
		{"a field added by a mutation", []chunkSpec{{pv, []ev{page, add(t0+500, 8, el(40, "textarea", ev{}))}}, {pv, []ev{clickOn(t0+1000, 40, 0), later(t0 + 3000)}}}, 0, 0},
		{"made contenteditable later", []chunkSpec{{pv, []ev{page, inc(t0+500, ev{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{},
			"attributes": []any{ev{"id": 8, "attributes": ev{"contenteditable": "true"}}}})}}, {pv, []ev{clickOn(t0+1000, 8, 0), later(t0 + 3000)}}}, 0, 0},
		{"the fields of another page view do not count", []chunkSpec{{pv, []ev{page}}, {pv2, []ev{clickOn(t0+1000, 3, 0), later(t0 + 3000)}}}, 1, 0},
		{"focus moving to the clicked button is no reaction, even in the next chunk", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}}, {pv, []ev{focusOn(t0+1010, 8), later(t0 + 3000)}}}, 1, 0},
		{"focus moving elsewhere after the click is one", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}}, {pv, []ev{focusOn(t0+1100, 3), later(t0 + 3000)}}}, 0, 0},
		{"sl:focus repeating rrweb's focus is no reaction", []chunkSpec{{pv, []ev{page, focusOn(t0+990, 8), clickOn(t0+1000, 8, 0), custom(t0+1010, "sl:focus", ev{"id": 8, "visible": false}), later(t0 + 3000)}}}, 1, 0},
		{"sl:focus elsewhere is a reaction", []chunkSpec{{pv, []ev{page, focusOn(t0+990, 8), clickOn(t0+1000, 8, 0), custom(t0+1010, "sl:focus", ev{"id": 3, "visible": true}), later(t0 + 3000)}}}, 0, 0},
		{"a mutation of another tab answers nothing", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}}, {pv2, []ev{mutation(t0 + 1200)}}, {pv, []ev{later(t0 + 3000)}}}, 1, 0},
		{"scroll, input, media, selection and style changes are reactions", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), inc(t0+1100, ev{"source": 3, "id": 1, "x": 0, "y": 10}),
			clickOn(t0+3000, 8, 0), inc(t0+3100, ev{"source": 5, "id": 3, "text": "a"}),
			clickOn(t0+5000, 8, 0), inc(t0+5100, ev{"source": 7, "id": 3, "type": 0}),
			clickOn(t0+7000, 8, 0), inc(t0+7100, ev{"source": 14, "ranges": []any{}}),
			clickOn(t0+9000, 8, 0), inc(t0+9100, ev{"source": 13, "id": 3}),
			later(t0 + 12000)}}}, 0, 0},
		{"a reaction before the click (same ms, earlier in the stream) is none", []chunkSpec{{pv, []ev{page, mutation(t0 + 1000), clickOn(t0+1000, 8, 0), later(t0 + 3000)}}}, 1, 0},
		{"no data after the window: not judged", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0), later(t0 + 2000)}}}, 0, 0},
		{"a long burst is one rage click, none of it dead", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 10), clickOn(t0+1300, 8, 12), clickOn(t0+1600, 8, 14)}}, {pv, []ev{
			clickOn(t0+1900, 8, 16), clickOn(t0+2700, 8, 18), clickOn(t0+3500, 8, 20), later(t0 + 9000)}}}, 0, 1},
		{"three clicks over 1.6 s are no rage: all dead", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 10), clickOn(t0+1800, 8, 12), clickOn(t0+2600, 8, 14), later(t0 + 9000)}}}, 3, 0},
		{"rage on a field is no rage", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 3, 10), clickOn(t0+1100, 3, 10), clickOn(t0+1200, 3, 10), later(t0 + 9000)}}}, 0, 0},
		// Pressing elsewhere ends a click's wait: what reacts after that is
		// the new action's (the click on 2 is answered, the one on 8 dead).
		{"a press elsewhere before any reaction: dead", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), press(t0+1300, 1, 2, 200), clickOn(t0+1350, 2, 200), mutation(t0 + 1400), later(t0 + 3000)}}}, 1, 0},
		{"a touch elsewhere too", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), press(t0+1300, 7, 2, 200), mutation(t0 + 1400), later(t0 + 3000)}}}, 1, 0},
		{"a press elsewhere in the next chunk", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}},
			{pv, []ev{press(t0+1300, 1, 2, 200), clickOn(t0+1350, 2, 200), mutation(t0 + 1400), later(t0 + 3000)}}}, 1, 0},
		{"the press's own focus, in the same ms, answers nothing", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}},
			{pv, []ev{press(t0+1300, 1, 3, 200), focusOn(t0+1300, 3), clickOn(t0+1350, 3, 200), later(t0 + 3000)}}}, 1, 0},
		{"a reaction before the press elsewhere answers", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), mutation(t0 + 1100), press(t0+1300, 1, 2, 200), clickOn(t0+1350, 2, 200), mutation(t0 + 1400), later(t0 + 3000)}}}, 0, 0},
		{"a reaction before the press elsewhere, in the next chunk", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}},
			{pv, []ev{mutation(t0 + 1100), press(t0+1300, 1, 2, 200), clickOn(t0+1350, 2, 200), mutation(t0 + 1400), later(t0 + 3000)}}}, 0, 0},
		{"pressing the same button again keeps the wait", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), press(t0+1300, 1, 8, 120), clickOn(t0+1350, 8, 120), mutation(t0 + 1400), later(t0 + 3000)}}}, 0, 0},
		{"... as does another node within the rage radius", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}},
			{pv, []ev{press(t0+1300, 1, 2, 20), mutation(t0 + 1400), later(t0 + 3000)}}}, 0, 0},
		{"an answer late in the window, then a press elsewhere", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), mutation(t0 + 2400), press(t0+2600, 1, 2, 200), later(t0 + 5000)}}}, 0, 0},
		{"a press elsewhere leaves a page view's last click dead", []chunkSpec{{pv, []ev{page,
			clickOn(t0+1000, 8, 0), press(t0+1300, 1, 3, 200), clickOn(t0+1350, 3, 200)}}}, 1, 0},
		{"a press elsewhere leaves the last click of the chunk before dead", []chunkSpec{{pv, []ev{page, clickOn(t0+1000, 8, 0)}},
			{pv, []ev{press(t0+1300, 1, 3, 200), clickOn(t0+1350, 3, 200)}}}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fold(t, tc.chunks...)
			sum := s.Summary(1, "s")
			if sum.DeadClickCount != tc.dead || sum.RageClickCount != tc.rage {
				t.Fatalf("dead %d rage %d, want %d and %d (list %v)", sum.DeadClickCount, sum.RageClickCount, tc.dead, tc.rage, s.FrustrationList())
			}
			if len(s.FrustrationList()) != int(tc.dead+tc.rage) {
				t.Fatalf("list %v", s.FrustrationList())
			}
		})
	}
	t.Run("a burst's clicks in the list", func(t *testing.T) {
		s := fold(t, cases[16].chunks...)
		fs := s.FrustrationList()
		if fs[0].GetKind() != recordingsv1.FrustrationKind_FRUSTRATION_KIND_RAGE || fs[0].GetClicks() != 6 || fs[0].GetTime().AsTime().UnixMilli() != t0+1000 || fs[0].GetNodeId() != 8 {
			t.Fatalf("rage entry %v", fs[0])
		}
	})
}

// TestFrustrationListIsBounded: the counts go on past the list's bound.
func TestFrustrationListIsBounded(t *testing.T) {
	const pv = "p_aaaaaaaaaaaaaaaaaaaaaa"
	var st []ChunkStats
	ts := t0
	for i := range 12 {
		var evs []ev
		for range 100 {
			evs = append(evs, click(ts, int(ts%1000), 0))
			ts += 2000
		}
		evs = append(evs, move(ts))
		c, err := Extract(chunk(t, int64(i), pv, "https://a.example/", evs...), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		st = append(st, c)
	}
	s := Fold(st)
	if s.Dead != 1200 || len(s.FrustrationList()) != MaxFrustrations {
		t.Fatalf("dead %d, list %d", s.Dead, len(s.FrustrationList()))
	}
	if got := s.FrustrationList()[MaxFrustrations-1].GetTime().AsTime().UnixMilli(); got != t0+int64(MaxFrustrations-1)*2000 {
		t.Fatalf("the list is not the first %d: last at %d", MaxFrustrations, got)
	}
}

// TestFrustratedElements: the summary names the elements the fold decided
// rage and dead clicks on, each once, in order; a click the tracker did not
// anchor to an element counts but names none.
func TestFrustratedElements(t *testing.T) {
	const pv = "p_aaaaaaaaaaaaaaaaaaaaaa"
	var evs []ev
	at := func(ts int64, node, x int, sel string) {
		evs = append(evs, clickOn(ts, node, x, 10))
		if sel != "" {
			evs = append(evs, slClick(ts+1, node, sel, 50, 50))
		}
	}
	// A burst on #buy: one rage click.
	for i := range 4 {
		at(t0+1000+int64(i)*200, 8, 100, "#buy")
	}
	// Three dead clicks: two on the same paragraph, one unanchored.
	at(t0+5000, 9, 400, "main>p.lead")
	at(t0+8000, 9, 400, "main>p.lead")
	at(t0+11000, 10, 700, "")
	// A burst on the paragraph, later: rage there too.
	for i := range 3 {
		at(t0+14000+int64(i)*200, 9, 400, "main>p.lead")
	}
	evs = append(evs, move(t0+20000))
	st, err := Extract(chunk(t, 0, pv, "https://a.example/", evs...), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := Fold([]ChunkStats{st}).Summary(1, "s")
	if sum.RageClickCount != 2 || sum.DeadClickCount != 3 {
		t.Fatalf("rage %d dead %d, want 2 and 3", sum.RageClickCount, sum.DeadClickCount)
	}
	if got, want := sum.GetRageClickedElements(), []string{"#buy", "main>p.lead"}; !slices.Equal(got, want) {
		t.Errorf("rage_clicked_elements %q, want %q", got, want)
	}
	if got, want := sum.GetDeadClickedElements(), []string{"main>p.lead"}; !slices.Equal(got, want) {
		t.Errorf("dead_clicked_elements %q, want %q", got, want)
	}
	// Bounded as clicked_elements.
	s := NewState()
	for i := range maxClickedElems + 20 {
		s.Frustrations = append(s.Frustrations, Frustration{Kind: Rage, H: &Anchor{Sel: fmt.Sprintf("#b%d", i)}})
	}
	if got := s.Summary(1, "s").GetRageClickedElements(); len(got) != maxClickedElems || got[0] != "#b0" {
		t.Errorf("%d rage_clicked_elements (first %q), want the first %d", len(got), got[0], maxClickedElems)
	}
}
