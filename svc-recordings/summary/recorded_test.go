package summary

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary/summarytest"
)

var update = flag.Bool("update", false, "rewrite testdata/frustration.want.json from the fold")

// WantFile holds the fold's list for the recording as GetSession answers it
// (protojson of GetSessionResponse.frustrations): the service's end-to-end
// test and the dashboard's timeline test read it.
const wantFile = "testdata/frustration.want.json"

type rawEvent struct {
	Type      int   `json:"type"`
	Timestamp int64 `json:"timestamp"`
	Data      struct {
		Source *int            `json:"source"`
		Type   int             `json:"type"`
		ID     int32           `json:"id"`
		Node   json.RawMessage `json:"node"`
	} `json:"data"`
}

// LoadRecording reads testdata/frustration.json (recorded in Chromium by
// testdata/record.mjs) as chunks, one per batch.
func loadRecording(t testing.TB) []*recordingsv1.Chunk { return summarytest.Recorded(t) }

// recordedClick is one click of the recording, named by the clicked
// element's id attribute.
type recordedClick struct {
	T     int64
	Node  int32
	Elem  string
	Chunk int
}

// recordedClicks lists the clicks and maps rrweb ids to id attributes (from
// the full snapshots).
func recordedClicks(t testing.TB, chunks []*recordingsv1.Chunk) []recordedClick {
	t.Helper()
	names := map[string]map[int32]string{} // page view → rrweb id → id attribute
	var walk func(pv string, n *struct {
		ID         int32             `json:"id"`
		Attributes map[string]any    `json:"attributes"`
		ChildNodes []json.RawMessage `json:"childNodes"`
	})
	type node = struct {
		ID         int32             `json:"id"`
		Attributes map[string]any    `json:"attributes"`
		ChildNodes []json.RawMessage `json:"childNodes"`
	}
	walk = func(pv string, n *node) {
		if id, ok := n.Attributes["id"].(string); ok {
			names[pv][n.ID] = id
		}
		for _, c := range n.ChildNodes {
			var cn node
			if json.Unmarshal(c, &cn) == nil {
				walk(pv, &cn)
			}
		}
	}
	var out []recordedClick
	for i, c := range chunks {
		var evs []rawEvent
		if err := json.Unmarshal(c.Events, &evs); err != nil {
			t.Fatal(err)
		}
		if names[c.PageViewId] == nil {
			names[c.PageViewId] = map[int32]string{}
		}
		for _, e := range evs {
			switch {
			case e.Type == typeFullSnapshot:
				var n node
				if err := json.Unmarshal(e.Data.Node, &n); err != nil {
					t.Fatal(err)
				}
				walk(c.PageViewId, &n)
			case e.Type == typeIncremental && e.Data.Source != nil && *e.Data.Source == srcInteraction && e.Data.Type == interactionClick:
				out = append(out, recordedClick{T: e.Timestamp, Node: e.Data.ID, Elem: names[c.PageViewId][e.Data.ID], Chunk: i})
			}
		}
	}
	return out
}

func extractAll(t testing.TB, chunks []*recordingsv1.Chunk) []ChunkStats {
	t.Helper()
	var out []ChunkStats
	for _, c := range chunks {
		st, err := Extract(c, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// outcome is what the fold made of one click: "rage", "dead" or "" (fine).
func outcomes(s *State, clicks []recordedClick) []string {
	out := make([]string, len(clicks))
	for _, f := range s.FrustrationList() {
		t := f.GetTime().AsTime().UnixMilli()
		switch f.GetKind() {
		case recordingsv1.FrustrationKind_FRUSTRATION_KIND_DEAD:
			for i, c := range clicks {
				if c.T == t && c.Node == f.GetNodeId() {
					out[i] = "dead"
				}
			}
		case recordingsv1.FrustrationKind_FRUSTRATION_KIND_RAGE:
			n := int32(0)
			for i, c := range clicks {
				if c.T >= t && n < f.GetClicks() {
					out[i] += "rage"
					n++
				}
			}
		}
	}
	return out
}

// TestRecordedFrustrations folds real interactions recorded in Chromium
// through the real tracker and checks each click's classification, in the
// order the batches were sent, shuffled and duplicated, and cut into other
// chunks.
func TestRecordedFrustrations(t *testing.T) {
	chunks := loadRecording(t)
	clicks := recordedClicks(t, chunks)
	want := map[string]string{
		"name":       "",     // into a text input (and the click its label sends)
		"notes":      "",     // into a textarea
		"change":     "",     // changes the text, both times
		"agree":      "",     // checkbox
		"pick":       "",     // select
		"name-label": "",     // a label for a field
		"plain":      "dead", // plain text
		"noop":       "dead", // a handler that does nothing
		"noop2":      "dead", // does nothing; #away is pressed and answers within the window
		"away":       "",     // far from #noop2, changes the text
		"twice":      "",     // answered 1.2 s after the first click, pressed again meanwhile
		"scroll":     "",     // only scrolls
		"rage":       "rage", // four clicks within a second: one rage click, not dead
		"slow":       "",     // answered 1.2 s later, in the next batch
		"tooslow":    "dead", // answered 2.5 s later
		"editor-p":   "",     // inside a contenteditable
		"later":      "",     // answered in the next batch
		"link":       "",     // navigates: its page view ends
		"plain2":     "dead", // plain text on the second page
	}
	seen := map[string]int{}
	for _, c := range clicks {
		if _, ok := want[c.Elem]; !ok {
			t.Fatalf("a click on %q (node %d) the table does not know", c.Elem, c.Node)
		}
		seen[c.Elem]++
	}
	for e := range want {
		if seen[e] == 0 {
			t.Fatalf("the recording has no click on #%s: re-record (testdata/README.md)", e)
		}
	}
	if seen["change"] != 2 || seen["rage"] < RageClicks || seen["twice"] != 2 {
		t.Fatalf("recording: %d clicks on #change, %d on #rage, %d on #twice", seen["change"], seen["rage"], seen["twice"])
	}
	// #noop2's case needs #away clicked within its window (else it is dead
	// by the window alone), and #twice's second click before the answer.
	at := func(elem string, nth int) int64 {
		for _, c := range clicks {
			if c.Elem == elem {
				if nth == 0 {
					return c.T
				}
				nth--
			}
		}
		return 0
	}
	if d := at("away", 0) - at("noop2", 0); d <= 0 || d >= DeadWindowMs-300 {
		t.Fatalf("recording: #away clicked %d ms after #noop2: re-record", d)
	}
	if d := at("twice", 1) - at("twice", 0); d <= 0 || d >= 1000 {
		t.Fatalf("recording: #twice's clicks %d ms apart: re-record", d)
	}
	// The recording must keep the cross-batch cases: the answer to #slow and
	// #later arrives in a later batch than the click.
	stats := extractAll(t, chunks)
	for i, c := range clicks {
		if (c.Elem == "slow" || c.Elem == "later") && stats[c.Chunk].Clicks[slices.IndexFunc(stats[c.Chunk].Clicks, func(k Click) bool { return k.T == c.T })].Resolved {
			t.Fatalf("click %d on #%s is answered in its own batch: re-record", i, c.Elem)
		}
	}

	wantDead, wantRage := 0, 1
	for _, c := range clicks {
		if want[c.Elem] == "dead" {
			wantDead++
		}
	}
	check := func(t *testing.T, s *State) {
		t.Helper()
		got := outcomes(s, clicks)
		for i, c := range clicks {
			if got[i] != want[c.Elem] {
				t.Errorf("click %d on #%s at +%d ms: %q, want %q", i, c.Elem, c.T-clicks[0].T, got[i], want[c.Elem])
			}
		}
		sum := s.Summary(1, "s")
		if sum.DeadClickCount != int32(wantDead) || sum.RageClickCount != int32(wantRage) || sum.ClickCount != int32(len(clicks)) {
			t.Errorf("counts: dead %d rage %d clicks %d, want %d, %d, %d", sum.DeadClickCount, sum.RageClickCount, sum.ClickCount, wantDead, wantRage, len(clicks))
		}
		if n := len(s.FrustrationList()); n != wantDead+wantRage {
			t.Errorf("the list has %d entries, the counts say %d", n, wantDead+wantRage)
		}
	}
	base := Fold(stats)
	t.Run("as sent", func(t *testing.T) { check(t, base) })
	t.Run("want file", func(t *testing.T) {
		got := &recordingsv1.GetSessionResponse{Frustrations: base.FrustrationList()}
		if *update {
			b, err := protojson.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(wantFile, append(out.Bytes(), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(wantFile)
		if err != nil {
			t.Fatal(err)
		}
		want := &recordingsv1.GetSessionResponse{}
		if err := protojson.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("the fold's list differs from %s (run with -update after re-recording):\n got %v\nwant %v", wantFile, got, want)
		}
	})
	t.Run("incremental, stored between chunks", func(t *testing.T) {
		check(t, applyStored(t, stats))
	})
	t.Run("shuffled and duplicated", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			in := slices.Clone(stats)
			for range 4 {
				in = append(in, stats[r.IntN(len(stats))])
			}
			r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			s := Fold(in)
			check(t, s)
			if !proto.Equal(s.Summary(1, "s"), base.Summary(1, "s")) {
				t.Fatal("the order of arrival changed the summary")
			}
		}
	})
	// Other cuts of the same events: one event per chunk (every reaction in
	// another chunk than its click), and one chunk per page view.
	for _, cut := range []string{"one event per chunk", "one chunk per page view"} {
		t.Run(cut, func(t *testing.T) {
			st := extractAll(t, recut(t, chunks, cut == "one event per chunk"))
			check(t, Fold(st))
			// And through the stored state, one chunk at a time.
			check(t, applyStored(t, st))
		})
	}
}

// applyStored applies stats one chunk at a time, the state going through
// JSON between chunks as the store keeps it, and answers the last state.
func applyStored(t *testing.T, stats []ChunkStats) *State {
	t.Helper()
	s := NewState()
	for i := range stats {
		s.Apply(&stats[i])
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if s, err = UnmarshalState(b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// recut cuts the recording's events into chunks again: one per event, or
// one per page view.
func recut(t testing.TB, chunks []*recordingsv1.Chunk, single bool) []*recordingsv1.Chunk {
	t.Helper()
	var out []*recordingsv1.Chunk
	var cur *recordingsv1.Chunk
	var evs []json.RawMessage
	flush := func() {
		if cur == nil {
			return
		}
		b, err := json.Marshal(evs)
		if err != nil {
			t.Fatal(err)
		}
		c := proto.Clone(cur).(*recordingsv1.Chunk)
		c.Seq, c.Events, c.EventCount = int64(len(out)), b, int32(len(evs))
		out = append(out, c)
		cur, evs = nil, nil
	}
	for _, c := range chunks {
		var list []json.RawMessage
		if err := json.Unmarshal(c.Events, &list); err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if cur != nil && (single || cur.PageViewId != c.PageViewId) {
				flush()
			}
			if cur == nil {
				cur = c
			}
			evs = append(evs, e)
		}
	}
	flush()
	return out
}

func (c recordedClick) String() string { return fmt.Sprintf("#%s@%d", c.Elem, c.T) }
