package ingest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/httpcompress/httpcompresstest"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/svc-ingest/enrich/enrichtest"
	"github.com/sightlinehq/sightline/tracker"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChild()
		return
	}
	// The binary the e2e tests build lives in its own temporary directory
	// (about 100 MB a run): remove it once every test is done.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if binaryPath != "" && binaryErr == nil {
			_ = os.RemoveAll(filepath.Dir(binaryPath))
		}
	}))
}

const (
	siteKey   = "k_shopexample0001"
	siteID    = int64(5_000_000_001)
	orgID     = int64(7_000_000_001)
	quotaKey  = "k_quota0000000001"
	quotaSite = int64(5_000_000_002)
	dntKey    = "k_dnt00000000001"
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

func testSites() map[string]*accountsv1.GetSiteConfigResponse {
	settings := func(dnt bool) *accountsv1.SiteSettings {
		return &accountsv1.SiteSettings{RecordingEnabled: true, SampleRate: 0.5, RespectDoNotTrack: dnt,
			MaskSelectors: []string{".secret"}, BlockSelectors: []string{"</script><script>alert(1)"}}
	}
	return map[string]*accountsv1.GetSiteConfigResponse{
		siteKey: {SiteId: siteID, OrganizationId: orgID, SiteKey: siteKey, Domains: []string{"shop.example.com", "*.example.org"},
			Settings: settings(false), Plan: &accountsv1.Plan{Name: "free"}, FeatureFlags: []string{"heatmaps"}, Etag: "e1"},
		quotaKey: {SiteId: quotaSite, OrganizationId: orgID, SiteKey: quotaKey, Domains: []string{"quota.example"},
			Settings: settings(false), Plan: &accountsv1.Plan{Name: "tiny", SessionsPerDay: 10}, Etag: "e2"},
		dntKey: {SiteId: 5_000_000_003, OrganizationId: orgID, SiteKey: dntKey, Domains: []string{"dnt.example"},
			Settings: settings(true), Plan: &accountsv1.Plan{Name: "free"}, Etag: "e3"},
	}
}

type env struct {
	t      testing.TB
	cfg    Config
	svc    *Service
	srv    *httptest.Server
	acc    *accountsServer
	accSrv *grpcServer
	rec    *recordingsServer
	recSrv *grpcServer
	// traf is search's TrafficService (hits_test.go), on its own socket.
	traf    *trafficServer
	trafSrv *grpcServer
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	stop    func()
}

func defaultConfig(t testing.TB) Config {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.SpoolDir = t.TempDir()
	cfg.TrafficSpoolDir = t.TempDir()
	cfg.ForwardBackoffMin = 10 * time.Millisecond
	cfg.ForwardBackoffMax = 200 * time.Millisecond
	cfg.RatePerIP = 0
	return cfg
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, acc: &accountsServer{sites: testSites(), leased: map[string]int64{}}, rec: newRecordingsServer()}
	e.accSrv = startGRPC(t, func(s *grpc.Server) { accountsv1.RegisterAccountsInternalServiceServer(s, e.acc) })
	e.recSrv = startGRPC(t, func(s *grpc.Server) { recordingsv1.RegisterRecordingsInternalServiceServer(s, e.rec) })
	e.traf = newTrafficServer()
	e.trafSrv = startGRPC(t, func(s *grpc.Server) { trafficv1.RegisterTrafficInternalServiceServer(s, e.traf) })
	e.cfg = defaultConfig(t)
	if mod != nil {
		mod(&e.cfg)
	}
	e.spans = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e.metrics = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.metrics))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	svc, err := New(context.Background(), e.cfg, Deps{
		TracerProvider: tp,
		MeterProvider:  mp,
		Accounts:       accountsv1.NewAccountsInternalServiceClient(dial(t, e.accSrv.addr)),
		Recordings:     recordingsv1.NewRecordingsInternalServiceClient(dial(t, e.recSrv.addr)),
		Traffic:        trafficv1.NewTrafficInternalServiceClient(dial(t, e.trafSrv.addr)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.svc = svc
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	mux := http.NewServeMux()
	svc.RegisterHTTP(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// run starts the forwarder; it stops at cleanup or with e.stop.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}
	e.t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
}

func (e *env) stopRun() { e.stop(); e.stop = nil }

func readBatch(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// batchBody returns the testdata batch with fields changed.
func batchBody(t testing.TB, mod func(m map[string]any)) []byte {
	m := readBatch(t, "batch-pricing.json")
	if mod != nil {
		mod(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type req struct {
	query   string
	body    []byte
	headers map[string]string
}

func (e *env) post(r req) *http.Response {
	e.t.Helper()
	resp, _ := e.send("/i/v1/batch", r)
	return resp
}

// send POSTs r to path the way the tracker does and answers the response
// with its body read.
func (e *env) send(path string, r req) (*http.Response, string) {
	e.t.Helper()
	url := e.srv.URL + path
	if r.query != "" {
		url += "?" + r.query
	}
	hr, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	hr.Header.Set("Origin", "https://shop.example.com")
	hr.Header.Set("User-Agent", chromeUA)
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, buf.String()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		panic(err) // a bytes.Buffer takes everything
	}
	w.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		panic(err) // a bytes.Buffer takes everything
	}
	w.Close()
	return buf.Bytes()
}

func sessionID(i int) string { return fmt.Sprintf("s_test%018d", i) }

func TestBatchAcceptedEnrichedTracedAndDelivered(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example.com" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	e.run()
	e.rec.waitChunks(t, 1, 10*time.Second)
	e.rec.mu.Lock()
	c := e.rec.chunks[chunkKey{siteID, "s_Qm9vc3RlZFNlc3Npb24wMQ", 0}]
	e.rec.mu.Unlock()
	if c == nil {
		t.Fatal("chunk not delivered under its key")
	}
	orig := readBatch(t, "batch-pricing.json")
	evs, _ := json.Marshal(orig["events"])
	var got, want any
	if err := json.Unmarshal(c.GetEvents(), &got); err != nil {
		t.Fatalf("delivered events: %v", err)
	}
	if err := json.Unmarshal(evs, &want); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || int(c.GetEventCount()) != len(orig["events"].([]any)) {
		t.Fatal("events changed on the way")
	}
	cl := c.GetClient()
	if c.GetOrganizationId() != orgID || c.GetVisitorId() != "v_VmlzaXRvcklkZW50aWZpZXI" || c.GetUrl() == "" ||
		c.GetViewport().GetWidth() != 1280 || c.GetServerTime() == nil || c.GetClientTime() == nil {
		t.Fatalf("chunk fields: %v", c)
	}
	if cl.GetBrowser() != "Chrome" || cl.GetOs() != "Windows" || cl.GetDeviceType() != sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP ||
		cl.GetIpPrefix() != "127.0.0.0/24" {
		t.Fatalf("enrichment: %v", cl)
	}
	// The intake span continues the envelope's traceparent; the chunk
	// carries the intake span, and the forwarder's span links to it.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if !strings.HasPrefix(c.GetTraceparent(), "00-"+traceID+"-") {
		t.Fatalf("chunk traceparent %q", c.GetTraceparent())
	}
	e.stopRun()
	var intake, fwd sdktrace.ReadOnlySpan
	for _, s := range e.spans.Ended() {
		switch s.Name() {
		case "ingest.batch":
			intake = s
		case "ingest.forward AppendChunks":
			fwd = s
		}
	}
	if intake == nil || fwd == nil {
		t.Fatal("spans missing")
	}
	if intake.SpanContext().TraceID().String() != traceID || intake.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("intake span not continuing the browser's trace: %v parent %v", intake.SpanContext().TraceID(), intake.Parent().SpanID())
	}
	if len(fwd.Links()) != 1 || fwd.Links()[0].SpanContext.SpanID() != intake.SpanContext().SpanID() {
		t.Fatalf("forwarder span links %v, want the intake span", fwd.Links())
	}
}

func TestCompressedBodies(t *testing.T) {
	e := newEnv(t, nil)
	body := func(seq int) []byte { return batchBody(t, func(m map[string]any) { m["seq"] = seq }) }
	cases := []req{
		{query: "k=" + siteKey + "&ce=gzip", body: gz(body(1))},
		{query: "k=" + siteKey, body: gz(body(2)), headers: map[string]string{"Content-Encoding": "gzip"}},
		{query: "k=" + siteKey + "&ce=deflate", body: zl(body(3)), headers: map[string]string{"Content-Type": "application/octet-stream"}},
		// sendBeacon with a Blob without a type: no Content-Type, no ?k.
		{query: "ce=gzip", body: gz(body(4)), headers: map[string]string{"Content-Type": ""}},
		{body: body(5), headers: map[string]string{"Content-Type": "application/json"}},
	}
	for i, c := range cases {
		if resp := e.post(c); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("case %d: status %d", i, resp.StatusCode)
		}
	}
	e.run()
	e.rec.waitChunks(t, len(cases), 10*time.Second)
}

func TestAnswers(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxBodyBytes = 64 << 10
		c.MaxDecompressedBytes = 256 << 10
		c.MaxEventsPerBatch = 20
	})
	bomb := func() []byte {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 64 { // 64 MiB of zeros in ~64 KiB
			if _, err := w.Write(zeros); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		return buf.Bytes()
	}()
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	many := batchBody(t, func(m map[string]any) {
		ev := m["events"].([]any)[0]
		evs := make([]any, 21)
		for i := range evs {
			evs[i] = ev
		}
		m["events"] = evs
	})
	cases := []struct {
		name string
		r    req
		code int
	}{
		{"ok", req{query: "k=" + siteKey, body: batchBody(t, nil)}, 204},
		{"broken json", req{query: "k=" + siteKey, body: []byte(`{"v":1,"siteKey":"k_shop`)}, 400},
		{"not json", req{query: "k=" + siteKey, body: []byte(`hello`)}, 400},
		{"missing session", req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { delete(m, "sessionId") })}, 400},
		{"key mismatch", req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["siteKey"] = dntKey })}, 400},
		{"corrupt gzip", req{query: "k=" + siteKey + "&ce=gzip", body: []byte("not gzip at all")}, 400},
		{"wrong origin", req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"Origin": "https://evil.example"}}, 403},
		{"wildcard apex", req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"Origin": "https://example.org"}}, 403},
		{"wildcard subdomain", req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = 7 }), headers: map[string]string{"Origin": "https://a.b.example.org"}}, 204},
		{"no origin, foreign page", req{body: batchBody(t, func(m map[string]any) { m["page"] = map[string]any{"url": "https://evil.example/"} }), headers: map[string]string{"Origin": ""}}, 403},
		{"no origin, own page", req{body: batchBody(t, func(m map[string]any) { m["seq"] = 8 }), headers: map[string]string{"Origin": ""}}, 204},
		{"null origin", req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"Origin": "null"}}, 403},
		{"unknown site ?k", req{query: "k=k_nosuchsite0000", body: batchBody(t, nil)}, 404},
		{"unknown site body", req{body: batchBody(t, func(m map[string]any) { m["siteKey"] = "k_nosuchsite0000" })}, 404},
		{"invalid key", req{query: "k=" + strings.Repeat("x", 100), body: batchBody(t, nil)}, 404},
		{"oversized", req{query: "k=" + siteKey, body: bytes.Repeat([]byte(" "), 65<<10)}, 413},
		{"gzip bomb", req{query: "k=" + siteKey + "&ce=gzip", body: bomb}, 413},
		{"too many events", req{query: "k=" + siteKey, body: many}, 413},
		{"content type", req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"Content-Type": "multipart/form-data"}}, 415},
		{"encoding", req{query: "k=" + siteKey + "&ce=br", body: batchBody(t, nil)}, 415},
		{"encoding mismatch", req{query: "k=" + siteKey + "&ce=gzip", body: batchBody(t, nil), headers: map[string]string{"Content-Encoding": "deflate"}}, 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.post(c.r)
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.code)
			}
			// The allowed origin is echoed on every answer (errors too, so the
			// tracker can read them); refusals of a foreign origin or an
			// unknown site only get "*" (readable, but no credentials).
			allowed := resp.Header.Get("Access-Control-Allow-Origin")
			origin, set := c.r.headers["Origin"]
			if !set {
				origin = "https://shop.example.com"
			}
			switch {
			case origin == "":
				if allowed != "" {
					t.Fatalf("CORS header %q without an Origin", allowed)
				}
			case c.code == 403 || c.code == 404:
				if allowed != "*" {
					t.Fatalf("Access-Control-Allow-Origin %q on a refusal, want *", allowed)
				}
			default:
				if allowed != origin || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
					t.Fatalf("CORS headers %v for an allowed origin", resp.Header)
				}
			}
		})
	}
	// A chunked (no Content-Length) oversized body is cut at the limit too.
	pr, pw := io.Pipe()
	go func() {
		// The write fails once the server stops reading at the limit:
		// that is the point.
		_, _ = pw.Write(bytes.Repeat([]byte("x"), 200<<10))
		pw.Close()
	}()
	hr, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/i/v1/batch?k="+siteKey, pr)
	hr.Header.Set("Origin", "https://shop.example.com")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversized: %d", resp.StatusCode)
	}
	st, _ := e.svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{})
	hits := map[string]int64{}
	for _, h := range st.GetLimitHits() {
		hits[h.GetLimit()] = h.GetCount()
	}
	if hits["body_bytes"] != 2 || hits["decompressed_bytes"] != 1 || hits["events_per_batch"] != 1 {
		t.Fatalf("limit hits %v", hits)
	}
	if st.GetAcceptedBatches() != 3 || st.GetSpool().GetRecords() != 3 {
		t.Fatalf("accepted %d, spool %v", st.GetAcceptedBatches(), st.GetSpool())
	}
}

// preflight sends the CORS preflight of a POST from origin to path (with
// the request headers reqHeaders, unless ""), and answers the response,
// its body closed.
func (e *env) preflight(path, origin, reqHeaders string) *http.Response {
	e.t.Helper()
	hr, err := http.NewRequest(http.MethodOptions, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	hr.Header.Set("Origin", origin)
	hr.Header.Set("Access-Control-Request-Method", "POST")
	if reqHeaders != "" {
		hr.Header.Set("Access-Control-Request-Headers", reqHeaders)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestPreflight(t *testing.T) {
	e := newEnv(t, nil)
	do := func(origin, key string) *http.Response {
		return e.preflight("/i/v1/batch?k="+key, origin, "content-type,content-encoding")
	}
	resp := do("https://www.example.org", siteKey)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://www.example.org" ||
		resp.Header.Get("Access-Control-Max-Age") == "" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Encoding") {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do("https://evil.example", siteKey); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do("https://shop.example.com", "k_nosuchsite0000"); resp.StatusCode != 404 {
		t.Fatalf("unknown site preflight: %d", resp.StatusCode)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerIP = 1; c.BurstPerIP = 3 })
	codes := []int{}
	for i := range 5 {
		resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })})
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
				t.Fatalf("429 without Retry-After: %v", resp.Header)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
				!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Fatalf("429 not readable by the tracker: %v", resp.Header)
			}
		}
	}
	if fmt.Sprint(codes) != "[204 204 204 429 429]" {
		t.Fatalf("codes %v", codes)
	}

	e = newEnv(t, func(c *Config) { c.RatePerSite = 1; c.BurstPerSite = 2 })
	codes = codes[:0]
	for i := range 3 {
		codes = append(codes, e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })}).StatusCode)
	}
	if fmt.Sprint(codes) != "[204 204 429]" {
		t.Fatalf("site rate codes %v", codes)
	}
}

func TestSessionLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBatchesPerSession = 2 })
	var codes []int
	for i := range 3 {
		codes = append(codes, e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })}).StatusCode)
	}
	if fmt.Sprint(codes) != "[204 204 413]" {
		t.Fatalf("batches per session: %v", codes)
	}
	e = newEnv(t, func(c *Config) { c.MaxBytesPerSession = 15 << 10 })
	codes = codes[:0]
	for i := range 2 {
		codes = append(codes, e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })}).StatusCode)
	}
	if fmt.Sprint(codes) != "[204 413]" {
		t.Fatalf("bytes per session: %v", codes)
	}
}

func TestDailySessionQuota(t *testing.T) {
	e := newEnv(t, nil)
	post := func(session int, seq int) *http.Response {
		return e.post(req{query: "k=" + quotaKey, body: batchBody(t, func(m map[string]any) {
			m["siteKey"], m["sessionId"], m["seq"] = quotaKey, sessionID(session), seq
		}), headers: map[string]string{"Origin": "https://quota.example"}})
	}
	for i := range 10 {
		if resp := post(i, 0); resp.StatusCode != 204 {
			t.Fatalf("session %d: %d", i, resp.StatusCode)
		}
	}
	resp := post(10, 0)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("11th session: %d %v", resp.StatusCode, resp.Header)
	}
	// Sessions already admitted keep recording.
	if resp := post(3, 1); resp.StatusCode != 204 {
		t.Fatalf("admitted session's next batch: %d", resp.StatusCode)
	}
	e.acc.mu.Lock()
	calls := e.acc.leaseCalls
	e.acc.mu.Unlock()
	if calls != 2 { // one lease of 10, one refused
		t.Fatalf("%d lease calls, want 2 (leases are taken in chunks)", calls)
	}
}

func TestDoNotTrackDropsWithoutStoring(t *testing.T) {
	e := newEnv(t, nil)
	body := batchBody(t, func(m map[string]any) { m["siteKey"] = dntKey })
	for _, h := range []map[string]string{{"DNT": "1"}, {"Sec-GPC": "1"}} {
		h["Origin"] = "https://dnt.example"
		if resp := e.post(req{query: "k=" + dntKey, body: body, headers: h}); resp.StatusCode != 204 {
			t.Fatalf("DNT: %d", resp.StatusCode)
		}
	}
	if st := e.svc.spool.Stats(); st.Records != 0 {
		t.Fatalf("DNT batch stored: %+v", st)
	}
	// A site that does not respect DNT records it.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"DNT": "1"}}); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	if st := e.svc.spool.Stats(); st.Records != 1 {
		t.Fatalf("spool %+v", st)
	}
}

func TestSpoolFullAnswers503ThenRecovers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SpoolMaxBytes = 40 << 10; c.SpoolSegmentBytes = 16 << 10 })
	accepted := 0
	var resp *http.Response
	for i := range 20 {
		resp = e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })})
		if resp.StatusCode != 204 {
			break
		}
		accepted++
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "10" || accepted == 0 {
		t.Fatalf("after %d accepted: %d %v", accepted, resp.StatusCode, resp.Header)
	}
	if err := e.svc.Ready(context.Background()); err == nil && e.svc.spool.Stats().Bytes >= 40<<10 {
		t.Fatal("ready while full")
	}
	e.run()
	e.rec.waitChunks(t, accepted, 10*time.Second)
	poll.Until(t, 5*time.Second, func() error {
		if st := e.svc.spool.Stats(); st.Records > 0 {
			return fmt.Errorf("spool not drained: %+v", st)
		}
		return nil
	})
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = 100 })}); resp.StatusCode != 204 {
		t.Fatalf("after drain: %d", resp.StatusCode)
	}
	e.rec.waitChunks(t, accepted+1, 10*time.Second)
}

func TestRecordingsDownThenBack(t *testing.T) {
	e := newEnv(t, nil)
	e.recSrv.stop()
	e.run()
	const n = 40
	for i := range n {
		if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })}); resp.StatusCode != 204 {
			t.Fatalf("batch %d: %d", i, resp.StatusCode)
		}
	}
	var st *ingestv1.GetStatsResponse
	poll.Until(t, 10*time.Second, func() error { // the forwarder fails and backs off meanwhile
		if st, _ = e.svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{}); st.GetForwarder().GetFailedAttempts() == 0 {
			return fmt.Errorf("no failed attempt while recordings is down: %v", st)
		}
		return nil
	})
	if st.GetForwarder().GetFailedAttempts() == 0 || st.GetSpool().GetRecords() != n || st.GetForwarder().GetLag().AsDuration() <= 0 {
		t.Fatalf("stats while recordings is down: %v", st)
	}
	e.recSrv.restart(t)
	e.rec.waitChunks(t, n, 20*time.Second)
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	seqs := e.rec.order["s_Qm9vc3RlZFNlc3Npb24wMQ"]
	for i, s := range seqs {
		if s != int64(i) {
			t.Fatalf("session order broken: %v", seqs)
		}
	}
}

func TestSiteConfigServedStaleWhileAccountsDown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SiteCacheTTL = 50 * time.Millisecond })
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	e.acc.setDown(true)
	time.Sleep(100 * time.Millisecond) // the 50 ms TTL passes: the entry is stale
	for i := range 3 {
		if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i + 1 })}); resp.StatusCode != 204 {
			t.Fatalf("with accounts down: %d", resp.StatusCode)
		}
		time.Sleep(60 * time.Millisecond) // stale again, so every batch meets a failed refresh
	}
	// A site never seen cannot be served: 503, retry later.
	resp := e.post(req{query: "k=" + dntKey, body: batchBody(t, func(m map[string]any) { m["siteKey"] = dntKey }), headers: map[string]string{"Origin": "https://dnt.example"}})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("uncached site with accounts down: %d", resp.StatusCode)
	}
}

func TestScripts(t *testing.T) {
	e := newEnv(t, nil)
	get := func(path string, h map[string]string) (*http.Response, string) {
		hr, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		for k, v := range h {
			hr.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("/s/"+siteKey+".js", nil)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("bootstrap: %d %v", resp.StatusCode, resp.Header)
	}
	if strings.Contains(body, "__SIGHTLINE_CONFIG__") || !strings.Contains(body, `"sampleRate":0.5`) || !strings.Contains(body, `"recordCanvas":false`) ||
		!strings.Contains(body, `"endpoint":"`+e.srv.URL+`/i/v1/batch"`) || strings.Contains(body, "</script>") {
		t.Fatalf("bootstrap body: %s", body)
	}
	i := strings.Index(body, `"recorderUrl":"`) + len(`"recorderUrl":"`)
	recURL := body[i : i+strings.IndexByte(body[i:], '"')]
	if resp, _ := get("/s/"+siteKey+".js", map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != 304 {
		t.Fatalf("conditional GET: %d", resp.StatusCode)
	}
	resp, rec := get(strings.TrimPrefix(recURL, e.srv.URL), nil)
	if resp.StatusCode != 200 || rec != string(tracker.Recorder) || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("recorder: %d %v", resp.StatusCode, resp.Header)
	}
	// Browsers get the recorder compressed, and the bootstrap, which
	// keeps an ETag they revalidate it by (suffixed by the encoding).
	resp, gz, plain := httpcompresstest.Fetch(t, http.MethodGet, recURL, "gzip, deflate, br")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || len(gz)*2 > len(tracker.Recorder) || !bytes.Equal(plain, tracker.Recorder) {
		t.Fatalf("recorder, gzip accepted: %d, %q, %d bytes of %d, equal once decoded: %v", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(gz), len(tracker.Recorder), bytes.Equal(plain, tracker.Recorder))
	}
	for _, accept := range []string{"gzip, deflate, br", "gzip, deflate, br, zstd"} {
		resp, sent, got := httpcompresstest.Fetch(t, http.MethodGet, e.srv.URL+"/s/"+siteKey+".js", accept)
		etag := resp.Header.Get("ETag")
		enc := resp.Header.Get("Content-Encoding")
		if enc == "" || string(got) != body || len(sent)*5 > len(got)*3 || !strings.HasSuffix(etag, "-"+enc+`"`) {
			t.Fatalf("bootstrap, %s accepted: %q, ETag %s, %d bytes for %d, the same once decoded: %v", accept, enc, etag, len(sent), len(got), string(got) == body)
		}
		if resp, _ := get("/s/"+siteKey+".js", map[string]string{"If-None-Match": etag, "Accept-Encoding": accept}); resp.StatusCode != 304 {
			t.Fatalf("conditional GET of the %s bootstrap: %d", enc, resp.StatusCode)
		}
	}
	if resp, _ := get("/static/recorder.0000000000000000.js", nil); resp.StatusCode != 404 {
		t.Fatalf("stale recorder hash: %d", resp.StatusCode)
	}
	resp, body = get("/s/k_nosuchsite0000.js", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "site not found") {
		t.Fatalf("unknown site bootstrap: %d %s", resp.StatusCode, body)
	}
}

func TestTrustedProxyAndGeoIP(t *testing.T) {
	db := enrichtest.CountryDB(t)
	e := newEnv(t, func(c *Config) { c.TrustedProxies = "127.0.0.0/8"; c.GeoIPDB = db })
	resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil), headers: map[string]string{"X-Forwarded-For": "81.2.69.142, 127.0.0.1"}})
	if resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	e.run()
	e.rec.waitChunks(t, 1, 10*time.Second)
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	for _, c := range e.rec.chunks {
		if c.GetClient().GetCountry() != "GB" || c.GetClient().GetIpPrefix() != "81.2.69.0/24" {
			t.Fatalf("client %v", c.GetClient())
		}
	}
	// The full address is nowhere in the spool.
	e.svc.spool.Stats()
	files, _ := os.ReadDir(e.cfg.SpoolDir)
	for _, f := range files {
		b, _ := os.ReadFile(e.cfg.SpoolDir + "/" + f.Name())
		if bytes.Contains(b, []byte("81.2.69.142")) {
			t.Fatalf("full IP stored in %s", f.Name())
		}
	}
}

func TestGetStatsOverGRPC(t *testing.T) {
	e := newEnv(t, nil)
	e.post(req{query: "k=k_nosuchsite0000", body: batchBody(t, nil)})
	e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)})
	// Served as the app serves it: without a user's credential only the
	// mesh's own processes (the service credential) may read the stats.
	secret := strings.Repeat("s", 64)
	srv, _ := rpc.NewServer(nil, nil, rpc.ServerOptions{ServiceSecret: secret})
	ingestv1.RegisterIngestServiceServer(srv, e.svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	if _, err := ingestv1.NewIngestServiceClient(dial(t, lis.Addr().String())).GetStats(context.Background(), &ingestv1.GetStatsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetStats from outside the mesh without a credential: %v, want Unauthenticated", err)
	}
	conn, err := rpc.Dial(lis.Addr().String(), nil, rpc.ClientOptions{ServiceSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	st, err := ingestv1.NewIngestServiceClient(conn).GetStats(context.Background(), &ingestv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetAcceptedBatches() != 1 || st.GetRejectedBatches() != 1 || st.GetSpool().GetRecords() != 1 ||
		st.GetSpool().GetOldestRecordTime() == nil || st.GetSpool().GetMaxBytes() != 1<<30 || len(st.GetLimitHits()) != len(limitNames) {
		t.Fatalf("stats %v", st)
	}
}

func TestTraceparentHeaderIsContinued(t *testing.T) {
	e := newEnv(t, nil)
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { delete(m, "traceparent") }),
		headers: map[string]string{"traceparent": tp}})
	if resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	// Errors carry the trace id for support.
	bad := e.post(req{query: "k=" + siteKey, body: []byte("{"), headers: map[string]string{"traceparent": tp}})
	if bad.StatusCode != 400 || bad.Header.Get("Sightline-Trace-Id") != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("error answer: %d %v", bad.StatusCode, bad.Header)
	}
	var found bool
	for _, s := range e.spans.Ended() {
		if s.Name() == "ingest.batch" && s.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" && s.Parent().SpanID().String() == "b7ad6b7169203331" {
			found = true
		}
	}
	if !found {
		t.Fatal("intake span does not continue the traceparent header")
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"public url":     func(c *Config) { c.PublicURL = "ingest.example.com" },
		"trusted proxy":  func(c *Config) { c.TrustedProxies = "10.0.0.0/8, not-a-cidr" },
		"negative rate":  func(c *Config) { c.RatePerIP = -1 },
		"zero body":      func(c *Config) { c.MaxBodyBytes = 0 },
		"batch too big":  func(c *Config) { c.ForwardBatchBytes = 14 << 20 },
		"decompress big": func(c *Config) { c.MaxDecompressedBytes = 12 << 20 },
	} {
		cfg := defaultConfig(t)
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := defaultConfig(t)
	cfg.TrustedProxies = "10.0.0.0/8, 192.168.1.7, ::1"
	if err := cfg.Validate(); err != nil || len(cfg.trusted) != 3 {
		t.Fatalf("valid config: %v %v", err, cfg.trusted)
	}
}
