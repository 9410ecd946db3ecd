package gateway

import (
	"context"
	"errors"

	"google.golang.org/grpc"
)

// errNotifyOff answers the notification routes of a gateway without
// notify (neither in this process nor remote.notify).
var errNotifyOff = errors.New("notifications are not configured: run notify in this process or set remote.notify")

// notifyOff stands in for notify's connection when there is none, so its
// routes answer 503 with errNotifyOff rather than 404.
type notifyOff struct{}

func (notifyOff) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return errNotifyOff
}

func (notifyOff) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errNotifyOff
}
