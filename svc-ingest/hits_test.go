package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	contract "github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// trafficServer is search's TrafficService as ingest's traffic forwarder
// meets it: AppendHits with per-chunk outcomes, idempotent by (site, page
// view, kind, event, client time), refusing what batch.CheckHit refuses.
type trafficServer struct {
	trafficv1.UnimplementedTrafficInternalServiceServer
	mu    sync.Mutex
	hits  map[string]*recordingsv1.Chunk
	order []string
	calls int
	// fail fails every call (an outage); refuse refuses matching chunks.
	fail   error
	refuse func(*recordingsv1.Chunk) bool
}

func newTrafficServer() *trafficServer {
	return &trafficServer{hits: map[string]*recordingsv1.Chunk{}}
}

func hitKey(c *recordingsv1.Chunk) string {
	return fmt.Sprint(c.GetSiteId(), "/", c.GetPageViewId(), "/", c.GetHit().GetKind(), "/", c.GetHit().GetEvent(), "/", c.GetClientTime().AsTime().UnixMilli())
}

func (s *trafficServer) AppendHits(_ context.Context, req *trafficv1.AppendHitsRequest) (*trafficv1.AppendHitsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return nil, s.fail
	}
	var resp trafficv1.AppendHitsResponse
	for _, c := range req.GetChunks() {
		if err := contract.CheckHit(c); err != nil || (s.refuse != nil && s.refuse(c)) {
			resp.Refused++
			resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED, Reason: "refused (test)"})
			continue
		}
		k := hitKey(c)
		if _, ok := s.hits[k]; ok {
			resp.Duplicates++
			resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE})
			continue
		}
		s.hits[k] = c
		s.order = append(s.order, k)
		resp.Stored++
		resp.Results = append(resp.Results, &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED})
	}
	return &resp, nil
}

func (s *trafficServer) setFail(err error) { s.mu.Lock(); s.fail = err; s.mu.Unlock() }

func (s *trafficServer) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.hits) }

// stored returns the stored hits in arrival order.
func (s *trafficServer) stored() []*recordingsv1.Chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*recordingsv1.Chunk, len(s.order))
	for i, k := range s.order {
		out[i] = s.hits[k]
	}
	return out
}

func (s *trafficServer) wait(t *testing.T, n int, within time.Duration) {
	t.Helper()
	poll.Until(t, within, func() error {
		if c := s.count(); c < n {
			return fmt.Errorf("%d of %d hits arrived at search", c, n)
		}
		return nil
	})
}

// hitBody is a beacon body of session i: a page view, an event 5 s later
// and the page view's end 10 s after it (times on the tracker's clock,
// which is a day off: only the spacing counts).
func hitBody(i int) []byte {
	const t0 = 1764460800000 - 24*3600*1000
	pv := fmt.Sprintf("p_hit%05d", i)
	return fmt.Appendf(nil, `{"v":1,"sessionId":"s_hit%05d","visitorId":"v_hit%05d","recorded":true,"screen":[1920,1080],"hits":[`+
		`{"kind":"pageview","pageViewId":"%s","time":%d,"url":"https://shop.example.com/pricing?plan=pro","referrer":"https://www.google.com/"},`+
		`{"kind":"event","pageViewId":"%s","time":%d,"name":"signup"},`+
		`{"kind":"leave","pageViewId":"%s","time":%d,"duration":10000}]}`,
		i, i, pv, t0, pv, t0+5000, pv, t0+10000)
}

func (e *env) postHit(r req) (*http.Response, string) {
	e.t.Helper()
	if r.query == "" {
		r.query = "k=" + siteKey
	}
	return e.send("/i/v1/hit", r)
}

func TestHitBodyDelivered(t *testing.T) {
	e := newEnv(t, nil)
	e.run()
	before := time.Now()
	resp, msg := e.postHit(req{body: hitBody(1)})
	after := time.Now()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, msg)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example.com" {
		t.Errorf("CORS origin %q", got)
	}
	e.traf.wait(t, 3, 5*time.Second)
	hits := e.traf.stored()
	byKind := map[sessionsv1.HitKind]*recordingsv1.Chunk{}
	for _, c := range hits {
		byKind[c.GetHit().GetKind()] = c
		if c.GetSiteId() != siteID || c.GetOrganizationId() != orgID || c.GetSessionId() != "s_hit00001" ||
			c.GetVisitorId() != "v_hit00001" || c.GetPageViewId() != "p_hit00001" {
			t.Errorf("ids: %v", c)
		}
		if c.GetClient().GetBrowser() != "Chrome" || c.GetClient().GetDeviceType() != sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP {
			t.Errorf("client not enriched: %v", c.GetClient())
		}
		if len(c.GetTraceparent()) < 55 {
			t.Errorf("traceparent %q", c.GetTraceparent())
		}
		if h := c.GetHit(); !h.GetRecorded() || h.GetScreenWidth() != 1920 || h.GetScreenHeight() != 1080 {
			t.Errorf("hit %v", h)
		}
		if len(c.GetEvents()) != 0 || c.GetSeq() != 0 {
			t.Errorf("a hit chunk with events or a seq: %v", c)
		}
	}
	pv, ev, lv := byKind[sessionsv1.HitKind_HIT_KIND_PAGE_VIEW], byKind[sessionsv1.HitKind_HIT_KIND_EVENT], byKind[sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE]
	if pv == nil || ev == nil || lv == nil {
		t.Fatalf("kinds: %v", byKind)
	}
	if pv.GetUrl() != "https://shop.example.com/pricing?plan=pro" || pv.GetReferrer() != "https://www.google.com/" {
		t.Errorf("page view url %q referrer %q", pv.GetUrl(), pv.GetReferrer())
	}
	if ev.GetHit().GetEvent() != "signup" || lv.GetHit().GetDuration().AsDuration() != 10*time.Second {
		t.Errorf("event %q, leave %v", ev.GetHit().GetEvent(), lv.GetHit().GetDuration().AsDuration())
	}
	// Server times: the latest hit at acceptance, the others as far before
	// as the tracker's clock says, whatever that clock's offset.
	accept := lv.GetServerTime().AsTime()
	if accept.Before(before.Add(-time.Millisecond)) || accept.After(after) {
		t.Errorf("the latest hit's server time %v is not the acceptance (%v-%v)", accept, before, after)
	}
	if d := accept.Sub(pv.GetServerTime().AsTime()); d != 10*time.Second {
		t.Errorf("page view %v before the leave, want 10s", d)
	}
	if d := accept.Sub(ev.GetServerTime().AsTime()); d != 5*time.Second {
		t.Errorf("event %v before the leave, want 5s", d)
	}
	if pv.GetClientTime().AsTime().UnixMilli() != 1764460800000-24*3600*1000 {
		t.Errorf("client time %v", pv.GetClientTime().AsTime())
	}
	if e.rec.count() != 0 {
		t.Errorf("%d records went to recordings", e.rec.count())
	}
	// Re-delivery of the same body changes nothing at search.
	if resp, msg := e.postHit(req{body: hitBody(1)}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("again: %d %s", resp.StatusCode, msg)
	}
	if m, _, _ := e.getBootstrap(siteKey); m["hitEndpoint"] != e.srv.URL+"/i/v1/hit" {
		t.Errorf("bootstrap hitEndpoint %v", m["hitEndpoint"])
	}
}

func TestHitRefusals(t *testing.T) {
	e := newEnv(t, nil)
	many := strings.Repeat(`{"kind":"event","pageViewId":"p_abcdef12","time":1,"name":"x"},`, contract.MaxHits) +
		`{"kind":"event","pageViewId":"p_abcdef12","time":1,"name":"x"}`
	body := func(hits string) []byte {
		return []byte(`{"v":1,"sessionId":"s_abcdef12","visitorId":"v_abcdef12","hits":[` + hits + `]}`)
	}
	for _, tc := range []struct {
		name string
		r    req
		code int
		want string
	}{
		{"not json", req{body: []byte("nope")}, 400, "not a JSON object"},
		{"no hits", req{body: body("")}, 400, "hits must hold 1-20"},
		{"bad kind", req{body: body(`{"kind":"x","pageViewId":"p_abcdef12","time":1}`)}, 400, "kind must be"},
		{"bad url", req{body: body(`{"kind":"pageview","pageViewId":"p_abcdef12","time":1,"url":"ftp://shop.example.com/"}`)}, 400, "http or https"},
		{"negative duration", req{body: body(`{"kind":"leave","pageViewId":"p_abcdef12","time":1,"duration":-4}`)}, 400, "duration must be between"},
		{"bad visitor", req{body: []byte(`{"v":1,"sessionId":"s_abcdef12","visitorId":"visitor","hits":[]}`)}, 400, "hits must hold"},
		{"more than 20 hits", req{body: body(many)}, 400, "at most 20 elements"},
		{"too large", req{body: []byte(`{"pad":"` + strings.Repeat("a", 9000) + `"}`)}, 413, "exceeds 8192"},
		{"no site key", req{query: "x=1", body: hitBody(1)}, 400, "site key is required"},
		{"unknown site", req{query: "k=k_nope000000000", body: hitBody(1)}, 403, "unknown site key"},
		{"foreign origin", req{body: hitBody(1), headers: map[string]string{"Origin": "https://evil.example"}}, 403, "not one of the site's domains"},
		{"foreign url without origin", req{body: []byte(strings.ReplaceAll(string(hitBody(1)), "shop.example.com", "evil.example")), headers: map[string]string{"Origin": ""}}, 403, "not one of the site's domains"},
		{"no url without origin", req{body: body(`{"kind":"event","pageViewId":"p_abcdef12","time":1,"name":"x"}`), headers: map[string]string{"Origin": ""}}, 403, "no Origin header"},
		{"content type", req{body: hitBody(1), headers: map[string]string{"Content-Type": "image/png"}}, 415, "unsupported Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, msg := e.postHit(tc.r)
			if resp.StatusCode != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("got %d %q, want %d mentioning %q", resp.StatusCode, msg, tc.code, tc.want)
			}
		})
	}
	if st := e.svc.hitSpool.Stats(); st.Records != 0 {
		t.Fatalf("refused bodies spooled %d hits", st.Records)
	}
	// Without an Origin header a page view's URL on the site's domain admits the body.
	if resp, msg := e.postHit(req{body: hitBody(2), headers: map[string]string{"Origin": ""}}); resp.StatusCode != 204 {
		t.Fatalf("no Origin, own URL: %d %s", resp.StatusCode, msg)
	}
	if st := e.svc.hitSpool.Stats(); st.Records != 3 {
		t.Fatalf("%d hits spooled, want 3", st.Records)
	}
	// Hits never touch the batches' spool.
	if st := e.svc.spool.Stats(); st.Records != 0 {
		t.Fatalf("%d records in the batches' spool", st.Records)
	}
	// ingest.hit-max-per-body below the contract's 20: 413.
	e = newEnv(t, func(c *Config) { c.HitMaxPerBody = 2 })
	if resp, msg := e.postHit(req{body: hitBody(1)}); resp.StatusCode != 413 || !strings.Contains(msg, "more than 2 hits") {
		t.Fatalf("3 hits over a limit of 2: %d %s", resp.StatusCode, msg)
	}
}

func TestHitPreflight(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.preflight("/i/v1/hit?k="+siteKey, "https://shop.example.com", "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHitRates(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.HitRatePerIP = 1; c.HitBurstPerIP = 2 })
		checkRate(t, e, "hit_rate_ip")
		// The batches' per-IP rate is another bucket: a batch still passes.
		if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
			t.Fatalf("batch after the hit rate: %d", resp.StatusCode)
		}
	})
	t.Run("per site", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.HitRatePerSite = 1; c.HitBurstPerSite = 2 })
		checkRate(t, e, "hit_rate_site")
	})
}

// checkRate posts three bodies: two pass (the burst), the third gets 429
// with Retry-After, readable by the page.
func checkRate(t *testing.T, e *env, limit string) {
	t.Helper()
	for i := range 3 {
		resp, msg := e.postHit(req{body: hitBody(i)})
		if i < 2 {
			if resp.StatusCode != 204 {
				t.Fatalf("body %d: %d %s", i, resp.StatusCode, msg)
			}
			continue
		}
		if resp.StatusCode != 429 {
			t.Fatalf("body %d: %d %s, want 429", i, resp.StatusCode, msg)
		}
		if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatal("429 without CORS: the tracker cannot read Retry-After")
		}
	}
	if hits := e.limitHits(t); hits[limit] != 1 {
		t.Fatalf("limit hits %v", hits)
	}
}

func TestHitNotSubjectToSessionQuota(t *testing.T) {
	e := newEnv(t, nil)
	// The quota site allows 10 recorded sessions a day; traffic counts all.
	for i := range 15 {
		body := []byte(strings.ReplaceAll(string(hitBody(i)), "shop.example.com", "quota.example"))
		resp, msg := e.postHit(req{query: "k=" + quotaKey, body: body, headers: map[string]string{"Origin": "https://quota.example"}})
		if resp.StatusCode != 204 {
			t.Fatalf("body %d: %d %s", i, resp.StatusCode, msg)
		}
	}
	if st := e.svc.hitSpool.Stats(); st.Records != 45 {
		t.Fatalf("%d hits spooled, want 45", st.Records)
	}
}

func TestHitBotAndDNTDropped(t *testing.T) {
	e := newEnv(t, nil)
	e.run()
	bot := "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	if resp, msg := e.postHit(req{body: hitBody(1), headers: map[string]string{"User-Agent": bot}}); resp.StatusCode != 204 {
		t.Fatalf("bot: %d %s", resp.StatusCode, msg)
	}
	body := []byte(strings.ReplaceAll(string(hitBody(2)), "shop.example.com", "dnt.example"))
	if resp, msg := e.postHit(req{query: "k=" + dntKey, body: body, headers: map[string]string{"Origin": "https://dnt.example", "DNT": "1"}}); resp.StatusCode != 204 {
		t.Fatalf("dnt: %d %s", resp.StatusCode, msg)
	}
	// A real visitor's hits after them arrive; the bot's and DNT's never.
	if resp, _ := e.postHit(req{body: hitBody(3)}); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	e.traf.wait(t, 3, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // room for a dropped hit to show up, were it sent
	for _, c := range e.traf.stored() {
		if c.GetSessionId() != "s_hit00003" {
			t.Fatalf("a dropped hit arrived: %v", c)
		}
	}
	if hits := e.limitHits(t); hits["hit_bot"] != 1 || hits["dnt"] != 1 {
		t.Fatalf("limit hits %v", hits)
	}
}

func TestHitSpoolFull(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HitSpoolMaxBytes = 1500 })
	var codes []int
	for i := range 6 {
		resp, msg := e.postHit(req{body: hitBody(i)})
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 503 {
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || !strings.Contains(msg, "traffic spool full") {
				t.Fatalf("503 %q Retry-After %q", msg, resp.Header.Get("Retry-After"))
			}
		}
	}
	if codes[0] != 204 || codes[5] != 503 {
		t.Fatalf("codes %v", codes)
	}
	// All or none of a body: the spool holds whole bodies of three hits.
	if n := e.svc.hitSpool.Stats().Records; n%3 != 0 {
		t.Fatalf("%d hits spooled: a body was cut", n)
	}
	// Batches still go into their own spool.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
		t.Fatalf("batch with the traffic spool full: %d", resp.StatusCode)
	}
}

// TestHitSearchOutage: while search is down, beacons are still answered
// 204 and wait in the traffic spool, batches keep flowing to recordings
// (the point of two spools), and once search is back every hit arrives.
func TestHitSearchOutage(t *testing.T) {
	e := newEnv(t, nil)
	e.traf.setFail(status.Error(codes.Unavailable, "search is down (test)"))
	e.run()
	const bodies = 10
	for i := range bodies {
		if resp, msg := e.postHit(req{body: hitBody(i)}); resp.StatusCode != 204 {
			t.Fatalf("hit body %d during the outage: %d %s", i, resp.StatusCode, msg)
		}
		b := batchBody(t, func(m map[string]any) { m["sessionId"] = sessionID(i) })
		if resp := e.post(req{query: "k=" + siteKey, body: b}); resp.StatusCode != 204 {
			t.Fatalf("batch %d during the outage: %d", i, resp.StatusCode)
		}
	}
	e.rec.waitChunks(t, bodies, 5*time.Second)
	poll.Until(t, 10*time.Second, func() error { // a few retries against search
		e.traf.mu.Lock()
		defer e.traf.mu.Unlock()
		if e.traf.calls < 3 {
			return fmt.Errorf("%d attempts against search, want 3", e.traf.calls)
		}
		return nil
	})
	if n := e.traf.count(); n != 0 {
		t.Fatalf("%d hits stored while search is down", n)
	}
	if st := e.svc.hitSpool.Stats(); st.Records != 3*bodies {
		t.Fatalf("%d hits wait in the traffic spool, want %d", st.Records, 3*bodies)
	}
	poll.Until(t, 10*time.Second, func() error { // a chunk leaves the spool just after recordings has it
		if st := e.svc.spool.Stats(); st.Records != 0 {
			return fmt.Errorf("%d batches wait although recordings is up", st.Records)
		}
		return nil
	})
	e.traf.setFail(nil)
	e.traf.wait(t, 3*bodies, 10*time.Second)
	poll.Until(t, 5*time.Second, func() error {
		if n := e.svc.hitSpool.Stats().Records; n != 0 {
			return fmt.Errorf("%d hits still in the traffic spool", n)
		}
		return nil
	})
	if st := e.svc.hitSpool.Stats(); st.DeadRecords != 0 {
		t.Fatalf("an outage dead-lettered %d hits", st.DeadRecords)
	}
	if fs := e.svc.hitFwd.Stats(); fs.Failures == 0 || fs.Delivered != 3*bodies {
		t.Fatalf("traffic forwarder stats %+v", fs)
	}
}

// TestHitRefusedDeadLettered: a hit search refuses goes to the traffic
// spool's dead-letter area and does not hold the next ones.
func TestHitRefusedDeadLettered(t *testing.T) {
	e := newEnv(t, nil)
	e.traf.refuse = func(c *recordingsv1.Chunk) bool {
		return c.GetSessionId() == "s_hit00001" && c.GetHit().GetKind() == sessionsv1.HitKind_HIT_KIND_EVENT
	}
	e.run()
	for i := 1; i <= 2; i++ {
		if resp, msg := e.postHit(req{body: hitBody(i)}); resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, msg)
		}
	}
	e.traf.wait(t, 5, 5*time.Second)
	poll.Until(t, 5*time.Second, func() error {
		if n := e.svc.hitSpool.Stats().DeadRecords; n != 1 {
			return fmt.Errorf("dead letters %d, want 1", n)
		}
		return nil
	})
	dead, err := spool.ListDead(e.cfg.TrafficSpoolDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Reason != "refused" || dead[0].SessionID != "s_hit00001" {
		t.Fatalf("dead letters %+v", dead)
	}
	if st := e.svc.spool.Stats(); st.DeadRecords != 0 {
		t.Fatalf("the batches' spool has %d dead letters", st.DeadRecords)
	}
	if !strings.Contains(e.svc.Ready(context.Background()).Error(), "hits are being dead-lettered") {
		t.Fatalf("readiness does not report it: %v", e.svc.Ready(context.Background()))
	}
}

// TestHitsWithoutTraffic: an ingest without a traffic client serves no
// beacons and offers no hitEndpoint.
func TestHitsWithoutTraffic(t *testing.T) {
	e := newEnv(t, nil)
	cfg := defaultConfig(t)
	svc, err := New(context.Background(), cfg, Deps{Accounts: e.svc.deps.Accounts, Recordings: e.svc.deps.Recordings})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if svc.hitSpool != nil {
		t.Fatal("a traffic spool without a traffic client")
	}
	mux := http.NewServeMux()
	svc.RegisterHTTP(mux)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/i/v1/hit?k="+siteKey, strings.NewReader(string(hitBody(1))))
	mux.ServeHTTP(w, r)
	if w.Code != 404 {
		t.Fatalf("status %d", w.Code)
	}
}

// TestHitsSurviveRestart: hits answered 204 are on disk: an ingest that
// stops before delivering them delivers them after it starts again.
func TestHitsSurviveRestart(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 4 {
		if resp, msg := e.postHit(req{body: hitBody(i)}); resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, msg)
		}
	}
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), e.cfg, Deps{Accounts: e.svc.deps.Accounts, Recordings: e.svc.deps.Recordings, Traffic: e.svc.deps.Traffic})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if n := svc.hitSpool.Stats().Records; n != 12 {
		t.Fatalf("%d hits recovered, want 12", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	e.traf.wait(t, 12, 5*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// BenchmarkServeHit runs the beacon handler (decode, checks, enrichment,
// three chunks in one spool append with fsync) without the network.
func BenchmarkServeHit(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.HitRatePerSite = 0; c.HitRatePerIP = 0 })
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = hitBody(i)
	}
	benchServe(b, e.svc.serveHit, "/i/v1/hit?k="+siteKey, bodies,
		"Origin", "https://shop.example.com", "Content-Type", "text/plain;charset=UTF-8", "User-Agent", chromeUA)
}
