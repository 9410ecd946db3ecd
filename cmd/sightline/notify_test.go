package main

// svc-notify against the real binary (issue 15): every e-mail kind through
// a real SMTP server (STARTTLS, AUTH) with its links followed against the
// running process, signed webhooks to a real receiver, notify killed with
// SIGKILL mid-delivery, and three notify processes on one PostgreSQL
// sending each digest and alert once.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

const testPassword = "correct horse battery staple"

// smtpArgs points notify at srv: STARTTLS trusting its certificate, its
// credentials from a secret file.
func smtpArgs(t *testing.T, srv *mailtest.Server) []string {
	t.Helper()
	dir := t.TempDir()
	pw, ca := filepath.Join(dir, "smtp-password"), filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(pw, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, srv.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--notify.smtp.host", srv.Host, "--notify.smtp.port", strconv.Itoa(srv.Port),
		"--notify.smtp.username", srv.Username, "--notify.smtp.password-file", pw, "--notify.smtp.ca-file", ca,
		"--notify.smtp.tls", "starttls", "--notify.smtp.from", "sightline@example.test", "--notify.smtp.timeout", "5s"}
}

// waitMail waits for an e-mail of kind to addr and returns the newest.
func waitMail(t *testing.T, srv *mailtest.Server, to, kind string, within time.Duration) mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msgs := srv.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].To == to && msgs[i].Kind == kind {
				return msgs[i]
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range msgs {
				got = append(got, m.Kind+" to "+m.To)
			}
			t.Fatalf("no %s e-mail to %s within %v; got %v", kind, to, within, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countMail counts the e-mails of kind to addr.
func countMail(srv *mailtest.Server, to, kind string) int {
	n := 0
	for _, m := range srv.Messages() {
		if m.To == to && m.Kind == kind {
			n++
		}
	}
	return n
}

// linkWith returns the link of msg under base+path, which must be in both
// parts, and its token.
func linkWith(t *testing.T, msg mailtest.Message, base, path string) (string, string) {
	t.Helper()
	for _, l := range msg.Links() {
		if strings.HasPrefix(l, base+path) {
			if !strings.Contains(msg.Text, l) {
				t.Errorf("%s e-mail: link %s is in the HTML part only", msg.Kind, l)
			}
			u, err := url.Parse(l)
			if err != nil {
				t.Fatal(err)
			}
			return l, u.Query().Get("token")
		}
	}
	t.Fatalf("%s e-mail has no link to %s%s: %v", msg.Kind, base, path, msg.Links())
	return "", ""
}

// visitor is a client of the binary's REST API without a session yet.
func visitor(t *testing.T, base string) *dashboard {
	jar, _ := cookiejar.New(nil)
	return &dashboard{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// rawPost posts JSON and answers the status and body.
func rawPost(t *testing.T, d *dashboard, path string, body any) (int, []byte) {
	t.Helper()
	code, _, out, err := d.do("POST", path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

// postFeedback posts a feedback answer to the site's intake as a browser
// on shop.example.com would.
func postFeedback(t *testing.T, base, siteKey, session string, rating int, comment string) {
	t.Helper()
	id := fmt.Sprintf("a_%022d", time.Now().UnixNano())
	body := fmt.Sprintf(`{"v":1,"siteKey":%q,"sessionId":%q,"visitorId":"v_notifyvisitor0000000000000","pageViewId":"p_notifypageview000000000000",`+
		`"id":%q,"clientTime":%d,"recorded":true,"page":{"url":"https://shop.example.com/checkout"},"kind":"feedback","rating":%d,"comment":%q}`,
		siteKey, session, id, time.Now().UnixMilli(), rating, comment)
	req, _ := http.NewRequest("POST", base+"/i/v1/answer?k="+siteKey, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://shop.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /i/v1/answer = %d %s", resp.StatusCode, out)
	}
}

// TestEveryEmailOverSMTPAgainstTheBinary drives every e-mail a user can
// cause through `sightline serve` and a real SMTP server, and follows each
// e-mail's links against the same process: sign-up verification, the
// owner's notice of a sign-up with their address, password reset,
// invitation, new-device log-in, a feedback alert (with its signed
// webhook), and a daily digest with its unsubscribe link (the page and
// RFC 8058 one-click).
func TestEveryEmailOverSMTPAgainstTheBinary(t *testing.T) {
	srv := mailtest.NewServer(t)
	data, httpAddr := t.TempDir(), loopback.Addr(t)
	base := "http://" + httpAddr
	hook := newReceiver(t, 0)
	args := append(smtpArgs(t, srv), "--data-dir", data, "--server.http-listen-address", httpAddr,
		"--notify.dashboard-url", base, "--notify.webhook.allow-private=true",
		"--notify.digest.hour", strconv.Itoa(time.Now().UTC().Hour()))
	p := startServe(t, nil, args...)
	d := newDashboard(t, p) // the instance's first user: logged in at once
	const mailWait = 30 * time.Second

	// A second sign-up is verified by e-mail; the link's page loads and
	// the token logs the user in, once.
	second := visitor(t, base)
	codeNew, bodyNew := rawPost(t, second, "/api/v1/auth/signup", map[string]any{"email": "second@example.com", "password": testPassword, "organizationName": "Second"})
	if codeNew != http.StatusOK || !strings.Contains(string(bodyNew), `"verificationRequired":true`) || strings.Contains(string(bodyNew), "sessionToken") {
		t.Fatalf("second sign-up = %d %s, want verification required and no session", codeNew, bodyNew)
	}
	verify := waitMail(t, srv, "second@example.com", "verify_email", mailWait)
	link, token := linkWith(t, verify, base, "/verify-email?token=")
	if code, _, _ := httpGet(t, link); code != http.StatusOK {
		t.Errorf("GET %s = %d", link, code)
	}
	second.call("POST", "/api/v1/auth/verify-email", map[string]any{"token": token})
	if me := second.call("GET", "/api/v1/me", nil); !strings.Contains(fmt.Sprint(me), "second@example.com") {
		t.Errorf("after verifying, /api/v1/me = %v", me)
	}
	if code, out := rawPost(t, visitor(t, base), "/api/v1/auth/verify-email", map[string]any{"token": token}); code != http.StatusBadRequest {
		t.Errorf("verify link used twice = %d %s, want 400", code, out)
	}

	// A sign-up with a taken address answers exactly like a new one and
	// tells the owner instead.
	codeTaken, bodyTaken := rawPost(t, visitor(t, base), "/api/v1/auth/signup", map[string]any{"email": d.email, "password": "another long password", "organizationName": "Other"})
	if codeTaken != codeNew || !bytes.Equal(bodyTaken, bodyNew) {
		t.Errorf("sign-up with a taken address = %d %s; with a new one %d %s", codeTaken, bodyTaken, codeNew, bodyNew)
	}
	existing := waitMail(t, srv, d.email, "signup_existing", mailWait)
	linkWith(t, existing, base, "/forgot-password")

	// Forgot password: the link resets it once and signs the user in.
	if code, out := rawPost(t, visitor(t, base), "/api/v1/auth/forgot-password", map[string]any{"email": "second@example.com"}); code != http.StatusOK {
		t.Fatalf("forgot-password = %d %s", code, out)
	}
	if code, out := rawPost(t, visitor(t, base), "/api/v1/auth/forgot-password", map[string]any{"email": "nobody@example.com"}); code != http.StatusOK {
		t.Errorf("forgot-password of an unknown address = %d %s, want the same 200", code, out)
	}
	reset := waitMail(t, srv, "second@example.com", "password_reset", mailWait)
	_, resetToken := linkWith(t, reset, base, "/reset-password?token=")
	visitor(t, base).call("POST", "/api/v1/auth/reset-password", map[string]any{"token": resetToken, "password": "a brand new passphrase"})
	if code, out := rawPost(t, visitor(t, base), "/api/v1/auth/reset-password", map[string]any{"token": resetToken, "password": "yet another passphrase"}); code != http.StatusBadRequest {
		t.Errorf("reset link used twice = %d %s, want 400", code, out)
	}
	if code, out := rawPost(t, visitor(t, base), "/api/v1/auth/login", map[string]any{"email": "second@example.com", "password": testPassword}); code != http.StatusUnauthorized {
		t.Errorf("log-in with the old password = %d %s, want 401", code, out)
	}
	visitor(t, base).call("POST", "/api/v1/auth/login", map[string]any{"email": "second@example.com", "password": "a brand new passphrase"})
	if countMail(srv, "nobody@example.com", "password_reset") != 0 {
		t.Error("a reset e-mail went to an address without an account")
	}

	// An invitation is e-mailed with its accept link.
	d.call("POST", "/api/v1/organizations/"+d.org+"/invitations", map[string]any{"email": "third@example.com", "role": "ROLE_MEMBER"})
	inv := waitMail(t, srv, "third@example.com", "invitation", mailWait)
	linkWith(t, inv, base, "/invitations/accept?token=")

	// A log-in from a browser the user never used is reported.
	firefox := visitor(t, base)
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, d.email, testPassword)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	resp, err := firefox.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log-in with Firefox = %d", resp.StatusCode)
	}
	if newLogin := waitMail(t, srv, d.email, "new_login", mailWait); !strings.Contains(newLogin.Subject, "Firefox") {
		t.Errorf("new-device e-mail subject %q does not name the browser", newLogin.Subject)
	}

	// A feedback alert: a rule on ratings ≤ 2, and a webhook on new
	// feedback; one answer rated 1 fires both, the webhook signed.
	site := strconv.FormatInt(d.siteID, 10)
	d.call("POST", "/api/v1/sites/"+site+"/alert-rules", map[string]any{"rule": map[string]any{"siteId": site, "enabled": true, "answer": map[string]any{"maxRating": 2, "maxNps": -1}}})
	wh := d.call("POST", "/api/v1/sites/"+site+"/webhooks", map[string]any{"url": hook.url, "events": []string{"feedback.created"}})
	hook.setSecret(wh["secret"].(string))
	postFeedback(t, base, d.key, "s_notifyfeedbacksession00001", 1, "The buy button does nothing")
	alert := waitMail(t, srv, d.email, "alert", mailWait)
	linkWith(t, alert, base, "/sites/"+site+"/recordings/s_notifyfeedbacksession00001") // the answer's recording
	if alert.Header.Get("List-Unsubscribe") == "" {
		t.Error("alert e-mail without List-Unsubscribe")
	}
	got := hook.wait(t, 1, mailWait)
	if got[0].typ != "feedback.created" || !strings.Contains(string(got[0].body), "The buy button does nothing") {
		t.Errorf("webhook got %s %s", got[0].typ, got[0].body)
	}

	// A daily digest: due at this hour, queued when notify starts (and
	// hourly after), sent once; its unsubscribe link works from the page
	// (POST, not GET) and one-click.
	d.call("PUT", "/api/v1/sites/"+site+"/digest", map[string]any{"frequency": "DIGEST_FREQUENCY_DAILY"})
	p.stop()
	p = startServe(t, nil, args...)
	digest := waitMail(t, srv, d.email, "digest", 60*time.Second)
	pageLink, unsub := linkWith(t, digest, base, "/unsubscribe?token=")
	if h := digest.Header.Get("List-Unsubscribe"); h != "<"+pageLink+">" || digest.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("digest List-Unsubscribe %q (post %q), want <%s>", h, digest.Header.Get("List-Unsubscribe-Post"), pageLink)
	}
	if code, _, _ := httpGet(t, pageLink); code != http.StatusOK {
		t.Errorf("GET %s = %d", pageLink, code)
	}
	d2 := visitor(t, base)
	d2.call("POST", "/api/v1/auth/login", map[string]any{"email": d.email, "password": testPassword})
	if f := d2.call("GET", "/api/v1/sites/"+site+"/digest", nil)["frequency"]; f != "DIGEST_FREQUENCY_DAILY" {
		t.Fatalf("after GET of the unsubscribe page the digest is %v, want still daily", f)
	}
	resp, err = http.Post(pageLink, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), "digest") {
		t.Errorf("one-click unsubscribe = %d %s", resp.StatusCode, out)
	}
	if f := d2.call("GET", "/api/v1/sites/"+site+"/digest", nil)["frequency"]; f != "DIGEST_FREQUENCY_OFF" {
		t.Errorf("after one-click unsubscribe the digest is %v, want off", f)
	}
	if code, out := rawPost(t, visitor(t, base), "/api/v1/unsubscribe", map[string]any{"token": unsub + "x"}); code != http.StatusBadRequest {
		t.Errorf("unsubscribe with a forged token = %d %s, want 400", code, out)
	}
	if n := countMail(srv, d.email, "digest"); n != 1 {
		t.Errorf("%d digests sent, want 1", n)
	}
	p.stop()
}

// delivery is one request the receiver got.
type delivery struct {
	id, typ string
	body    []byte
	session string
}

// receiver is a webhook endpoint that verifies every signature.
type receiver struct {
	t       *testing.T
	url     string
	delay   time.Duration
	mu      sync.Mutex
	secret  string
	got     []delivery // answered 2xx
	cut     []delivery // the sender went away first
	arrived int
	bad     []string
}

func newReceiver(t *testing.T, delay time.Duration) *receiver {
	r := &receiver{t: t, delay: delay}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	r.url = "http://" + lis.Addr().String() + "/hooks/sightline"
	return r
}

func (r *receiver) setSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var env struct {
		Type string
		Data struct {
			SessionID string `json:"session_id"`
		}
	}
	_ = json.Unmarshal(body, &env)
	r.mu.Lock()
	secret := r.secret
	if err := webhook.Verify(secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.arrived++
	r.mu.Unlock()
	d := delivery{id: req.Header.Get("webhook-id"), typ: env.Type, body: body, session: env.Data.SessionID}
	select {
	case <-time.After(r.delay):
	case <-req.Context().Done():
		// The sender went away before the answer: not delivered.
		r.mu.Lock()
		r.cut = append(r.cut, d)
		r.mu.Unlock()
		return
	}
	w.WriteHeader(http.StatusNoContent)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
}

// cutOff are the requests whose sender went away before the answer.
func (r *receiver) cutOff() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.cut...)
}

// inFlight reports whether a request arrived and is not answered yet.
func (r *receiver) inFlight() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrived > len(r.got)+len(r.cut)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("receiver refused %d requests: %v", len(r.bad), r.bad[0])
	}
	return append([]delivery(nil), r.got...)
}

func (r *receiver) wait(t *testing.T, n int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := r.deliveries()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d deliveries within %v, want %d", len(got), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notifyArgs are a notify process's flags reaching the rest of the mesh at
// mesh (one process serving accounts, search and recordings), with sends
// short enough that a job of a killed process is run again within ~90 s
// (rescue-after, then River's rescuer pass).
func notifyArgs(grpcAddr, data, mesh string, extra ...string) []string {
	return append([]string{"--target=notify", "--data-dir", data, "--server.grpc-listen-address", grpcAddr,
		"--remote.accounts", mesh, "--remote.search", mesh, "--remote.recordings", mesh,
		"--notify.webhook.allow-private=true", "--notify.webhook.timeout=5s", "--notify.smtp.timeout=5s",
		"--notify.rescue-after=1m", "--notify.session-end.interval=1s", "--notify.poll-interval=200ms"}, extra...)
}

// TestKillNotifyMidDelivery kills notify with SIGKILL while webhook
// deliveries of session.ended are in flight at a slow receiver, starts it
// again on the same data, and requires every session's event delivered at
// least once, every delivery signed, and the ones cut off sent again with
// the same webhook-id.
func TestKillNotifyMidDelivery(t *testing.T) {
	const sessions = 30
	hook := newReceiver(t, 1500*time.Millisecond)
	notifyAddr := loopback.Addr(t)
	mesh := startServe(t, nil, "--target=accounts,search,recordings,ingest,gateway", "--remote.notify", notifyAddr,
		"--recordings.session-idle=2s", "--accounts.default-plan.sessions-per-day=1000000")
	notifyData := t.TempDir()
	n := startServe(t, nil, notifyArgs(notifyAddr, notifyData, mesh.addrs.GRPC, "--notify.workers=8")...)
	d := newDashboard(t, mesh)
	site := strconv.FormatInt(d.siteID, 10)
	wh := d.call("POST", "/api/v1/sites/"+site+"/webhooks", map[string]any{"url": hook.url, "events": []string{"session.ended"}})
	hook.setSecret(wh["secret"].(string))

	want := map[string]bool{}
	for i := range sessions {
		s := fmt.Sprintf("s_killnotify%016d", i)
		want[s] = true
		postBatch(t, mesh, d.key, "https://shop.example.com", s)
	}
	// Kill notify while deliveries wait at the receiver (each is answered
	// after 1.5 s, so up to 8 are in flight): those are cut off, and only
	// a job run again after the restart can deliver them.
	deadline := time.Now().Add(60 * time.Second)
	for len(hook.cutOff()) == 0 {
		if len(hook.deliveries()) > 0 || hook.inFlight() {
			kill(t, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery reached the receiver within 60 s\nnotify: %s", n.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline = time.Now().Add(5 * time.Second); len(hook.cutOff()) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // until the receiver sees the connections close
	}
	cut := hook.cutOff()
	t.Logf("killed notify: %d deliveries answered, %d cut off in flight", len(hook.deliveries()), len(cut))
	if len(cut) == 0 {
		t.Fatal("the kill cut no delivery off: the test proves nothing")
	}
	n = startServe(t, nil, notifyArgs(notifyAddr, notifyData, mesh.addrs.GRPC, "--notify.workers=8")...)

	restarted := time.Now()
	deadline = restarted.Add(150 * time.Second)
	for {
		seen := map[string]bool{}
		for _, g := range hook.deliveries() {
			seen[g.session] = true
		}
		if len(seen) == sessions {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for s := range want {
				if !seen[s] {
					missing = append(missing, s)
				}
			}
			t.Fatalf("%d of %d sessions' session.ended answered 150 s after the restart; missing %v\nnotify: %s", len(seen), sessions, missing, n.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := hook.deliveries()
	ids := map[string]int{}
	for _, g := range got {
		if g.typ != "session.ended" || !want[g.session] {
			t.Errorf("unexpected delivery %s %s", g.typ, g.session)
		}
		ids[g.id]++
	}
	t.Logf("every session delivered %v after the restart: %d answered deliveries, %d distinct webhook-ids", time.Since(restarted).Round(time.Second), len(got), len(ids))
	if len(ids) != sessions {
		t.Errorf("%d distinct webhook-ids for %d sessions: an event's webhook-id must be the same on every attempt", len(ids), sessions)
	}
	for _, c := range cut {
		if ids[c.id] == 0 {
			t.Errorf("delivery %s (session %s), cut off by the kill, was not sent again with the same webhook-id", c.id, c.session)
		}
	}
	n.stop()
	mesh.stop()
}

// TestThreeNotifyProcessesOnePostgres runs three notify processes on one
// PostgreSQL and requires each digest and each alert sent exactly once:
// periodic jobs are queued by the elected leader only, and the ledger row
// that makes a send once per period is written with its job.
func TestThreeNotifyProcessesOnePostgres(t *testing.T) {
	dsn := pgtest.Private(t).DSN()
	key := filepath.Join(t.TempDir(), "notify.key") // one unsubscribe-token key for every replica
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t)
	notifyAddrs := []string{loopback.Addr(t), loopback.Addr(t), loopback.Addr(t)}
	httpAddr := loopback.Addr(t)
	base := "http://" + httpAddr
	mesh := startServe(t, nil, "--target=accounts,search,recordings,ingest,gateway", "--remote.notify", notifyAddrs[0],
		"--server.http-listen-address", httpAddr, "--accounts.default-plan.sessions-per-day=1000000")
	start := func(i int) *process {
		return startServe(t, nil, notifyArgs(notifyAddrs[i], t.TempDir(), mesh.addrs.GRPC, append(smtpArgs(t, srv),
			"--notify.database-url", dsn, "--notify.dashboard-url", base, "--notify.secret-file", key,
			"--notify.digest.hour", strconv.Itoa(time.Now().UTC().Hour()))...)...)
	}
	var notifies []*process
	for i := range notifyAddrs {
		notifies = append(notifies, start(i))
	}
	owner := newDashboard(t, mesh)
	site := strconv.FormatInt(owner.siteID, 10)
	// Four more members, each verified by e-mail and subscribed.
	users := []*dashboard{owner}
	for i := range 4 {
		email := fmt.Sprintf("member%d@example.com", i)
		owner.call("POST", "/api/v1/organizations/"+owner.org+"/invitations", map[string]any{"email": email, "role": "ROLE_MEMBER"})
		_, invite := linkWith(t, waitMail(t, srv, email, "invitation", 30*time.Second), base, "/invitations/accept?token=")
		u := visitor(t, base)
		u.email = email
		rawPost(t, u, "/api/v1/auth/signup", map[string]any{"email": email, "password": testPassword, "organizationName": "Own " + email})
		_, verify := linkWith(t, waitMail(t, srv, email, "verify_email", 30*time.Second), base, "/verify-email?token=")
		u.call("POST", "/api/v1/auth/verify-email", map[string]any{"token": verify})
		u.call("POST", "/api/v1/invitations:accept", map[string]any{"token": invite})
		users = append(users, u)
	}
	for _, u := range users {
		u.call("PUT", "/api/v1/sites/"+site+"/digest", map[string]any{"frequency": "DIGEST_FREQUENCY_DAILY"})
		u.call("POST", "/api/v1/sites/"+site+"/alert-rules", map[string]any{"rule": map[string]any{"siteId": site, "enabled": true, "answer": map[string]any{"maxRating": 2, "maxNps": -1}}})
	}
	// Restart all three at once: each starts its periodic jobs, one leader
	// queues today's digest fan-out.
	var wg sync.WaitGroup
	for _, n := range notifies {
		wg.Go(n.stop)
	}
	wg.Wait()
	restarted := make([]*process, len(notifies))
	for i := range notifies {
		wg.Go(func() { restarted[i] = start(i) })
	}
	wg.Wait()
	postFeedback(t, "http://"+mesh.addrs.HTTP, owner.key, "s_threenotifysession000000001", 2, "slow")
	for _, u := range users {
		waitMail(t, srv, u.email, "digest", 90*time.Second)
		waitMail(t, srv, u.email, "alert", 90*time.Second)
	}
	// Give stragglers from the other processes time to show themselves.
	time.Sleep(10 * time.Second)
	for _, u := range users {
		if n := countMail(srv, u.email, "digest"); n != 1 {
			t.Errorf("%s got %d digests, want 1", u.email, n)
		}
		if n := countMail(srv, u.email, "alert"); n != 1 {
			t.Errorf("%s got %d alerts, want 1", u.email, n)
		}
	}
	for _, n := range restarted {
		if !strings.Contains(n.logs.String(), `"msg":"sightline started"`) {
			t.Errorf("a notify process did not start: %s", n.logs)
		}
		n.stop()
	}
	mesh.stop()
}
