package summary

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/pagerule"
)

// TestExtractReadsWhatTheContractAccepts: Extract reads events with the
// batch contract's reader, so odd but valid shapes are read, never refused.
func TestExtractReadsWhatTheContractAccepts(t *testing.T) {
	n := batch.MaxDepth - 2
	events := `[` +
		// Escaped keys are matched after unescaping; whitespace is allowed.
		`{"type":4, "timestamp":1000, "data":{"\u0068ref":"https://a.example/\ud800x", "width":800,"height":600}},` +
		// The deepest event the contract allows.
		`{"type":2,"timestamp":1001,"data":{"node":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}},` +
		// Mistyped fields read as zero values: no source, no click.
		`{"type":3,"timestamp":1002,"data":{"source":null}},` +
		`{"type":3,"timestamp":1003,"data":{"source":2,"type":"2","x":1,"y":1}},` +
		// A click far off the page is clamped.
		`{"type":3,"timestamp":1004,"data":{"source":2,"type":2,"x":1e400,"y":-1e400}},` +
		// Attribute values of every kind; a repeated key keeps its last value.
		`{"type":5,"timestamp":1005,"data":{"tag":"sl:identify","payload":{"userId":"u\udc00",` +
		`"attributes":{"n":1.5e3,"b":true,"a":[1, "x y" ,{"k":null}],"s":"v","s":"w","z":null,"":"empty key"}}}},` +
		// An event without data, and a custom event whose payload is not an object.
		`{"type":5,"timestamp":1006},{"type":5,"timestamp":1007,"data":{"tag":"sl:event","payload":"x"}},` +
		`{"type":5,"timestamp":1008,"data":{"tag":"sl:event","payload":{"name":"go\ud83d\ude00"}}}]`
	st, err := Extract(&recordingsv1.Chunk{Events: []byte(events)}, 1, 0)
	if err != nil {
		t.Fatalf("Extract refused events the contract accepts: %v", err)
	}
	if err := batch.ValidateEvents([]byte(events)); err != nil {
		t.Fatalf("the contract refuses the test's events: %v", err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("url", st.URL, "https://a.example/\uFFFDx")
	check("viewport", [2]int32{st.ViewportW, st.ViewportH}, [2]int32{800, 600})
	check("full snapshot", st.FullSnapshotMs, 1001)
	if len(st.Clicks) == 1 && st.Clicks[0].H != nil {
		// Anchored to the page, at no known document position (no sl:view).
		check("click anchor", *st.Clicks[0].H, Anchor{Page: pagerule.Key(st.URL)})
		st.Clicks[0].H = nil
	}
	check("clicks", st.Clicks, []Click{{T: 1004, X: 1e7, Y: -1e7}})
	check("events", st.EventCount, 9)
	check("span", [2]int64{st.FirstMs, st.LastMs}, [2]int64{1000, 1008})
	check("custom", st.CustomEvents, []string{"go😀"})
	if len(st.Identifies) != 1 {
		t.Fatalf("identifies %+v", st.Identifies)
	}
	check("user", st.Identifies[0].UserID, "u\uFFFD")
	check("attrs", st.Identifies[0].Attrs, [][2]string{{"a", `[1,"x y",{"k":null}]`}, {"b", "true"}, {"n", "1.5e3"}, {"s", "w"}})
}
