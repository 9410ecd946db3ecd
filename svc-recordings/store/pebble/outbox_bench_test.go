package pebble

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// BenchmarkOutboxPending reads the pending entries of the sessions'
// outbox (100, or none: the relay caught up) after acked entries were
// drained from it, with the floor and, in
// the same rounds (interleaved), with the scan from the prefix it
// replaced (refOutboxPending). "memtable": the acked entries' tombstones
// are still in the memtable, as between flushes of a busy server;
// "flushed": in a table, not yet compacted away.
func BenchmarkOutboxPending(b *testing.B) {
	const calls = 20
	for _, acked := range []int{1000, 10000} {
		for _, where := range []string{"memtable", "flushed"} {
			for _, live := range []int{0, 100} {
				b.Run(fmt.Sprintf("acked=%d/%s/live=%d", acked, where, live), func(b *testing.B) {
					s := open(b, store.Limits{})
					k := obKinds[0]
					for i := 0; i < acked+live; i += 100 {
						sites := make([]int64, 100)
						for j := range sites {
							sites[j] = int64(i + j + 1)
						}
						writeOutbox(b, s, k, sites...)
					}
					for drained := 0; drained < acked; {
						sites, ack, err := k.pending(s, min(100, acked-drained))
						if err != nil {
							b.Fatal(err)
						}
						if err := ack(); err != nil {
							b.Fatal(err)
						}
						drained += len(sites)
					}
					if where == "flushed" {
						if err := s.db.Flush(); err != nil {
							b.Fatal(err)
						}
					}
					var cpuNew, cpuRef time.Duration
					rounds := 0
					for b.Loop() {
						for ref := range 2 {
							start := processCPU(b)
							for range calls {
								var es []store.OutboxEntry
								var err error
								if ref == 1 {
									es, err = refOutboxPending(s, 100)
								} else {
									es, err = s.OutboxPending(context.Background(), 100)
								}
								if err != nil || len(es) != live {
									b.Fatalf("%d entries, %v", len(es), err)
								}
							}
							if ref == 1 {
								cpuRef += processCPU(b) - start
							} else {
								cpuNew += processCPU(b) - start
							}
						}
						rounds++
					}
					n := float64(rounds * calls)
					b.ReportMetric(float64(cpuNew.Microseconds())/n, "cpu-µs/call")
					b.ReportMetric(float64(cpuRef.Microseconds())/n, "ref-cpu-µs/call")
					b.ReportMetric(float64(cpuNew)/float64(cpuRef), "×ref")
				})
			}
		}
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// refOutboxPending is OutboxPending as it was: a scan from the prefix.
func refOutboxPending(s *Store, limit int) ([]store.OutboxEntry, error) {
	var out []store.OutboxEntry
	errFull := errors.New("full")
	err := s.scan([]byte{pOutbox}, nil, func(k, raw []byte) error {
		if len(out) >= limit {
			return errFull
		}
		var ov outboxValue
		if err := json.Unmarshal(raw, &ov); err != nil {
			return err
		}
		out = append(out, store.OutboxEntry{ID: hex.EncodeToString(k[1:]), Kind: ov.Kind, SiteID: ov.SiteID, SessionIDs: ov.SessionIDs})
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, err
	}
	return out, nil
}
