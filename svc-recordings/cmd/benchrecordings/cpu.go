package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// noDNS fails every asset host lookup at once: the bench measures
// extraction, not the network.
type noDNS struct{}

func (noDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("benchrecordings: no DNS")
}

// processCPU is this process's CPU time (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settledCPU waits until the process is idle (under 2 ms of CPU in
// 100 ms: background asset extraction and compactions done, at most 30 s)
// and answers its CPU time then.
func settledCPU() time.Duration {
	last := processCPU()
	for range 300 {
		time.Sleep(100 * time.Millisecond)
		now := processCPU()
		if now-last < 2*time.Millisecond {
			return now
		}
		last = now
	}
	return last
}

func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// counter reads an int64 counter's sum over its attributes.
func counter(ctx context.Context, r *sdkmetric.ManualReader, name string) (int64, error) {
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		return 0, fmt.Errorf("collect metrics: %w", err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n, nil
}
