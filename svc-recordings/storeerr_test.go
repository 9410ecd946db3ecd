package recordings

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestStoreErrUnreachableIsUnavailable is the ScyllaDB row of the downtime
// matrix at the statement level (ScyllaDB cannot run here): every gocql
// error that means the cluster cannot be reached or did not answer in time,
// wrapped as the scylla backend wraps it, is Unavailable (retried by ingest's
// forwarder, 503 + Retry-After at the gateway), never Internal.
func TestStoreErrUnreachableIsUnavailable(t *testing.T) {
	unreachable := map[string]error{
		"ErrNoConnections":        gocql.ErrNoConnections,
		"ErrUnavailable":          gocql.ErrUnavailable,
		"RequestErrUnavailable":   &gocql.RequestErrUnavailable{Consistency: gocql.Quorum, Required: 2, Alive: 1},
		"ErrTimeoutNoResponse":    gocql.ErrTimeoutNoResponse,
		"ErrConnectionClosed":     gocql.ErrConnectionClosed,
		"RequestErrWriteTimeout":  &gocql.RequestErrWriteTimeout{Consistency: gocql.Quorum, Received: 1, BlockFor: 2, WriteType: "BATCH"},
		"RequestErrReadTimeout":   &gocql.RequestErrReadTimeout{Consistency: gocql.Quorum, Received: 1, BlockFor: 2},
		"RequestErrOverloaded":    &gocql.RequestErrOverloaded{},
		"RequestErrBootstrapping": &gocql.RequestErrBootstrapping{},
		"context deadline":        context.DeadlineExceeded,
		"ErrNoConnectionsStarted": gocql.ErrNoConnectionsStarted,
	}
	s := &Service{errs: newStoreErrors(slog.New(slog.DiscardHandler))}
	ctx := context.Background()
	for name, e := range unreachable {
		for _, err := range []error{e, fmt.Errorf("scylla: append chunk: %w", e), fmt.Errorf("scylla: list sessions: %w", fmt.Errorf("batch of 3: %w", e))} {
			got := s.storeErr(ctx, "append chunks", err)
			st, _ := status.FromError(got)
			if st.Code() != codes.Unavailable {
				t.Errorf("%s: storeErr(%v) = %v, want Unavailable", name, err, got)
			}
			// The client is told which part is down, never the driver's words.
			if st.Message() != "the recordings store is unavailable; try again shortly" {
				t.Errorf("%s: message %q carries more than the fixed phrase", name, st.Message())
			}
		}
	}
	// The rest keep their meaning.
	for err, want := range map[error]codes.Code{
		nil: codes.OK,
		fmt.Errorf("scylla: %w", store.ErrNotFound): codes.NotFound,
		context.Canceled:                         codes.Canceled,
		status.Error(codes.InvalidArgument, "x"): codes.InvalidArgument,
	} {
		if got := status.Code(s.storeErr(ctx, "get session", err)); got != want {
			t.Errorf("storeErr(%v) = %v, want %v", err, got, want)
		}
	}
	if got := status.Convert(s.storeErr(ctx, "get session", fmt.Errorf("scylla: %w", store.ErrNotFound))).Message(); got != "session not found" {
		t.Errorf("a missing session: message %q, want %q", got, "session not found")
	}
}
