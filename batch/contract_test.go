package batch_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// body is an envelope around raw events JSON; extra is spliced in as more
// top-level fields (later keys win for the ones Decode reads).
func body(events string, extra ...string) []byte {
	s := `{"v":1,"siteKey":"k_test","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh","seq":3,` +
		`"clientTime":1763890000000,"page":{"url":"https://a.example/x","referrer":"","viewport":{"w":10,"h":20}}`
	for _, e := range extra {
		s += "," + e
	}
	return []byte(s + `,"events":` + events + `}`)
}

func custom(tag, payload string) string {
	return `[{"type":5,"timestamp":1763890000000,"data":{"tag":"` + tag + `","payload":` + payload + `}}]`
}

// nested is an event whose deepest object or array is at nesting level
// depth, the event object being level 1 and its data level 2.
func nested(depth int) string {
	n := depth - 2
	return `[{"type":3,"timestamp":1,"data":{"source":0,"n":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}]`
}

// store runs what recordings does with a chunk ingest built from an
// accepted envelope: protobuf encoding through the spool and gRPC, the
// contract's chunk check, summary extraction, and encoding the summary
// for the outbox. It returns the stats, or why recordings would refuse.
func store(e batch.Envelope) (summary.ChunkStats, error) {
	c := &recordingsv1.Chunk{SiteId: 3_000_000_001, OrganizationId: 4_000_000_001, RetentionDays: 30,
		ServerTime: timestamppb.New(time.UnixMilli(1763890000000))}
	var ct timestamppb.Timestamp
	var vp recordingsv1.Viewport
	e.Fill(c, &ct, &vp) // exactly ingest's mapping
	wire, err := proto.Marshal(c)
	if err != nil {
		return summary.ChunkStats{}, fmt.Errorf("ingest cannot encode the chunk: %w", err)
	}
	var got recordingsv1.Chunk
	if err := proto.Unmarshal(wire, &got); err != nil {
		return summary.ChunkStats{}, fmt.Errorf("recordings cannot decode the chunk: %w", err)
	}
	if err := batch.CheckChunk(&got); err != nil {
		return summary.ChunkStats{}, fmt.Errorf("CheckChunk: %w", err)
	}
	st, err := summary.Extract(&got, int64(len(wire)), 0)
	if err != nil {
		return st, fmt.Errorf("Extract: %w", err)
	}
	if err := validStrings(reflect.ValueOf(st)); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if _, err := st.Marshal(); err != nil {
		return st, fmt.Errorf("stats do not encode: %w", err)
	}
	sum := summary.Fold([]summary.ChunkStats{st}).Summary(3_000_000_001, got.GetSessionId())
	if _, err := proto.Marshal(sum); err != nil {
		return st, fmt.Errorf("summary does not encode for the outbox: %w", err)
	}
	for _, ts := range []*timestamppb.Timestamp{sum.GetStartTime(), sum.GetEndTime()} {
		if err := ts.CheckValid(); ts != nil && err != nil {
			return st, fmt.Errorf("summary time: %w", err)
		}
	}
	if d := sum.GetDuration(); d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		return st, fmt.Errorf("summary duration %v", d)
	}
	return st, nil
}

// validStrings walks a value and reports a string that is not valid UTF-8.
func validStrings(v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return fmt.Errorf("invalid UTF-8 %q", v.String())
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return validStrings(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if err := validStrings(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := validStrings(v.Index(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// contractCases are the cases of issue 11 and the edges of each rule: the
// body, and "" when ingest must accept it (and recordings then store it)
// or the refusal message it must answer.
var contractCases = []struct {
	name, body, refused string
}{
	// Raw invalid UTF-8 anywhere in events: refused at the edge.
	{"identify userId invalid UTF-8", string(body(custom("sl:identify", "{\"userId\":\"u\xff\xfe\"}"))), "not valid UTF-8"},
	{"identify attribute value invalid UTF-8", string(body(custom("sl:identify", "{\"userId\":\"u\",\"attributes\":{\"plan\":\"p\xc3\"}}"))), "not valid UTF-8"},
	{"identify attribute key invalid UTF-8", string(body(custom("sl:identify", "{\"userId\":\"u\",\"attributes\":{\"k\xff\":\"v\"}}"))), "not valid UTF-8"},
	{"sl:event name invalid UTF-8", string(body(custom("sl:event", "{\"name\":\"sign\xe2\x82up\"}"))), "not valid UTF-8"},
	{"sl:navigation url invalid UTF-8", string(body(custom("sl:navigation", "{\"url\":\"https://a.example/\xff\"}"))), "not valid UTF-8"},
	{"Meta href invalid UTF-8", string(body("[{\"type\":4,\"timestamp\":1,\"data\":{\"href\":\"https://a.example/\xc0\xaf\",\"width\":1,\"height\":1}}]")), "not valid UTF-8"},
	{"UTF-8-encoded surrogate", string(body("[{\"type\":3,\"timestamp\":1,\"data\":{\"t\":\"\xed\xa0\x80\"}}]")), "not valid UTF-8"},
	{"invalid UTF-8 deep inside a snapshot", string(body("[{\"type\":2,\"timestamp\":1,\"data\":{\"node\":{\"childNodes\":[{\"textContent\":\"\xf5\"}]}}}]")), "not valid UTF-8"},
	{"invalid UTF-8 in an unknown envelope field", string(body(custom("sl:error", `{}`), "\"future\":\"\xff\"")), "not valid UTF-8"},
	// Lone surrogate escapes (JSON.stringify emits them): accepted, read as U+FFFD.
	{"identify userId lone high surrogate", string(body(custom("sl:identify", `{"userId":"u\ud800","attributes":{"k\udfff":"\ud800x"}}`))), ""},
	{"sl:event name lone low surrogate", string(body(custom("sl:event", `{"name":"\udc00signup"}`))), ""},
	{"navigation url reversed pair", string(body(custom("sl:navigation", `{"url":"https://a.example/\udc00\ud800","referrer":"\ud83d"}`))), ""},
	{"Meta href surrogate pair", string(body(`[{"type":4,"timestamp":1,"data":{"href":"https://a.example/\ud83d\ude00","width":1,"height":1}}]`)), ""},
	{"page url lone surrogate", string(body(custom("sl:error", `{}`), `"page":{"url":"https://a.example/\ud800"}`)), ""},
	// seq: a JavaScript safe integer.
	{"seq 2^53-1", string(body(custom("sl:error", `{}`), `"seq":9007199254740991`)), ""},
	{"seq 2^53", string(body(custom("sl:error", `{}`), `"seq":9007199254740992`)), "seq must be between 0 and 9007199254740991"},
	{"seq 2^53+1", string(body(custom("sl:error", `{}`), `"seq":9007199254740993`)), "seq must be between 0 and 9007199254740991"},
	{"seq 2^63-1", string(body(custom("sl:error", `{}`), `"seq":9223372036854775807`)), "seq must be between 0 and 9007199254740991"},
	{"seq 2^64", string(body(custom("sl:error", `{}`), `"seq":18446744073709551616`)), "seq must be between 0 and 9007199254740991"},
	{"seq negative", string(body(custom("sl:error", `{}`), `"seq":-1`)), "seq must be between 0"},
	{"seq 1e3", string(body(custom("sl:error", `{}`), `"seq":1e3`)), "seq must be an integer"},
	// clientTime: the timestamp range; null is absent.
	{"clientTime max", string(body(custom("sl:error", `{}`), fmt.Sprintf(`"clientTime":%d`, int64(batch.MaxTimestampMs)))), ""},
	{"clientTime past max", string(body(custom("sl:error", `{}`), fmt.Sprintf(`"clientTime":%d`, int64(batch.MaxTimestampMs)+1))), "clientTime must be between 0 and 9000000000000"},
	{"clientTime 2^63-1", string(body(custom("sl:error", `{}`), `"clientTime":9223372036854775807`)), "clientTime must be between"},
	{"clientTime null", string(body(custom("sl:error", `{}`), `"clientTime":null`)), ""},
	// Nesting: the same MaxDepth on both sides.
	{"nesting 400", string(body(nested(400))), ""},
	{"nesting 1000", string(body(nested(batch.MaxDepth))), ""},
	{"nesting 1001", string(body(nested(batch.MaxDepth + 1))), "nesting deeper than 1000"},
	// timestamp: a finite number of ms within 0..MaxTimestampMs.
	{"timestamp 1e400", string(body(`[{"type":3,"timestamp":1e400,"data":{"source":1}}]`)), "events[0].timestamp must be between 0 and 9000000000000"},
	{"timestamp -1e400", string(body(`[{"type":3,"timestamp":-1e400,"data":{"source":1}}]`)), "events[0].timestamp must be between"},
	{"timestamp 400 digits", string(body(`[{"type":3,"timestamp":1` + strings.Repeat("0", 400) + `}]`)), "events[0].timestamp must be between"},
	{"timestamp negative", string(body(`[{"type":3,"timestamp":-1}]`)), "events[0].timestamp must be between"},
	{"timestamp past max", string(body(`[{"type":3,"timestamp":9000000000001}]`)), "events[0].timestamp must be between"},
	{"timestamp 1e15", string(body(`[{"type":3,"timestamp":1e15}]`)), "events[0].timestamp must be between"},
	{"timestamp string", string(body(`[{"type":3,"timestamp":"1"}]`)), "events[0].timestamp must be a number"},
	{"timestamp null", string(body(`[{"type":3,"timestamp":null}]`)), "events[0].timestamp must be a number"},
	{"timestamp missing", string(body(`[{"type":3}]`)), "events[0].timestamp is required"},
	{"timestamp twice", string(body(`[{"type":3,"timestamp":1,"timestamp":2}]`)), "events[0] has timestamp twice"},
	{"timestamp max", string(body(`[{"type":3,"timestamp":9000000000000}]`)), ""},
	{"timestamp fraction", string(body(`[{"type":3,"timestamp":1763890000000.5}]`)), ""},
	{"timestamp exponent", string(body(`[{"type":3,"timestamp":1.76389e12}]`)), ""},
	{"timestamp -0", string(body(`[{"type":3,"timestamp":-0}]`)), ""},
	// type: an integer in rrweb's range.
	{"type 7", string(body(`[{"type":7,"timestamp":1}]`)), "events[0].type must be an integer from 0 to 6"},
	{"type -1", string(body(`[{"type":-1,"timestamp":1}]`)), "events[0].type must be an integer from 0 to 6"},
	{"type 2.0", string(body(`[{"type":2.0,"timestamp":1}]`)), "events[0].type must be an integer from 0 to 6"},
	{"type 10", string(body(`[{"type":10,"timestamp":1}]`)), "events[0].type must be an integer from 0 to 6"},
	{"type string", string(body(`[{"type":"2","timestamp":1}]`)), "events[0].type must be an integer from 0 to 6"},
	{"type missing", string(body(`[{"timestamp":1}]`)), "events[0].type is required"},
	{"type escaped key", string(body(`[{"\u0074ype":9,"timestamp":1}]`)), "events[0].type must be an integer"},
	{"type 0 and 6", string(body(`[{"type":0,"timestamp":1},{"type":6,"timestamp":2,"data":{"plugin":"x"}}]`)), ""},
	// data: an object, null or absent.
	{"data array", string(body(`[{"type":3,"timestamp":1,"data":[]}]`)), "events[0].data must be an object or null"},
	{"data string", string(body(`[{"type":3,"timestamp":1,"data":"x"}]`)), "events[0].data must be an object or null"},
	{"data null", string(body(`[{"type":4,"timestamp":1,"data":null}]`)), ""},
	{"data absent", string(body(`[{"type":5,"timestamp":1}]`)), ""},
	{"data twice", string(body(`[{"type":3,"timestamp":1,"data":{},"data":{}}]`)), "events[0] has data twice"},
	// Events: an array of objects.
	{"event not an object", string(body(`[{"type":3,"timestamp":1},2]`)), "events[1] must be an object"},
	{"events empty", string(body(`[]`)), "events must not be empty"},
	{"events not an array", string(body(`{}`)), "events must be an array"},
	// Numbers elsewhere are only JSON: recordings clamps what it reads.
	{"click at 1e400", string(body(`[{"type":3,"timestamp":1,"data":{"source":2,"type":2,"x":1e400,"y":-1e400}}]`)), ""},
	{"identify attributes of every kind", string(body(custom("sl:identify", `{"userId":"u","attributes":{"n":1.5e3,"b":true,"a":[1, "x" ,{"y":null}],"o":{"k":"\ud800"},"z":null}}`))), ""},
}

func TestContractCases(t *testing.T) {
	for _, c := range contractCases {
		t.Run(c.name, func(t *testing.T) {
			e, err := batch.Decode([]byte(c.body), 5000)
			if c.refused != "" {
				var be *batch.Error
				if !errors.As(err, &be) || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("Decode: %v, want a refusal with %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode refused: %v", err)
			}
			if _, err := store(e); err != nil {
				t.Fatalf("ingest accepted, recordings would not store: %v", err)
			}
		})
	}
}

// TestLoneSurrogatesReadAsReplacement: what recordings keeps of a lone
// surrogate escape is U+FFFD, and a proper pair is its character.
func TestLoneSurrogatesReadAsReplacement(t *testing.T) {
	events := `[{"type":4,"timestamp":1,"data":{"href":"https://a.example/\ud83d\ude00\ud800","width":1,"height":1}},` +
		`{"type":5,"timestamp":2,"data":{"tag":"sl:identify","payload":{"userId":"u\udc00","attributes":{"k\ud800":"v\ud800","n":5}}}},` +
		`{"type":5,"timestamp":3,"data":{"tag":"sl:event","payload":{"name":"\ud800go"}}},` +
		`{"type":5,"timestamp":4,"data":{"tag":"sl:navigation","payload":{"url":"/\udfff","referrer":"\ud800\ud800"}}}]`
	e, err := batch.Decode(body(events, `"page":{"url":""}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store(e)
	if err != nil {
		t.Fatal(err)
	}
	want := summary.ChunkStats{}
	want.URL = "https://a.example/😀\uFFFD"
	if st.URL != want.URL {
		t.Errorf("URL %q, want %q", st.URL, want.URL)
	}
	if len(st.Identifies) != 1 || st.Identifies[0].UserID != "u\uFFFD" ||
		fmt.Sprint(st.Identifies[0].Attrs) != fmt.Sprint([][2]string{{"k\uFFFD", "v\uFFFD"}, {"n", "5"}}) {
		t.Errorf("identify %+v", st.Identifies)
	}
	if fmt.Sprint(st.CustomEvents) != "[\uFFFDgo]" {
		t.Errorf("custom events %q", st.CustomEvents)
	}
	if len(st.Navs) != 1 || st.Navs[0].URL != "/\uFFFD" || st.Navs[0].Referrer != "\uFFFD\uFFFD" {
		t.Errorf("navs %+v", st.Navs)
	}
	// The events are stored as sent: the escapes, not the replacement.
	if !strings.Contains(string(e.Events), `\ud800`) {
		t.Errorf("events were rewritten")
	}
}

// TestDeepEventAcceptedAndExtracted: a 1000-deep event (a deep DOM) passes
// ingest's Decode and is read by summary.Extract; 1001 is refused by both.
func TestDeepEventAcceptedAndExtracted(t *testing.T) {
	deep := `[{"type":2,"timestamp":1763890000000,"data":{"node":` + strings.Repeat(`{"childNodes":[`, (batch.MaxDepth-2)/2) +
		strings.Repeat(`]}`, (batch.MaxDepth-2)/2) + `}},{"type":3,"timestamp":1763890000100,"data":{"source":2,"type":2,"x":5,"y":6}}]`
	e, err := batch.Decode(body(deep), 0)
	if err != nil {
		t.Fatalf("ingest refused a %d-deep event: %v", batch.MaxDepth, err)
	}
	st, err := store(e)
	if err != nil {
		t.Fatalf("recordings refused a %d-deep event: %v", batch.MaxDepth, err)
	}
	if st.FullSnapshotMs != 1763890000000 || st.ClickCount != 1 || st.EventCount != 2 {
		t.Errorf("stats %+v", st)
	}
	tooDeep := strings.Replace(deep, `"node":`, `"node":[`, 1)
	tooDeep = strings.Replace(tooDeep, `}},{"type":3`, `]}},{"type":3`, 1)
	if _, err := batch.Decode(body(tooDeep), 0); err == nil || !strings.Contains(err.Error(), "nesting deeper than 1000") {
		t.Errorf("ingest: %v, want nesting refused", err)
	}
	if _, err := summary.Extract(&recordingsv1.Chunk{Events: []byte(tooDeep)}, 1, 0); err == nil {
		t.Errorf("Extract accepted %d levels", batch.MaxDepth+1)
	}
}

// TestCheckChunk covers the chunk fields recordings checks with the
// contract (a chunk that did not come through ingest's Decode).
func TestCheckChunk(t *testing.T) {
	good := func() *recordingsv1.Chunk {
		return &recordingsv1.Chunk{SiteId: 3_000_000_001, OrganizationId: 4_000_000_001, SessionId: "s_abcdefgh",
			VisitorId: "v_abcdefgh", PageViewId: "p_abcdefgh", Seq: 1, Url: "https://a.example/",
			Events: []byte(`[{"type":3,"timestamp":1}]`)}
	}
	if err := batch.CheckChunk(good()); err != nil {
		t.Fatalf("good chunk: %v", err)
	}
	cases := map[string]struct {
		mut  func(c *recordingsv1.Chunk)
		want string
	}{
		"nil site":          {func(c *recordingsv1.Chunk) { c.SiteId = 0 }, "site_id must be positive"},
		"negative org":      {func(c *recordingsv1.Chunk) { c.OrganizationId = -1 }, "organization_id"},
		"seq 2^53":          {func(c *recordingsv1.Chunk) { c.Seq = 1 << 53 }, "seq must be between 0 and 9007199254740991"},
		"seq 2^63-1":        {func(c *recordingsv1.Chunk) { c.Seq = 1<<63 - 1 }, "seq must be between"},
		"session id":        {func(c *recordingsv1.Chunk) { c.SessionId = "s_bad/../x" }, "sessionId"},
		"visitor prefix":    {func(c *recordingsv1.Chunk) { c.VisitorId = "x_abcdefgh" }, "visitorId"},
		"page view short":   {func(c *recordingsv1.Chunk) { c.PageViewId = "p_1" }, "pageViewId"},
		"url long":          {func(c *recordingsv1.Chunk) { c.Url = strings.Repeat("u", batch.MaxURLBytes+1) }, "url and referrer must be at most 8192 bytes"},
		"referrer UTF-8":    {func(c *recordingsv1.Chunk) { c.Referrer = "\xff" }, "valid UTF-8"},
		"events empty":      {func(c *recordingsv1.Chunk) { c.Events = nil }, "events must not be empty"},
		"events deep":       {func(c *recordingsv1.Chunk) { c.Events = []byte(nested(batch.MaxDepth + 1)) }, "nesting deeper"},
		"events trailing":   {func(c *recordingsv1.Chunk) { c.Events = []byte(`[{"type":3,"timestamp":1}] x`) }, "trailing data"},
		"viewport":          {func(c *recordingsv1.Chunk) { c.Viewport = &recordingsv1.Viewport{Width: -1} }, "viewport"},
		"client time":       {func(c *recordingsv1.Chunk) { c.ClientTime = timestamppb.New(time.UnixMilli(batch.MaxTimestampMs + 1)) }, "client_time must be between"},
		"client time early": {func(c *recordingsv1.Chunk) { c.ClientTime = timestamppb.New(time.UnixMilli(-1)) }, "client_time must be between"},
		"server time":       {func(c *recordingsv1.Chunk) { c.ServerTime = &timestamppb.Timestamp{Nanos: -1} }, "server_time"},
	}
	for name, tc := range cases {
		c := good()
		tc.mut(c)
		if err := batch.CheckChunk(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// seeds are the cases and the example batches, for the fuzz
// targets.
func seeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, c := range contractCases {
		out = append(out, []byte(c.body))
	}
	files, err := filepath.Glob("../svc-ingest/testdata/batch-*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata batches: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzContract is the differential target of issue 11: the same body goes
// to ingest's acceptance (Decode, with the contract's event checks) and,
// when ingest accepts it, through everything recordings does before it
// stores a chunk. Ingest accepting what recordings refuses is a failure:
// that is a batch answered 204 and then lost.
func FuzzContract(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := batch.Decode(b, 5000)
		if err != nil {
			var be *batch.Error
			if !errors.As(err, &be) && !errors.Is(err, batch.ErrTooManyEvents) {
				t.Fatalf("refusal is not a batch.Error: %v", err)
			}
			return
		}
		if _, err := store(e); err != nil {
			t.Fatalf("ingest accepts, recordings refuses: %v\nbody: %q", err, b)
		}
	})
}

// FuzzEvents compares the contract's event check with recordings'
// extraction on raw events: Extract succeeds exactly when ValidateEvents
// does, so recordings can neither refuse a valid chunk nor read one the
// contract refuses.
func FuzzEvents(f *testing.F) {
	for _, b := range seeds(f) {
		if e, err := batch.Decode(b, 0); err == nil {
			f.Add(e.Events)
		}
	}
	f.Add([]byte(nested(batch.MaxDepth)))
	f.Add([]byte(nested(batch.MaxDepth + 1)))
	f.Add([]byte("[{\"type\":5,\"timestamp\":1,\"data\":{\"tag\":\"sl:identify\",\"payload\":{\"userId\":\"u\xff\"}}}]"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		verr := batch.ValidateEvents(raw)
		st, xerr := summary.Extract(&recordingsv1.Chunk{Events: raw}, 1, 0)
		if (verr == nil) != (xerr == nil) {
			t.Fatalf("ValidateEvents: %v, Extract: %v", verr, xerr)
		}
		if xerr == nil {
			if err := validStrings(reflect.ValueOf(st)); err != nil {
				t.Fatal(err)
			}
			if st.FirstMs < 0 || st.LastMs > batch.MaxTimestampMs || st.FirstMs > st.LastMs {
				t.Fatalf("times %d..%d", st.FirstMs, st.LastMs)
			}
		}
	})
}
