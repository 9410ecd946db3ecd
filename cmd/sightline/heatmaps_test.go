package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// heatChunk is one tracker batch of a page view: sl:view, then per click
// rrweb's click, sl:click and a mutation (the page reacted).
func heatChunk(t *testing.T, siteID int64, session string, seq int64, server time.Time, clicks ...string) *recordingsv1.Chunk {
	t.Helper()
	ts := server.UnixMilli()
	evs := []map[string]any{{"type": 5, "timestamp": ts, "data": map[string]any{"tag": "sl:view", "payload": map[string]any{"x": 0, "y": 0, "w": 1280, "h": 3000, "v": 720, "d": 1}}}}
	for i, sel := range clicks {
		at := ts + int64(i+1)*2000
		evs = append(evs,
			map[string]any{"type": 3, "timestamp": at, "data": map[string]any{"source": 2, "type": 2, "id": 12, "x": 100, "y": 200}},
			map[string]any{"type": 5, "timestamp": at + 1, "data": map[string]any{"tag": "sl:click", "payload": map[string]any{"id": 12, "s": sel, "rx": 50, "ry": 50}}},
			map[string]any{"type": 3, "timestamp": at + 100, "data": map[string]any{"source": 0, "adds": []any{}, "removes": []any{}, "texts": []any{}, "attributes": []any{map[string]any{"id": 12, "attributes": map[string]any{"class": "on"}}}}})
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingsv1.Chunk{
		SiteId: siteID, SessionId: session, VisitorId: "v_heatvisitor00000000000", PageViewId: "p_" + session[2:], Seq: seq,
		Url: "https://shop.example.com/product/7?ref=x", Events: b, ServerTime: timestamppb.New(server),
		Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}, Viewport: &recordingsv1.Viewport{Width: 1280, Height: 720},
	}
}

// TestHeatmapsRebuildCommand: `sightline heatmaps rebuild` against a real
// `sightline serve` recomputes what the service answered before, prints its
// progress and outcome, can run again (resuming is running again), and
// refuses bad arguments with a message.
func TestHeatmapsRebuildCommand(t *testing.T) {
	p := startServe(t, nil)
	d := newDashboard(t, p)
	conn := p.internalConn(t)
	defer conn.Close()
	rec := recordingsv1.NewRecordingsServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	chunks := []*recordingsv1.Chunk{
		heatChunk(t, d.siteID, "s_heatcmd000000000001", 0, now.Add(-48*time.Hour), "body>main>button#buy", "body>main>button#buy"),
		heatChunk(t, d.siteID, "s_heatcmd000000000001", 1, now.Add(-47*time.Hour), "body>nav>a.home"),
		heatChunk(t, d.siteID, "s_heatcmd000000000002", 0, now.Add(-time.Hour), "body>main>button#buy"),
	}
	if r, err := recordingsv1.NewRecordingsInternalServiceClient(conn).AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks}); err != nil || r.Stored != 3 {
		t.Fatalf("append: %v %v", r, err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.apiKey)
	req := &recordingsv1.GetHeatmapRequest{SiteId: d.siteID, Kind: recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK,
		Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "https://shop.example.com/product/*"}}
	before, err := rec.GetHeatmap(authed, req)
	if err != nil {
		t.Fatal(err)
	}
	if before.Total != 4 || before.Sessions != 2 || len(before.Elements) != 2 || before.Elements[0].Selector != "body>main>button#buy" || before.Elements[0].Count != 3 {
		t.Fatalf("before the rebuild: %v", before)
	}

	// The REST route answers the same map to the site's owner.
	q := url.Values{"kind": {"HEATMAP_KIND_CLICK"}, "page.operator": {"OPERATOR_PATTERN"}, "page.value": {"https://shop.example.com/product/*"}}
	rest := d.call("GET", fmt.Sprintf("/api/v1/sites/%d/heatmap?%s", d.siteID, q.Encode()), nil)
	if rest["total"] != "4" {
		t.Fatalf("GET heatmap: %v", rest)
	}

	rebuild := func(args ...string) (string, string, error) {
		// The data directory holds the service secret the command sends.
		cmd := exec.Command(binary, append(append([]string{"heatmaps"}, args...), "--data-dir", flagValue(p.args, "data-dir"))...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	for _, args := range [][]string{
		{"rebuild", "-site", fmt.Sprint(d.siteID), "-from", p.addrs.GRPC},
		// Again (what resuming a cut-off run is), from a day on.
		{"rebuild", "--site", fmt.Sprint(d.siteID), "--since", now.Add(-24 * time.Hour).UTC().Format(time.DateOnly), "--from", p.addrs.GRPC},
	} {
		out, errOut, err := rebuild(args...)
		if err != nil {
			t.Fatalf("heatmaps %v: %v\nstdout %s\nstderr %s", args, err, out, errOut)
		}
		if want := fmt.Sprintf("rebuilt the heatmaps of site %d: ", d.siteID); !strings.Contains(out, want) || !strings.Contains(errOut, fmt.Sprintf("heatmaps of site %d", d.siteID)) {
			t.Fatalf("heatmaps %v printed\nstdout %q\nstderr %q", args, out, errOut)
		}
		t.Logf("heatmaps %v: %s", args, strings.TrimSpace(out))
		after, err := rec.GetHeatmap(authed, req)
		if err != nil {
			t.Fatal(err)
		}
		before.Snapshot, after.Snapshot = nil, nil
		if !proto.Equal(before, after) {
			t.Fatalf("after heatmaps %v:\n%v\nbefore:\n%v", args, after, before)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give rebuild"},
		{[]string{"repaint"}, "give rebuild"},
		{[]string{"rebuild", "-from", p.addrs.GRPC}, "-site: a positive site id is required"},
		{[]string{"rebuild", "-site", "-3", "-from", p.addrs.GRPC}, "-site: a positive site id is required"},
		{[]string{"rebuild", "-site", "5", "-since", "last week", "-from", p.addrs.GRPC}, `-since: "last week" is not a date`},
		{[]string{"rebuild", "-site", "5", "-since", "1960-01-01", "-from", p.addrs.GRPC}, "since: before 1970"},
		{[]string{"rebuild", "-site", "5", "-bogus"}, "flag provided but not defined"},
	} {
		out, errOut, err := rebuild(tc.args...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("heatmaps %v: %v, stderr %q, want an error saying %q (stdout %q)", tc.args, err, errOut, tc.want, out)
		}
	}
	if _, errOut, err := rebuild("-h"); err != nil || !strings.Contains(errOut, "sightline heatmaps rebuild -site N") {
		t.Errorf("heatmaps -h: %v %q", err, errOut)
	}
	if out, _ := exec.Command(binary, "help").Output(); !strings.Contains(string(out), "sightline heatmaps rebuild") {
		t.Errorf("sightline help does not list heatmaps rebuild:\n%s", out)
	}
	p.stop()
	// With recordings gone, the command fails and says it can be run again.
	if _, errOut, err := rebuild("rebuild", "-site", fmt.Sprint(d.siteID), "-from", p.addrs.GRPC); err == nil || !strings.Contains(errOut, "run it again to resume") {
		t.Errorf("heatmaps rebuild against a stopped server: %v %q", err, errOut)
	}
}
