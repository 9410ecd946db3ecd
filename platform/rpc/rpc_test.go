package rpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sightlinehq/sightline/internal/testproc"
	"github.com/sightlinehq/sightline/platform/logging"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Hand-written services, so the tests need no generated code: a public
// one and, with the same methods, an internal one (servicecred.go).
const (
	svcName         = "sightline.test.v1.Test"
	internalSvcName = "sightline.test.v1.TestInternalService"
)

func method(name string) string { return fullMethod(svcName, name) }

func fullMethod(svc, name string) string { return "/" + svc + "/" + name }

func unary[Req proto.Message](svc, name string, newReq func() Req, fn func(context.Context, Req) (proto.Message, error)) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		req := newReq()
		if err := dec(req); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, r any) (any, error) { return fn(ctx, r.(Req)) }
		if ic == nil {
			return h(ctx, req)
		}
		return ic(ctx, req, &grpc.UnaryServerInfo{FullMethod: fullMethod(svc, name)}, h)
	}}
}

// remaining reports how long until ctx's deadline, or -1s without one.
func remaining(ctx context.Context) *durationpb.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return durationpb.New(time.Until(dl))
	}
	return durationpb.New(-time.Second)
}

func testService() *grpc.ServiceDesc { return serviceDesc(svcName) }

func serviceDesc(svc string) *grpc.ServiceDesc {
	newBytes := func() *wrapperspb.BytesValue { return new(wrapperspb.BytesValue) }
	newEmpty := func() *emptypb.Empty { return new(emptypb.Empty) }
	methods := []grpc.MethodDesc{
		unary(svc, "Echo", newBytes, func(_ context.Context, r *wrapperspb.BytesValue) (proto.Message, error) { return r, nil }),
		unary(svc, "FromService", newEmpty, func(ctx context.Context, _ *emptypb.Empty) (proto.Message, error) {
			return wrapperspb.Bool(rpc.FromService(ctx)), nil
		}),
		unary(svc, "Panic", newEmpty, func(context.Context, *emptypb.Empty) (proto.Message, error) {
			panic("handler exploded: secret internals")
		}),
		unary(svc, "Deadline", newEmpty, func(ctx context.Context, _ *emptypb.Empty) (proto.Message, error) { return remaining(ctx), nil }),
		unary(svc, "Big", func() *wrapperspb.Int64Value { return new(wrapperspb.Int64Value) }, func(_ context.Context, r *wrapperspb.Int64Value) (proto.Message, error) {
			return wrapperspb.Bytes(make([]byte, r.GetValue())), nil
		}),
		unary(svc, "NotFound", newEmpty, func(context.Context, *emptypb.Empty) (proto.Message, error) {
			return nil, status.Error(codes.NotFound, "no such thing")
		}),
	}
	sd := &grpc.ServiceDesc{ServiceName: svc, HandlerType: (*any)(nil), Methods: methods}
	sd.Streams = []grpc.StreamDesc{
		{StreamName: "StreamDeadline", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			return ss.SendMsg(remaining(ss.Context()))
		}},
		{StreamName: "StreamPanic", ServerStreams: true, Handler: func(any, grpc.ServerStream) error {
			panic("stream exploded")
		}},
	}
	return sd
}

type env struct {
	conn        *grpc.ClientConn
	health      *health.Server
	serverTel   *telemetry.Telemetry
	clientTel   *telemetry.Telemetry
	serverSpans *tracetest.InMemoryExporter
	clientSpans *tracetest.InMemoryExporter
	logs        *testproc.LogBuffer
	addr        string
}

func newTel(t *testing.T, name string) (*telemetry.Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: name, SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, exp
}

// start serves the test service over TCP on 127.0.0.1:0 or in-process.
func start(t *testing.T, inProcess bool, sopts rpc.ServerOptions, copts rpc.ClientOptions) *env {
	t.Helper()
	e := &env{logs: &testproc.LogBuffer{}}
	e.serverTel, e.serverSpans = newTel(t, "server")
	e.clientTel, e.clientSpans = newTel(t, "client")
	logger := logging.New(e.logs, logging.Options{Service: "server", Level: slog.LevelDebug})

	srv, hs := rpc.NewServer(e.serverTel, logger, sopts)
	srv.RegisterService(testService(), struct{}{})
	srv.RegisterService(serviceDesc(internalSvcName), struct{}{})
	hs.SetServingStatus(svcName, healthpb.HealthCheckResponse_SERVING)
	e.health = hs

	var lis net.Listener
	var dial func() (*grpc.ClientConn, error)
	if inProcess {
		ip := rpc.NewInProcess()
		t.Cleanup(func() { _ = ip.Close() })
		lis = ip.Listener()
		dial = func() (*grpc.ClientConn, error) { return ip.Dial(e.clientTel, copts) }
	} else {
		var err error
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr = lis.Addr().String()
		dial = func() (*grpc.ClientConn, error) { return rpc.Dial(e.addr, e.clientTel, copts) }
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	conn, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.conn = conn
	return e
}

func forBoth(t *testing.T, fn func(t *testing.T, inProcess bool)) {
	t.Run("tcp", func(t *testing.T) { fn(t, false) })
	t.Run("in-process", func(t *testing.T) { fn(t, true) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHealthAndReflection(t *testing.T) {
	forBoth(t, func(t *testing.T, inProcess bool) {
		e := start(t, inProcess, rpc.ServerOptions{}, rpc.ClientOptions{})
		hc := healthpb.NewHealthClient(e.conn)
		for _, svc := range []string{"", svcName} {
			resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health(%q) = %v, %v", svc, resp, err)
			}
		}
		e.health.Shutdown()
		resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svcName})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("after Shutdown: %v, %v", resp, err)
		}

		stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		rr, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		var names []string
		for _, s := range rr.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		if !strings.Contains(strings.Join(names, " "), "grpc.health.v1.Health") {
			t.Fatalf("reflection lists %v", names)
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	forBoth(t, func(t *testing.T, inProcess bool) {
		e := start(t, inProcess, rpc.ServerOptions{}, rpc.ClientOptions{})
		err := e.conn.Invoke(ctxT(t), method("Panic"), &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Internal {
			t.Fatalf("code = %v (%v), want Internal", status.Code(err), err)
		}
		if strings.Contains(err.Error(), "secret internals") {
			t.Fatalf("panic value leaked to the client: %v", err)
		}

		stream, err := e.conn.NewStream(ctxT(t), &grpc.StreamDesc{ServerStreams: true}, method("StreamPanic"))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.RecvMsg(&emptypb.Empty{}); status.Code(err) != codes.Internal {
			t.Fatalf("stream code = %v, want Internal", err)
		}

		// The server survives.
		out := new(wrapperspb.BytesValue)
		if err := e.conn.Invoke(ctxT(t), method("Echo"), wrapperspb.Bytes([]byte("hi")), out); err != nil || string(out.GetValue()) != "hi" {
			t.Fatalf("echo after panic: %q, %v", out.GetValue(), err)
		}

		logs := e.logs.String()
		for _, want := range []string{`"msg":"gRPC handler panicked"`, `"grpc.method":"/sightline.test.v1.Test/Panic"`, "handler exploded", "rpc_test.go", `"grpc.code":"Internal"`, `"level":"ERROR"`, `"trace_id":"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s:\n%s", want, logs)
			}
		}
		if n := telemetrytest.CounterSum(t, e.serverTel, "sightline_rpc_server_panics_total"); n != 2 {
			t.Errorf("panic counter = %v, want 2", n)
		}
	})
}

func TestLoggingLevels(t *testing.T) {
	e := start(t, false, rpc.ServerOptions{}, rpc.ClientOptions{})
	_ = e.conn.Invoke(ctxT(t), method("Echo"), wrapperspb.Bytes(nil), new(wrapperspb.BytesValue))
	_ = e.conn.Invoke(ctxT(t), method("NotFound"), &emptypb.Empty{}, &emptypb.Empty{})
	logs := e.logs.String()
	for _, want := range []string{
		`"level":"DEBUG","msg":"gRPC call","service":"server"`,
		`"grpc.method":"/sightline.test.v1.Test/Echo","grpc.code":"OK"`,
		`"level":"INFO","msg":"gRPC call"`,
		`"grpc.code":"NotFound"`,
		`"error":"no such thing"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestMessageLimits(t *testing.T) {
	forBoth(t, func(t *testing.T, inProcess bool) {
		e := start(t, inProcess, rpc.ServerOptions{MaxRecvMsgBytes: 1024, MaxSendMsgBytes: 4096}, rpc.ClientOptions{MaxRecvMsgBytes: 2048})

		err := e.conn.Invoke(ctxT(t), method("Echo"), wrapperspb.Bytes(make([]byte, 2000)), new(wrapperspb.BytesValue))
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("big request: %v, want ResourceExhausted", err)
		}
		err = e.conn.Invoke(ctxT(t), method("Big"), wrapperspb.Int64(3000), new(wrapperspb.BytesValue))
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("response over client limit: %v, want ResourceExhausted", err)
		}
		err = e.conn.Invoke(ctxT(t), method("Big"), wrapperspb.Int64(5000), new(wrapperspb.BytesValue))
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("response over server send limit: %v, want ResourceExhausted", err)
		}
		out := new(wrapperspb.BytesValue)
		if err := e.conn.Invoke(ctxT(t), method("Big"), wrapperspb.Int64(1500), out); err != nil || len(out.GetValue()) != 1500 {
			t.Fatalf("within limits: %d bytes, %v", len(out.GetValue()), err)
		}
	})
}

func TestDefaultLimitIs16MiB(t *testing.T) {
	e := start(t, true, rpc.ServerOptions{}, rpc.ClientOptions{})
	out := new(wrapperspb.BytesValue)
	if err := e.conn.Invoke(ctxT(t), method("Echo"), wrapperspb.Bytes(make([]byte, 15<<20)), out); err != nil {
		t.Fatalf("15 MiB: %v", err)
	}
	err := e.conn.Invoke(ctxT(t), method("Echo"), wrapperspb.Bytes(make([]byte, 17<<20)), out)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("17 MiB: %v, want ResourceExhausted", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	forBoth(t, func(t *testing.T, inProcess bool) {
		e := start(t, inProcess, rpc.ServerOptions{}, rpc.ClientOptions{DefaultTimeout: 3 * time.Second})
		get := func(ctx context.Context) time.Duration {
			t.Helper()
			out := new(durationpb.Duration)
			if err := e.conn.Invoke(ctx, method("Deadline"), &emptypb.Empty{}, out); err != nil {
				t.Fatal(err)
			}
			return out.AsDuration()
		}
		if d := get(context.Background()); d <= 0 || d > 3*time.Second {
			t.Fatalf("no caller deadline: server saw %v, want (0, 3s]", d)
		}
		long, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if d := get(long); d < 59*time.Minute {
			t.Fatalf("caller deadline: server saw %v, want about 1h", d)
		}

		// Streams get no default deadline.
		stream, err := e.conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, method("StreamDeadline"))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		_ = stream.CloseSend()
		out := new(durationpb.Duration)
		if err := stream.RecvMsg(out); err != nil {
			t.Fatal(err)
		}
		if out.AsDuration() != -time.Second {
			t.Fatalf("stream got a deadline: %v", out.AsDuration())
		}
		if err := stream.RecvMsg(out); !errors.Is(err, io.EOF) {
			t.Fatalf("stream end: %v", err)
		}
	})
}

func TestDefaultDeadlineDisabled(t *testing.T) {
	e := start(t, true, rpc.ServerOptions{}, rpc.ClientOptions{DefaultTimeout: -1})
	out := new(durationpb.Duration)
	if err := e.conn.Invoke(context.Background(), method("Deadline"), &emptypb.Empty{}, out); err != nil {
		t.Fatal(err)
	}
	if out.AsDuration() != -time.Second {
		t.Fatalf("deadline applied although disabled: %v", out.AsDuration())
	}
}

func TestOneTraceAcrossClientAndServer(t *testing.T) {
	forBoth(t, func(t *testing.T, inProcess bool) {
		e := start(t, inProcess, rpc.ServerOptions{}, rpc.ClientOptions{})
		ctx, parent := e.clientTel.Tracer("test").Start(ctxT(t), "caller")
		if err := e.conn.Invoke(ctx, method("Echo"), wrapperspb.Bytes([]byte("x")), new(wrapperspb.BytesValue)); err != nil {
			t.Fatal(err)
		}
		parent.End()

		// The server ends its span just after sending the response, so wait
		// for it (bounded), flushing the batchers each round.
		want := method("Echo")[1:]
		var client, server tracetest.SpanStub
		deadline := time.Now().Add(10 * time.Second)
		for {
			_ = e.clientTel.ForceFlush(context.Background())
			_ = e.serverTel.ForceFlush(context.Background())
			client, server = find(e.clientSpans, want, trace.SpanKindClient), find(e.serverSpans, want, trace.SpanKindServer)
			if client.Name != "" && server.Name != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("spans missing: client=%v server=%v", e.clientSpans.GetSpans().Snapshots(), e.serverSpans.GetSpans().Snapshots())
			}
			time.Sleep(5 * time.Millisecond)
		}
		tid := parent.SpanContext().TraceID()
		if client.SpanContext.TraceID() != tid || server.SpanContext.TraceID() != tid {
			t.Fatalf("trace ids differ: caller %s client %s server %s", tid, client.SpanContext.TraceID(), server.SpanContext.TraceID())
		}
		if server.Parent.SpanID() != client.SpanContext.SpanID() {
			t.Fatalf("server span's parent %s is not the client span %s", server.Parent.SpanID(), client.SpanContext.SpanID())
		}
		if !strings.Contains(e.logs.String(), `"trace_id":"`+tid.String()+`"`) {
			t.Fatalf("server log lines lack the trace id %s:\n%s", tid, e.logs.String())
		}
	})
}

func find(exp *tracetest.InMemoryExporter, name string, kind trace.SpanKind) tracetest.SpanStub {
	for _, s := range exp.GetSpans() {
		if s.Name == name && s.SpanKind == kind {
			return s
		}
	}
	return tracetest.SpanStub{}
}

func TestDialError(t *testing.T) {
	_, err := rpc.Dial("127.0.0.1:1", nil, rpc.ClientOptions{}, grpc.WithDefaultServiceConfig("{not json"))
	if err == nil || !strings.Contains(err.Error(), `rpc: creating client for "127.0.0.1:1"`) {
		t.Fatalf("err = %v", err)
	}
}
