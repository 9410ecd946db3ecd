package outbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// call makes one call to the relay's target, bounded by CallTimeout.
func (l *Loop) call(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.CallTimeout)
	defer cancel()
	return fn(ctx)
}

// sendEach sends items in one call. When the target refuses it
// (InvalidArgument), one item it cannot take must not block the rest: the
// items go one by one and only those refused are dropped, each handed to
// refused. Any other error stops the sending and is returned, so the
// entries stay for a retry.
func sendEach[T any](ctx context.Context, items []T, send func(context.Context, []T) error, refused func(T, error)) error {
	err := send(ctx, items)
	if status.Code(err) != codes.InvalidArgument {
		return err
	}
	for _, it := range items {
		if e := send(ctx, []T{it}); status.Code(e) == codes.InvalidArgument {
			refused(it, e)
		} else if e != nil {
			return e
		}
	}
	return nil
}

// sendCalls sends items (summaries, answers) with sendEach in calls of
// calls' bounds, in order, and stops at the first error.
func sendCalls[T proto.Message](ctx context.Context, items []T, most, limit int, send func(context.Context, []T) error, refused func(T, error)) error {
	for _, call := range calls(items, most, limit) {
		if err := sendEach(ctx, call, send, refused); err != nil {
			return err
		}
	}
	return nil
}

// calls splits what one delivery sends (summaries, answers) into calls of
// at most most items and limit bytes (0: no byte limit), in order; an item
// over limit goes alone.
func calls[T proto.Message](items []T, most, limit int) [][]T {
	most = max(most, 1)
	var out [][]T
	start, bytes := 0, 0
	for i, it := range items {
		n := proto.Size(it) + 8 // the repeated field's tag and length
		if i > start && (i-start == most || limit > 0 && bytes+n > limit) {
			out = append(out, items[start:i])
			start, bytes = i, 0
		}
		bytes += n
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// deleteCall makes one deletion call to search. A deletion search refuses
// (InvalidArgument) is logged and dropped, so it does not block the
// entries behind it; what names it in the log.
func (r *Relay) deleteCall(ctx context.Context, what string, siteID int64, fn func(context.Context) error) error {
	err := r.call(ctx, fn)
	if status.Code(err) == codes.InvalidArgument {
		r.Logger.ErrorContext(ctx, "outbox: search refused "+what+"; dropped", "site_id", siteID, "err", err)
		return nil
	}
	return err
}

// delivered counts n entries taken by search.
func (r *Relay) delivered(ctx context.Context, n int) {
	if r.Delivered != nil {
		r.Delivered.Add(ctx, int64(n), metric.WithAttributes(attribute.String("target", "search")))
	}
}
