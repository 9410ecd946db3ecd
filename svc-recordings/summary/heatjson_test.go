package summary

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// TestHeatJSON: the flat form reads back what was written, the object form
// of earlier stats still reads, and the flat form is the smaller.
func TestHeatJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		h := Heat{Snap: uint8(rng.IntN(3))}
		for range rng.IntN(3) {
			h.Pages = append(h.Pages, "https://shop.example.com/\"p\"/\u00e9")
		}
		for range rng.IntN(40) {
			h.Moves = append(h.Moves, Move{Page: uint8(rng.IntN(256)), X: rng.Int32N(1001), Y: rng.Int32() - rng.Int32(), N: rng.Int32N(40)})
		}
		for range rng.IntN(4) {
			h.Scrolls = append(h.Scrolls, Scroll{Page: uint8(rng.IntN(3)), Bottom: rng.Int32(), Doc: -rng.Int32(), Fold: rng.Int32N(2000)})
		}
		flat, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var got Heat
		if err := json.Unmarshal(flat, &got); err != nil {
			t.Fatalf("%s: %v", flat, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("flat %s read back %+v, want %+v", flat, got, h)
		}
		old, err := json.Marshal(heatJSON{Pages: h.Pages, Moves: h.Moves, Scrolls: h.Scrolls, Snap: h.Snap})
		if err != nil {
			t.Fatal(err)
		}
		got = Heat{}
		if err := json.Unmarshal(old, &got); err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("object form %s read back %+v (%v), want %+v", old, got, err, h)
		}
		if len(h.Moves) > 2 && len(flat) >= len(old) {
			t.Fatalf("flat form %d bytes, object form %d", len(flat), len(old))
		}
	}
	for _, bad := range []string{`{"mv":[1,2,3]}`, `{"sc":[1]}`, `{"mv":[256,0,0,1]}`, `{"mv":[-1,0,0,1]}`, `{"mv":"x"}`} {
		var h Heat
		if err := json.Unmarshal([]byte(bad), &h); err == nil {
			t.Errorf("%s read as %+v", bad, h)
		}
	}
}

// TestMarshalWritesHeatLast: Marshal writes the heat after the rest of the
// stats itself, and the bytes are those the struct's encoder writes
// through Heat.MarshalJSON: for the recorded session's stats, a chunk of
// two pages, stats without heat, and heat of pages that need escapes, an
// empty heat and heat of every field; appended after bytes already in the
// buffer.
func TestMarshalWritesHeatLast(t *testing.T) {
	// AppendMarshal writes the heat in place of the closing brace: a
	// member after it would move.
	if st := reflect.TypeFor[ChunkStats](); st.Field(st.NumField()-1).Name != "Heat" {
		t.Fatalf("ChunkStats' last field is %s: AppendMarshal writes Heat last", st.Field(st.NumField()-1).Name)
	}
	var stats []ChunkStats
	for _, c := range loadRecording(t) {
		st, err := Extract(c, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
	}
	two, err := Extract(twoPagesChunk(t, time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	stats = append(stats, two, ChunkStats{},
		ChunkStats{EventCount: 1, Heat: &Heat{}},
		ChunkStats{EventCount: 1, Heat: &Heat{Moves: []Move{{X: 1}}, Snap: 1}},
		ChunkStats{URL: "u", Heat: &Heat{Pages: []string{"https://x/<a>&\u2028\xff\"q\"", "b"}, Moves: []Move{{Page: 1, X: 2, Y: -3, N: 4}}, Scrolls: []Scroll{{Bottom: 5, Doc: 6, Fold: 7}}, Snap: 2}})
	withHeat := 0
	for i := range stats {
		st := &stats[i]
		if st.Heat != nil {
			withHeat++
		}
		out := *st
		out.Clicks = compactAnchors(st)
		want, err := storedjson.Marshal(&out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.AppendMarshal([]byte("kept"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "kept"+string(want) {
			t.Fatalf("stats %d written as\n%s\nthe struct's encoder writes\n%s", i, got[4:], want)
		}
	}
	if withHeat < 4 {
		t.Fatalf("%d stats with heat: the test checks little", withHeat)
	}
}

// TestStoredAnchors: anchors are stored referring to the chunk's pages
// (their day the chunk's), read back as they were, stats stored with the
// page in every anchor still read, and a reference to no page is refused.
func TestStoredAnchors(t *testing.T) {
	c := twoPagesChunk(t, time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC))
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Clicks) != 3 || st.Clicks[0].H == nil || st.Clicks[1].H == nil || st.Clicks[0].H.Page == st.Clicks[1].H.Page {
		t.Fatalf("clicks %+v", st.Clicks)
	}
	// A click whose day is not the chunk's (a chunk without server time
	// stamped later) keeps its page and day.
	other := st.Clicks[2]
	other.H = &Anchor{Page: "https://shop.example/a", Day: 3, Sel: "a", Known: true}
	st.Clicks = append(st.Clicks, other)
	stored, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(stored), `"pk":`); n != 1 {
		t.Errorf("%d anchors name their page, want only the one of another day: %s", n, stored)
	}
	if strings.Contains(string(stored), `\u003e`) {
		t.Errorf("selectors escaped: %s", stored)
	}
	back, err := UnmarshalStats(stored)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("read back %+v (%v), want %+v", back, err, st)
	}
	if st.Clicks[0].H.PageRef != 0 {
		t.Error("Marshal changed the stats it encoded")
	}
	old, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := UnmarshalStats(old); err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("stats stored with pages in anchors read back %+v (%v), want %+v", back, err, st)
	}
	if len(stored) >= len(old) {
		t.Errorf("stored form %d bytes, the earlier %d", len(stored), len(old))
	}
	for _, bad := range []string{
		`{"ck":[{"t":1,"x":1,"y":1,"h":{"pi":1}}]}`,                                           // no pages
		`{"ck":[{"t":1,"x":1,"y":1,"h":{"pi":3}}],"ht":{"pg":["https://x/a","https://x/b"]}}`, // past them
		`{"ck":[{"t":1,"x":1,"y":1,"h":{"pi":1,"pk":"https://x/a"}}],"ht":{"pg":["https://x/a"]}}`,
	} {
		if st, err := UnmarshalStats([]byte(bad)); err == nil {
			t.Errorf("%s read as %+v", bad, st)
		}
	}
}

// TestStoredStateSelectors: a stored state keeps the '>' of its clicked
// elements' selector paths as they are, and a state stored with them
// escaped (json.Marshal, the earlier form) reads the same.
func TestStoredStateSelectors(t *testing.T) {
	c := twoPagesChunk(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	st, err := Extract(c, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	state := Fold([]ChunkStats{st})
	if len(state.Clicked) == 0 || !strings.Contains(strings.Join(state.Clicked, ""), ">") {
		t.Fatalf("the fold clicked no selector path with '>': %q", state.Clicked)
	}
	stored, err := state.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), `\u003e`) || !strings.Contains(string(stored), state.Clicked[0]) {
		t.Errorf("selectors escaped: %s", stored)
	}
	old, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) >= len(old) {
		t.Errorf("stored form %d bytes, the escaped %d", len(stored), len(old))
	}
	a, err := UnmarshalState(stored)
	if err != nil {
		t.Fatal(err)
	}
	b, err := UnmarshalState(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a.Clicked, state.Clicked) {
		t.Fatalf("read back %+v and, escaped, %+v", a, b)
	}
}
