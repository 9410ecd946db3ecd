package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testdata(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../svc-ingest/testdata/batch-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata batches: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// reference decodes with encoding/json, the behaviour Decode must agree with.
type reference struct {
	V          int64  `json:"v"`
	SiteKey    string `json:"siteKey"`
	SessionID  string `json:"sessionId"`
	VisitorID  string `json:"visitorId"`
	PageViewID string `json:"pageViewId"`
	Seq        int64  `json:"seq"`
	ClientTime int64  `json:"clientTime"`
	Page       struct {
		URL      string `json:"url"`
		Referrer string `json:"referrer"`
		Viewport struct {
			W int32 `json:"w"`
			H int32 `json:"h"`
		} `json:"viewport"`
	} `json:"page"`
	Traceparent string            `json:"traceparent"`
	Truncated   bool              `json:"truncated"`
	Events      []json.RawMessage `json:"events"`
}

func TestDecodeTestdata(t *testing.T) {
	for name, b := range testdata(t) {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(b, 0)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var r reference
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if e.SiteKey != r.SiteKey || e.SessionID != r.SessionID || e.VisitorID != r.VisitorID ||
				e.PageViewID != r.PageViewID || e.Seq != r.Seq || e.ClientTime != r.ClientTime ||
				e.URL != r.Page.URL || e.Referrer != r.Page.Referrer || e.ViewportW != r.Page.Viewport.W ||
				e.ViewportH != r.Page.Viewport.H || e.Traceparent != r.Traceparent || e.EventCount != len(r.Events) {
				t.Fatalf("decoded %+v, reference %+v", e, r)
			}
			var evs []json.RawMessage
			if err := json.Unmarshal(e.Events, &evs); err != nil || len(evs) != e.EventCount {
				t.Fatalf("events slice is not the array: %v", err)
			}
		})
	}
}

func valid() map[string]any {
	return map[string]any{
		"v": 1, "siteKey": "k_test", "sessionId": "s_abcdefgh", "visitorId": "v_abcdefgh",
		"pageViewId": "p_abcdefgh", "seq": 3, "clientTime": 1763890000000,
		"page":   map[string]any{"url": "https://a.example/x?\u00e9=1", "referrer": "", "viewport": map[string]any{"w": 10, "h": 20}},
		"events": []any{map[string]any{"type": 4, "data": map[string]any{}, "timestamp": 1}},
	}
}

func TestDecodeRejects(t *testing.T) {
	mod := func(f func(m map[string]any)) []byte {
		m := valid()
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string][]byte{
		"not object":       []byte(`[1]`),
		"empty":            []byte(``),
		"truncated":        []byte(`{"v":1,"siteKey":"k`),
		"trailing":         append(mod(func(map[string]any) {}), []byte(` {}`)...),
		"version":          mod(func(m map[string]any) { m["v"] = 2 }),
		"no site":          mod(func(m map[string]any) { delete(m, "siteKey") }),
		"bad session":      mod(func(m map[string]any) { m["sessionId"] = "s_a b c d e" }),
		"short session":    mod(func(m map[string]any) { m["sessionId"] = "s_abc" }),
		"wrong prefix":     mod(func(m map[string]any) { m["visitorId"] = "x_abcdefgh" }),
		"negative seq":     mod(func(m map[string]any) { m["seq"] = -1 }),
		"float seq":        mod(func(m map[string]any) { m["seq"] = 1.5 }),
		"string seq":       mod(func(m map[string]any) { m["seq"] = "1" }),
		"events object":    mod(func(m map[string]any) { m["events"] = map[string]any{} }),
		"events empty":     mod(func(m map[string]any) { m["events"] = []any{} }),
		"events scalar":    mod(func(m map[string]any) { m["events"] = []any{1} }),
		"control char":     []byte("{\"v\":1,\"siteKey\":\"k\x01\"}"),
		"bad escape":       []byte(`{"v":1,"siteKey":"k\q"}`),
		"bad utf8":         []byte("{\"v\":1,\"siteKey\":\"k\xff\"}"),
		"deep":             []byte(`{"events":[{"a":` + strings.Repeat("[", MaxDepth+5) + strings.Repeat("]", MaxDepth+5) + `}]}`),
		"bad number":       []byte(`{"v":01}`),
		"missing colon":    []byte(`{"v" 1}`),
		"viewport string":  mod(func(m map[string]any) { m["page"] = map[string]any{"viewport": "x"} }),
		"truncated string": mod(func(m map[string]any) { m["truncated"] = "yes" }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(b, 0)
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("want *Error, got %v", err)
			}
		})
	}
	if _, err := Decode(mod(func(map[string]any) {}), 0); err != nil {
		t.Fatalf("valid envelope rejected: %v", err)
	}
}

func TestDecodeTooManyEvents(t *testing.T) {
	m := valid()
	ev := map[string]any{"type": 3, "data": map[string]any{}, "timestamp": 1}
	m["events"] = []any{ev, ev, ev}
	b, _ := json.Marshal(m)
	if _, err := Decode(b, 2); !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("want ErrTooManyEvents, got %v", err)
	}
	e, err := Decode(b, 3)
	if err != nil || e.EventCount != 3 {
		t.Fatalf("3 events at limit 3: %v %d", err, e.EventCount)
	}
}

func TestDecodeEscapesAndUnknownFields(t *testing.T) {
	b := []byte(`{"future":{"x":[1,2,{"y":null}]},"v":1,"siteKey":"k_\u0041","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh","seq":0,"traceparent":null,` +
		`"page":{"url":"https://x.example/\"q\"\ud83d\ude00","extra":true},"events":[{"type":5,"timestamp":1,"t":"\u00e9"}]}`)
	e, err := Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.SiteKey != "k_A" || e.URL != "https://x.example/\"q\"😀" {
		t.Fatalf("unescape: %q %q", e.SiteKey, e.URL)
	}
}

// FuzzDecodeEnvelope checks Decode never panics and agrees with
// encoding/json: whatever it accepts is valid JSON and UTF-8 whose fields
// and event count match a reflective decode (which also turns lone
// surrogates into U+FFFD, as the contract does).
func FuzzDecodeEnvelope(f *testing.F) {
	for _, b := range testdata(f) {
		f.Add(b)
	}
	b, _ := json.Marshal(valid())
	f.Add(b)
	f.Add([]byte(`{"v":1,"events":[{"type":1,"timestamp":0}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b, 1000)
		if err != nil {
			return
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted invalid JSON or UTF-8: %q", b)
		}
		var r reference
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("accepted, reference rejects: %v", err)
		}
		if e.SiteKey != r.SiteKey || e.SessionID != r.SessionID || e.Seq != r.Seq || e.URL != r.Page.URL ||
			e.EventCount != len(r.Events) || e.Truncated != r.Truncated {
			t.Fatalf("mismatch: %+v vs %+v", e, r)
		}
		if !bytes.HasPrefix(e.Events, []byte("[")) || !json.Valid(e.Events) {
			t.Fatalf("events not an array: %q", e.Events)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data := testdata(b)["batch-pricing.json"]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStdlib is the reference: encoding/json into a struct with
// the events kept raw.
func BenchmarkDecodeStdlib(b *testing.B) {
	data := testdata(b)["batch-pricing.json"]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r struct {
			reference
			Events json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeChromium(b *testing.B) {
	data := testdata(b)["batch-chromium.json"]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStringScanBoundaries puts each kind of special byte at every offset
// around the 8-byte words the string scanner reads.
func TestStringScanBoundaries(t *testing.T) {
	specials := []string{`\"`, `\\`, `\u00e9`, "\x01", "\x1f", "\x7f", "é", "\xff", `"`, "\t"}
	for pos := range 20 {
		for _, sp := range specials {
			str := strings.Repeat("a", pos) + sp + strings.Repeat("b", 9)
			body := []byte(`{"v":1,"siteKey":"k_x","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh","seq":0,"events":[{"type":3,"timestamp":1,"s":"` + str + `"}]}`)
			_, err := Decode(body, 0)
			// encoding/json does not check UTF-8; the contract does.
			if valid := json.Valid(body) && utf8.Valid(body); (err == nil) != valid {
				t.Fatalf("pos %d special %q: Decode err=%v, json.Valid=%v", pos, sp, err, valid)
			}
		}
	}
}

// TestDecodeEscapedKeys: keys are matched after unescaping, as
// encoding/json does ("\u0073eq" is "seq").
func TestDecodeEscapedKeys(t *testing.T) {
	b := []byte(`{"v":1,"\u0073iteKey":"k_a","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh","\u0073eq":7,` +
		`"page":{"\u0075rl":"https://x.example/","viewport":{"\u0077":640,"h":480}},"events":[{"type":4,"timestamp":0}]}`)
	e, err := Decode(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.SiteKey != "k_a" || e.Seq != 7 || e.URL != "https://x.example/" || e.ViewportW != 640 || e.ViewportH != 480 {
		t.Fatalf("escaped keys: %+v", e)
	}
	if _, err := Decode([]byte(`{"v":1,"page":{"viewport":{"w":-1}}}`), 0); err == nil || !strings.Contains(err.Error(), "page.viewport.w must be between 0 and 1048576") {
		t.Fatalf("viewport range error: %v", err)
	}
}
