package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Driver posts batches to one ingest at a constant offered rate.
type Driver struct {
	// URL is ingest's public base URL (http://host:port).
	URL     string
	Batches *Batches
	Client  *http.Client
	// MaxInFlight bounds the requests waiting for an answer; a send due
	// while that many wait is counted as Saturated, not delayed, so that
	// the offered rate stays what was asked.
	MaxInFlight int
}

// userAgents are a few browsers' (ingest derives the device class from it).
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

// Result is what one Run saw.
type Result struct {
	Window    time.Duration // the sends' schedule: the rates are per this
	Elapsed   time.Duration // from the first due send to the last answer
	Offered   int           // sends scheduled
	Saturated int           // sends skipped: MaxInFlight requests were waiting
	Status    map[int]int   // answers by HTTP status
	Errors    int           // transport errors (no answer)
	FirstErr  error
	// Latency of every answer in µs, from the time the send was due (so a
	// queue in the driver or the server counts, not only the round trip).
	Latency   *hdrhistogram.Histogram
	SentBytes int64 // bodies as sent
	RawBytes  int64 // bodies before gzip
	// Accepted is the sessions with at least one batch answered 204, by
	// session id, with their site's index.
	Accepted map[string]int
}

// Answered is the count of requests that got an HTTP answer.
func (r *Result) Answered() int {
	n := 0
	for _, c := range r.Status {
		n += c
	}
	return n
}

// Run sends rate batches a second for d (each at its due time, start +
// i/rate, whatever the answers so far: a slow server shows as latency and
// backlog, not as a lower offered rate) and waits for the answers.
func (dr *Driver) Run(ctx context.Context, rate float64, d time.Duration) (*Result, error) {
	if rate <= 0 || d <= 0 || dr.MaxInFlight < 1 {
		return nil, fmt.Errorf("loadgen: need rate > 0, duration > 0, MaxInFlight ≥ 1 (got %v, %v, %d)", rate, d, dr.MaxInFlight)
	}
	res := &Result{Window: d, Status: map[int]int{}, Accepted: map[string]int{}, Latency: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)}
	var mu sync.Mutex
	slots := make(chan struct{}, dr.MaxInFlight)
	var wg sync.WaitGroup
	n := int(rate * d.Seconds())
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				wg.Wait()
				return res, ctx.Err()
			case <-timer.C:
			}
		}
		res.Offered++
		select {
		case slots <- struct{}{}:
		default:
			res.Saturated++
			continue
		}
		b := dr.Batches.Next()
		res.SentBytes += int64(len(b.Body))
		res.RawBytes += int64(b.RawLen)
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			code, err := dr.send(ctx, b, i)
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				if res.FirstErr == nil {
					res.FirstErr = err
				}
				return
			}
			res.Status[code]++
			_ = res.Latency.RecordValue(max(1, took.Microseconds())) // past the histogram's 10 min: cannot happen within a step
			if code == http.StatusNoContent {
				res.Accepted[b.Session] = b.Site
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

func (dr *Driver) send(ctx context.Context, b Batch, i int) (int, error) {
	site := dr.Batches.sites[b.Site]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dr.URL+"/i/v1/batch?k="+site.Key+"&ce=gzip", bytes.NewReader(b.Body))
	if err != nil {
		return 0, fmt.Errorf("loadgen: request: %w", err)
	}
	// As the tracker's fetch sends it: a simple CORS request.
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Origin", site.Origin)
	req.Header.Set("User-Agent", userAgents[i%len(userAgents)])
	resp, err := dr.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("loadgen: post: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("loadgen: read answer: %w", err)
	}
	return resp.StatusCode, nil
}

// NewClient is an HTTP client for a Driver of maxInFlight requests: as
// many idle connections kept, no transparent compression.
func NewClient(maxInFlight int) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
}
