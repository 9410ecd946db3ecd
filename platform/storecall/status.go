package storecall

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind is one of a service's sentinel store errors and the code a client
// is answered for it.
type Kind struct {
	Err  error
	Code codes.Code
}

// Errors turns one service's store errors into gRPC statuses. A client is
// told what it can act on — a missing or taken object, a limit, "retry
// later" — and never the store's own failure text: that goes to the log
// (whose lines carry the trace id) and the span. Use it by pointer; it
// must not be copied after first use.
type Errors struct {
	// Service names the service in messages and log lines ("accounts").
	Service string
	// Store is what an Unavailable answer names ("accounts database").
	Store string
	Log   *slog.Logger
	// Kinds are the service's sentinel errors (matched with errors.Is, in
	// order), e.g. its store's ErrNotFound → codes.NotFound.
	Kinds []Kind
	// Transient reports an error meaning the store cannot serve right now
	// (down, restarting, overloaded): answered Unavailable, which callers
	// retry. Nil: only the store's own time limit is.
	Transient func(error) bool

	// lastOutageLog rate-limits the outage log (unix ns).
	lastOutageLog atomic.Int64
}

// outageLogEvery bounds the outage log to one warning per interval (the
// rest are logged at debug): every request fails the same way while the
// store is away.
const outageLogEvery = 30 * time.Second

// Status turns err, the error of store operation op ("get site"), into a
// status for the client. A sentinel of Kinds is answered with its code and
// the object named by what ("webhook 7" → "webhook 7 not found") or, when
// what is "", with the error's own text: a store that wraps a sentinel
// writes that text for clients ("site 5: not found"). A status passes
// unchanged. Anything else is a Failure.
func (e *Errors) Status(ctx context.Context, op, what string, err error) error {
	if err == nil {
		return nil
	}
	for _, k := range e.Kinds {
		if errors.Is(err, k.Err) {
			return status.Error(k.Code, clientMessage(k.Code, what, err))
		}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return e.Failure(ctx, op, err)
}

func clientMessage(c codes.Code, what string, err error) string {
	if what == "" {
		return err.Error()
	}
	switch c {
	case codes.NotFound:
		return what + " not found"
	case codes.AlreadyExists:
		return what + " already exists"
	case codes.ResourceExhausted:
		return "limit reached: " + what
	}
	return what + ": " + c.String()
}

// Failure answers an error no client can act on, in operation op: a caller
// that is gone or out of time gets its context's code; a store that cannot
// serve now (Transient, or its own time limit while the caller still
// waits) Unavailable naming Store; anything else Internal naming op and the
// trace. Both of the latter are logged with the full error.
func (e *Errors) Failure(ctx context.Context, op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return status.FromContextError(cerr).Err()
		}
		if errors.Is(err, context.Canceled) {
			return status.FromContextError(context.Canceled).Err()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || e.Transient != nil && e.Transient(err) {
		e.logOutage(ctx, op, err)
		return status.Error(codes.Unavailable, "the "+e.Store+" is unavailable; try again shortly")
	}
	e.logger().ErrorContext(ctx, e.Service+": "+op+" failed", "op", op, "err", err)
	msg := e.Service + ": internal error during " + op
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		msg += " (trace " + sc.TraceID().String() + ")"
	}
	return status.Error(codes.Internal, msg)
}

func (e *Errors) logOutage(ctx context.Context, op string, err error) {
	now := time.Now().UnixNano()
	last := e.lastOutageLog.Load()
	level := slog.LevelDebug
	if now-last >= int64(outageLogEvery) && e.lastOutageLog.CompareAndSwap(last, now) {
		level = slog.LevelWarn
	}
	e.logger().Log(ctx, level, e.Service+": "+e.Store+" unavailable; answering Unavailable", "op", op, "err", err)
}

func (e *Errors) logger() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Unreachable reports whether err means a network store could not be
// reached or dropped the connection under a call: refused, reset, aborted,
// broken pipe, no route, a connection closed mid-answer, or a network
// timeout (not the caller's own deadline). Services add their drivers'
// own signs.
func Unreachable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}
