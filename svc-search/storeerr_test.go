package search

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// failingIndex fails every Search with err.
type failingIndex struct {
	index.Index
	err error
}

func (f failingIndex) Search(context.Context, index.Query) (*index.Result, error) { return nil, f.err }

// TestIndexFailureStatus: an index that cannot be reached answers
// Unavailable (the dashboard retries), any other failure Internal naming
// the call; neither carries the index's own words.
func TestIndexFailureStatus(t *testing.T) {
	c, svc := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	real := svc.ix
	t.Cleanup(func() { svc.ix = real })
	const secret = "elastic: 10.9.8.7:9200 [search_phase_execution_exception] sessions-v3"
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{fmt.Errorf("%s: %w", secret, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), codes.Unavailable, "the search index is unavailable; try again shortly"},
		{errors.New(secret), codes.Internal, "search: internal error during SearchSessions"},
	} {
		svc.ix = failingIndex{Index: real, err: tc.err}
		_, err := c.SearchSessions(t.Context(), &searchv1.SearchSessionsRequest{SiteId: siteA})
		st := status.Convert(err)
		if st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("index error %v: %v; want %v %q", tc.err, err, tc.code, tc.msg)
		}
		if strings.Contains(st.Message(), "10.9.8.7") || strings.Contains(st.Message(), "exception") {
			t.Errorf("message %q carries the index's words", st.Message())
		}
	}
}
