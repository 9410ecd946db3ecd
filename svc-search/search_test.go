package search

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// Bleve starts one process-wide analysis worker pool and never stops it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

const (
	siteA = indextest.SiteA
	siteB = indextest.SiteB
)

// defaultConfig is the configuration the flags default to.
func defaultConfig() Config {
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("defaults", flag.PanicOnError))
	return cfg
}

func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := defaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitRPCCalls waits until otelgrpc's rpc.server.call.duration has, for
// each "code=<status>;rpc=<method>;" of want, that many samples (otelgrpc
// records a call after its answer is sent).
func waitRPCCalls(t *testing.T, reader sdkmetric.Reader, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := map[string]int64{}
		for k, n := range telemetrytest.By(t, reader, "rpc.server.call.duration", "rpc.response.status_code", "rpc.method") {
			code, method, _ := strings.Cut(k, "/")
			_, name, _ := strings.Cut(method, "/")
			got["code="+code+";rpc="+name+";"] += int64(n)
		}
		missing := false
		for k, v := range want {
			missing = missing || got[k] != v
		}
		if !missing {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rpc.server.call.duration samples %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve starts the service on a real loopback gRPC socket and returns a
// client of it.
func serve(t *testing.T, cfg Config, deps Deps) (searchClient, *Service) {
	t.Helper()
	c, _, svc := serveBoth(t, cfg, deps)
	return c, svc
}

// serveBoth is serve with the TrafficService on the same server.
func serveBoth(t *testing.T, cfg Config, deps Deps) (searchClient, trafficClient, *Service) {
	t.Helper()
	if deps.DataDir == "" {
		deps.DataDir = t.TempDir()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	svc, err := New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if deps.MeterProvider != nil {
		// Calls are counted by otelgrpc, as on every process's server.
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithMeterProvider(deps.MeterProvider))))
	}
	srv := grpc.NewServer(opts...)
	searchv1.RegisterSearchServiceServer(srv, svc)
	searchv1.RegisterSearchInternalServiceServer(srv, svc.Internal())
	trafficv1.RegisterTrafficServiceServer(srv, svc.Traffic())
	trafficv1.RegisterTrafficInternalServiceServer(srv, svc.Traffic())
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		if err := svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := svc.Ready(t.Context()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	return searchClient{searchv1.NewSearchServiceClient(conn), searchv1.NewSearchInternalServiceClient(conn)},
		trafficClient{trafficv1.NewTrafficServiceClient(conn), trafficv1.NewTrafficInternalServiceClient(conn)}, svc
}

func loadRPC(t *testing.T, c searchClient) (a, b []*sessionsv1.SessionSummary) {
	t.Helper()
	a = indextest.Generate(1, siteA, "a", 300)
	b = indextest.Generate(2, siteB, "b", 60)
	upsertSessions(t, c, append(slices.Clone(a), b...), 100)
	return a, b
}

// upsertSessions upserts ss in calls of at most n, each of which must
// upsert all it sends.
func upsertSessions(t *testing.T, c searchClient, ss []*sessionsv1.SessionSummary, n int) {
	t.Helper()
	inBatches(t, "sessions", ss, n, func(batch []*sessionsv1.SessionSummary) (int32, error) {
		res, err := c.UpsertSessions(t.Context(), &searchv1.UpsertSessionsRequest{Sessions: batch})
		return res.GetUpserted(), err
	})
}

// upsertAnswers is upsertSessions for answers.
func upsertAnswers(t *testing.T, c searchClient, as []*sessionsv1.Answer, n int) {
	t.Helper()
	inBatches(t, "answers", as, n, func(batch []*sessionsv1.Answer) (int32, error) {
		res, err := c.UpsertAnswers(t.Context(), &searchv1.UpsertAnswersRequest{Answers: batch})
		return res.GetUpserted(), err
	})
}

// inBatches calls upsert with items in batches of at most n; every call
// must succeed and upsert its whole batch (what names the items).
func inBatches[T any](t *testing.T, what string, items []T, n int, upsert func([]T) (int32, error)) {
	t.Helper()
	for len(items) > 0 {
		k := min(n, len(items))
		got, err := upsert(items[:k])
		if err != nil {
			t.Fatalf("upsert %s: %v", what, err)
		}
		if int(got) != k {
			t.Fatalf("upserted %d of %d %s", got, k, what)
		}
		items = items[k:]
	}
}

// idsOf are the ids of xs, in order.
func idsOf[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func sessionIDs(ss []*sessionsv1.SessionSummary) []string {
	return idsOf(ss, (*sessionsv1.SessionSummary).GetSessionId)
}

func TestSearchOverGRPC(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	a, _ := loadRPC(t, c)
	ctx := t.Context()
	filter := &searchv1.SessionFilter{
		DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP},
		VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/pricing"},
	}
	want := indextest.Sorted(a, filter, searchv1.SortField_SORT_FIELD_DURATION, true)
	if len(want) < 20 {
		t.Fatalf("test filter too narrow: %d", len(want))
	}
	var got []*sessionsv1.SessionSummary
	req := &searchv1.SearchSessionsRequest{SiteId: siteA, Filter: filter, Sort: searchv1.SortField_SORT_FIELD_DURATION,
		Ascending: true, PageSize: 7, Facets: []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_COUNTRY}}
	for {
		res, err := c.SearchSessions(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != int64(len(want)) {
			t.Fatalf("total %d want %d", res.Total, len(want))
		}
		wantFacet := indextest.Facets(a, filter, searchv1.FacetField_FACET_FIELD_COUNTRY, 10)
		if len(res.Facets) != 1 || len(res.Facets[0].Counts) != len(wantFacet) || !proto.Equal(res.Facets[0].Counts[0], wantFacet[0]) {
			t.Fatalf("facets %v want %v", res.Facets, wantFacet)
		}
		got = append(got, res.Sessions...)
		if res.NextPageToken == "" {
			break
		}
		req.PageToken = res.NextPageToken
	}
	if !slices.Equal(sessionIDs(got), sessionIDs(want)) {
		t.Fatalf("paged results differ from reference:\n got %v\nwant %v", sessionIDs(got), sessionIDs(want))
	}
	cnt, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteA, Filter: filter})
	if err != nil || cnt.Count != int64(len(want)) {
		t.Fatalf("count %v, %v; want %d", cnt, err, len(want))
	}
	// Default page size applies when none is asked.
	res, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA})
	if err != nil || len(res.Sessions) != 50 || res.Total != int64(len(a)) {
		t.Fatalf("default page: %d sessions, total %d, %v", len(res.GetSessions()), res.GetTotal(), err)
	}
}

func TestDeleteOverGRPC(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	a, b := loadRPC(t, c)
	ctx := t.Context()
	count := func(site int64) int64 {
		r, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: site})
		if err != nil {
			t.Fatal(err)
		}
		return r.Count
	}
	res, err := c.DeleteSessions(ctx, &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_SessionIds{SessionIds: &searchv1.SessionIds{Ids: []string{a[0].SessionId, b[0].SessionId}}}})
	if err != nil || res.Deleted != 1 {
		t.Fatalf("delete ids: %v, %v", res, err)
	}
	res, err = c.DeleteSessions(ctx, &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_StartedBefore{StartedBefore: timestamppb.New(indextest.Base.Add(24 * time.Hour))}})
	if err != nil || res.Deleted == 0 {
		t.Fatalf("delete by age: %v, %v", res, err)
	}
	res, err = c.DeleteSessions(ctx, &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_VisitorId{VisitorId: a[100].VisitorId}})
	if err != nil || res.Deleted == 0 {
		t.Fatalf("delete visitor: %v, %v", res, err)
	}
	res, err = c.DeleteSessions(ctx, &searchv1.DeleteSessionsRequest{SiteId: siteA,
		Selector: &searchv1.DeleteSessionsRequest_WholeSite{WholeSite: true}})
	if err != nil || res.Deleted == 0 || count(siteA) != 0 {
		t.Fatalf("delete site: %v, %v, %d left", res, err, count(siteA))
	}
	if n := count(siteB); n != int64(len(b)) {
		t.Fatalf("site B has %d sessions after deleting site A, want %d", n, len(b))
	}
	for _, bad := range []*searchv1.DeleteSessionsRequest{
		{SiteId: siteA},
		{SiteId: 0, Selector: &searchv1.DeleteSessionsRequest_WholeSite{WholeSite: true}},
		{SiteId: siteA, Selector: &searchv1.DeleteSessionsRequest_WholeSite{WholeSite: false}},
		{SiteId: siteA, Selector: &searchv1.DeleteSessionsRequest_VisitorId{}},
		{SiteId: siteA, Selector: &searchv1.DeleteSessionsRequest_SessionIds{SessionIds: &searchv1.SessionIds{}}},
		{SiteId: siteA, Selector: &searchv1.DeleteSessionsRequest_SessionIds{SessionIds: &searchv1.SessionIds{Ids: make([]string, 1001)}}},
		{SiteId: siteA, Selector: &searchv1.DeleteSessionsRequest_StartedBefore{StartedBefore: &timestamppb.Timestamp{Seconds: -1e12}}},
	} {
		if _, err := c.DeleteSessions(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("delete %v: %v, want InvalidArgument", bad, err)
		}
	}
}

func TestUpsertValidationAndVersions(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUpsertBatch = 10
	c, _ := serve(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}})
	ctx := t.Context()
	docs := indextest.Generate(3, siteA, "u", 11)
	if _, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: docs}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized batch: %v", err)
	}
	bad := func(mut func(s *sessionsv1.SessionSummary)) *sessionsv1.SessionSummary {
		s := proto.Clone(docs[0]).(*sessionsv1.SessionSummary)
		mut(s)
		return s
	}
	for i, s := range []*sessionsv1.SessionSummary{
		bad(func(s *sessionsv1.SessionSummary) { s.SiteId = 0 }),
		bad(func(s *sessionsv1.SessionSummary) { s.SessionId = "" }),
		bad(func(s *sessionsv1.SessionSummary) { s.SessionId = strings.Repeat("x", 513) }),
		bad(func(s *sessionsv1.SessionSummary) { s.StartTime = nil }),
		bad(func(s *sessionsv1.SessionSummary) { s.Version = -1 }),
		bad(func(s *sessionsv1.SessionSummary) { s.Duration = durationpb.New(-time.Second) }),
		bad(func(s *sessionsv1.SessionSummary) { s.EntryUrl = strings.Repeat("u", 9000) }),
	} {
		_, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{docs[1], s}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "sessions[1]") {
			t.Errorf("bad summary %d: %v, want InvalidArgument naming sessions[1]", i, err)
		}
	}
	res, err := c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: docs[:10]})
	if err != nil || res.Upserted != 10 {
		t.Fatalf("upsert: %v %v", res, err)
	}
	old := proto.Clone(docs[0]).(*sessionsv1.SessionSummary)
	old.Version--
	res, err = c.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: []*sessionsv1.SessionSummary{old}})
	if err != nil || res.Stale != 1 || res.Upserted != 0 {
		t.Fatalf("stale upsert: %v %v", res, err)
	}
}

// TestHostileQueries sends what an attacker or a buggy client would.
func TestHostileQueries(t *testing.T) {
	c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	loadRPC(t, c)
	ctx := t.Context()
	long := strings.Repeat("a", 513)
	many := make([]string, 51)
	for i := range many {
		many[i] = "Chrome"
	}
	f := func(mut func(*searchv1.SessionFilter)) *searchv1.SessionFilter {
		x := &searchv1.SessionFilter{}
		mut(x)
		return x
	}
	valid, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageSize: 5})
	if err != nil || valid.NextPageToken == "" {
		t.Fatalf("first page: %v", err)
	}
	invalid := map[string]*searchv1.SearchSessionsRequest{
		"no site":           {},
		"negative site":     {SiteId: -5},
		"negative page":     {SiteId: siteA, PageSize: -1},
		"unknown sort":      {SiteId: siteA, Sort: 99},
		"unknown facet":     {SiteId: siteA, Facets: []searchv1.FacetField{42}},
		"unspecified facet": {SiteId: siteA, Facets: []searchv1.FacetField{0}},
		"too many facets":   {SiteId: siteA, Facets: []searchv1.FacetField{1, 2, 3, 4, 5, 1}},
		"bogus token":       {SiteId: siteA, PageToken: "!!not-base64!!"},
		"short token":       {SiteId: siteA, PageToken: "AQ"},
		"huge token":        {SiteId: siteA, PageToken: strings.Repeat("A", 5000)},
		"token other site":  {SiteId: siteB, PageSize: 5, PageToken: valid.NextPageToken},
		"token other sort":  {SiteId: siteA, PageSize: 5, Sort: searchv1.SortField_SORT_FIELD_DURATION, PageToken: valid.NextPageToken},
		"token other filter": {SiteId: siteA, PageSize: 5, PageToken: valid.NextPageToken,
			Filter: &searchv1.SessionFilter{Browsers: []string{"Chrome"}}},
		"unknown device":   {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.DeviceTypes = []sessionsv1.DeviceType{77} })},
		"unknown operator": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.VisitedPage = &searchv1.UrlMatch{Operator: 9, Value: "/"} })},
		"missing operator": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.VisitedPage = &searchv1.UrlMatch{Value: "/"} })},
		"empty url value": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.ExitPage = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS}
		})},
		"long url value": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.EntryPage = &searchv1.UrlMatch{Operator: 2, Value: strings.Repeat("a", pagerule.MaxValue+1)}
		})},
		"long user id":    {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.UserId = long })},
		"long utm":        {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.UtmCampaign = long })},
		"too many values": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.Browsers = many })},
		"empty value":     {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.Countries = []string{"US", ""} })},
		"inverted time": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.StartTime = &searchv1.TimeRange{Start: timestamppb.New(indextest.Base.Add(time.Hour)), End: timestamppb.New(indextest.Base)}
		})},
		"empty time range": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.StartTime = &searchv1.TimeRange{Start: timestamppb.New(indextest.Base), End: timestamppb.New(indextest.Base)}
		})},
		"year 1": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.StartTime = &searchv1.TimeRange{Start: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))}
		})},
		"invalid timestamp": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.StartTime = &searchv1.TimeRange{End: &timestamppb.Timestamp{Seconds: 1, Nanos: -4}}
		})},
		"inverted duration": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.Duration = &searchv1.DurationRange{Min: durationpb.New(time.Hour), Max: durationpb.New(time.Minute)}
		})},
		"negative duration": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			x.ActiveDuration = &searchv1.DurationRange{Min: durationpb.New(-time.Minute)}
		})},
		"inverted pages":  {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.PageCount = &searchv1.IntRange{Min: 5, Max: 2} })},
		"negative pages":  {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.PageCount = &searchv1.IntRange{Min: -1} })},
		"empty attr key":  {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.UserAttributes = []*sessionsv1.Attribute{{Value: "x"}} })},
		"long attr value": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) { x.UserAttributes = []*sessionsv1.Attribute{{Key: "k", Value: long}} })},
		"unknown field": {SiteId: siteA, Filter: f(func(x *searchv1.SessionFilter) {
			// Field 23 (reserved) as a varint: a client on a newer contract.
			x.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 23, protowire.VarintType), 1))
		})},
	}
	for name, req := range invalid {
		_, err := c.SearchSessions(ctx, req)
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || st.Message() == "" {
			t.Errorf("%s: got %v, want InvalidArgument with a message", name, err)
		}
	}
	// Count validates the same way.
	if _, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteA, Filter: invalid["inverted duration"].Filter}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("count with inverted range: %v", err)
	}

	// Accepted but harmless: capped sizes, literal regex-like text.
	res, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageSize: 1 << 30})
	if err != nil || len(res.Sessions) != 200 || res.NextPageToken == "" {
		t.Fatalf("huge page size: %d sessions, %v; want capped at 200", len(res.GetSessions()), err)
	}
	for _, pattern := range []string{".*", "(a+)+$", "[", `\`, "*", "?", "%", "_", "' OR 1=1 --", "\x00", strings.Repeat("(a|a)*", 80),
		strings.Repeat("€", 170), strings.Repeat("a", 512), strings.Repeat(".*", 256)} {
		for _, op := range []searchv1.UrlMatch_Operator{1, 2, 3} {
			r, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA,
				Filter: &searchv1.SessionFilter{VisitedPage: &searchv1.UrlMatch{Operator: op, Value: pattern}, Browsers: []string{pattern}}})
			if err != nil {
				t.Fatalf("pattern %q op %v: %v", pattern, op, err)
			}
			if r.Total != 0 {
				t.Fatalf("pattern %q op %v matched %d sessions; user text must be literal", pattern, op, r.Total)
			}
		}
	}
	// A literal "?" does occur in generated URLs ("?ref=") and must match
	// as text, not as a wildcard.
	r, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA,
		Filter: &searchv1.SessionFilter{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "?ref="}}})
	if err != nil || r.Total == 0 {
		t.Fatalf("literal ?: %v, %v", r.GetTotal(), err)
	}
	// A forged token that decodes (right hash, arbitrary position) only
	// moves within the asking site's own list.
	forged := encodeToken(pageToken{queryHash: queryHash(siteA, nil), cursor: indexCursor(-1<<62, "zzzz")})
	r, err = c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA, PageToken: forged})
	if err != nil || len(r.Sessions) != 0 {
		t.Fatalf("forged deep token: %d sessions, %v", len(r.GetSessions()), err)
	}
}

func TestQueryTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.QueryTimeout = time.Nanosecond
	c, _ := serve(t, cfg, Deps{Authorizer: siteaccesstest.AllowAll{}})
	loadRPC(t, c)
	_, err := c.SearchSessions(t.Context(), &searchv1.SearchSessionsRequest{SiteId: siteA,
		Filter: &searchv1.SessionFilter{VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "example"}}})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("search past its time limit: %v, want DeadlineExceeded", err)
	}
}

type denyAll struct{ calls []int64 }

func (d *denyAll) AuthorizeSite(_ context.Context, site int64, write bool) error {
	d.calls = append(d.calls, site)
	if write {
		return status.Error(codes.PermissionDenied, "write")
	}
	return status.Errorf(codes.NotFound, "site %d not found", site)
}

func TestAuthorizer(t *testing.T) {
	auth := &denyAll{}
	c, _ := serve(t, testConfig(t), Deps{Authorizer: auth})
	loadRPC(t, c) // internal RPC: not authorized per site
	ctx := t.Context()
	if _, err := c.SearchSessions(ctx, &searchv1.SearchSessionsRequest{SiteId: siteA}); status.Code(err) != codes.NotFound {
		t.Fatalf("search of a foreign site: %v, want NotFound", err)
	}
	if _, err := c.CountSessions(ctx, &searchv1.CountSessionsRequest{SiteId: siteB}); status.Code(err) != codes.NotFound {
		t.Fatalf("count of a foreign site: %v, want NotFound", err)
	}
	if !slices.Equal(auth.calls, []int64{siteA, siteB}) {
		t.Fatalf("authorizer calls %v", auth.calls)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := testConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var c2 Config
	c2.RegisterFlags(fs)
	if err := fs.Parse([]string{"-search.backend=elasticsearch", "-search.elasticsearch.urls=http://a:9200, http://b:9200"}); err != nil {
		t.Fatal(err)
	}
	if err := c2.Validate(); err != nil || len(c2.Elasticsearch.URLs) != 2 {
		t.Fatalf("es config: %v %v", c2.Elasticsearch.URLs, err)
	}
	for name, mut := range map[string]func(*Config){
		"backend":    func(c *Config) { c.Backend = "solr" },
		"no es urls": func(c *Config) { c.Backend = BackendElasticsearch },
		"page size":  func(c *Config) { c.MaxPageSize = 0 },
		"default":    func(c *Config) { c.DefaultPageSize = c.MaxPageSize + 1 },
		"timeout":    func(c *Config) { c.QueryTimeout = 0 },
		"batch":      func(c *Config) { c.MaxUpsertBatch = 0 },
		"facet size": func(c *Config) { c.FacetSize = 0 },
		"bad prefix": func(c *Config) {
			c.Backend = BackendElasticsearch
			c.Elasticsearch.URLs = []string{"x"}
			c.Elasticsearch.IndexPrefix = "A*"
		},
		"bad refresh": func(c *Config) {
			c.Backend = BackendElasticsearch
			c.Elasticsearch.URLs = []string{"x"}
			c.Elasticsearch.Refresh = "sometimes"
		},
	} {
		c := testConfig(t)
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	if _, err := New(t.Context(), cfg, Deps{Authorizer: siteaccesstest.AllowAll{}}); err == nil {
		t.Fatal("bleve backend without DataDir accepted")
	}
}

// searchClient and trafficClient call both of a service's contracts, as
// the gateway and the other services do.
type searchClient struct {
	searchv1.SearchServiceClient
	searchv1.SearchInternalServiceClient
}

type trafficClient struct {
	trafficv1.TrafficServiceClient
	trafficv1.TrafficInternalServiceClient
}
