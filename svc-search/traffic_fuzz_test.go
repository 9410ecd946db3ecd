package search

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// FuzzTrafficRequests feeds arbitrary request bytes to every traffic query
// and to AppendHits on a small real embedded store: every input is
// answered with a result or InvalidArgument, never a panic or an internal
// error, and AppendHits accounts for every chunk.
func FuzzTrafficRequests(f *testing.F) {
	now := time.Now()
	day := &searchv1.TimeRange{Start: timestamppb.New(now.Add(-24 * time.Hour)), End: timestamppb.New(now)}
	steps := []*trafficv1.FunnelStep{
		{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/"}}},
		{Match: &trafficv1.FunnelStep_Event{Event: "signup"}},
	}
	for kind, m := range []proto.Message{
		&trafficv1.GetTrafficOverviewRequest{SiteId: siteA, Range: day, TimeZone: "Europe/Berlin", Interval: 1},
		&trafficv1.GetTrafficBreakdownRequest{SiteId: siteA, Range: day, Dimension: 4, Limit: 3,
			Filter: &trafficv1.TrafficFilter{Countries: []string{"DE"}, VisitedPage: &searchv1.UrlMatch{Operator: 4, Value: "/p/*"}}},
		&trafficv1.ComputeFunnelRequest{SiteId: siteA, Range: day, Steps: steps},
		&trafficv1.ListFunnelSessionsRequest{SiteId: siteA, Range: day, Steps: steps, Step: 1, Dropped: true, PageSize: 2},
		&trafficv1.AppendHitsRequest{Chunks: []*recordingsv1.Chunk{pageView(siteA, 1, "v_visitor001", now.Add(-time.Hour), "https://shop.example.com/")}},
	} {
		raw, _ := proto.Marshal(m)
		f.Add(uint8(kind), raw)
	}
	svc := newLocal(f, defaultConfig())
	tx := svc.Traffic()
	var seed []*recordingsv1.Chunk
	for i := range 40 {
		seed = append(seed, pageView(siteA, i, fmt.Sprintf("v_visitor%03d", i%7), now.Add(-time.Duration(i)*time.Minute), fmt.Sprintf("https://shop.example.com/p/%d", i%5)))
	}
	if _, err := tx.AppendHits(f.Context(), &trafficv1.AppendHitsRequest{Chunks: seed}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		var err error
		switch kind % 5 {
		case 0:
			req := &trafficv1.GetTrafficOverviewRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			var res *trafficv1.GetTrafficOverviewResponse
			if res, err = tx.GetTrafficOverview(t.Context(), req); err == nil && len(res.GetSeries()) > traffic.MaxBuckets {
				t.Fatalf("%d buckets", len(res.GetSeries()))
			}
		case 1:
			req := &trafficv1.GetTrafficBreakdownRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			var res *trafficv1.GetTrafficBreakdownResponse
			if res, err = tx.GetTrafficBreakdown(t.Context(), req); err == nil && len(res.GetRows()) > traffic.MaxBreakdownRows {
				t.Fatalf("%d rows", len(res.GetRows()))
			}
		case 2:
			req := &trafficv1.ComputeFunnelRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			_, err = tx.ComputeFunnel(t.Context(), req)
		case 3:
			req := &trafficv1.ListFunnelSessionsRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			var res *trafficv1.ListFunnelSessionsResponse
			if res, err = tx.ListFunnelSessions(t.Context(), req); err == nil && len(res.GetSessions()) > maxFunnelPageSize {
				t.Fatalf("%d sessions in a page", len(res.GetSessions()))
			}
		case 4:
			req := &trafficv1.AppendHitsRequest{}
			if proto.Unmarshal(raw, req) != nil {
				return
			}
			var res *trafficv1.AppendHitsResponse
			if res, err = tx.AppendHits(t.Context(), req); err == nil &&
				(len(res.GetResults()) != len(req.GetChunks()) || int(res.Stored+res.Refused) != len(req.GetChunks())) {
				t.Fatalf("%d results, %d stored and %d refused for %d chunks", len(res.GetResults()), res.Stored, res.Refused, len(req.GetChunks()))
			}
		}
		if c := status.Code(err); c != codes.OK && c != codes.InvalidArgument {
			t.Fatalf("kind %d: %v", kind%5, err)
		}
	})
}

// FuzzFunnelToken: any token decodes or is refused, never panics, and a
// decoded one encodes back to itself.
func FuzzFunnelToken(f *testing.F) {
	f.Add(encodeFunnelToken(42, traffic.FunnelCursor{Start: time.Unix(1_700_000_000, 5), SessionID: "s_abcdef"}))
	f.Add("")
	f.Add("8QAAAAAAAAAqAA")
	f.Fuzz(func(t *testing.T, s string) {
		h, c, err := decodeFunnelToken(s)
		if err != nil {
			return
		}
		if again := encodeFunnelToken(h, c); again != s {
			h2, c2, err := decodeFunnelToken(again)
			if err != nil || h2 != h || !c2.Start.Equal(c.Start) || c2.SessionID != c.SessionID {
				t.Fatalf("%q decodes to %x %v, which encodes to %q", s, h, c, again)
			}
		}
	})
}
