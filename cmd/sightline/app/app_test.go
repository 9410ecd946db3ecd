package app

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/leakcheck"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
)

// meshSecretFile is the service secret (server.service-secret-file) every
// App of these tests that runs only some modules reads, as every process of
// a deployment does, so that they accept each other's internal calls.
var meshSecretFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sightline-app-test")
	if err != nil {
		panic(err)
	}
	meshSecretFile = filepath.Join(dir, "service-secret")
	if err := os.WriteFile(meshSecretFile, []byte(rpc.NewServiceSecret()+"\n"), 0o600); err != nil {
		panic(err)
	}
	leakcheck.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// defaults returns the configuration as flags would leave it, on free
// loopback ports and a temporary data directory.
func defaults(t *testing.T, target string) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	cfg.Target = target
	if target != All {
		cfg.Server.ServiceSecretFile = meshSecretFile
	}
	cfg.DataDir = t.TempDir()
	cfg.Server.HTTPListenAddress = "127.0.0.1:0"
	cfg.Server.GRPCListenAddress = "127.0.0.1:0"
	cfg.Admin.ListenAddress = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = 10 * time.Second
	return cfg
}

// start runs an App until the test ends, and checks that it stops cleanly.
func start(t *testing.T, cfg Config, tel *telemetry.Telemetry) *App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, Options{Telemetry: tel, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatalf("New(%s): %v", cfg.Target, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-done:
		cancel()
		t.Fatalf("Run(%s) ended early: %v", cfg.Target, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run(%s) stopped with %v", cfg.Target, err)
		}
	})
	return a
}

func newTelemetry(t *testing.T, name string, exp sdktrace.SpanExporter) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: name, Version: "test", SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// TestOneTracePerRequest checks that a dashboard request is one trace from
// the gateway's HTTP span through the gRPC client to the gRPC server, both
// when every module shares a process and when each has its own.
func TestOneTracePerRequest(t *testing.T) {
	t.Run("all-in-one", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tel := newTelemetry(t, "sightline", exp)
		a := start(t, defaults(t, All), tel)
		get(t, "http://"+a.Addrs().HTTP+"/api/v1/config")
		checkTrace(t, awaitSpans(t, exp, tel))
	})
	t.Run("many-process", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		var tels []*telemetry.Telemetry
		run := func(cfg Config) *App {
			tel := newTelemetry(t, "sightline-"+cfg.Target, exp)
			tels = append(tels, tel)
			return start(t, cfg, tel)
		}
		accounts := run(defaults(t, Accounts))
		cfg := defaults(t, Search)
		cfg.Remote.Accounts = accounts.Addrs().GRPC
		search := run(cfg)
		cfg = defaults(t, Recordings)
		cfg.Remote.Accounts, cfg.Remote.Search = accounts.Addrs().GRPC, search.Addrs().GRPC
		recordings := run(cfg)
		cfg = defaults(t, Gateway)
		cfg.Remote.Accounts, cfg.Remote.Search, cfg.Remote.Recordings = accounts.Addrs().GRPC, search.Addrs().GRPC, recordings.Addrs().GRPC
		gw := run(cfg)

		get(t, "http://"+gw.Addrs().HTTP+"/api/v1/config")
		spans := checkTrace(t, awaitSpans(t, exp, tels...))
		services := map[string]bool{}
		for _, s := range spans {
			services[serviceName(s)] = true
		}
		if !services["sightline-gateway"] || !services["sightline-accounts"] {
			t.Errorf("trace spans processes %v, want sightline-gateway and sightline-accounts", services)
		}
	})
}

func get(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Trace-Id") == "" {
		t.Errorf("GET %s: no X-Trace-Id header", url)
	}
}

// awaitSpans flushes tels until the gRPC server span of GetPublicConfig
// has ended (at most 5 s) and returns every span. The client may have its
// answer before the server's span ends, so one flush right after the
// request can miss it on a loaded machine.
func awaitSpans(t *testing.T, exp *tracetest.InMemoryExporter, tels ...*telemetry.Telemetry) tracetest.SpanStubs {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, tel := range tels {
			if err := tel.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		spans := exp.GetSpans()
		for _, s := range spans {
			if s.Name == publicConfigMethod && s.SpanKind == trace.SpanKindServer {
				return spans
			}
		}
		if time.Now().After(deadline) {
			return spans // checkTrace says what is missing
		}
	}
}

const publicConfigMethod = "sightline.accounts.v1.AccountsService/GetPublicConfig"

// checkTrace finds the gateway's server span for GET /api/v1/config and
// requires, in the same trace, a gRPC client span under it and the gRPC
// server span under that client span. It returns the trace's spans.
func checkTrace(t *testing.T, all tracetest.SpanStubs) tracetest.SpanStubs {
	t.Helper()
	var root *tracetest.SpanStub
	for i, s := range all {
		if s.SpanKind == trace.SpanKindServer && strings.Contains(s.Name, "/api/v1/config") {
			root = &all[i]
		}
	}
	if root == nil {
		t.Fatalf("no HTTP server span for /api/v1/config among %d spans: %v", len(all), names(all))
	}
	var inTrace tracetest.SpanStubs
	for _, s := range all {
		if s.SpanContext.TraceID() == root.SpanContext.TraceID() {
			inTrace = append(inTrace, s)
		}
	}
	const method = publicConfigMethod
	var client, server *tracetest.SpanStub
	for i, s := range inTrace {
		if s.Name == method && s.SpanKind == trace.SpanKindClient {
			client = &inTrace[i]
		}
		if s.Name == method && s.SpanKind == trace.SpanKindServer {
			server = &inTrace[i]
		}
	}
	if client == nil || server == nil {
		t.Fatalf("trace %s lacks the gRPC client or server span of %s: %v", root.SpanContext.TraceID(), method, names(inTrace))
	}
	if !descends(inTrace, *client, root.SpanContext.SpanID()) {
		t.Errorf("gRPC client span is not under the gateway's HTTP span")
	}
	if server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Errorf("gRPC server span's parent %s is not the client span %s", server.Parent.SpanID(), client.SpanContext.SpanID())
	}
	return inTrace
}

// descends reports whether s has ancestor among the spans.
func descends(spans tracetest.SpanStubs, s tracetest.SpanStub, ancestor trace.SpanID) bool {
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, x := range spans {
		byID[x.SpanContext.SpanID()] = x
	}
	for i := 0; i < len(spans) && s.Parent.IsValid(); i++ {
		if s.Parent.SpanID() == ancestor {
			return true
		}
		s = byID[s.Parent.SpanID()]
	}
	return false
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind.String()+" "+s.Name)
	}
	return out
}

func serviceName(s tracetest.SpanStub) string {
	if s.Resource == nil {
		return ""
	}
	v, _ := s.Resource.Set().Value(attribute.Key("service.name"))
	return v.AsString()
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		change     func(*Config)
	}{
		{"unknown target", "target", func(c *Config) { c.Target = "ingest,frobnicator" }},
		{"missing remote", "remote.recordings", func(c *Config) { c.Target = Ingest; c.Remote.Accounts = "127.0.0.1:1" }},
		{"bad level", "log.level", func(c *Config) { c.Log.Level = "loud" }},
		{"tiny messages", "server.max-message-bytes", func(c *Config) { c.Server.MaxMessageBytes = 12 }},
		{"no shutdown time", "server.shutdown-timeout", func(c *Config) { c.Server.ShutdownTimeout = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t, All)
			tc.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
			if _, err := New(context.Background(), cfg, Options{}); err == nil {
				t.Fatalf("New accepted a configuration that Validate rejects")
			}
		})
	}
	if cfg := defaults(t, All); cfg.Validate() != nil {
		err := cfg.Validate()
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestParseTargetsOrdersByDependency(t *testing.T) {
	got, err := parseTargets("gateway, ingest,accounts,recordings")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{Accounts, Recordings, Ingest, Gateway}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("parseTargets = %v, want %v", got, want)
	}
	// With every module, each comes after the modules it depends on.
	all, err := parseTargets(All)
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]int{}
	for i, m := range all {
		order[m] = i
	}
	if len(order) != len(moduleNames()) {
		t.Fatalf("parseTargets(all) = %v, want each of %v once", all, moduleNames())
	}
	for _, m := range all {
		for _, d := range dependencies(m) {
			if !d.late && order[d.module] >= order[m] {
				t.Errorf("%s depends on %s, which starts later", m, d.module)
			}
		}
	}
	if _, err := parseTargets(" , "); err == nil {
		t.Error("an empty target list was accepted")
	}
}

func TestBusyPortFailsStart(t *testing.T) {
	a := start(t, defaults(t, Accounts), nil)
	cfg := defaults(t, Accounts)
	cfg.Server.GRPCListenAddress = a.Addrs().GRPC
	_, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "server.grpc-listen-address") {
		t.Fatalf("New on a busy port = %v, want an error naming server.grpc-listen-address", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("unexpected cancellation")
	}
}
