package main

// A record recordings refuses for good must not hold up the records behind
// it: the forwarder moves it to the spool's dead-letter area and goes on.
// Tested on the real binary, with the poisoned record in the spool before
// start (as an older ingest would have left it), across a kill -9.

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// total counts a site's sessions in search.
func (d *dashboard) total(site int64) int64 {
	d.t.Helper()
	out := d.call("POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", site), map[string]any{"pageSize": 1})
	total, _ := out["total"].(string)
	n, _ := strconv.ParseInt(total, 10, 64)
	return n
}

// postBatch sends one valid single-event batch of a new session.
func postBatch(t *testing.T, p *process, siteKey, origin, session string) {
	t.Helper()
	code, err := sendBatch(p, siteKey, origin, session)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusNoContent {
		t.Fatalf("batch of %s = %d", session, code)
	}
}

// sendBatch is postBatch answering the status instead of failing the test
// (for a load generator running in its own goroutine).
func sendBatch(p *process, siteKey, origin, session string) (int, error) {
	now := time.Now().UnixMilli()
	body := fmt.Sprintf(`{"v":1,"siteKey":%q,"sessionId":%q,"visitorId":"v_poisontestvisitor0001","pageViewId":"p_poisontestpageview001","seq":0,"clientTime":%d,`+
		`"page":{"url":%q},"events":[{"type":4,"timestamp":%d,"data":{"href":%q,"width":1280,"height":720}}]}`,
		siteKey, session, now, origin+"/", now, origin+"/")
	return sendBatchBody(p.addrs.HTTP, siteKey, origin, body)
}

// sendBatchBody POSTs a batch body to ingest's intake on addr as the
// tracker does (text/plain: no preflight; the page's Origin) and answers
// the status.
func sendBatchBody(addr, siteKey, origin, body string) (int, error) {
	req, err := http.NewRequest("POST", "http://"+addr+"/i/v1/batch?k="+siteKey, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// poison appends to the spool in dir a chunk that recordings refuses for
// good (its events hold invalid UTF-8): what an ingest of an older contract
// would have accepted.
func poison(t *testing.T, dir string, site int64) {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: 1 << 30, SegmentBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ch := &recordingsv1.Chunk{
		SiteId: site, OrganizationId: 1, SessionId: "s_poisonedsession000001", VisitorId: "v_poisonedvisitor000001",
		PageViewId: "p_poisonedpageview00001", Seq: 0, ServerTime: timestamppb.Now(), EventCount: 1,
		Events: []byte("[{\"type\":5,\"timestamp\":1763890000000,\"data\":{\"tag\":\"sl:identify\",\"payload\":{\"userId\":\"u\xff\xfe\"}}}]"),
	}
	b, err := proto.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

// deadLetters lists the dead-letter area with the operator command.
func deadLetters(t *testing.T, dataDir string) string {
	t.Helper()
	out, err := exec.Command(binary, "spool", "dead-letter", "list", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("sightline spool dead-letter list: %v\n%s", err, out)
	}
	return string(out)
}

func TestPoisonedRecordDoesNotBlockDelivery(t *testing.T) {
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir, "--ingest.rate-per-ip=0"}
	p := startServe(t, nil, args...)
	d := newDashboard(t, p) // its site, shop.example.com, gets the valid batches
	org := d.call("GET", fmt.Sprintf("/api/v1/sites/%d", d.siteID), nil)["site"].(map[string]any)["organizationId"].(string)
	other := d.call("POST", "/api/v1/organizations/"+org+"/sites", map[string]any{"name": "Poisoned", "domains": []string{"poisoned.example.com"}})["site"].(map[string]any)
	poisonedSite, _ := strconv.ParseInt(other["id"].(string), 10, 64)
	// The poisoned record goes in while the process is stopped (the spool
	// is locked while it runs), ahead of everything sent after.
	p.stop()
	poison(t, filepath.Join(dataDir, "spool"), poisonedSite)

	const origin = "https://shop.example.com"
	round := func(p *process, round int, before int64) {
		t.Helper()
		d.base = "http://" + p.addrs.HTTP // the session cookie is the same across restarts
		for i := range 100 {
			postBatch(t, p, d.key, origin, fmt.Sprintf("s_round%d_session%06d_xx", round, i))
		}
		sent := time.Now()
		want := before + 100
		for {
			n := d.total(d.siteID)
			if n == want {
				t.Logf("round %d: %d sessions searchable %d ms after the last 204", round, n, time.Since(sent).Milliseconds())
				break
			}
			if time.Since(sent) > 2*time.Second {
				t.Fatalf("round %d: %d of %d sessions searchable 2 s after the last batch\n%s", round, n, want, p.logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	p = startServe(t, nil, args...)
	round(p, 1, 0)
	// kill -9, restart: the poisoned record stays aside, nothing is lost,
	// and new batches flow as fast.
	kill(t, p)
	if list := deadLetters(t, dataDir); strings.Count(list, "s_poisonedsession000001") != 1 {
		t.Fatalf("the poisoned record is not in the dead-letter area once:\n%s", list)
	}
	p = startServe(t, nil, args...)
	round(p, 2, 100)
	if n := d.total(poisonedSite); n != 0 {
		t.Errorf("the poisoned session reached search: %d sessions in its site", n)
	}
	p.stop()
	if list := deadLetters(t, dataDir); strings.Count(list, "s_poisonedsession000001") != 1 {
		t.Fatalf("after restart the dead-letter area should hold the poisoned record once:\n%s", list)
	}
}
