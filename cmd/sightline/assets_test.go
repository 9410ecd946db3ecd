package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/svc-recordings/assets/assetstest"
)

// TestAssetCaptureManyProcesses: in the many-process mode, a batch posted
// to the ingest process whose full snapshot links a stylesheet (served on
// loopback, hence --recordings.assets.allow-private-targets) is captured
// by the recordings process (the site's capture switch is on by default,
// ingest copies it into the chunk), looked up and read back through the
// gateway process with its font reference rewritten to the captured copy.
func TestAssetCaptureManyProcesses(t *testing.T) {
	origin := assetstest.Serve(t)
	m := &mesh{t: t, dirs: map[string]string{}}
	m.accounts = m.start("accounts", m.accountsArgs()...)
	m.search = m.start("search", m.searchArgs()...)
	m.recordings = m.start("recordings", append(m.recordingsArgs(), "--recordings.assets.allow-private-targets")...)
	m.ingest = m.start("ingest", m.ingestArgs()...)
	m.gateway = m.start("gateway", m.gatewayArgs()...)
	d := newDashboard(t, m.gateway)

	cssURL, fontURL := origin.CSSURL, origin.FontURL
	now := time.Now().UnixMilli()
	body := fmt.Sprintf(`{"v":1,"siteKey":%q,"sessionId":"s_assetcapture0000000001","visitorId":"v_assetcapturevisitor001","pageViewId":"p_assetcapturepageview01","seq":0,"clientTime":%d,`+
		`"page":{"url":"%s/"},"events":[{"type":4,"timestamp":%d,"data":{"href":"%s/","width":1280,"height":720}},`+
		`{"type":2,"timestamp":%d,"data":{"node":{"type":0,"id":1,"childNodes":[{"type":2,"id":2,"tagName":"link","attributes":{"rel":"stylesheet","href":%q},"childNodes":[]}]},"initialOffset":{"left":0,"top":0}}}]}`,
		d.key, now, loadOrigin, now, loadOrigin, now, cssURL)
	if code, err := sendBatchBody(m.ingest.addrs.HTTP, d.key, loadOrigin, body); err != nil || code != http.StatusNoContent {
		t.Fatalf("batch = %d, %v", code, err)
	}

	hashes := map[string]string{}
	poll.Until(t, 20*time.Second, func() error {
		got := d.call("POST", fmt.Sprintf("/api/v1/sites/%d/assets:lookup", d.siteID), map[string]any{"urls": []string{cssURL, fontURL}})
		raw, _ := json.Marshal(got["assets"])
		var assets []struct{ URL, Hash string }
		_ = json.Unmarshal(raw, &assets)
		for _, a := range assets {
			hashes[a.URL] = a.Hash
		}
		if len(hashes) < 2 {
			return fmt.Errorf("not captured (have %v)\nrecordings log:\n%s", hashes, m.recordings.logs)
		}
		return nil
	})
	code, hdr, css, err := d.do("GET", fmt.Sprintf("/api/v1/sites/%d/assets/%s", d.siteID, hashes[cssURL]), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The font beside the stylesheet, relative (behind a proxy's path prefix too).
	want := fmt.Sprintf(`@font-face{font-family:I;src:url("./%s")}`, hashes[fontURL])
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/css" || string(css) != want {
		t.Fatalf("GET css = %d %q %s, want %s", code, hdr.Get("Content-Type"), css, want)
	}
}
