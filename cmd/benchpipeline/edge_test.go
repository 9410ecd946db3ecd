package main

import (
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
