package summary

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
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
