package logging_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// The wrapper must behave like a well-formed slog.Handler (groups, attrs,
// empty groups, zero times, ...).
func TestHandlerConformance(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf.Reset()
		return logging.NewHandler(slog.NewJSONHandler(&buf, nil), "svc")
	}, func(t *testing.T) map[string]any {
		ls := lines(t, &buf)
		if len(ls) != 1 {
			t.Fatalf("want one line, got %d", len(ls))
		}
		return ls[0]
	})
}

func spanCtx(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func TestServiceAndTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, logging.Options{Service: "svc-ingest", Level: slog.LevelDebug})
	ctx, sc := spanCtx(t)

	log.InfoContext(ctx, "with span", "k", 1)
	log.Info("without span")
	log.With("a", "b").WithGroup("req").With("id", 7).WithGroup("empty").InfoContext(ctx, "grouped", "x", "y")
	log.WithGroup("g").DebugContext(ctx, "group with no attrs")

	ls := lines(t, &buf)
	if len(ls) != 4 {
		t.Fatalf("got %d lines", len(ls))
	}
	for i, l := range ls {
		if l["service"] != "svc-ingest" {
			t.Errorf("line %d: service = %v", i, l["service"])
		}
	}
	for _, i := range []int{0, 2, 3} {
		if ls[i]["trace_id"] != sc.TraceID().String() || ls[i]["span_id"] != sc.SpanID().String() {
			t.Errorf("line %d: trace ids missing or nested: %v", i, ls[i])
		}
	}
	if _, ok := ls[1]["trace_id"]; ok {
		t.Errorf("line without a span has a trace_id: %v", ls[1])
	}
	req, _ := ls[2]["req"].(map[string]any)
	if ls[2]["a"] != "b" || req == nil || req["id"] != float64(7) {
		t.Errorf("group attrs wrong: %v", ls[2])
	}
	empty, _ := req["empty"].(map[string]any)
	if empty["x"] != "y" {
		t.Errorf("nested group attrs wrong: %v", ls[2])
	}
	if _, ok := ls[3]["g"]; ok {
		t.Errorf("empty group should be omitted: %v", ls[3])
	}
}

func TestLevelAndText(t *testing.T) {
	var buf bytes.Buffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	log := logging.New(&buf, logging.Options{Service: "svc", Format: "text", Level: lv})
	ctx, sc := spanCtx(t)
	log.InfoContext(ctx, "dropped")
	log.WarnContext(ctx, "kept")
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, "msg=kept") {
		t.Fatalf("level filter wrong: %q", out)
	}
	if !strings.Contains(out, "service=svc") || !strings.Contains(out, "trace_id="+sc.TraceID().String()) {
		t.Fatalf("text output lacks service or trace id: %q", out)
	}
}

func TestNilContext(t *testing.T) {
	var buf bytes.Buffer
	h := logging.NewHandler(slog.NewJSONHandler(&buf, nil), "svc")
	var ctx context.Context // a nil context must not crash a log call
	if err := h.Handle(ctx, slog.Record{Message: "m"}); err != nil {
		t.Fatal(err)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"Warning": slog.LevelWarn, "error": slog.LevelError, "debug-4": slog.LevelDebug - 4, " info ": slog.LevelInfo,
	} {
		got, err := logging.ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := logging.ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Errorf("ParseLevel(loud) err = %v", err)
	}
}

func TestConfig(t *testing.T) {
	c := logging.Config{Level: "debug", Format: "text"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := c.Options("svc"); o.Level != slog.LevelDebug || o.Format != "text" || o.Service != "svc" {
		t.Fatalf("options = %+v", o)
	}
	for _, bad := range []logging.Config{{Level: "x", Format: "json"}, {Level: "info", Format: "xml"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
