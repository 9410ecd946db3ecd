package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// dashboard is a signed-up user of a running binary, with one site and an
// API key for reading its recordings over gRPC.
type dashboard struct {
	t      *testing.T
	base   string
	http   *http.Client
	siteID int64
	key    string // the site key
	apiKey string
	email  string // the user's address
	org    string // the organisation's id
}

// call sends a JSON request to the REST API with the session cookie and
// its CSRF header, and decodes a 200 answer.
func (d *dashboard) call(method, path string, body any) map[string]any {
	d.t.Helper()
	code, _, out, err := d.do(method, path, body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != http.StatusOK {
		d.t.Fatalf("%s %s = %d %s", method, path, code, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		d.t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	return m
}

// do is call answering whatever came back, for the answers other than 200.
func (d *dashboard) do(method, path string, body any) (int, http.Header, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, d.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for _, ck := range d.http.Jar.Cookies(req.URL) {
		if ck.Name == "sl_csrf" {
			req.Header.Set("X-CSRF-Token", ck.Value)
		}
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}

// newDashboard signs up through the gateway of p and creates a site for
// shop.example.com and an API key.
func newDashboard(t *testing.T, p *process) *dashboard {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &dashboard{t: t, base: "http://" + p.addrs.HTTP, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	d.email = fmt.Sprintf("hostile-%d@example.com", time.Now().UnixNano())
	su := d.call("POST", "/api/v1/auth/signup", map[string]any{
		"email": d.email, "password": "correct horse battery staple", "organizationName": "Hostile",
	})
	org := su["organization"].(map[string]any)["id"].(string)
	d.org = org
	site := d.call("POST", "/api/v1/organizations/"+org+"/sites", map[string]any{"name": "Shop", "domains": []string{"shop.example.com"}})["site"].(map[string]any)
	d.siteID, _ = strconv.ParseInt(site["id"].(string), 10, 64)
	d.key = site["siteKey"].(string)
	d.apiKey = d.call("POST", "/api/v1/organizations/"+org+"/api-keys", map[string]any{"name": "reader", "role": "ROLE_VIEWER"})["secret"].(string)
	return d
}

// hostileBatch is an envelope written by hand, byte for byte, so that it
// can carry what encoding/json would repair (invalid UTF-8) or refuse to
// write (1e400).
func hostileBatch(siteKey, session, seq string, events ...string) []byte {
	ts := time.Now().UnixMilli()
	meta := fmt.Sprintf(`{"type":4,"data":{"href":"https://shop.example.com/","width":1280,"height":720},"timestamp":%d}`, ts)
	all := []string{meta}
	for _, e := range events {
		all = append(all, strings.ReplaceAll(e, "TS", strconv.FormatInt(ts, 10)))
	}
	return []byte(fmt.Sprintf(`{"v":1,"siteKey":%q,"sessionId":%q,"visitorId":"v_hostilevisitor00000000000","pageViewId":"p_hostilepageview0000000000",`+
		`"seq":%s,"clientTime":%d,"page":{"url":"https://shop.example.com/","referrer":"","viewport":{"w":1280,"h":720}},"events":[%s]}`,
		siteKey, session, seq, ts, strings.Join(all, ",")))
}

// nestedEvent is a custom event whose deepest value is at depth levels:
// the event object is level 1, its data level 2, as in the batch contract.
func nestedEvent(levels int) string {
	return `{"type":5,"data":{"tag":"deep","payload":` + strings.Repeat("[", levels-2) + strings.Repeat("]", levels-2) + `},"timestamp":TS}`
}

// TestHostileBatchesAgainstTheBinary posts the hostile inputs of issue 11
// to a real `sightline serve`: each is either refused at the edge with 400,
// or answered 204 and then readable through StreamRecording — never 204
// and then missing.
func TestHostileBatchesAgainstTheBinary(t *testing.T) {
	p := startServe(t, nil)
	d := newDashboard(t, p)
	longUA := strings.Repeat("a", 511) + "é" + strings.Repeat("b", 200) // the cut at 512 bytes lands inside "é"
	cases := []struct {
		name   string
		seq    string
		events []string
		ua     string
		want   int
		// stored, when set, must hold for the events read back.
		stored func([]byte) error
	}{
		{name: "valid", seq: "0", want: http.StatusNoContent,
			events: []string{`{"type":5,"data":{"tag":"sl:identify","payload":{"userId":"u-42","attributes":{"plan":"pro"}}},"timestamp":TS}`}},
		{name: "invalid UTF-8 in sl:identify userId", seq: "0", want: http.StatusBadRequest,
			events: []string{"{\"type\":5,\"data\":{\"tag\":\"sl:identify\",\"payload\":{\"userId\":\"u\xff\xfe\",\"attributes\":{}}},\"timestamp\":TS}"}},
		{name: "invalid UTF-8 in sl:identify attributes", seq: "0", want: http.StatusBadRequest,
			events: []string{"{\"type\":5,\"data\":{\"tag\":\"sl:identify\",\"payload\":{\"userId\":\"u-43\",\"attributes\":{\"plan\":\"pro\xfe\"}}},\"timestamp\":TS}"}},
		{name: "invalid UTF-8 in sl:event name", seq: "0", want: http.StatusBadRequest,
			events: []string{"{\"type\":5,\"data\":{\"tag\":\"sl:event\",\"payload\":{\"name\":\"buy\xff\",\"properties\":{}}},\"timestamp\":TS}"}},
		{name: "invalid UTF-8 in sl:navigation url", seq: "0", want: http.StatusBadRequest,
			events: []string{"{\"type\":5,\"data\":{\"tag\":\"sl:navigation\",\"payload\":{\"url\":\"https://shop.example.com/\xff\",\"referrer\":\"\"}},\"timestamp\":TS}"}},
		{name: "invalid UTF-8 in Meta href", seq: "0", want: http.StatusBadRequest,
			events: []string{"{\"type\":4,\"data\":{\"href\":\"https://shop.example.com/\xfe\",\"width\":1280,\"height\":720},\"timestamp\":TS}"}},
		{name: "seq 2^53+1", seq: "9007199254740993", want: http.StatusBadRequest},
		{name: "seq 2^63-1", seq: "9223372036854775807", want: http.StatusBadRequest},
		{name: "event nested 400 levels", seq: "0", want: http.StatusNoContent, events: []string{nestedEvent(400)},
			stored: func(ev []byte) error {
				if !bytes.Contains(ev, []byte(strings.Repeat("[", 398)+strings.Repeat("]", 398))) {
					return errors.New("the 400-level event is not in the stored events")
				}
				return nil
			}},
		{name: "event nested 1000 levels (the contract's bound)", seq: "0", want: http.StatusNoContent, events: []string{nestedEvent(1000)},
			stored: func(ev []byte) error {
				if !bytes.Contains(ev, []byte(strings.Repeat("[", 998)+strings.Repeat("]", 998))) {
					return errors.New("the 1000-level event is not in the stored events")
				}
				return nil
			}},
		{name: "event nested 1001 levels", seq: "0", want: http.StatusBadRequest, events: []string{nestedEvent(1001)}},
		{name: "timestamp 1e400", seq: "0", want: http.StatusBadRequest,
			events: []string{`{"type":3,"data":{"source":1,"positions":[]},"timestamp":1e400}`}},
		{name: "User-Agent over 512 bytes, 2-byte character at byte 512", seq: "0", ua: longUA, want: http.StatusNoContent},
	}
	type accepted struct {
		name, session string
		stored        func([]byte) error
	}
	var ok []accepted
	for i, tc := range cases {
		session := fmt.Sprintf("s_hostilecase%02d000000000000", i)
		body := hostileBatch(d.key, session, tc.seq, tc.events...)
		req, _ := http.NewRequest("POST", "http://"+p.addrs.HTTP+"/i/v1/batch?k="+d.key, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "https://shop.example.com")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
		if tc.ua != "" {
			req.Header.Set("User-Agent", tc.ua)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: answered %d %q, want %d", tc.name, resp.StatusCode, bytes.TrimSpace(msg), tc.want)
		} else {
			t.Logf("%s: %d %s", tc.name, resp.StatusCode, bytes.TrimSpace(msg))
		}
		// Whatever the expectation, a 204 is a promise to store: check it.
		if resp.StatusCode == http.StatusNoContent {
			ok = append(ok, accepted{tc.name, session, tc.stored})
		}
	}

	conn, err := grpc.NewClient(p.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := recordingsv1.NewRecordingsServiceClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range ok {
		events, err := readRecording(rec, d, a.session, deadline)
		if err != nil {
			t.Errorf("%s: answered 204 but not readable through StreamRecording: %v", a.name, err)
			continue
		}
		if a.stored != nil {
			if err := a.stored(events); err != nil {
				t.Errorf("%s: %v", a.name, err)
			}
		}
	}
	t.Logf("%d cases accepted, %d refused at the edge", len(ok), len(cases)-len(ok))
	if t.Failed() {
		t.Logf("the binary's warnings and errors:\n%s", problems(p.logs.String(), 30))
	}
}

// problems returns the last n WARN and ERROR lines of a JSON log.
func problems(logs string, n int) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// readRecording streams a session's recording (seq 0) with the dashboard's
// API key, retrying until the forwarder has delivered it or deadline.
func readRecording(rec recordingsv1.RecordingsServiceClient, d *dashboard, session string, deadline time.Time) ([]byte, error) {
	for {
		events, err := streamOnce(rec, d, session)
		if err == nil {
			return events, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func streamOnce(rec recordingsv1.RecordingsServiceClient, d *dashboard, session string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+d.apiKey)
	stream, err := rec.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: d.siteID, SessionId: session})
	if err != nil {
		return nil, fmt.Errorf("StreamRecording: %w", err)
	}
	var events []byte
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return nil, fmt.Errorf("session not (yet) stored: %w", err)
			}
			return nil, fmt.Errorf("StreamRecording: %w", err)
		}
		if m.GetSeq() == 0 {
			events = append(events, m.GetEvents()...)
		}
	}
	if events == nil {
		return nil, errors.New("no chunk with seq 0 in the recording")
	}
	return events, nil
}
