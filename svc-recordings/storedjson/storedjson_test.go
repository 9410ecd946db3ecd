package storedjson_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson/storedjsontest"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
	"github.com/sightlinehq/sightline/svc-recordings/summary/summarytest"
)

// recordedStats are the stats of real batches: the tracker's, sent while
// Chromium clicked through summary's frustration fixture (full snapshots,
// clicks with anchors, reactions, fields), and the captured Chromium batch
// (pointer movement and scrolls: heat), with a client as ingest sets it.
func recordedStats(t testing.TB) []summary.ChunkStats {
	t.Helper()
	chunks := summarytest.Recorded(t)
	for _, c := range chunks {
		c.Url = "https://shop.example.com/p/1?a=1&b=<2>"
	}
	raw, err := os.ReadFile("../testdata/chromium-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Events json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	chunks = append(chunks, &recordingsv1.Chunk{Events: batch.Events, PageViewId: "p_x", Url: "https://example.com/"})
	var out []summary.ChunkStats
	for i, c := range chunks {
		c.Client = &sessionsv1.Client{Browser: "Chrome", BrowserVersion: "131.0", Os: "Linux", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", Country: "FR", IpPrefix: "203.0.113.0/24"}
		c.OrganizationId, c.VisitorId = int64(i+1), "v_recorded0000000001"
		st, err := summary.Extract(c, int64(len(c.Events)/3), 1_800_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	var clicks, heat int
	for _, st := range out {
		clicks += len(st.Clicks)
		if st.Heat != nil {
			heat++
		}
	}
	if clicks < 5 || heat < 2 {
		t.Fatalf("%d clicks and %d chunks with heat: the comparison says little", clicks, heat)
	}
	return out
}

// oddStats hold what JSON escapes — HTML characters, control characters,
// U+2028, invalid UTF-8 (encoding/json writes U+FFFD) — in every kind of
// string, and extremes in numbers.
func oddStats() []summary.ChunkStats {
	odd := []string{"", "<a href=\"x\">&amp;</a>", "\x00\x01\x1f\x7f", "\u2028\u2029", "\xff\xfe valid \xc3", "é😀\\/\n\t", "\"quoted\"", "body>main>a:nth-of-type(2)"}
	var out []summary.ChunkStats
	for i, s := range odd {
		out = append(out, summary.ChunkStats{
			Seq: math.MaxInt64 - int64(i), OrganizationID: math.MinInt64, VisitorID: s, PageViewID: s, URL: "https://x/?q=" + s, Referrer: s,
			ViewportW: math.MaxInt32, ViewportH: math.MinInt32, Client: &summary.Client{Browser: s, UserAgent: s, IPPrefix: s},
			Truncated: i%2 == 0, ServerMs: -1, ExpiresMs: 9007199254740993, EventCount: 1, RawBytes: 2, StoredBytes: 3,
			Clicks:       []summary.Click{{T: 1, X: -5, Y: 7, Node: 9, Resolved: true, H: &summary.Anchor{Page: s, Day: -20000, Sel: s, RX: -128, RY: 127, X: 1, Y: 2, Known: true}}},
			Early:        []summary.Reaction{{T: 4, Focus: 3}},
			Editable:     []int32{1, math.MaxInt32},
			Navs:         []summary.Nav{{URL: s}},
			CustomEvents: []string{s, ""},
			Identifies:   []summary.Identify{{UserID: s, Attrs: [][2]string{{s, s}, {"plan", "<pro>"}}}},
			Heat:         &summary.Heat{Pages: []string{s, "https://x/<y>"}, Moves: []summary.Move{{Page: 1, X: 2, Y: 3, N: 4}}, Scrolls: []summary.Scroll{{Page: 0, Bottom: 5, Doc: 6, Fold: 7}}, Snap: 2},
		})
	}
	return append(out, summary.ChunkStats{})
}

// checkStatsDecode: b reads as the same stats with storedjson and
// encoding/json, or fails with both.
func checkStatsDecode(t *testing.T, b []byte) { storedjsontest.CheckDecode[summary.ChunkStats](t, b) }

// TestStatsMatchStd: chunk stats — recorded and odd — are written as
// encoding/json writes them, and what either writes (their stored form
// with compact anchors, encoding/json's escaped form) reads back the same
// with both; a state folded from the recorded stats too.
func TestStatsMatchStd(t *testing.T) {
	stats := append(recordedStats(t), oddStats()...)
	for i := range stats {
		st := &stats[i]
		storedjsontest.CheckEncode(t, st)
		stored, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		checkStatsDecode(t, stored)
		// Appended after what a reused buffer holds, the same bytes.
		prefix := []byte("kept")
		appended, err := st.AppendMarshal(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(appended, append([]byte("kept"), stored...)) {
			t.Fatalf("stats %d: AppendMarshal wrote\n%s\nMarshal\n%s", i, appended, stored)
		}
		escaped, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		checkStatsDecode(t, escaped)
		// The stored form reads back as the stats it was written from.
		back, err := summary.UnmarshalStats(stored)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, back, *st) {
			t.Fatalf("stats %d read back as\n%s\nwritten from\n%s", i, mustStd(t, back), mustStd(t, *st))
		}
	}
	state := summary.Fold(recordedStats(t))
	storedjsontest.CheckEncode(t, state)
	b, err := state.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var want summary.State
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got, err := summary.UnmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, got, &want) {
		t.Fatalf("state: encoding/json read\n%s\nUnmarshalState\n%s", mustStd(t, &want), mustStd(t, got))
	}
	for _, b := range []string{`{}`, `null`, `[]`, `{"q":1.5}`, `{"q":"1"}`, `{"q":1,"q":2}`, `{"ck":[null,{}]}`, `{"ht":{"mv":[1,2,3]}}`, `{"ht":{"mv":[300,1,2,3]}}`, `{"ht":null}`, `{"ht":{"pg":["a"],"m":[{"p":0,"x":1}]}}`, `{"u":"\ud800"}`, `{"c":{"ua":"\u003c"}}`, `{"q":9223372036854775808}`} {
		checkStatsDecode(t, []byte(b))
	}
}

// sameJSON: a and b encode to the same JSON value (invalid UTF-8, written
// as \ufffd, reads back as U+FFFD: the bytes differ, the value does not).
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	var av, bv any
	if err := json.Unmarshal(mustStd(t, a), &av); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustStd(t, b), &bv); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(av, bv)
}

func mustStd(t *testing.T, v any) []byte {
	t.Helper()
	b, err := storedjsontest.StdEncode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzStatsDecode: any bytes read as the same stats with both decoders, or
// fail with both; stats read encode to the same bytes with both encoders.
func FuzzStatsDecode(f *testing.F) {
	for _, st := range append(recordedStats(f), oddStats()...) {
		b, err := st.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStatsDecode(t, b) })
}

// BenchmarkStatsCodec encodes and decodes the recorded chunks' stats as an
// append does (Marshal, then UnmarshalStats when a session is refolded),
// against encoding/json in the same run.
func BenchmarkStatsCodec(b *testing.B) {
	stats := recordedStats(b)
	var stored [][]byte
	var n int64
	for i := range stats {
		s, err := stats[i].Marshal()
		if err != nil {
			b.Fatal(err)
		}
		stored = append(stored, s)
		n += int64(len(s))
	}
	b.Run("encode-std", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i := range stats {
				if _, err := storedjsontest.StdEncode(&stats[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for i := range stats {
				if _, err := storedjson.Marshal(&stats[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decode-std", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for _, s := range stored {
				var st summary.ChunkStats
				if err := json.Unmarshal(s, &st); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for _, s := range stored {
				var st summary.ChunkStats
				if err := storedjson.Unmarshal(s, &st); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
