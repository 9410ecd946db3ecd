// Package rpc builds the gRPC servers and clients of Sightline's services so
// that every call, between processes or inside one, gets the same tracing,
// deadlines, size limits, panic recovery and logging.
package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/sightlinehq/sightline/platform/telemetry"
)

// DefaultMaxMsgBytes is the default limit on a gRPC message, both ways.
// Recording chunks are compressed and well under it; anything bigger is a
// bug or abuse and is refused with ResourceExhausted.
const DefaultMaxMsgBytes = 16 << 20

const instrumentationName = "github.com/sightlinehq/sightline/platform/rpc"

// ServerOptions configure NewServer. Zero values mean the defaults.
type ServerOptions struct {
	// MaxRecvMsgBytes and MaxSendMsgBytes limit message sizes; default
	// DefaultMaxMsgBytes.
	MaxRecvMsgBytes, MaxSendMsgBytes int
	// Creds secures the listener. nil means plaintext: TLS is left to the
	// deployment (service mesh) for now; this is where it plugs in.
	Creds credentials.TransportCredentials
	// ServiceSecret is the mesh's shared secret: calls to an internal
	// service (IsInternal) without it answer Unauthenticated. Empty
	// refuses every internal call.
	ServiceSecret string
	// AcceptedServiceSecret, when set, is a second secret internal
	// services accept but nobody is sent: the next secret while it is
	// rolled out, or the previous one while it is retired, so that a
	// rotation needs no downtime (docs/service-auth.md).
	AcceptedServiceSecret string
	// Extra options are appended after ours; interceptors added with
	// grpc.ChainUnaryInterceptor here run inside ours (after recovery), so
	// their panics are caught too.
	Extra []grpc.ServerOption
}

// Keepalive settings, shared by server and client so that the client's
// pings are always within what the server tolerates.
const (
	clientPingInterval = 30 * time.Second
	clientPingTimeout  = 10 * time.Second
	serverMinPingTime  = 10 * time.Second // below clientPingInterval
	serverPingInterval = time.Minute
	serverPingTimeout  = 20 * time.Second
)

// NewServer returns a gRPC server with Sightline's standard instrumentation
// and the health and reflection services registered, and the health server
// so that the caller can set each service's status (and call Shutdown on it
// when draining). tel may be nil in tests that do not care about telemetry.
func NewServer(tel *telemetry.Telemetry, logger *slog.Logger, opts ServerOptions) (*grpc.Server, *health.Server) {
	if logger == nil {
		logger = slog.Default()
	}
	recv, send := opts.MaxRecvMsgBytes, opts.MaxSendMsgBytes
	if recv <= 0 {
		recv = DefaultMaxMsgBytes
	}
	if send <= 0 {
		send = DefaultMaxMsgBytes
	}

	var meter metric.Meter = noop.NewMeterProvider().Meter(instrumentationName)
	sopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(recv),
		grpc.MaxSendMsgSize(send),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPingTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    serverPingInterval,
			Timeout: serverPingTimeout,
		}),
	}
	if tel != nil {
		meter = tel.Meter(instrumentationName)
		sopts = append(sopts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tel.TracerProvider),
			otelgrpc.WithMeterProvider(tel.MeterProvider),
			otelgrpc.WithPropagators(tel.Propagator),
		)))
	}
	if opts.Creds != nil {
		sopts = append(sopts, grpc.Creds(opts.Creds))
	}

	panics, err := meter.Int64Counter("sightline.rpc.server.panics",
		metric.WithDescription("gRPC handler panics recovered and answered with INTERNAL."),
		metric.WithUnit("{panic}"))
	if err != nil {
		// Only possible with an invalid instrument name, which is a constant.
		panic(fmt.Sprintf("rpc: creating panic counter: %v", err))
	}
	onPanic := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		logger.ErrorContext(ctx, "gRPC handler panicked",
			slog.String("grpc.method", method),
			slog.Any("panic", p),
			slog.String("stack", string(debug.Stack())))
		panics.Add(ctx, 1, metric.WithAttributes(attribute.String("rpc.method", method)))
		// The panic value may hold internals; the client only learns that
		// it failed, and the trace id links it to the log line.
		return status.Error(codes.Internal, "internal error")
	})

	// Logging outside recovery, so a recovered panic is logged as INTERNAL.
	sopts = append(sopts,
		grpc.ChainUnaryInterceptor(unaryLogging(logger), recovery.UnaryServerInterceptor(onPanic), unaryServiceAuth(opts.ServiceSecret, opts.AcceptedServiceSecret)),
		grpc.ChainStreamInterceptor(streamLogging(logger), recovery.StreamServerInterceptor(onPanic), streamServiceAuth(opts.ServiceSecret, opts.AcceptedServiceSecret)),
	)
	sopts = append(sopts, opts.Extra...)

	srv := grpc.NewServer(sopts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

func unaryLogging(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, logger, info.FullMethod, start, err)
		return resp, err
	}
}

func streamLogging(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), logger, info.FullMethod, start, err)
		return err
	}
}

// logCall logs a finished call: successes only at debug, so that a busy
// service does not spam; expected outcomes (NotFound, AlreadyExists, a
// caller hanging up) at info; other caller errors at warn; server-side
// failures at error.
func logCall(ctx context.Context, logger *slog.Logger, method string, start time.Time, err error) {
	st := status.Convert(err)
	level := levelFor(st.Code())
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("grpc.method", method),
		slog.String("grpc.code", st.Code().String()),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", st.Message()))
	}
	logger.LogAttrs(ctx, level, "gRPC call", attrs...)
}

func levelFor(c codes.Code) slog.Level {
	switch c {
	case codes.OK:
		return slog.LevelDebug
	case codes.Canceled, codes.NotFound, codes.AlreadyExists:
		return slog.LevelInfo
	case codes.InvalidArgument, codes.DeadlineExceeded, codes.PermissionDenied,
		codes.ResourceExhausted, codes.FailedPrecondition, codes.Aborted,
		codes.OutOfRange, codes.Unauthenticated:
		return slog.LevelWarn
	default: // Unknown, Unimplemented, Internal, Unavailable, DataLoss
		return slog.LevelError
	}
}
