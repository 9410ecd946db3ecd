package batch_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

const hitBody = `{"v":1,"sessionId":"s_abcdef12","visitorId":"v_abcdef12","recorded":true,"screen":[1920,1080],
 "hits":[{"kind":"pageview","pageViewId":"p_abcdef12","time":1764460800123,"url":"https://shop.example.com/a?x=1","referrer":"https://www.google.com/"},
         {"kind":"leave","pageViewId":"p_abcdef12","time":1764460815357,"duration":15234},
         {"kind":"event","pageViewId":"p_abcdef12","time":1764460810000,"name":"signup"}]}`

func TestDecodeHits(t *testing.T) {
	h, err := batch.DecodeHits([]byte(hitBody))
	if err != nil {
		t.Fatal(err)
	}
	if h.SessionID != "s_abcdef12" || h.VisitorID != "v_abcdef12" || !h.Recorded || h.ScreenW != 1920 || h.ScreenH != 1080 {
		t.Fatalf("envelope: %+v", h)
	}
	if len(h.Hits) != 3 || h.MaxTime != 1764460815357 {
		t.Fatalf("hits: %d, max time %d", len(h.Hits), h.MaxTime)
	}
	want := []batch.Hit{
		{Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, PageViewID: "p_abcdef12", Time: 1764460800123, URL: "https://shop.example.com/a?x=1", Referrer: "https://www.google.com/"},
		{Kind: sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, PageViewID: "p_abcdef12", Time: 1764460815357, Duration: 15234},
		{Kind: sessionsv1.HitKind_HIT_KIND_EVENT, PageViewID: "p_abcdef12", Time: 1764460810000, Name: "signup"},
	}
	for i := range want {
		if h.Hits[i] != want[i] {
			t.Errorf("hit %d = %+v, want %+v", i, h.Hits[i], want[i])
		}
	}
	accept := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var c recordingsv1.Chunk
	h.Fill(&c, 0, accept)
	c.SiteId = 7
	if got := c.GetServerTime().AsTime(); !got.Equal(accept.Add(-15234 * time.Millisecond)) {
		t.Errorf("server time %v, want accept - 15.234s", got)
	}
	if got := c.GetClientTime().AsTime().UnixMilli(); got != 1764460800123 {
		t.Errorf("client time %d", got)
	}
	if c.GetHit().GetKind() != sessionsv1.HitKind_HIT_KIND_PAGE_VIEW || !c.GetHit().GetRecorded() || c.GetHit().GetScreenWidth() != 1920 {
		t.Errorf("hit %v", c.GetHit())
	}
	if err := batch.CheckHit(&c); err != nil {
		t.Errorf("CheckHit: %v", err)
	}
	h.Fill(&c, 1, accept)
	if c.GetHit().GetDuration().AsDuration() != 15234*time.Millisecond || !c.GetServerTime().AsTime().Equal(accept) {
		t.Errorf("leave: %v at %v", c.GetHit().GetDuration().AsDuration(), c.GetServerTime().AsTime())
	}
}

func TestHitServerTime(t *testing.T) {
	accept := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		max, t int64
		want   time.Duration
	}{
		{1000, 1000, 0}, {1000, 400, -600 * time.Millisecond},
		{10_000_000, 1, -time.Hour}, // clamped to an hour back
	} {
		if got := batch.HitServerTime(accept, tc.max, tc.t); got.Sub(accept) != tc.want {
			t.Errorf("HitServerTime(%d, %d) = accept%+v, want %+v", tc.max, tc.t, got.Sub(accept), tc.want)
		}
	}
}

func TestDecodeHitsDurationCapped(t *testing.T) {
	b := strings.Replace(hitBody, `"duration":15234`, `"duration":999999999999`, 1)
	h, err := batch.DecodeHits([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if h.Hits[1].Duration != batch.MaxLeave.Milliseconds() {
		t.Fatalf("duration %d not capped", h.Hits[1].Duration)
	}
}

func TestDecodeHitsRefuses(t *testing.T) {
	one := func(hit string) string {
		return `{"v":1,"sessionId":"s_abcdef12","visitorId":"v_abcdef12","hits":[` + hit + `]}`
	}
	pv := `{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"https://a.example/"}`
	many := strings.Repeat(pv+",", batch.MaxHits) + pv
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `hello`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"trailing", one(pv) + `x`, "trailing data"},
		{"version", strings.Replace(one(pv), `"v":1`, `"v":2`, 1), "unsupported version"},
		{"no version", strings.Replace(one(pv), `"v":1,`, ``, 1), "unsupported version"},
		{"no session", strings.Replace(one(pv), `"sessionId":"s_abcdef12",`, ``, 1), "sessionId is required"},
		{"bad session", strings.Replace(one(pv), `s_abcdef12`, `x_abcdef12`, 1), "sessionId must be s_"},
		{"no visitor", strings.Replace(one(pv), `"visitorId":"v_abcdef12",`, ``, 1), "visitorId is required"},
		{"no hits", `{"v":1,"sessionId":"s_abcdef12","visitorId":"v_abcdef12"}`, "hits must hold 1-20"},
		{"empty hits", `{"v":1,"sessionId":"s_abcdef12","visitorId":"v_abcdef12","hits":[]}`, "hits must hold 1-20"},
		{"too many hits", one(many), "at most 20 elements"},
		{"hits not array", `{"v":1,"hits":{}}`, "hits must be an array"},
		{"no kind", one(`{"pageViewId":"p_abcdef12","time":1}`), "hits[0].kind is required"},
		{"bad kind", one(`{"kind":"click","pageViewId":"p_abcdef12","time":1}`), "kind must be"},
		{"no time", one(`{"kind":"pageview","pageViewId":"p_abcdef12","url":"https://a.example/"}`), "hits[0].time is required"},
		{"negative time", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":-5,"url":"https://a.example/"}`), "hits[].time must be between"},
		{"float time", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1.5,"url":"https://a.example/"}`), "hits[].time must be an integer"},
		{"bad page view id", one(`{"kind":"pageview","pageViewId":"p_a","time":1,"url":"https://a.example/"}`), "pageViewId must be p_"},
		{"no url", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1}`), "url is required for a pageview"},
		{"javascript url", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"javascript:alert(1)"}`), "http or https"},
		{"long url", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"https://a.example/` + strings.Repeat("a", 2048) + `"}`), "at most 2048 bytes"},
		{"long referrer", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"https://a.example/","referrer":"` + strings.Repeat("a", 2049) + `"}`), "at most 2048 bytes"},
		{"leave without duration", one(`{"kind":"leave","pageViewId":"p_abcdef12","time":1}`), "duration is required"},
		{"negative duration", one(`{"kind":"leave","pageViewId":"p_abcdef12","time":1,"duration":-1}`), "duration must be between"},
		{"duration on pageview", one(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"https://a.example/","duration":5}`), "duration is for a leave only"},
		{"event without name", one(`{"kind":"event","pageViewId":"p_abcdef12","time":1}`), "name is required"},
		{"event empty name", one(`{"kind":"event","pageViewId":"p_abcdef12","time":1,"name":""}`), "name is required"},
		{"event long name", one(`{"kind":"event","pageViewId":"p_abcdef12","time":1,"name":"` + strings.Repeat("é", 101) + `"}`), "at most 100 characters"},
		{"name on leave", one(`{"kind":"leave","pageViewId":"p_abcdef12","time":1,"duration":1,"name":"x"}`), "name is for an event only"},
		{"screen one value", strings.Replace(one(pv), `"hits"`, `"screen":[1],"hits"`, 1), "screen must be [width, height]"},
		{"screen three values", strings.Replace(one(pv), `"hits"`, `"screen":[1,2,3],"hits"`, 1), "at most 2 elements"},
		{"screen negative", strings.Replace(one(pv), `"hits"`, `"screen":[-1,2],"hits"`, 1), "screen[] must be between"},
		{"recorded string", strings.Replace(one(pv), `"hits"`, `"recorded":"yes","hits"`, 1), "recorded must be a boolean"},
		{"invalid utf-8", one("{\"kind\":\"event\",\"pageViewId\":\"p_abcdef12\",\"time\":1,\"name\":\"\xff\"}"), "UTF-8"},
		{"too large", `{"x":"` + strings.Repeat("a", batch.MaxHitBytes) + `"}`, "larger than 8192 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batch.DecodeHits([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted %s", tc.body)
			}
			var be *batch.Error
			if !errors.As(err, &be) {
				t.Fatalf("not a *batch.Error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeHitsSkipsUnknownAndNulls(t *testing.T) {
	b := `{"v":1,"future":{"a":[1,2]},"sessionId":"s_abcdef12","visitorId":"v_abcdef12","recorded":null,"screen":null,
	 "hits":[{"kind":"pageview","pageViewId":"p_abcdef12","time":5,"url":"HTTPS://A.example/","referrer":null,"extra":[{}]}]}`
	h, err := batch.DecodeHits([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if h.Recorded || h.ScreenW != 0 || h.Hits[0].Referrer != "" {
		t.Fatalf("%+v", h)
	}
}

func validHitChunk() *recordingsv1.Chunk {
	return &recordingsv1.Chunk{
		SiteId: 1, SessionId: "s_abcdef12", VisitorId: "v_abcdef12", PageViewId: "p_abcdef12",
		ServerTime: timestamppb.New(time.UnixMilli(1764460800123)), Url: "https://a.example/",
		Hit: &sessionsv1.Hit{Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW},
	}
}

func TestCheckHit(t *testing.T) {
	if err := batch.CheckHit(validHitChunk()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(c *recordingsv1.Chunk)
		want string
	}{
		{"nil hit", func(c *recordingsv1.Chunk) { c.Hit = nil }, "no hit"},
		{"site", func(c *recordingsv1.Chunk) { c.SiteId = 0 }, "site_id"},
		{"events", func(c *recordingsv1.Chunk) { c.Events = []byte("[]") }, "no events"},
		{"session id", func(c *recordingsv1.Chunk) { c.SessionId = "s_!" }, "sessionId"},
		{"no server time", func(c *recordingsv1.Chunk) { c.ServerTime = nil }, "server_time"},
		{"kind", func(c *recordingsv1.Chunk) { c.Hit.Kind = 9 }, "hit kind"},
		{"page view without url", func(c *recordingsv1.Chunk) { c.Url = "" }, "http or https"},
		{"long url", func(c *recordingsv1.Chunk) { c.Url = "https://a/" + strings.Repeat("a", 2048) }, "2048"},
		{"leave without duration", func(c *recordingsv1.Chunk) { c.Hit.Kind = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE }, "duration"},
		{"leave too long", func(c *recordingsv1.Chunk) {
			c.Hit.Kind, c.Hit.Duration = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, durationpb.New(25*time.Hour)
		}, "duration must be between"},
		{"event without name", func(c *recordingsv1.Chunk) { c.Hit.Kind = sessionsv1.HitKind_HIT_KIND_EVENT }, "needs a name"},
		{"event name on page view", func(c *recordingsv1.Chunk) { c.Hit.Event = "x" }, "EVENT only"},
		{"screen", func(c *recordingsv1.Chunk) { c.Hit.ScreenWidth = -1 }, "screen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validHitChunk()
			tc.mod(c)
			err := batch.CheckHit(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckHit = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeHits: DecodeHits never panics, refuses with a *batch.Error,
// and every hit it accepts, as ingest fills it into a chunk, passes
// CheckHit after a round trip through the wire (what search checks).
func FuzzDecodeHits(f *testing.F) {
	for _, s := range []string{
		hitBody, `{}`, `{"v":1}`, `{"v":1,"hits":[{}]}`, `{"screen":[1,2]}`,
		strings.Replace(hitBody, "signup", `\ud800\u00e9`, 1),
		strings.Replace(hitBody, `"duration":15234`, `"duration":1e3`, 1),
		`{"v":1,"x":[[[[[{"a":null}]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	accept := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := batch.DecodeHits(b)
		if err != nil {
			var be *batch.Error
			if !errors.As(err, &be) {
				t.Fatalf("refusal is not a *batch.Error: %v", err)
			}
			return
		}
		if len(h.Hits) == 0 || len(h.Hits) > batch.MaxHits {
			t.Fatalf("accepted %d hits", len(h.Hits))
		}
		for i := range h.Hits {
			c := &recordingsv1.Chunk{SiteId: 1}
			h.Fill(c, i, accept)
			if st := c.GetServerTime().AsTime(); st.After(accept) || st.Before(accept.Add(-batch.MaxHitSkew)) {
				t.Fatalf("server time %v outside [accept-1h, accept]", st)
			}
			wire, err := proto.Marshal(c)
			if err != nil {
				t.Fatalf("accepted hit does not encode: %v", err)
			}
			var got recordingsv1.Chunk
			if err := proto.Unmarshal(wire, &got); err != nil {
				t.Fatalf("accepted hit does not decode: %v", err)
			}
			if err := batch.CheckHit(&got); err != nil {
				t.Fatalf("accepted but not storable: %v\n%s", err, b)
			}
		}
	})
}
