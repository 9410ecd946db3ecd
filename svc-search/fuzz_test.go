package search

import (
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// FuzzSearchRequest feeds arbitrary request bytes to SearchSessions and
// CountSessions on a small real index: every input is answered with a
// result or InvalidArgument, never a panic or an internal error.
func FuzzSearchRequest(f *testing.F) {
	for _, r := range []*searchv1.SearchSessionsRequest{
		{SiteId: siteA},
		{SiteId: siteA, PageSize: 3, Sort: 2, Ascending: true, Facets: []searchv1.FacetField{1, 5}},
		{SiteId: siteA, Filter: &searchv1.SessionFilter{VisitedPage: &searchv1.UrlMatch{Operator: 2, Value: "(a+)+"}, Browsers: []string{"Chrome"}}},
		{SiteId: siteA, Filter: &searchv1.SessionFilter{PageCount: &searchv1.IntRange{Min: 2, Max: 3}, UserId: "a-u01"}},
		{SiteId: siteA, Filter: &searchv1.SessionFilter{ExitPage: &searchv1.UrlMatch{Operator: 4, Value: "*/pri*?ref=*"}, ClickedElement: "#buy", RageClickedElement: "#buy", DeadClickedElement: "a.x"}},
		{SiteId: siteA, Filter: &searchv1.SessionFilter{EntryPage: &searchv1.UrlMatch{Operator: 4, Value: `/\*`}}},
	} {
		raw, _ := proto.Marshal(r)
		f.Add(raw)
	}
	cfg := defaultConfig()
	svc := newLocal(f, cfg)
	if _, err := svc.UpsertSessions(f.Context(), &searchv1.UpsertSessionsRequest{Sessions: indextest.Generate(1, siteA, "a", 60)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &searchv1.SearchSessionsRequest{}
		if proto.Unmarshal(raw, req) != nil {
			return
		}
		res, err := svc.SearchSessions(t.Context(), req)
		switch status.Code(err) {
		case codes.OK:
			if int64(len(res.Sessions)) > res.Total || len(res.Sessions) > cfg.MaxPageSize {
				t.Fatalf("page of %d with total %d", len(res.Sessions), res.Total)
			}
			for _, s := range res.Sessions {
				if s.SiteId != req.SiteId {
					t.Fatalf("site %d query returned site %d", req.SiteId, s.SiteId)
				}
			}
		case codes.InvalidArgument:
		default:
			t.Fatalf("request %v: %v", req, err)
		}
		_, err = svc.CountSessions(t.Context(), &searchv1.CountSessionsRequest{SiteId: req.SiteId, Filter: req.Filter})
		if c := status.Code(err); c != codes.OK && c != codes.InvalidArgument {
			t.Fatalf("count %v: %v", req.Filter, err)
		}
	})
}

// newLocal is the service on the embedded backend in a temporary
// directory, every caller allowed; it is closed when tb ends.
func newLocal(tb testing.TB, cfg Config) *Service {
	tb.Helper()
	svc, err := New(tb.Context(), cfg, Deps{Authorizer: siteaccesstest.AllowAll{}, DataDir: tb.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := svc.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return svc
}
