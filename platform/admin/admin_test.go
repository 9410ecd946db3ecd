package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func serve(t *testing.T, checks *admin.Checks) (*httptest.Server, *telemetry.Telemetry) {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "svc-test", SpanExporter: tracetest.NewNoopExporter()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(tel, checks))
	t.Cleanup(func() {
		srv.Close()
		_ = tel.Shutdown(context.Background())
	})
	return srv, tel
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func readyz(t *testing.T, srv *httptest.Server) (int, admin.Report) {
	t.Helper()
	code, body, hdr := get(t, srv.URL+"/readyz")
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var rep admin.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", body, err)
	}
	return code, rep
}

func TestHealthz(t *testing.T) {
	checks := &admin.Checks{}
	checks.Add("broken", func(context.Context) error { return errors.New("down") })
	srv, _ := serve(t, checks)
	// Liveness does not depend on readiness, nor on shutting down.
	checks.SetShuttingDown()
	if code, body, _ := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz = %d %q", code, body)
	}
}

func TestMetrics(t *testing.T) {
	srv, tel := serve(t, nil)
	c, err := tel.Meter("test").Int64Counter("sightline.admin.test.hits")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 5)
	code, body, _ := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{"sightline_admin_test_hits_total", "go_goroutines", "process_cpu_seconds_total", `service_name="svc-test"`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestReadyz(t *testing.T) {
	checks := &admin.Checks{}
	srv, _ := serve(t, checks)

	// No checks: ready.
	if code, rep := readyz(t, srv); code != 200 || !rep.Ready || len(rep.Checks) != 0 {
		t.Fatalf("empty: %d %+v", code, rep)
	}

	var mu sync.Mutex
	dbErr := errors.New("connection refused")
	checks.Add("spool", func(context.Context) error { return nil })
	checks.Add("database", func(context.Context) error { mu.Lock(); defer mu.Unlock(); return dbErr })

	code, rep := readyz(t, srv)
	if code != http.StatusServiceUnavailable || rep.Ready {
		t.Fatalf("failing check: %d %+v", code, rep)
	}
	want := []admin.CheckResult{{Name: "spool", OK: true}, {Name: "database", Error: "connection refused"}}
	if len(rep.Checks) != 2 || rep.Checks[0] != want[0] || rep.Checks[1] != want[1] {
		t.Fatalf("checks = %+v, want %+v", rep.Checks, want)
	}

	mu.Lock()
	dbErr = nil
	mu.Unlock()
	if code, rep := readyz(t, srv); code != 200 || !rep.Ready {
		t.Fatalf("recovered: %d %+v", code, rep)
	}

	checks.SetShuttingDown()
	code, rep = readyz(t, srv)
	if code != http.StatusServiceUnavailable || rep.Ready || !rep.ShuttingDown {
		t.Fatalf("shutting down: %d %+v", code, rep)
	}
}

type degraded string

func (d degraded) Error() string  { return string(d) }
func (d degraded) Degraded() bool { return true }

// TestReadyzDegraded: a check that answers a degraded error keeps the
// process ready (200) and the body says what is degraded.
func TestReadyzDegraded(t *testing.T) {
	checks := &admin.Checks{}
	srv, _ := serve(t, checks)
	checks.Add("ingest", func(context.Context) error { return fmt.Errorf("wrapped: %w", degraded("forwarder stalled")) })
	code, rep := readyz(t, srv)
	want := admin.CheckResult{Name: "ingest", OK: true, Degraded: true, Error: "wrapped: forwarder stalled"}
	if code != 200 || !rep.Ready || !rep.Degraded || len(rep.Checks) != 1 || rep.Checks[0] != want {
		t.Fatalf("degraded check: %d %+v", code, rep)
	}
	checks.Add("database", func(context.Context) error { return errors.New("down") })
	if code, rep := readyz(t, srv); code != http.StatusServiceUnavailable || rep.Ready || !rep.Degraded {
		t.Fatalf("degraded and failing checks: %d %+v", code, rep)
	}
}

func TestReadyzChecksRunInParallelWithTimeout(t *testing.T) {
	checks := &admin.Checks{Timeout: 200 * time.Millisecond}
	srv, _ := serve(t, checks)

	// Both checks wait for each other: only parallel execution lets them pass.
	a, b := make(chan struct{}), make(chan struct{})
	rendezvous := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	checks.Add("a", rendezvous(a, b))
	checks.Add("b", rendezvous(b, a))
	if code, rep := readyz(t, srv); code != 200 {
		t.Fatalf("parallel checks: %d %+v", code, rep)
	}
}

func TestReadyzTimeoutAndPanic(t *testing.T) {
	checks := &admin.Checks{Timeout: 50 * time.Millisecond}
	srv, _ := serve(t, checks)
	checks.Add("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	release := make(chan struct{})
	stubbornDone := make(chan struct{})
	checks.Add("stubborn", func(context.Context) error { defer close(stubbornDone); <-release; return nil })
	checks.Add("panics", func(context.Context) error { panic("oops") })

	code, rep := readyz(t, srv)
	close(release)
	<-stubbornDone
	if code != http.StatusServiceUnavailable {
		t.Fatalf("code = %d", code)
	}
	for i, want := range []string{"deadline exceeded", "no answer within 50ms", "check panicked: oops"} {
		if rep.Checks[i].OK || !strings.Contains(rep.Checks[i].Error, want) {
			t.Errorf("check %s: %+v, want error containing %q", rep.Checks[i].Name, rep.Checks[i], want)
		}
	}
}

func TestDefaultTimeoutIsTwoSeconds(t *testing.T) {
	var checks admin.Checks
	var got time.Duration
	checks.Add("deadline", func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		got = time.Until(dl)
		return nil
	})
	checks.Run(context.Background())
	if got <= time.Second || got > admin.DefaultCheckTimeout {
		t.Fatalf("check deadline in %v, want about 2s", got)
	}
}

func TestPprof(t *testing.T) {
	srv, _ := serve(t, nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap", "/debug/pprof/symbol", "/debug/pprof/allocs"} {
		if code, _, _ := get(t, srv.URL+path); code != 200 {
			t.Errorf("%s = %d", path, code)
		}
	}
	if code, body, _ := get(t, srv.URL+"/debug/pprof/profile?seconds=1"); code != 200 || len(body) == 0 {
		t.Errorf("profile = %d (%d bytes)", code, len(body))
	}
	// Nothing on the default mux is exposed.
	if code, _, _ := get(t, srv.URL+"/"); code != 404 {
		t.Errorf("/ = %d, want 404", code)
	}
}

// TestReadyzPerName: /readyz/{name} runs only that name's checks, so one
// module's failed dependency does not take another module out of rotation;
// /readyz still runs them all; an unknown name is 404, not a pass.
func TestReadyzPerName(t *testing.T) {
	checks := &admin.Checks{}
	checks.Add("accounts", func(context.Context) error { return errors.New("database: connection refused") })
	checks.Add("ingest", func(context.Context) error { return nil })
	checks.Add("gateway", func(context.Context) error { return degraded("accounts slow") })
	srv, _ := serve(t, checks)

	named := func(name string) (int, admin.Report) {
		t.Helper()
		code, body, _ := get(t, srv.URL+"/readyz/"+name)
		var rep admin.Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("/readyz/%s: bad JSON %q: %v", name, body, err)
		}
		return code, rep
	}
	if code, rep := named("ingest"); code != 200 || !rep.Ready || len(rep.Checks) != 1 || rep.Checks[0].Name != "ingest" {
		t.Fatalf("/readyz/ingest = %d %+v, want 200 with the ingest check only", code, rep)
	}
	if code, rep := named("accounts"); code != 503 || rep.Ready || len(rep.Checks) != 1 {
		t.Fatalf("/readyz/accounts = %d %+v, want 503", code, rep)
	}
	if code, rep := named("gateway"); code != 200 || !rep.Degraded {
		t.Fatalf("/readyz/gateway = %d %+v, want 200 degraded", code, rep)
	}
	if code, rep := readyz(t, srv); code != 503 || len(rep.Checks) != 3 {
		t.Fatalf("/readyz = %d %+v, want 503 over all three checks", code, rep)
	}
	if code, body, _ := get(t, srv.URL+"/readyz/search"); code != 404 || !strings.Contains(body, "ingest") {
		t.Fatalf("/readyz/search (not run here) = %d %q, want 404 naming the known checks", code, body)
	}
	checks.SetShuttingDown()
	if code, rep := named("ingest"); code != 503 || !rep.ShuttingDown {
		t.Fatalf("/readyz/ingest while shutting down = %d %+v", code, rep)
	}
}
