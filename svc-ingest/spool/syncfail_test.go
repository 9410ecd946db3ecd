package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
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

// appendAsync appends payload(i) for i in [from, to) concurrently; the
// errors arrive on the channel as the appends return.
func appendAsync(s *Spool, from, to int) <-chan error {
	errs := make(chan error, to-from)
	for i := from; i < to; i++ {
		go func() { errs <- s.Append(context.Background(), payload(i)) }()
	}
	return errs
}

// copyDir copies the spool's files, as a crash would leave them (the
// kernel may write a page whose fsync failed later).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// readPayloads opens the spool in dir and counts its records by payload.
func readPayloads(t *testing.T, dir string) map[string]int {
	t.Helper()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	defer s.Close()
	got := map[string]int{}
	for _, r := range readAll(t, s) {
		got[string(r.Payload)]++
	}
	return got
}

// TestFailedSyncRefusesItsGroup: when a group commit's fdatasync fails,
// its record is refused and cut off at once — not delivered even if the
// process dies right after — and the spool goes on storing.
func TestFailedSyncRefusesItsGroup(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
	for i := range 5 {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	h := holdFirstSync(s)
	failed := appendAsync(s, 5, 6)
	<-h.entered
	h.release <- syscall.EIO
	if err := <-failed; !errors.Is(err, syscall.EIO) {
		t.Fatalf("the append whose sync failed: %v", err)
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	got := readPayloads(t, crashed)
	if len(got) != 5 || got[string(payload(5))] != 0 {
		t.Fatalf("a crash after the failed sync leaves %d records (the refused one %d times), want the 5 before it", len(got), got[string(payload(5))])
	}
	for i := 6; i < 16; i++ {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatalf("an append after the failed sync: %v", err)
		}
	}
	if st := s.Stats(); st.Records != 15 {
		t.Fatalf("%d records after the failed sync, want 15", st.Records)
	}
	s.Close()
	got = readPayloads(t, dir)
	for i := range 16 {
		want := 1
		if i == 5 {
			want = 0
		}
		if got[string(payload(i))] != want {
			t.Fatalf("after restart, payload(%d) is stored %d times, want %d", i, got[string(payload(i))], want)
		}
	}
}
