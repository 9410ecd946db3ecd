package spool

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// heldSync replaces the spool's fdatasync: the first call waits until
// release, then fails with its error or syncs; later calls sync at once.
type heldSync struct {
	mu      sync.Mutex
	calls   int
	entered chan struct{} // closed when the first call starts
	release chan error
}

func holdFirstSync(s *Spool) *heldSync {
	h := &heldSync{entered: make(chan struct{}), release: make(chan error)}
	s.fdatasync = func(f *os.File) error {
		h.mu.Lock()
		h.calls++
		first := h.calls == 1
		h.mu.Unlock()
		if first {
			close(h.entered)
			if err := <-h.release; err != nil {
				return err
			}
		}
		return syscall.Fdatasync(int(f.Fd()))
	}
	return h
}

func (h *heldSync) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// waitUnsynced waits until n bytes are written and not yet durable.
func waitUnsynced(t *testing.T, s *Spool, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		u := s.unsynced
		s.mu.Unlock()
		if u == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes written and not durable, want %d", u, n)
		}
	}
}

// appendAsync appends payload(i) for i in [from, to) concurrently; the
// errors arrive on the channel as the appends return.
func appendAsync(s *Spool, from, to int) <-chan error {
	errs := make(chan error, to-from)
	for i := from; i < to; i++ {
		go func() { errs <- s.Append(context.Background(), payload(i)) }()
	}
	return errs
}

func recordBytes(from, to int) int64 {
	var n int64
	for i := from; i < to; i++ {
		n += int64(recHeaderLen + len(payload(i)))
	}
	return n
}

// TestPipelinedCommitWritesDuringSync: while one fdatasync runs, the
// records that arrive are written, answered only once a sync covers them,
// and one more fdatasync covers them all.
func TestPipelinedCommitWritesDuringSync(t *testing.T) {
	var mu sync.Mutex
	var groups []int
	s := open(t, t.TempDir(), func(o *Options) {
		o.SegmentBytes = 1 << 20
		o.OnCommit = func(n, _ int, _ time.Duration) { mu.Lock(); groups = append(groups, n); mu.Unlock() }
	})
	defer s.Close()
	h := holdFirstSync(s)
	first := appendAsync(s, 0, 1)
	<-h.entered
	rest := appendAsync(s, 1, 11)
	waitUnsynced(t, s, recordBytes(0, 11)) // all written while the first sync runs
	select {
	case err := <-rest:
		t.Fatalf("an append returned (%v) before any sync covered it", err)
	case err := <-first:
		t.Fatalf("the first append returned (%v) before its sync did", err)
	default:
	}
	if got := s.Stats().Records; got != 0 {
		t.Fatalf("%d records visible before any sync returned", got)
	}
	h.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	if c := h.count(); c != 2 {
		t.Fatalf("%d fdatasyncs for two groups", c)
	}
	mu.Lock()
	if len(groups) != 2 || groups[0] != 1 || groups[1] != 10 {
		t.Fatalf("commits of %v records, want [1 10]", groups)
	}
	mu.Unlock()
	if recs := readAll(t, s); len(recs) != 11 {
		t.Fatalf("read %d records, want 11", len(recs))
	}
}

// TestFailedSyncDropsItsGroupAndTheLaterOnes: when an fdatasync fails,
// its records and those written after it are refused, cut off and never
// delivered, also after a restart; the spool goes on.
func TestFailedSyncDropsItsGroupAndTheLaterOnes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	for i := range 5 {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	h := holdFirstSync(s)
	first := appendAsync(s, 5, 6)
	<-h.entered
	rest := appendAsync(s, 6, 16)
	waitUnsynced(t, s, recordBytes(5, 16))
	h.release <- syscall.EIO
	for range 11 {
		var err error
		select {
		case err = <-first:
		case err = <-rest:
		}
		if !errors.Is(err, errSyncFailed) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("append after a failed sync: %v", err)
		}
	}
	if err := s.Append(context.Background(), payload(16)); err != nil {
		t.Fatalf("append after the repair: %v", err)
	}
	if st := s.Stats(); st.Records != 6 || st.Bytes != recordBytes(0, 5)+recordBytes(16, 17) {
		t.Fatalf("stats after the repair: %+v", st)
	}
	s.Close()
	s = open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	defer s.Close()
	recs := readAll(t, s)
	want := []int{0, 1, 2, 3, 4, 16}
	if len(recs) != len(want) {
		t.Fatalf("read %d records after restart, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if string(r.Payload) != string(payload(want[i])) {
			t.Fatalf("record %d: %q, want payload(%d)", i, r.Payload, want[i])
		}
	}
}
