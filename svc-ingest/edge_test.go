package ingest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTrickle opens a raw connection to the intake and sends the headers
// of a batch that declares length bytes, then first (the start of a body).
func openTrickle(t *testing.T, base string, length int64, first string) net.Conn {
	t.Helper()
	return openPost(t, base, "/i/v1/batch?k="+siteKey, map[string]string{"Origin": "https://shop.example.com"}, length, first)
}

// openPost opens a raw connection to base and sends the head of a POST to
// path with headers, declaring length body bytes, then first.
func openPost(t *testing.T, base, path string, headers map[string]string, length int64, first string) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n", path, u.Host, length)
	for k, v := range headers {
		head += k + ": " + v + "\r\n"
	}
	if _, err := c.Write([]byte(head + "\r\n" + first)); err != nil {
		t.Fatal(err)
	}
	return c
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestDeclaredLengthDoesNotReserveMemory: connections that declare the
// largest body and send one byte cost about what they sent, not what they
// declared (the body buffer was once sized from Content-Length: 300 such
// connections took 300 MiB).
func TestDeclaredLengthDoesNotReserveMemory(t *testing.T) {
	const conns = 300
	e := newEnv(t, nil) // max-body-bytes 1 MiB
	// One real batch first, so that everything lazily built on the first
	// request is in the "before" figure.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("warm-up batch = %d", resp.StatusCode)
	}
	before := heapInuse()
	open := make([]net.Conn, 0, conns)
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for range conns {
		open = append(open, openTrickle(t, e.srv.URL, e.cfg.MaxBodyBytes, "{"))
	}
	// Every handler must be blocked in the body read by now: wait until
	// the intake has looked the site up for all of them is not observable,
	// so give the server ample time, then measure while they are open.
	time.Sleep(2 * time.Second)
	after := heapInuse()
	grew := int64(after) - int64(before)
	t.Logf("heap in use: %d MiB before, %d MiB with %d connections declaring %d bytes (%+d KiB, %d bytes each)",
		before>>20, after>>20, conns, e.cfg.MaxBodyBytes, grew>>10, grew/conns)
	// Each connection may cost its goroutine, its bufio buffers and a small
	// body buffer: far below the 300 MiB the declared lengths add up to.
	if limit := int64(conns * 64 << 10); grew > limit {
		t.Fatalf("heap grew by %d MiB for %d connections that sent 1 byte each; want under %d MiB", grew>>20, conns, limit>>20)
	}
	// The connections are alive (still being read), not refused early.
	for _, c := range open[:5] {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || !err.(net.Error).Timeout() {
			t.Fatalf("a trickling connection was answered early: %d, %v", n, err)
		}
	}
}

// TestTricklingBodyIsCutAtItsDeadline: a body that arrives a byte at a time
// is answered 408 (which the tracker retries) at the deadline derived from
// ingest.body-read-timeout, not held until the server's read timeout.
func TestTricklingBodyIsCutAtItsDeadline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BodyReadTimeout = time.Second })
	// Declared at the limit: base (1s, the timeout being below 5s) + the
	// whole allowance (1s).
	want := e.svc.bodyDeadline(e.cfg.MaxBodyBytes, e.cfg.MaxBodyBytes)
	if want != 2*time.Second {
		t.Fatalf("deadline for a full body = %s, want 2s", want)
	}
	if small := e.svc.bodyDeadline(1<<10, e.cfg.MaxBodyBytes); small >= want || small < time.Second {
		t.Fatalf("deadline for a 1 KiB body = %s, want between the base and the full deadline", small)
	}
	start := time.Now()
	c := openTrickle(t, e.srv.URL, e.cfg.MaxBodyBytes, "")
	defer c.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // one byte every 100 ms: a connection that never goes idle
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body: %v", err)
	}
	resp.Body.Close()
	took := time.Since(start)
	t.Logf("trickling body answered %d after %s (deadline %s)", resp.StatusCode, took.Round(time.Millisecond), want)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("trickling body = %d, want 408", resp.StatusCode)
	}
	if took < want-200*time.Millisecond || took > want+2*time.Second {
		t.Fatalf("trickling body cut after %s, want about %s", took, want)
	}
	if got := e.svc.limitHits["body_read_timeout"].Load(); got != 1 {
		t.Fatalf("body_read_timeout hits = %d, want 1", got)
	}
	// A batch sent at once on a new connection is unaffected.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, nil)}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("a prompt batch after the cut = %d", resp.StatusCode)
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Origin"), "shop.example.com") {
		t.Fatalf("408 without CORS headers (the tracker could not read it): %v", resp.Header)
	}
}
