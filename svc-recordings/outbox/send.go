package outbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
