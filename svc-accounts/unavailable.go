package accounts

import (
	"log/slog"

	"google.golang.org/grpc/codes"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// newStoreErrors is how accounts answers for its store: the store's
// sentinels with the store's words, an unreachable database Unavailable
// naming the "accounts database" (the gateway explains an outage by it),
// anything else Internal.
func newStoreErrors(log *slog.Logger) *storecall.Errors {
	return &storecall.Errors{
		Service: "accounts", Store: "accounts database", Log: log,
		Kinds: []storecall.Kind{
			{Err: store.ErrNotFound, Code: codes.NotFound},
			{Err: store.ErrConflict, Code: codes.AlreadyExists},
			{Err: store.ErrLimit, Code: codes.ResourceExhausted},
			{Err: store.ErrPrecondition, Code: codes.FailedPrecondition},
		},
		Transient: sqldb.Unavailable,
	}
}
