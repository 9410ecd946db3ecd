package storecall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sightlinehq/sightline/platform/logging"
)

var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("already exists")
	errLimit    = errors.New("limit reached")
)

// driverText is what a driver or the file system would say: it must never
// reach a client.
const driverText = `dial tcp 10.1.2.3:5432: pq: relation "secret_table" does not exist at /var/lib/sightline`

func newErrors(log *slog.Logger, transient func(error) bool) *Errors {
	return &Errors{
		Service: "widgets", Store: "widgets database", Log: log,
		Kinds:     []Kind{{errNotFound, codes.NotFound}, {errConflict, codes.AlreadyExists}, {errLimit, codes.ResourceExhausted}},
		Transient: transient,
	}
}

// spanContext starts a real span, as a traced request has.
func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	t.Cleanup(func() { span.End() })
	return ctx, span.SpanContext()
}

func TestStatusMapping(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	driver := errors.New(driverText)
	bg := context.Background()
	for _, c := range []struct {
		name      string
		ctx       context.Context
		what      string
		err       error
		transient func(error) bool
		code      codes.Code
		msg       string // the exact client message ("" : only checked for leaks)
	}{
		{name: "nil", err: nil, code: codes.OK},
		{name: "not found, the store's words", err: fmt.Errorf("site 5: %w", errNotFound), code: codes.NotFound, msg: "site 5: not found"},
		{name: "not found, named", what: "webhook 7", err: fmt.Errorf("get: %w", errNotFound), code: codes.NotFound, msg: "webhook 7 not found"},
		{name: "conflict, named", what: "site", err: errConflict, code: codes.AlreadyExists, msg: "site already exists"},
		{name: "limit, named", what: "site", err: fmt.Errorf("create: %w", errLimit), code: codes.ResourceExhausted, msg: "limit reached: site"},
		{name: "limit, the store's words", err: fmt.Errorf("organization 9 has its plan's 3 sites: %w", errLimit), code: codes.ResourceExhausted, msg: "organization 9 has its plan's 3 sites: limit reached"},
		{name: "a status passes", err: status.Error(codes.PermissionDenied, "viewers cannot"), code: codes.PermissionDenied, msg: "viewers cannot"},
		{name: "driver error", err: fmt.Errorf("query sites: %w", driver), code: codes.Internal, msg: "widgets: internal error during get site"},
		{name: "driver error, a sentinel too far", what: "site", err: driver, code: codes.Internal},
		{name: "transient", err: fmt.Errorf("x: %w", driver), transient: func(error) bool { return true }, code: codes.Unavailable, msg: "the widgets database is unavailable; try again shortly"},
		{name: "unreachable", err: fmt.Errorf("query: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), transient: Unreachable, code: codes.Unavailable, msg: "the widgets database is unavailable; try again shortly"},
		{name: "not transient", err: driver, transient: Unreachable, code: codes.Internal},
		{name: "the store's own time limit", err: fmt.Errorf("scan: %w", context.DeadlineExceeded), code: codes.Unavailable, msg: "the widgets database is unavailable; try again shortly"},
		{name: "the caller's deadline", ctx: expired, err: fmt.Errorf("scan: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded},
		{name: "the caller's deadline, transient store", ctx: expired, err: fmt.Errorf("scan: %w", context.DeadlineExceeded), transient: func(error) bool { return true }, code: codes.DeadlineExceeded},
		{name: "the caller canceled", ctx: canceled, err: fmt.Errorf("scan: %w", context.Canceled), code: codes.Canceled},
		{name: "canceled under a live caller", err: fmt.Errorf("scan: %w", context.Canceled), transient: func(error) bool { return true }, code: codes.Canceled},
		{name: "a sentinel wins over the caller's deadline", ctx: expired, err: fmt.Errorf("site 5: %w", errNotFound), code: codes.NotFound, msg: "site 5: not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = bg
			}
			e := newErrors(slog.New(slog.NewTextHandler(io.Discard, nil)), c.transient)
			got := e.Status(ctx, "get site", c.what, c.err)
			st := status.Convert(got)
			if st.Code() != c.code {
				t.Fatalf("Status(%v) = %v, want %v", c.err, got, c.code)
			}
			if c.msg != "" && st.Message() != c.msg {
				t.Errorf("message %q, want %q", st.Message(), c.msg)
			}
			for _, leak := range []string{"10.1.2.3", "pq:", "secret_table", "/var/lib", "dial tcp", "connection refused"} {
				if strings.Contains(st.Message(), leak) {
					t.Errorf("message %q leaks %q", st.Message(), leak)
				}
			}
		})
	}
}

// logLines runs fn with Errors logging JSON through the platform's handler
// (which adds trace ids from the context) at debug level.
func logLines(t *testing.T, transient func(error) bool, fn func(*Errors)) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	fn(newErrors(logging.New(&buf, logging.Options{Level: slog.LevelDebug, Service: "widgets"}), transient))
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestFailureLogsWithTheTraceID: the client's Internal message names the
// operation and the trace; the log line has the full error and the same
// trace id.
func TestFailureLogsWithTheTraceID(t *testing.T) {
	ctx, sc := spanContext(t)
	var got error
	lines := logLines(t, nil, func(e *Errors) {
		got = e.Status(ctx, "get site", "", fmt.Errorf("query: %w", errors.New(driverText)))
	})
	want := "widgets: internal error during get site (trace " + sc.TraceID().String() + ")"
	if st := status.Convert(got); st.Code() != codes.Internal || st.Message() != want {
		t.Fatalf("got %v, want Internal %q", got, want)
	}
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
	}
	l := lines[0]
	if l["level"] != "ERROR" || l[logging.TraceIDKey] != sc.TraceID().String() || l["op"] != "get site" ||
		!strings.Contains(fmt.Sprint(l["err"]), driverText) {
		t.Fatalf("log line %v: want ERROR with the trace id, op and the full error", l)
	}
}

// TestOutageLogIsRateLimited: the first outage answer of an interval is a
// warning with the trace id and the full error; the rest of the outage is
// logged at debug, so no request's failure goes unlogged and an outage does
// not flood the log.
func TestOutageLogIsRateLimited(t *testing.T) {
	ctx, sc := spanContext(t)
	refused := fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	lines := logLines(t, Unreachable, func(e *Errors) {
		for range 3 {
			if got := e.Status(ctx, "list sites", "", refused); status.Code(got) != codes.Unavailable {
				t.Fatalf("got %v, want Unavailable", got)
			}
		}
	})
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3: %v", len(lines), lines)
	}
	for i, l := range lines {
		want := "DEBUG"
		if i == 0 {
			want = "WARN"
		}
		if l["level"] != want || l[logging.TraceIDKey] != sc.TraceID().String() || !strings.Contains(fmt.Sprint(l["err"]), "connection refused") {
			t.Errorf("line %d: %v; want %s with the trace id and the error", i, l, want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"caller deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), false},
		{"refused", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"broken pipe", syscall.EPIPE, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"closed", net.ErrClosed, true},
		{"network timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, true},
	} {
		if got := Unreachable(c.err); got != c.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
