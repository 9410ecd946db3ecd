package main

import (
	"math"
	"testing"
	"time"
)

// A report of wrk 4.1 (Debian 12) with --latency, one with refusals.
const wrkReport = `Running 10s test @ http://127.0.0.1:18080/i/v1/batch?k=k_QYYI8PD_1BIrvzVEGyVygC0a
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.37ms    8.87ms  79.79ms   93.94%
    Req/Sec     3.94k   784.25     4.84k    86.00%
  Latency Distribution
     50%  709.00us
     75%    9.47ms
     90%   13.68ms
     99%    1.07s
  78727 requests in 10.04s, 18.32MB read
  Socket errors: connect 0, read 0, write 0, timeout 12
  Non-2xx or 3xx responses: 1997
Requests/sec:   7839.00
Transfer/sec:      1.82MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 7839 || r.requests != 78727 || r.non2xx != 1997 {
		t.Errorf("rps %v, requests %d, non-2xx %d; want 7839, 78727, 1997", r.rps, r.requests, r.non2xx)
	}
	if r.p50 != 709*time.Microsecond || r.p99 != 1070*time.Millisecond {
		t.Errorf("p50 %v, p99 %v; want 709µs, 1.07s", r.p50, r.p99)
	}
	if r.sockErrs != " (Socket errors: connect 0, read 0, write 0, timeout 12)" {
		t.Errorf("socket errors %q", r.sockErrs)
	}
	r.cpu = 78727 * 150 * time.Microsecond
	if r.cpuPerReq() != 150*time.Microsecond {
		t.Errorf("CPU per request %v, want 150µs", r.cpuPerReq())
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a report without a rate should be an error")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{0.3, 0.1, 0.2}, 0.2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

func TestCommitQuantile(t *testing.T) {
	// Cumulative counts by bound, as /metrics gives them: before, 10
	// commits ≤ 1 ms; after, 100 more, 97 ≤ 1 ms, 2 ≤ 50 ms, 1 past 1 s.
	hist := func(counts ...float64) metrics {
		les := []float64{0.001, 0.05, 1, math.Inf(1)}
		m := metrics{commits: counts[len(counts)-1]}
		for i, c := range counts {
			m.commitBuckets = append(m.commitBuckets, bucket{le: les[i], count: c})
		}
		return m
	}
	m0, m1 := hist(10, 10, 10, 10), hist(107, 109, 109, 110)
	for _, c := range []struct {
		q    float64
		want time.Duration
		over bool
	}{{0.5, time.Millisecond, false}, {0.97, time.Millisecond, false}, {0.98, 50 * time.Millisecond, false}, {0.99, 50 * time.Millisecond, false}, {0.995, time.Second, true}} {
		if d, over := m1.commitQuantile(m0, c.q); d != c.want || over != c.over {
			t.Errorf("q %v: %v (over %v), want %v (over %v)", c.q, d, over, c.want, c.over)
		}
	}
	// Without a baseline the counts are the run's own; no commit, no figure.
	if d, over := hist(50, 100, 100, 100).commitQuantile(metrics{}, 0.99); d != 50*time.Millisecond || over {
		t.Errorf("no baseline: %v (over %v)", d, over)
	}
	if d, _ := m0.commitQuantile(m0, 0.99); d != 0 {
		t.Errorf("no commit between: %v", d)
	}
	for _, c := range []struct {
		d    time.Duration
		over bool
		want string
	}{{0, false, "-"}, {time.Millisecond, false, "≤ 1ms"}, {time.Second, true, "> 1s"}} {
		if got := bound(c.d, c.over); got != c.want {
			t.Errorf("bound(%v, %v) = %q, want %q", c.d, c.over, got, c.want)
		}
	}
}
