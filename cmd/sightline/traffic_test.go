package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
)

// postHits sends one beacon body to ingest's /i/v1/hit as the tracker's
// bootstrap does (a CORS-simple text/plain POST from the site's page).
func postHits(t *testing.T, base, siteKey, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/i/v1/hit?k="+siteKey, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://shop.example.com")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /i/v1/hit = %d", resp.StatusCode)
	}
}

// TestTrafficEndToEnd: page-view beacons posted to a real `sightline
// serve`'s ingest reach the realtime stream and GetRealtime within 5 s
// (ingest's traffic spool → forwarder → search's AppendHits), and count in
// the overview and a funnel through the gateway.
func TestTrafficEndToEnd(t *testing.T) {
	p := startServe(t, nil)
	// Search serves TrafficService on the same server, healthy with it.
	requireServing(t, p.addrs.GRPC, trafficv1.TrafficService_ServiceDesc.ServiceName)
	d := newDashboard(t, p)
	base := "http://" + p.addrs.HTTP
	site := fmt.Sprintf("/api/v1/sites/%d", d.siteID)

	// The stream first, through the gateway and every middleware.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+site+"/traffic/realtime:stream", nil)
	resp, err := (&http.Client{Jar: d.http.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("realtime stream = %d", resp.StatusCode)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- l
			}
		}
	}()
	select {
	case first := <-events:
		if strings.Contains(first, `"visitors"`) {
			t.Fatalf("visitors before any hit: %s", first)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no first event on the realtime stream")
	}

	now := time.Now().UnixMilli()
	sent := time.Now()
	postHits(t, base, d.key, fmt.Sprintf(`{"v":1,"sessionId":"s_trafficend2end01","visitorId":"v_trafficend2end01","recorded":false,"screen":[1920,1080],"hits":[`+
		`{"kind":"pageview","pageViewId":"p_trafficend2end01","time":%d,"url":"https://shop.example.com/pricing","referrer":"https://news.example.org/post"},`+
		`{"kind":"leave","pageViewId":"p_trafficend2end01","time":%d,"duration":12000},`+
		`{"kind":"pageview","pageViewId":"p_trafficend2end02","time":%d,"url":"https://shop.example.com/signup?utm_source=x"},`+
		`{"kind":"event","pageViewId":"p_trafficend2end02","time":%d,"name":"signup"}]}`, now-14000, now-2000, now-1500, now-1000))

	deadline := time.After(5 * time.Second)
	for streamed := false; !streamed; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the realtime stream ended")
			}
			if strings.Contains(ev, `"visitors":"1"`) && strings.Contains(ev, `"pageViews":"2"`) {
				t.Logf("the beacon reached the realtime stream in %s", time.Since(sent).Round(time.Millisecond))
				streamed = true
			}
		case <-deadline:
			t.Fatal("the beacon did not reach the realtime stream within 5 s")
		}
	}
	if rt := d.call("GET", site+"/traffic/realtime", nil); rt["visitors"] != "1" || rt["pageViews"] != "2" {
		t.Fatalf("realtime: %v", rt)
	}
	rng := map[string]any{"start": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "end": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}
	ov := d.call("POST", site+"/traffic:overview", map[string]any{"range": rng})
	cur, _ := ov["current"].(map[string]any)
	if cur["sessions"] != "1" || cur["pageViews"] != "2" || cur["visitors"] != "1" || cur["recordedSessions"] != nil {
		t.Fatalf("overview: %v", ov)
	}
	ref := d.call("POST", site+"/traffic:breakdown", map[string]any{"range": rng, "dimension": "TRAFFIC_DIMENSION_REFERRER"})
	if rows, _ := ref["rows"].([]any); len(rows) != 1 || rows[0].(map[string]any)["value"] != "news.example.org" {
		t.Fatalf("referrers: %v", ref)
	}
	fn := d.call("POST", site+"/funnels:compute", map[string]any{"range": rng, "steps": []any{
		map[string]any{"page": map[string]any{"operator": "OPERATOR_EQUALS", "value": "/pricing"}},
		map[string]any{"page": map[string]any{"operator": "OPERATOR_PREFIX", "value": "/signup"}},
		map[string]any{"event": "signup"},
	}})
	steps, _ := fn["steps"].([]any)
	if len(steps) != 3 || steps[2].(map[string]any)["sessions"] != "1" || steps[2].(map[string]any)["conversion"] != 1.0 {
		t.Fatalf("funnel: %v", fn)
	}
}
