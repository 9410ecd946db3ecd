package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-accounts/accountstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// TestAuthorizationEveryPublicRPC walks every RPC of SearchService and
// TrafficService over real sockets with a real accounts behind siteaccess:
// A's members and API keys read A's index (the answers hold it, and only
// it), another organisation gets NotFound for A's site and only its own
// data from its site, and a missing, revoked or unknown credential is
// Unauthenticated. Every RPC is a read.
func TestAuthorizationEveryPublicRPC(t *testing.T) {
	acc := accountstest.Start(t)
	sc, tc, _ := serveBoth(t, testConfig(t), Deps{Authorizer: siteaccess.New(acc.Internal)})

	// Each site: indexed sessions and answers, and traffic of its own size
	// (A 6 sessions, B 3), every traffic session recorded and half of them
	// going on to the cart, so a count that mixes the sites shows.
	trafficSessions := map[int64]int{acc.SiteA: 6, acc.SiteB: 3}
	for i, site := range []int64{acc.SiteA, acc.SiteB} {
		prefix := fmt.Sprintf("site%d", i)
		sums := indextest.Generate(uint64(i+1), site, prefix, 40)
		var hits []*recordingsv1.Chunk
		for n := range trafficSessions[site] {
			// Within the last five minutes: GetRealtime's window.
			at := time.Now().Add(-time.Duration(n+1) * 20 * time.Second)
			session, visitor := fmt.Sprintf("s_%s_%04d", prefix, n), fmt.Sprintf("v_%s_%04d", prefix, n)
			hits = append(hits, hitChunk(site, session, visitor, fmt.Sprintf("p_%s_home%04d", prefix, n), sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, at, "https://shop.example.com/"))
			if n%2 == 0 {
				hits = append(hits, hitChunk(site, session, visitor, fmt.Sprintf("p_%s_cart%04d", prefix, n), sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, at.Add(10*time.Second), "https://shop.example.com/cart"))
			}
			sums = append(sums, summaryOf(site, session, visitor, at, 1))
		}
		if r := appendHits(t, tc, hits...); int(r.GetStored()) != len(hits) {
			t.Fatalf("append hits: %v", r)
		}
		if r, err := sc.UpsertSessions(t.Context(), &searchv1.UpsertSessionsRequest{Sessions: sums}); err != nil || int(r.GetUpserted()) != len(sums) {
			t.Fatalf("upsert sessions: %v %v", r, err)
		}
		answers := indextest.GenerateAnswers(uint64(i+1), site, prefix, 30)
		if r, err := sc.UpsertAnswers(t.Context(), &searchv1.UpsertAnswersRequest{Answers: answers}); err != nil || int(r.GetUpserted()) != len(answers) {
			t.Fatalf("upsert answers: %v %v", r, err)
		}
	}

	// onlySite fails the case when an answer holds a record of another
	// site than the one asked for.
	onlySite := func(t *testing.T, rpc string, asked int64, sites ...int64) {
		for _, s := range sites {
			if s != asked {
				t.Errorf("%s of site %d answered a record of site %d", rpc, asked, s)
			}
		}
	}
	sessionSites := func(ss []*sessionsv1.SessionSummary) []int64 {
		out := make([]int64, len(ss))
		for i, s := range ss {
			out[i] = s.GetSiteId()
		}
		return out
	}
	// trafficCount fails the case when a traffic count is not the asked
	// site's own.
	trafficCount := func(t *testing.T, rpc string, site, got int64) {
		if want := int64(trafficSessions[site]); got != want {
			t.Errorf("%s of site %d counted %d sessions, want %d", rpc, site, got, want)
		}
	}
	steps := []*trafficv1.FunnelStep{
		{Label: "home", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/"}}},
		{Label: "cart", Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "/cart"}}},
	}
	searchSessions := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := sc.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: site, PageSize: 10})
			onlySite(t, "SearchSessions", site, sessionSites(r.GetSessions())...)
			return len(r.GetSessions()), err
		}
	}
	countSessions := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := sc.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: site})
			if want := int64(40 + trafficSessions[site]); err == nil && r.GetCount() != want {
				t.Errorf("CountSessions of site %d: %d, want %d", site, r.GetCount(), want)
			}
			return int(r.GetCount()), err
		}
	}
	searchAnswers := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := sc.SearchAnswers(ctx, &searchv1.SearchAnswersRequest{SiteId: site})
			for _, a := range r.GetAnswers() {
				onlySite(t, "SearchAnswers", site, a.GetSiteId())
			}
			return len(r.GetAnswers()), err
		}
	}
	overview := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := tc.GetTrafficOverview(ctx, &trafficv1.GetTrafficOverviewRequest{SiteId: site, Range: lastDay()})
			if err == nil {
				trafficCount(t, "GetTrafficOverview", site, r.GetCurrent().GetSessions())
			}
			return int(r.GetCurrent().GetSessions()), err
		}
	}
	realtime := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := tc.GetRealtime(ctx, &trafficv1.GetRealtimeRequest{SiteId: site})
			if err == nil {
				trafficCount(t, "GetRealtime", site, r.GetVisitors())
			}
			return int(r.GetVisitors()), err
		}
	}
	funnelSessions := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := tc.ListFunnelSessions(ctx, &trafficv1.ListFunnelSessionsRequest{SiteId: site, Steps: steps, Range: lastDay()})
			onlySite(t, "ListFunnelSessions", site, sessionSites(r.GetSessions())...)
			if err == nil {
				trafficCount(t, "ListFunnelSessions", site, r.GetTotal())
			}
			return len(r.GetSessions()), err
		}
	}
	// A page token of A's query, for B's site.
	first, err := sc.SearchSessions(accountstest.As(acc.Owner.Token), &searchv1.SearchSessionsRequest{SiteId: acc.SiteA, PageSize: 10})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page of A's sessions: %v %v", first, err)
	}

	R, B := accountstest.Read, accountstest.SiteB
	cases := []accountstest.Case{
		{Method: "SearchSessions", Call: searchSessions(acc.SiteA), Want: R},
		{Method: "SearchSessions/site B", Call: searchSessions(acc.SiteB), Want: B},
		{Method: "SearchSessions/A's page token through site B", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := sc.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: acc.SiteB, PageSize: 10, PageToken: first.GetNextPageToken()})
			return len(r.GetSessions()), err
		}, Want: accountstest.Want{Owner: codes.NotFound, Viewer: codes.NotFound, MemberKey: codes.NotFound, ViewerKey: codes.NotFound,
			Foreign: codes.InvalidArgument, Anonymous: codes.Unauthenticated}},
		{Method: "CountSessions", Call: countSessions(acc.SiteA), Want: R},
		{Method: "CountSessions/site B", Call: countSessions(acc.SiteB), Want: B},
		// A site that does not exist answers as another organisation's.
		{Method: "CountSessions/no such site", Call: countSessions(acc.SiteB + 1_000_000), Want: accountstest.Nobody},
		{Method: "SearchAnswers", Call: searchAnswers(acc.SiteA), Want: R},
		{Method: "SearchAnswers/site B", Call: searchAnswers(acc.SiteB), Want: B},
		{Method: "GetAnswerStats", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := sc.GetAnswerStats(ctx, &searchv1.GetAnswerStatsRequest{SiteId: acc.SiteA, Interval: searchv1.StatsInterval_STATS_INTERVAL_MONTH,
				Filter: &searchv1.AnswerFilter{Time: &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.AddDate(0, -1, 0)), End: timestamppb.New(indextest.Base.AddDate(0, 2, 0))}}})
			if n := r.GetTotal().GetAnswers(); err == nil && n != 30 {
				t.Errorf("GetAnswerStats of site A counted %d answers, want 30", n)
			}
			return int(r.GetTotal().GetAnswers()), err
		}, Want: R},
		{Method: "GetTrafficOverview", Call: overview(acc.SiteA), Want: R},
		{Method: "GetTrafficOverview/site B", Call: overview(acc.SiteB), Want: B},
		{Method: "GetTrafficBreakdown", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := tc.GetTrafficBreakdown(ctx, &trafficv1.GetTrafficBreakdownRequest{SiteId: acc.SiteA, Range: lastDay(), Dimension: trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE})
			if err == nil {
				trafficCount(t, "GetTrafficBreakdown", acc.SiteA, r.GetSessions())
			}
			return len(r.GetRows()), err
		}, Want: R},
		{Method: "GetRealtime", Call: realtime(acc.SiteA), Want: R},
		{Method: "GetRealtime/site B", Call: realtime(acc.SiteB), Want: B},
		{Method: "ComputeFunnel", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := tc.ComputeFunnel(ctx, &trafficv1.ComputeFunnelRequest{SiteId: acc.SiteA, Steps: steps, Range: lastDay()})
			if s := r.GetSteps(); err == nil && (len(s) != 2 || s[0].GetSessions() != 6 || s[1].GetSessions() != 3) {
				t.Errorf("ComputeFunnel of site A: %v, want 6 then 3 sessions", s)
			}
			return len(r.GetSteps()), err
		}, Want: R},
		{Method: "ListFunnelSessions", Call: funnelSessions(acc.SiteA), Want: R},
		{Method: "ListFunnelSessions/site B", Call: funnelSessions(acc.SiteB), Want: B},
	}
	acc.Walk(t, cases, searchv1.SearchService_ServiceDesc, trafficv1.TrafficService_ServiceDesc)
}

// TestNewRefusesNoAuthorizer: a service wired without an authorizer would
// serve every site to every caller, so New refuses it, before it opens the
// index.
func TestNewRefusesNoAuthorizer(t *testing.T) {
	siteaccesstest.NewRefusesNoAuthorizer(t, errNoAuthorizer, func(dir string) (io.Closer, error) {
		return New(t.Context(), testConfig(t), Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir})
	})
}
