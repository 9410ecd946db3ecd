package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

var testSites = []Site{{Key: "k_loadgentest0001", Origin: "https://shop1.example.com"}, {Key: "k_loadgentest0002", Origin: "https://shop2.example.com"}}

// unzip reads a body as ingest does: one gzip member, nothing after it.
func unzip(t *testing.T, body []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return raw
}

// TestBatchesPassTheContract decodes generated batches with the batch
// contract ingest applies, and checks their sizes, their sessions' seqs
// and that the first batch of a session holds the full snapshot.
func TestBatchesPassTheContract(t *testing.T) {
	for _, size := range []int{10 << 10, 60 << 10} {
		b, err := NewBatches(testSites, size, 4, 3, 7)
		if err != nil {
			t.Fatal(err)
		}
		seqs := map[string]int{}
		perSite := map[int]int{}
		for range 60 {
			bt := b.Next()
			raw := unzip(t, bt.Body)
			if len(raw) != bt.RawLen {
				t.Fatalf("RawLen %d, body inflates to %d", bt.RawLen, len(raw))
			}
			if len(raw) < size*9/10 || len(raw) > size*12/10 {
				t.Errorf("size %d: batch of %d bytes", size, len(raw))
			}
			if ratio := float64(len(raw)) / float64(len(bt.Body)); ratio < 2.5 || ratio > 12 {
				t.Errorf("size %d: gzip ratio %.1f, want a real recording's (2.5–12)", size, ratio)
			}
			env, err := batch.Decode(raw, 5000)
			if err != nil {
				t.Fatalf("size %d: contract refuses a generated batch: %v\n%.300s", size, err, raw)
			}
			if env.SiteKey != testSites[bt.Site].Key || env.SessionID != bt.Session || int(env.Seq) != bt.Seq {
				t.Fatalf("envelope %q %q %d, batch %+v", env.SiteKey, env.SessionID, env.Seq, bt)
			}
			if want := seqs[bt.Session]; bt.Seq != want {
				t.Errorf("session %s: seq %d, want %d", bt.Session, bt.Seq, want)
			}
			seqs[bt.Session]++
			if hasSnapshot := bytes.Contains(env.Events, []byte(`"initialOffset"`)); hasSnapshot != (bt.Seq == 0) {
				t.Errorf("seq %d: full snapshot present = %v", bt.Seq, hasSnapshot)
			}
			perSite[bt.Site]++
		}
		for s, n := range seqs {
			if n > 4 {
				t.Errorf("session %s sent %d batches, more than perSession", s, n)
			}
		}
		if perSite[0] != 30 || perSite[1] != 30 {
			t.Errorf("batches by site %v, want 30 each", perSite)
		}
		if len(seqs) < 15 {
			t.Errorf("%d sessions for 60 batches of 4 each: sessions are not replaced", len(seqs))
		}
	}
}

// TestBatchesCarryHeatEvents reads generated batches with recordings' own
// extractor: like the tracker's, each opens with sl:view, so its pointer
// positions land on a page, and every click is anchored to an element by
// the sl:click after it, so the whole-pipeline benchmarks charge heatmaps
// what real traffic costs them.
func TestBatchesCarryHeatEvents(t *testing.T) {
	b, err := NewBatches(testSites, 10<<10, 4, 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	var clicks, moves int
	for range 24 {
		bt := b.Next()
		env, err := batch.Decode(unzip(t, bt.Body), 5000)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(env.Events, []byte(`[{"type":5,"data":{"tag":"sl:view"`)) {
			t.Fatalf("seq %d: events do not open with sl:view: %.80s", bt.Seq, env.Events)
		}
		ch := &recordingsv1.Chunk{Seq: env.Seq, Url: env.URL, Events: env.Events,
			ServerTime: timestamppb.Now(), Viewport: &recordingsv1.Viewport{Width: env.ViewportW, Height: env.ViewportH}}
		st, err := summary.Extract(ch, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Clicks {
			if c.H == nil || !strings.HasPrefix(c.H.Sel, "html>body>main>div:nth-of-type(") {
				t.Fatalf("seq %d: click on node %d not anchored to an element: %+v", bt.Seq, c.Node, c.H)
			}
		}
		clicks += len(st.Clicks)
		if st.Heat != nil {
			moves += len(st.Heat.Moves)
		}
	}
	if clicks < 24 || moves < 24 {
		t.Errorf("24 batches: %d anchored clicks, %d pointer cells; want ≥ 1 of each a batch", clicks, moves)
	}
}

// TestRunPacesAndCounts drives a server that answers 204, 429 and 503 in
// turn and is slow: the driver keeps sending on schedule (open loop), and
// counts every answer as the server saw it.
func TestRunPacesAndCounts(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Duration
	codes := []int{http.StatusNoContent, http.StatusNoContent, http.StatusTooManyRequests, http.StatusServiceUnavailable}
	served := map[int]int{}
	var start time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		mu.Lock()
		at := time.Since(start)
		arrivals = append(arrivals, at)
		code := codes[len(arrivals)%len(codes)]
		if err != nil || r.URL.Query().Get("ce") != "gzip" || r.Header.Get("Origin") == "" || len(body) < 100 {
			code = http.StatusBadRequest
		}
		served[code]++
		mu.Unlock()
		time.Sleep(150 * time.Millisecond) // slower than the send interval: a closed loop would fall behind
		w.WriteHeader(code)
	}))
	defer srv.Close()
	b, err := NewBatches(testSites, 4096, 5, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	dr := &Driver{URL: srv.URL, Batches: b, Client: NewClient(256), MaxInFlight: 256}
	start = time.Now()
	res, err := dr.Run(context.Background(), 400, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Window != time.Second || res.Elapsed < 1100*time.Millisecond {
		t.Errorf("window %v, elapsed %v; want 1s, and ≥ 1.1s (the last send at 0.9975 s, answered 150 ms later)", res.Window, res.Elapsed)
	}
	if res.Offered != 400 || res.Saturated != 0 || res.Errors != 0 {
		t.Fatalf("offered %d, saturated %d, errors %d (%v); want 400, 0, 0", res.Offered, res.Saturated, res.Errors, res.FirstErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if served[http.StatusBadRequest] != 0 {
		t.Fatalf("server refused %d requests as malformed", served[http.StatusBadRequest])
	}
	for code, n := range served {
		if res.Status[code] != n {
			t.Errorf("status %d: driver counted %d, server answered %d", code, res.Status[code], n)
		}
	}
	if res.Answered() != 400 || res.Status[http.StatusNoContent] != 200 || res.Status[http.StatusServiceUnavailable] != 100 {
		t.Errorf("answers %v, want 200×204, 100×429, 100×503", res.Status)
	}
	// Paced, not bursted (a closed loop of 256 clients would send 256 at
	// once), and not held back by the slow answers: about half in each
	// half second, all of them soon after the second. The bounds leave
	// room for a machine busy with other work.
	var first100ms, firstHalf, bySecond int
	slices.Sort(arrivals)
	for _, a := range arrivals {
		a -= arrivals[0] // from the first: a machine busy with other work may delay the start
		if a < 100*time.Millisecond {
			first100ms++
		}
		if a < 500*time.Millisecond {
			firstHalf++
		}
		if a < 1300*time.Millisecond {
			bySecond++
		}
	}
	if first100ms > 90 || firstHalf < 120 || firstHalf > 280 || bySecond < 395 {
		t.Errorf("arrivals: %d in the first 100 ms (want ≤ 90), %d in the first half second (want 120–280), %d by 1.3 s (want ≥ 395)",
			first100ms, firstHalf, bySecond)
	}
	if p50 := res.Latency.ValueAtQuantile(50); p50 < 150_000 {
		t.Errorf("p50 %d µs is less than the server's 150 ms", p50)
	}
	if res.Latency.TotalCount() != 400 {
		t.Errorf("latency histogram holds %d answers, want 400", res.Latency.TotalCount())
	}
	if len(res.Accepted) == 0 || len(res.Accepted) > 200 {
		t.Errorf("%d sessions accepted from 200 answers 204", len(res.Accepted))
	}
}

// TestRunCountsSaturation bounds the requests in flight: the sends due
// while the bound is reached are counted, not delayed.
func TestRunCountsSaturation(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	b, err := NewBatches(testSites, 4096, 5, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	dr := &Driver{URL: srv.URL, Batches: b, Client: NewClient(8), MaxInFlight: 8}
	time.AfterFunc(700*time.Millisecond, func() { close(release) })
	began := time.Now()
	res, err := dr.Run(context.Background(), 100, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Run took %v", took)
	}
	if res.Offered != 50 || res.Saturated != 42 || res.Status[http.StatusNoContent] != 8 {
		t.Errorf("offered %d, saturated %d, answers %v; want 50, 42, 8×204", res.Offered, res.Saturated, res.Status)
	}
	if _, err := dr.Run(context.Background(), 0, time.Second); err == nil {
		t.Error("Run at rate 0: no error")
	}
}
