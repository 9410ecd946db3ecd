package pebble

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// recordedRows are the rows of the recorded session (real Chromium) after
// each of its chunks, as encoding/json writes them.
func recordedRows(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile("../../summary/testdata/frustration.json")
	if err != nil {
		t.Fatal(err)
	}
	var envs []struct {
		Events     json.RawMessage `json:"events"`
		Seq        int64           `json:"seq"`
		PageViewID string          `json:"pageViewId"`
	}
	if err := json.Unmarshal(raw, &envs); err != nil {
		t.Fatal(err)
	}
	var stats []summary.ChunkStats
	var rows [][]byte
	for i, e := range envs {
		st, err := summary.Extract(&recordingsv1.Chunk{Events: e.Events, Seq: e.Seq, PageViewId: e.PageViewID, Url: "https://shop.example.com/p/1"}, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
		state := summary.Fold(stats)
		state.Answers = &summary.AnswerTally{}
		b, err := json.Marshal(sessionRow{State: state, Version: int64(i), CreatedMs: 1_700_000_000_000, EndedMs: int64(i % 2), LateChunks: 3, LateRaw: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b)
	}
	return rows
}

// checkRowDecode: the row decoder reads what encoding/json reads, and
// refuses what it refuses.
func checkRowDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got sessionRow
	werr := json.Unmarshal(b, &want)
	gerr := decodeRow(b, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: encoding/json says %v, the row decoder %v", b, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%s: encoding/json read\n%+v\nthe row decoder\n%+v", b, want, got)
	}
}

// TestRowDecodeMatchesStd: decodeRow (segmentio's decoder) reads every
// row of the recorded session, and rows with escapes, extremes and
// nulls, as encoding/json does.
func TestRowDecodeMatchesStd(t *testing.T) {
	rows := recordedRows(t)
	if len(rows) < 3 || len(rows[len(rows)-1]) < 1000 {
		t.Fatalf("%d rows: the comparison says little", len(rows))
	}
	for _, b := range rows {
		checkRowDecode(t, b)
	}
	for _, b := range []string{
		`{"s":null,"v":0,"c":0}`, `{}`,
		`{"s":{"q":-1,"n":0,"v":"v\u00e9\ud83d\ude00\"\\\/\n","u":"\u2028","at":{"k\u0000":"x"},"pg":[{"p":"a","u":"https://x/?q=1&r=\u003c","s":-9007199254740993,"e":9007199254740993}]},"v":9223372036854775807,"c":-9223372036854775808}`,
		`{"s":{"q":1,"hr":{"a\u0000b":{"pk":"p","d":20000,"p":100,"f":900,"h":4200}},"hc":["body>a:nth-of-type(2)"],"cp":{"p":0},"ev":1,"sb":2,"rb":3},"v":1,"c":1,"ed":0,"lc":0,"lr":0}`,
		`{"s":{"q":1.5},"v":1}`, `{"s":{"q":"1"},"v":1}`, `{"v":1,"v":2}`, `{"s":[],"v":1}`, `[]`, `{"s":{"pg":[null,{}]}}`,
	} {
		checkRowDecode(t, []byte(b))
	}
}

// FuzzRowDecode: any bytes decode to the same row with both decoders, or
// fail with both.
func FuzzRowDecode(f *testing.F) {
	for _, b := range recordedRows(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"s":{"q":1,"hr":{"a":{"pk":"p","d":1}}},"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkRowDecode(t, b) })
}
