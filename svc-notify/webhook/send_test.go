package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/netguard"
)

// receiver is a real HTTP server on 127.0.0.1 that verifies every
// delivery's signature with Verify.
type receiver struct {
	srv     *httptest.Server
	secrets []string

	mu       sync.Mutex
	got      []delivery
	verified atomic.Int64
	failed   atomic.Int64
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer http.HandlerFunc, secrets ...string) *receiver {
	t.Helper()
	r := &receiver{secrets: secrets}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), body})
		r.mu.Unlock()
		for _, s := range r.secrets {
			if err := Verify(s, req.Header, body, time.Now(), 0); err != nil {
				r.failed.Add(1)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		}
		r.verified.Add(1)
		if answer != nil {
			answer(w, req)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// request is a webhook.test delivery (signed with a fresh secret when
// none is given).
func request(url string, secrets ...string) Request {
	if len(secrets) == 0 {
		secrets = []string{NewSecret()}
	}
	body, err := Envelope(EventTest, time.Now(), Test(5_000_000_001, 7_000_000_001))
	if err != nil {
		panic(err)
	}
	return Request{URL: url, MessageID: "msg_2kQ9b", Time: time.Now(), Body: body, Secrets: secrets}
}

func TestSendSignedDelivery(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, nil, secret)
	s := &Sender{AllowPrivate: true, UserAgent: "Sightline-Test/1"}
	defer s.Close()
	req := request(rc.srv.URL+"/hook?x=1", secret)
	res := s.Send(context.Background(), req)
	if res.Err != nil || res.StatusCode != http.StatusNoContent || res.Permanent || res.Duration <= 0 {
		t.Fatalf("Send = %+v", res)
	}
	got := rc.deliveries()
	if len(got) != 1 || rc.verified.Load() != 1 {
		t.Fatalf("receiver got %d deliveries, verified %d", len(got), rc.verified.Load())
	}
	h := got[0].header
	for k, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "Sightline-Test/1", HeaderID: "msg_2kQ9b",
	} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if string(got[0].body) != string(req.Body) {
		t.Errorf("body = %s", got[0].body)
	}
	// The same receiver with the wrong secret answers 401: a transient
	// failure carrying the receiver's words.
	res = s.Send(context.Background(), request(rc.srv.URL, NewSecret()))
	if res.Err == nil || res.StatusCode != http.StatusUnauthorized || res.Permanent || !strings.Contains(res.Response, "no signature matches") {
		t.Fatalf("Send with a wrong secret = %+v", res)
	}
}

func TestSendRotatedSecrets(t *testing.T) {
	oldS, newS := NewSecret(), NewSecret()
	// The receiver checks each secret on its own: both must verify.
	rc := newReceiver(t, nil, oldS, newS)
	s := &Sender{AllowPrivate: true}
	res := s.Send(context.Background(), request(rc.srv.URL, newS, oldS))
	if res.Err != nil || rc.verified.Load() != 1 {
		t.Fatalf("Send = %+v, verified %d", res, rc.verified.Load())
	}
	if sig := rc.deliveries()[0].header.Get(HeaderSignature); len(strings.Fields(sig)) != 2 {
		t.Fatalf("signature header %q, want two", sig)
	}
}

func TestSendOutcomes(t *testing.T) {
	s := &Sender{AllowPrivate: true}
	for _, c := range []struct {
		code      int
		ok, perm  bool
		errSubstr string
	}{
		{200, true, false, ""},
		{202, true, false, ""},
		{410, false, true, "410 Gone"},
		{404, false, false, "404 Not Found"},
		{429, false, false, "429"},
		{500, false, false, "500 Internal Server Error"},
		{503, false, false, "503"},
	} {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(c.code)
			io.WriteString(w, "answer ünïcode")
		})
		res := s.Send(context.Background(), request(rc.srv.URL))
		if (res.Err == nil) != c.ok || res.Permanent != c.perm || res.StatusCode != c.code || res.Response != "answer ünïcode" {
			t.Errorf("status %d: %+v", c.code, res)
		}
		if c.errSubstr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), c.errSubstr)) {
			t.Errorf("status %d: error %v, want it to say %q", c.code, res.Err, c.errSubstr)
		}
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { followed.Add(1) }))
	defer target.Close()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	s := &Sender{AllowPrivate: true}
	res := s.Send(context.Background(), request(rc.srv.URL))
	if res.Err == nil || res.StatusCode != http.StatusTemporaryRedirect || res.Permanent ||
		!strings.Contains(res.Err.Error(), "redirects are not followed") || !strings.Contains(res.Err.Error(), "/elsewhere") {
		t.Fatalf("Send to a redirect = %+v", res)
	}
	if followed.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestSendResponseCap(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		// A multi-byte rune straddles the 1 KiB cut, then 4 MiB more.
		io.WriteString(w, strings.Repeat("a", 1023)+"é")
		chunk := []byte(strings.Repeat("b", 64<<10))
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	s := &Sender{AllowPrivate: true}
	res := s.Send(context.Background(), request(rc.srv.URL))
	if res.Err != nil || res.StatusCode != 204 && res.StatusCode != 200 {
		t.Fatalf("Send = %v %d", res.Err, res.StatusCode)
	}
	if res.Response != strings.Repeat("a", 1023) || !utf8.ValidString(res.Response) {
		t.Fatalf("kept %d bytes (%q…), want the 1023 before the cut rune", len(res.Response), res.Response[:min(10, len(res.Response))])
	}
	if got := validPrefix([]byte("ok\xff\xfeok")); got != "ok??ok" {
		t.Fatalf("validPrefix = %q", got)
	}
	s2 := &Sender{AllowPrivate: true, MaxResponseBytes: 10}
	if res := s2.Send(context.Background(), request(rc.srv.URL)); res.Response != "aaaaaaaaaa" {
		t.Fatalf("MaxResponseBytes 10 kept %d bytes", len(res.Response))
	}
}

func TestSendTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select { // never answers while the sender waits
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s := &Sender{AllowPrivate: true, Timeout: 300 * time.Millisecond}
	start := time.Now()
	res := s.Send(context.Background(), request(rc.srv.URL))
	if res.Err == nil || res.StatusCode != 0 || res.Permanent || !errors.Is(res.Err, context.DeadlineExceeded) ||
		!strings.Contains(res.Err.Error(), "no answer within 300ms") {
		t.Fatalf("Send to a silent receiver = %+v", res)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Fatalf("took %s with a 300ms timeout", el)
	}

	// A receiver that answers headers and then trickles the body forever:
	// the success stands (the receiver accepted) and Send still returns.
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		for {
			if _, err := io.WriteString(w, "x"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	start = time.Now()
	res = s.Send(context.Background(), request(slow.srv.URL))
	if res.Err != nil || res.StatusCode != 200 || time.Since(start) > 3*time.Second {
		t.Fatalf("Send to a trickling receiver = %+v after %s", res, time.Since(start))
	}

	// Nobody listening: connection refused, transient.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	res = s.Send(context.Background(), request("http://"+addr+"/"))
	if res.Err == nil || res.Permanent || res.StatusCode != 0 {
		t.Fatalf("Send to a closed port = %+v", res)
	}
}

// fakeResolver answers every name with fixed addresses.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestSendRefusesPrivateTargets(t *testing.T) {
	rc := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rc.srv.Listener.Addr().String())
	var dialled atomic.Int64
	s := &Sender{
		Timeout: 2 * time.Second,
		Resolver: fakeResolver{
			// Names that pass CheckURL but resolve (at dial time, as a
			// rebinding DNS server would answer) to this machine.
			"hooks.example.com":  {netip.MustParseAddr("127.0.0.1")},
			"mapped.example.com": {netip.MustParseAddr("::ffff:127.0.0.1")},
			"mixed.example.com":  {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.7")},
			"public.example.com": {netip.MustParseAddr("93.184.216.34")},
		},
		afterGuard: func(address string) error {
			dialled.Add(1)
			// Never let a test connect anywhere but loopback, even if the
			// guard were broken.
			if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().IsLoopback() {
				return errors.New("test: connect stopped at " + address)
			}
			return nil
		},
	}
	for _, u := range []string{
		rc.srv.URL, // 127.0.0.1 literal: refused by CheckURL
		"http://localhost:" + port + "/",
		"http://[::1]:" + port + "/",
		"http://hooks.example.com:" + port + "/",
		"http://mapped.example.com:" + port + "/",
		"http://mixed.example.com:" + port + "/",
	} {
		res := s.Send(context.Background(), request(u, NewSecret()))
		if res.Err == nil || !res.Permanent || !errors.Is(res.Err, ErrForbiddenTarget) || res.StatusCode != 0 {
			t.Errorf("Send(%s) = %+v, want a permanent ErrForbiddenTarget", u, res)
		}
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("the private receiver got %d deliveries", n)
	}
	if dialled.Load() != 0 {
		t.Fatalf("%d connects got past the guard", dialled.Load())
	}

	// The guard lets a public address through (the hook stops the connect:
	// there is no internet here) and says so as a transient failure.
	res := s.Send(context.Background(), request("http://public.example.com:"+port+"/", NewSecret()))
	if dialled.Load() != 1 || res.Permanent || res.Err == nil || !strings.Contains(res.Err.Error(), "connect stopped at 93.184.216.34:"+port) {
		t.Fatalf("Send to a public name = %+v (dialled %d)", res, dialled.Load())
	}
	// An unknown name is transient (DNS may come back).
	res = s.Send(context.Background(), request("http://nowhere.example.com/", NewSecret()))
	if res.Permanent || res.Err == nil || !strings.Contains(res.Err.Error(), "no such host") {
		t.Fatalf("Send to an unknown name = %+v", res)
	}

	// The socket's Control hook refuses a private address by itself.
	g := netguard.NewDialer(netguard.Config{ConnectTimeout: time.Second, Forbidden: ErrForbiddenTarget})
	if err := g.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrForbiddenTarget) {
		t.Fatalf("control(127.0.0.1) = %v", err)
	}
	if err := g.Control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("control(public) = %v", err)
	}
}

func TestSendPermanentInputErrors(t *testing.T) {
	s := &Sender{AllowPrivate: true}
	rc := newReceiver(t, nil)
	for name, r := range map[string]Request{
		"bad url":    request("ftp://x/", NewSecret()),
		"bad secret": request(rc.srv.URL, "whsec_short"),
		"no secret":  {URL: rc.srv.URL, MessageID: "msg_1", Body: []byte("{}")},
		"no id":      {URL: rc.srv.URL, Body: []byte("{}"), Secrets: []string{NewSecret()}},
	} {
		if res := s.Send(context.Background(), r); res.Err == nil || !res.Permanent {
			t.Errorf("%s: %+v", name, res)
		}
	}
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestSendHTTPS(t *testing.T) {
	secret := NewSecret()
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if Verify(secret, r.Header, body, time.Now(), 0) == nil {
			got.Add(1)
		}
	}))
	// The untrusted-certificate attempt below fails its handshake on purpose.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s := &Sender{AllowPrivate: true, rootCAs: pool}
	if res := s.Send(context.Background(), request(srv.URL, secret)); res.Err != nil || got.Load() != 1 {
		t.Fatalf("Send over TLS = %+v", res)
	}
	// Without trusting the certificate: a transient TLS failure.
	if res := (&Sender{AllowPrivate: true}).Send(context.Background(), request(srv.URL, secret)); res.Err == nil || res.Permanent {
		t.Fatalf("Send to an untrusted certificate = %+v", res)
	}
}

func TestSendConcurrent(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, nil, secret)
	s := &Sender{AllowPrivate: true}
	var wg sync.WaitGroup
	var fails atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if res := s.Send(context.Background(), request(rc.srv.URL, secret)); res.Err != nil {
					fails.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if fails.Load() != 0 || rc.verified.Load() != 200 {
		t.Fatalf("%d failed, %d verified of 200", fails.Load(), rc.verified.Load())
	}
}

// BenchmarkSend against BenchmarkBarePost: the cost of signing, the
// guard-free dialer and the capped read over a plain keep-alive POST.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := &Sender{AllowPrivate: true}
	defer s.Close()
	req := request(srv.URL, NewSecret())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := s.Send(context.Background(), req); res.Err != nil {
				b.Error(res.Err)
				return
			}
		}
	})
}

func BenchmarkBarePost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer c.CloseIdleConnections()
	body := request(srv.URL).Body
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
