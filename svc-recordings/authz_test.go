package recordings

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-accounts/accountstest"
)

// TestAuthorizationEveryPublicRPC walks every RPC of RecordingsService over
// real sockets with a real accounts behind siteaccess: A's members read A's
// recordings (the answers hold them), viewers cannot delete, another
// organisation gets NotFound for A's site and for A's objects named under
// its own, and a missing, revoked or unknown credential is
// Unauthenticated.
func TestAuthorizationEveryPublicRPC(t *testing.T) {
	acc := accountstest.Start(t)
	assets, _ := assetSite(t)
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	cfg := testConfig(t)
	cfg.Assets.AllowPrivateTargets = true
	h := start(t, cfg, t.TempDir(), searchAddr, func(d *Deps) { d.Authorizer = siteaccess.New(acc.Internal) })
	c, ctx := h.client, context.Background()

	// A's site: a recorded session and a page whose stylesheet and font
	// recordings captured. B's site: a session of the same visitor.
	const sessA, sessB = "s_authzsitea000000000", "s_authzsiteb000000000"
	onSite := func(chunks []*recordingsv1.Chunk, site, org int64) []*recordingsv1.Chunk {
		for _, ch := range chunks {
			ch.SiteId, ch.OrganizationId = site, org
		}
		return chunks
	}
	page := mkChunk("s_authzassets0000000", 0, pvA, assets.URL+"/shop/", snapshotWithStylesheet(t, assets.URL))
	page.CaptureAssets = true
	appendAll := func(t *testing.T, chunks ...*recordingsv1.Chunk) {
		t.Helper()
		r, err := c.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks})
		if err != nil || int(r.GetStored()) != len(chunks) {
			t.Fatalf("append: %v %v", r, err)
		}
	}
	appendAll(t, onSite(append(scriptedSession(t, sessA), page), acc.SiteA, acc.Owner.Org)...)
	b := onSite(scriptedSession(t, sessB), acc.SiteB, acc.Mallory.Org)
	for _, ch := range b {
		ch.VisitorId = "v_visitorsiteb000000"
	}
	appendAll(t, b...)
	cssURL, fontURL := assets.URL+"/static/site.css", assets.URL+"/fonts/i.woff2"
	var cssHash string
	waitFor(t, func() bool {
		r, err := c.LookupAssets(accountstest.As(acc.Owner.Token), &recordingsv1.LookupAssetsRequest{SiteId: acc.SiteA, Urls: []string{cssURL, fontURL}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range r.GetAssets() {
			if a.GetUrl() == cssURL {
				cssHash = a.GetHash()
			}
		}
		return len(r.GetAssets()) == 2
	})

	// victim is a new one-chunk session (of a new visitor unless one is
	// given) on site, for a delete case to aim at.
	victims := 0
	victim := func(t *testing.T, site, org int64, visitorID string) (session, vis string) {
		t.Helper()
		victims++
		session = fmt.Sprintf("s_authzvictim%08d", victims)
		if visitorID == "" {
			visitorID = fmt.Sprintf("v_authzvictim%08d", victims)
		}
		ch := mkChunk(session, 0, pvA, "https://shop.example.com/", scriptedSession(t, session)[0].GetEvents())
		ch.VisitorId = visitorID
		appendAll(t, onSite([]*recordingsv1.Chunk{ch}, site, org)...)
		return session, visitorID
	}
	// stored tells whether a session is still there, asking as its site's
	// owner.
	stored := func(t *testing.T, site int64, session string) bool {
		t.Helper()
		owner := acc.Owner.Token
		if site == acc.SiteB {
			owner = acc.Mallory.Token
		}
		_, err := c.GetSession(accountstest.As(owner), &recordingsv1.GetSessionRequest{SiteId: site, SessionId: session})
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatalf("session %d/%s: %v", site, session, err)
		}
		return err == nil
	}
	// deleted answers 1 when a delete took the victim, and fails the test
	// when a refused one took it anyway (or an allowed one left it).
	deleted := func(t *testing.T, err error, site int64, session string) (int, error) {
		t.Helper()
		if gone := !stored(t, site, session); gone != (err == nil) {
			t.Errorf("session %d/%s: delete answered %v, but gone = %v", site, session, err, gone)
		}
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	heatRange := func(site int64) *recordingsv1.GetHeatmapRequest {
		day := time.UnixMilli(t0).UTC()
		return &recordingsv1.GetHeatmapRequest{SiteId: site, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK,
			Page:      &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/*"},
			StartTime: timestamppb.New(day.Add(-24 * time.Hour)), EndTime: timestamppb.New(day.Add(24 * time.Hour))}
	}
	getSession := func(site int64, session string) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: session})
			if err == nil && r.GetSession().GetSessionId() != session {
				t.Errorf("GetSession(%d, %s) answered %s", site, session, r.GetSession().GetSessionId())
			}
			return len(r.GetFrustrations()), err
		}
	}
	streamRecording := func(site int64, session string) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			s, err := c.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: session})
			if err != nil {
				return 0, err
			}
			return received(s)
		}
	}
	siteActivity := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.GetSiteActivity(ctx, &recordingsv1.GetSiteActivityRequest{SiteId: site})
			return int(r.GetSessionsLast_24H()), err
		}
	}
	// heatmap counts the pages a click map is made of; its snapshot must be
	// of the site asked for.
	heatmap := func(site int64, other string) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.GetHeatmap(ctx, heatRange(site))
			if err == nil && (r.GetSnapshot() == nil || r.GetSnapshot().GetSessionId() == other) {
				t.Errorf("GetHeatmap of site %d drawn over snapshot %v", site, r.GetSnapshot())
			}
			return int(r.GetPages()), err
		}
	}
	// heatSnapshot counts the snapshots a session answers (one), which
	// must be that session's.
	heatSnapshot := func(site int64, session string) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.GetHeatmapSnapshot(ctx, &recordingsv1.GetHeatmapSnapshotRequest{SiteId: site, SessionId: session, Page: heatRange(site).GetPage()})
			if err == nil && r.GetSnapshot().GetSessionId() != session {
				t.Errorf("GetHeatmapSnapshot(%d, %s) answered session %q", site, session, r.GetSnapshot().GetSessionId())
			}
			if r.GetSnapshot() == nil {
				return 0, err
			}
			return 1, err
		}
	}
	getAsset := func(site int64) func(ctx context.Context, t *testing.T) (int, error) {
		return func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.GetAsset(ctx, &recordingsv1.GetAssetRequest{SiteId: site, Hash: cssHash})
			return len(r.GetBody()), err
		}
	}
	R, W := accountstest.Read, accountstest.Write
	cases := []accountstest.Case{
		{Method: "GetSession", Call: getSession(acc.SiteA, sessA), Want: R},
		{Method: "GetSession/site B", Call: getSession(acc.SiteB, sessB), Want: accountstest.SiteB},
		{Method: "GetSession/A's through site B", Call: getSession(acc.SiteB, sessA), Want: accountstest.Nobody},
		{Method: "StreamRecording", Call: streamRecording(acc.SiteA, sessA), Want: R},
		{Method: "StreamRecording/A's through site B", Call: streamRecording(acc.SiteB, sessA), Want: accountstest.Nobody},
		{Method: "DeleteSession", Call: func(ctx context.Context, t *testing.T) (int, error) {
			// A new victim each time, so a refused caller's attempt is on a
			// session that exists.
			session, _ := victim(t, acc.SiteA, acc.Owner.Org, "")
			_, err := c.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: acc.SiteA, SessionId: session})
			return deleted(t, err, acc.SiteA, session)
		}, Want: W},
		{Method: "DeleteSession/A's through site B", Call: func(ctx context.Context, t *testing.T) (int, error) {
			session, _ := victim(t, acc.SiteA, acc.Owner.Org, "")
			_, err := c.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: acc.SiteB, SessionId: session})
			return deleted(t, err, acc.SiteA, session)
		}, Want: accountstest.Nobody},
		{Method: "DeleteVisitor", Call: func(ctx context.Context, t *testing.T) (int, error) {
			session, vis := victim(t, acc.SiteA, acc.Owner.Org, "")
			r, err := c.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: acc.SiteA, VisitorId: vis})
			if n, _ := deleted(t, err, acc.SiteA, session); n != int(r.GetDeletedSessions()) {
				t.Errorf("DeleteVisitor answered %d deleted sessions, took %d", r.GetDeletedSessions(), n)
			}
			return int(r.GetDeletedSessions()), err
		}, Want: W},
		{Method: "DeleteVisitor/site B", Call: func(ctx context.Context, t *testing.T) (int, error) {
			// A visitor of both sites: B's owner deletes B's sessions of
			// them, never A's.
			session, _ := victim(t, acc.SiteB, acc.Mallory.Org, visitor)
			r, err := c.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: acc.SiteB, VisitorId: visitor})
			if _, err := deleted(t, err, acc.SiteB, session); err == nil && !stored(t, acc.SiteA, sessA) {
				t.Fatalf("deleting a visitor of site B deleted their session on site A")
			}
			return int(r.GetDeletedSessions()), err
		}, Want: accountstest.SiteB},
		{Method: "GetSiteActivity", Call: siteActivity(acc.SiteA), Want: R},
		{Method: "GetSiteActivity/site B", Call: siteActivity(acc.SiteB), Want: accountstest.SiteB},
		// A site that does not exist answers as another organisation's.
		{Method: "GetSiteActivity/no such site", Call: siteActivity(acc.SiteB + 1_000_000), Want: accountstest.Nobody},
		{Method: "GetHeatmap", Call: heatmap(acc.SiteA, sessB), Want: R},
		{Method: "GetHeatmap/site B", Call: heatmap(acc.SiteB, sessA), Want: accountstest.SiteB},
		{Method: "GetHeatmapSnapshot", Call: heatSnapshot(acc.SiteA, sessA), Want: R},
		{Method: "GetHeatmapSnapshot/site B", Call: heatSnapshot(acc.SiteB, sessB), Want: accountstest.SiteB},
		{Method: "GetHeatmapSnapshot/A's through site B", Call: heatSnapshot(acc.SiteB, sessA), Want: accountstest.Nobody},
		{Method: "ListHeatmapPages", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.ListHeatmapPages(ctx, &recordingsv1.ListHeatmapPagesRequest{SiteId: acc.SiteA})
			return len(r.GetPages()), err
		}, Want: R},
		{Method: "LookupAssets", Call: func(ctx context.Context, t *testing.T) (int, error) {
			r, err := c.LookupAssets(ctx, &recordingsv1.LookupAssetsRequest{SiteId: acc.SiteA, Urls: []string{cssURL, fontURL}})
			return len(r.GetAssets()), err
		}, Want: R},
		{Method: "GetAsset", Call: getAsset(acc.SiteA), Want: R},
		{Method: "GetAsset/A's through site B", Call: getAsset(acc.SiteB), Want: accountstest.Nobody},
	}
	acc.Walk(t, cases, recordingsv1.RecordingsService_ServiceDesc)

	// Nothing the refused callers tried took effect: A's session is whole.
	n, err := streamRecording(acc.SiteA, sessA)(accountstest.As(acc.Owner.Token), t)
	if err != nil || n != 4 {
		t.Fatalf("A's session after the walk: %d chunks, %v; want 4", n, err)
	}
}

// received reads a stream to its end and counts its messages.
func received[T any](s grpc.ServerStreamingClient[T]) (int, error) {
	for n := 0; ; n++ {
		if _, err := s.Recv(); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// recvAll reads a stream to its end and answers its messages; an error
// other than the end fails the test.
func recvAll[T any](t testing.TB, s grpc.ServerStreamingClient[T]) []*T {
	t.Helper()
	var out []*T
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, m)
	}
}

// TestNewRefusesNoAuthorizer: a service wired without an authorizer would
// serve every site to every caller, so New refuses it, before it opens the
// store.
func TestNewRefusesNoAuthorizer(t *testing.T) {
	siteaccesstest.NewRefusesNoAuthorizer(t, errNoAuthorizer, func(dir string) (io.Closer, error) {
		return New(t.Context(), testConfig(t), Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir})
	})
}
