package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/internal/testproc"
)

// nginxBinary is Debian's nginx (apt-get install nginx).
const nginxBinary = "/usr/sbin/nginx"

// nginxConf is the server configuration an operator installs.
const nginxConf = "../../deploy/nginx/sightline.conf"

// Loopback addresses of the test's visitors: another /24 than nginx's
// 127.0.0.1, so the recorded /24 tells which one Sightline believed.
var (
	visitorIP = net.IPv4(127, 1, 2, 3)
	directIP  = net.IPv4(127, 9, 9, 9)
)

// TestBehindNginx starts deploy/nginx/sightline.conf in Debian's nginx in
// front of the binary, as README "Run it for real" says, and uses
// everything through it over HTTPS: the dashboard, sign-up and its cookies,
// the tracker's bootstrap, intake, the realtime stream; the visitor's
// address is the one nginx saw, and only nginx is believed about it.
func TestBehindNginx(t *testing.T) {
	if !testproc.IsExec(nginxBinary) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (CI installs it: apt-get install nginx)", nginxBinary)
		}
		t.Skipf("%s is missing: sudo apt-get install -y nginx", nginxBinary)
	}
	dir := t.TempDir()
	httpAddr, httpsAddr := loopback.Addr(t), loopback.Addr(t)
	public := "https://" + httpsAddr
	p := startServe(t, nil,
		"--server.public-url", public,
		"--gateway.secure-cookies",
		"--ingest.trusted-proxies", "127.0.0.1/32",
		"--gateway.trusted-proxies", "127.0.0.1/32",
		"--accounts.signup-verify-email=false",
		"--demo.enabled=false",
	)
	defer p.stop()
	pool := x509.NewCertPool()
	pool.AddCert(selfSignedCert(t, dir))
	startNginx(t, dir, p.addrs.HTTP, httpAddr, httpsAddr)

	client := func(from net.IP) *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{
			Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2: true,
				DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext,
			},
		}
	}
	visitor := client(visitorIP)

	// Plain HTTP only redirects to https.
	resp, err := visitor.Get("http://" + httpAddr + "/s/x.js?a=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://127.0.0.1") || !strings.HasSuffix(loc, "/s/x.js?a=1") {
		t.Errorf("http:// answered %d Location %q, want 301 to https://127.0.0.1…/s/x.js?a=1", resp.StatusCode, loc)
	}

	// The dashboard: HTTP/2, the binary's security headers once, HSTS.
	resp, err = visitor.Get(public + "/")
	if err != nil {
		t.Fatal(err)
	}
	index, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(index, []byte("<html")) {
		t.Errorf("GET / through nginx = %d %.200s", resp.StatusCode, index)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("GET / over %s, want HTTP/2", resp.Proto)
	}
	for _, h := range []string{"Strict-Transport-Security", "X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options"} {
		if n := len(resp.Header.Values(h)); n != 1 {
			t.Errorf("GET /: %d %s headers %q, want exactly one", n, h, resp.Header.Values(h))
		}
	}

	// Sign-up: cookies are Secure and the session's HttpOnly; the jar sends
	// Secure cookies back over https only, so /me answering proves it.
	d := &dashboard{t: t, base: public, http: visitor, email: fmt.Sprintf("nginx-%d@example.com", time.Now().UnixNano())}
	code, hdr, body, err := d.do("POST", "/api/v1/auth/signup", map[string]any{
		"email": d.email, "password": "correct horse battery staple", "organizationName": "Proxied",
	})
	if err != nil || code != http.StatusOK {
		t.Fatalf("sign-up through nginx = %d %v %s", code, err, body)
	}
	cookies := (&http.Response{Header: hdr}).Cookies()
	names := map[string]bool{}
	for _, c := range cookies {
		names[c.Name] = true
		if !c.Secure {
			t.Errorf("cookie %s is not Secure", c.Name)
		}
		if c.Name == "sl_session" && !c.HttpOnly {
			t.Error("the session cookie is not HttpOnly")
		}
	}
	if !names["sl_session"] || !names["sl_csrf"] {
		t.Fatalf("sign-up set cookies %v, want sl_session and sl_csrf", names)
	}
	if me := d.call("GET", "/api/v1/me", nil); !strings.Contains(fmt.Sprint(me), d.email) {
		t.Errorf("/api/v1/me through nginx = %v, want %s", me, d.email)
	}
	var su struct{ Organization struct{ ID string } }
	_ = json.Unmarshal(body, &su)
	site := d.call("POST", "/api/v1/organizations/"+su.Organization.ID+"/sites", map[string]any{"name": "Shop", "domains": []string{"shop.example.com"}})["site"].(map[string]any)
	d.siteID, _ = strconv.ParseInt(site["id"].(string), 10, 64)
	d.key = site["siteKey"].(string)

	// The dashboard API sees the visitor too: accounts' audit log records
	// the site's creation from the visitor's /24, not nginx's.
	audit := d.call("GET", "/api/v1/organizations/"+su.Organization.ID+"/audit-events", nil)
	if js, _ := json.Marshal(audit); !bytes.Contains(js, []byte(`"ipPrefix":"127.1.2.0/24"`)) || bytes.Contains(js, []byte(`"ipPrefix":"127.0.0.`)) {
		t.Errorf("audit events %s: want the site's creation from 127.1.2.0/24 (the visitor), none from nginx's 127.0.0.1", js)
	}

	// The tracker's bootstrap sends to the public https URL.
	resp, err = visitor.Get(public + "/s/" + d.key + ".js")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"endpoint":"` + public + `/i/v1/batch"`, `"recorderUrl":"` + public + `/static/`} {
		if resp.StatusCode != http.StatusOK || !bytes.Contains(script, []byte(want)) {
			t.Errorf("GET /s/<key>.js = %d, want %s in %.600s", resp.StatusCode, want, script)
		}
	}

	// A gzip batch through nginx, claiming another address (nginx replaces
	// the claim), and one straight to the binary with a forged
	// X-Forwarded-For, which is not from the trusted proxy.
	post := func(c *http.Client, base, session, forged string) {
		t.Helper()
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(hostileBatch(d.key, session, "0", `{"type":3,"data":{"source":2,"type":2,"id":1,"x":10,"y":20},"timestamp":TS}`))
		_ = zw.Close()
		req, _ := http.NewRequest("POST", base+"/i/v1/batch?k="+d.key, &gz)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Origin", "https://shop.example.com")
		req.Header.Set("X-Forwarded-For", forged)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST /i/v1/batch via %s = %d %s, want 204", base, resp.StatusCode, msg)
		}
	}
	proxied, direct := "s_nginxproxied0000000000000", "s_nginxdirect00000000000000"
	post(visitor, public, proxied, "203.0.113.9")
	post(client(directIP), "http://"+p.addrs.HTTP, direct, "203.0.113.9")
	waitSearchable(t, d, 2, time.Now(), 30*time.Second)
	for session, want := range map[string]string{proxied: "127.1.2.", direct: "127.9.9."} {
		got := d.call("GET", fmt.Sprintf("/api/v1/sites/%d/sessions/%s", d.siteID, session), nil)
		js, _ := json.Marshal(got)
		if !bytes.Contains(js, []byte(`"ipPrefix":"`+want)) {
			t.Errorf("session %s: want ipPrefix %s…, got %s", session, want, js)
		}
	}

	// The realtime stream is passed on unbuffered: its first event arrives
	// long before a proxy buffer would fill.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/sites/%d/traffic/realtime:stream", public, d.siteID), nil)
	resp, err = visitor.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("realtime stream through nginx = %d %s", resp.StatusCode, b)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "data:") {
	}
	if !strings.HasPrefix(lines.Text(), "data:") {
		t.Errorf("no realtime event through nginx within 5s: %v", lines.Err())
	}
}

// selfSignedCert writes a throwaway certificate for 127.0.0.1 and its key
// to dir (cert.pem, key.pem) and returns it.
func selfSignedCert(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "sightline test"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startNginx renders deploy/nginx/sightline.conf for this test (its
// placeholders become the test's addresses and files) inside an http {}
// block like Debian's nginx.conf, and runs nginx unprivileged in dir until
// the test ends.
func startNginx(t *testing.T, dir, upstream, httpAddr, httpsAddr string) {
	t.Helper()
	raw, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range []struct{ old, new string }{
		{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		{"listen 80;", "listen " + httpAddr + ";"},
		{"listen 443 ssl http2;", "listen " + httpsAddr + " ssl http2;"},
		{"listen [::]:80;", ""},
		{"listen [::]:443 ssl http2;", ""},
		{"/etc/ssl/sightline/fullchain.pem", filepath.Join(dir, "cert.pem")},
		{"/etc/ssl/sightline/privkey.pem", filepath.Join(dir, "key.pem")},
	} {
		if !strings.Contains(conf, r.old) {
			t.Fatalf("%s no longer has %q: update this test with the new placeholder", nginxConf, r.old)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	if err := os.WriteFile(filepath.Join(dir, "sightline.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers as nobody could not reach the private temp dir
	}
	// Debian's http {} settings that matter here: TLS 1.0 allowed, gzip on.
	top := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
	ssl_prefer_server_ciphers on;
	gzip on;
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	include %[2]s/sightline.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(top), 0o600); err != nil {
		t.Fatal(err)
	}
	errorLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	if out, err := exec.Command(nginxBinary, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginxBinary, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: finish open requests
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("nginx exit after SIGQUIT: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("nginx did not stop within 10s of SIGQUIT (then %v)\n%s", <-done, errorLog())
		}
		if t.Failed() {
			t.Logf("nginx error.log:\n%s", errorLog())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", httpsAddr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("nginx exited: %v\n%s", err, errorLog())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s within 10s: %v\n%s", httpsAddr, err, errorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
