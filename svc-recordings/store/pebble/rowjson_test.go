package pebble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson/storedjsontest"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
	"github.com/sightlinehq/sightline/svc-recordings/summary/summarytest"
)

// recordedRows are the rows of the recorded session (real Chromium) after
// each of its chunks, as encoding/json writes them.
func recordedRows(t testing.TB) [][]byte {
	t.Helper()
	var stats []summary.ChunkStats
	var rows [][]byte
	for i, c := range summarytest.Recorded(t) {
		c.Url = "https://shop.example.com/p/1"
		st, err := summary.Extract(c, 1, 0)
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

// checkRowDecode: rows read (decodeRow: storedjson) as encoding/json reads
// them, and encode (encodeRow) as it writes them.
func checkRowDecode(t *testing.T, b []byte) {
	storedjsontest.CheckDecode[sessionRow](t, b)
	var r sessionRow
	if decodeRow(b, &r) == nil {
		checkRowEncode(t, &r)
	}
}

// checkRowEncode: encodeRow writes r as the JSON value encoding/json's
// encoder writes with HTML escaping off (map keys unsorted).
func checkRowEncode(t *testing.T, r *sessionRow) { storedjsontest.CheckEncodeAnyOrder(t, r) }

// TestRowSelectorsUnescaped: a row keeps the '>' of its clicked elements'
// selector paths as they are, and a row written by the earlier encoder,
// which escaped them, reads the same.
func TestRowSelectorsUnescaped(t *testing.T) {
	sel := "body>main>section:nth-of-type(2)>div.c-card>a.c-link-4"
	r := &sessionRow{State: &summary.State{VisitorID: "v_1", MaxSeq: 3, Clicked: []string{sel, "a<b&c"}}, Version: 4, CreatedMs: 5}
	b, err := encodeRow(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(sel)) || bytes.Contains(b, []byte(`\u003e`)) {
		t.Fatalf("selector escaped: %s", b)
	}
	old, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(old, []byte(`\u003e`)); n != 4 || len(old)-len(b) != 5*n+2*5 {
		t.Fatalf("the escaped row %d bytes (%d escapes), the row %d: %s", len(old), n, len(b), old)
	}
	var got, want sessionRow
	if err := decodeRow(old, &got); err != nil {
		t.Fatal(err)
	}
	if err := decodeRow(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || want.State.Clicked[0] != sel {
		t.Fatalf("escaped row read %+v, the row %+v", got.State, want.State)
	}
}

// TestRowEncodeMatchesStd: encodeRow writes rows as encoding/json's
// encoder does with HTML escaping off:
// the recorded session's (TestRowDecodeMatchesStd decodes and re-encodes
// them), and rows holding what JSON escapes — HTML characters, control
// characters, U+2028, invalid UTF-8 (encoding/json writes U+FFFD) — in
// strings and map keys, and extremes.
func TestRowEncodeMatchesStd(t *testing.T) {
	odd := []string{"", "<a href=\"x\">&amp;</a>", "\x00\x01\x1f\x7f", "\u2028\u2029", "\xff\xfe valid \xc3", "é😀\\/\n\t", "\"quoted\""}
	for i, s := range odd {
		state := &summary.State{
			VisitorID: s, MaxSeq: int64(i) - 1, Chunks: 1 << 30,
			Pages:   []summary.Page{{PageViewID: s, URL: "https://x/?q=" + s, Referrer: s, StartMs: -9007199254740993, EndMs: 9007199254740993}},
			Reach:   map[string]*summary.Reach{s + "\x00" + s: {Page: s, Day: -1, Pct: 100, Fold: 900, Doc: 4200}, "b": {Page: "p"}},
			Clicked: []string{s, "body>a:nth-of-type(2)"},
		}
		checkRowEncode(t, &sessionRow{State: state, Version: math.MaxInt64, CreatedMs: math.MinInt64, EndedMs: int64(i)})
	}
	checkRowEncode(t, &sessionRow{})
	for _, b := range recordedRows(t) {
		var r sessionRow
		if err := decodeRow(b, &r); err != nil {
			t.Fatal(err)
		}
		checkRowEncode(t, &r)
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
// fail with both; a row read encodes to the same bytes with both encoders.
func FuzzRowDecode(f *testing.F) {
	for _, b := range recordedRows(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"s":{"q":1,"hr":{"a":{"pk":"p","d":1}}},"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkRowDecode(t, b) })
}

// BenchmarkRowCodec encodes and decodes the row of a session that has
// viewed 100 pages (a page, a page view index entry and a scroll reach
// each: ~25 KB), as every append to it does: encoding/json's encoder
// against the row encoder, and the row decoder.
func BenchmarkRowCodec(b *testing.B) {
	state := &summary.State{MaxSeq: 2500, Chunks: 2501, VisitorID: "v_longsession0000001", CurPage: map[string]int{}, Reach: map[string]*summary.Reach{}}
	for v := range 100 {
		pv := fmt.Sprintf("p_long%014d", v)
		state.Pages = append(state.Pages, summary.Page{PageViewID: pv, URL: "https://shop.example.com/p/" + pv, StartMs: 1763890000000 + int64(v)*125000, EndMs: 1763890120010 + int64(v)*125000})
		state.CurPage[pv] = v
		state.Reach[pv+"\x00https://shop.example.com/p/"+pv] = &summary.Reach{Page: "https://shop.example.com/p/" + pv, Day: 20000, Pct: 40, Fold: 800, Doc: 3000}
	}
	row := &sessionRow{State: state, Version: 2501, CreatedMs: 1796182250281}
	raw, err := json.Marshal(row)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode-std", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(row); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeRow(row); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var r sessionRow
			if err := decodeRow(raw, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOutboxValuesMatchStd: the outboxes' values (sessions', answers',
// notify's), written with storedjson or by encoding/json (HTML escaped),
// read with storedjson as encoding/json reads them.
func TestOutboxValuesMatchStd(t *testing.T) {
	odd := []string{"", "<a href=\"x\">&amp;</a>", "\x00\x1f", "\u2028", "é😀\\/\n", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	for i, s := range odd {
		checkOutboxValue(t, outboxValue{Kind: store.OutboxUpsert, SiteID: math.MaxInt64 - int64(i), Summary: []byte(s + "\x00\xff"), Session: s, SessionIDs: []string{s, "s_2"}, VisitorID: s, Traceparent: s})
		checkOutboxValue(t, answerOutbox{Kind: store.OutboxKind(i), SiteID: -1, IDs: []string{s}, Visitor: s, Session: s, Traceparent: s})
		checkOutboxValue(t, notifyValue{Type: s, SiteID: int64(i), Session: s, Answer: s, TimeMs: math.MinInt64})
	}
}

func checkOutboxValue[V any](t *testing.T, v V) {
	t.Helper()
	for _, enc := range []func(any) ([]byte, error){storedjson.Marshal, json.Marshal} {
		b, err := enc(v)
		if err != nil {
			t.Fatal(err)
		}
		storedjsontest.CheckDecode[V](t, b)
	}
}
