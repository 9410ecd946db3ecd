package pebble

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestHeatFoldKeepsSums: folds (every second flushed operand of a list,
// here) racing appends, session deletions (whose subtractions merge into
// the lists directly) and flushes leave the aggregates equal to a store
// that got the same writes one by one; and folds did happen.
func TestHeatFoldKeepsSums(t *testing.T) {
	ctx := context.Background()
	s, _, plain := withPlain(t)
	t.Cleanup(func() { s.Close() })
	s.heatFolds.after = 2
	const site, sessions = int64(3_000_000_031), 240
	chunks := make([]store.Chunk, sessions)
	for n := range chunks {
		chunks[n] = chunk(t, site, n, 0, 20000+int32(n%10), n%7 == 0)
	}
	deleted := func(n int) bool { return n%3 == 0 }
	appended := make(chan int, sessions)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(appended)
		for n, c := range chunks {
			if _, err := s.Append(ctx, []store.Chunk{c}); err != nil {
				t.Error(err)
				return
			}
			appended <- n
		}
	})
	wg.Go(func() {
		for n := range appended {
			if deleted(n) {
				if err := s.DeleteSession(ctx, site, chunks[n].SessionID); err != nil {
					t.Error(err)
				}
			}
		}
	})
	folder := make(chan struct{})
	go func() {
		defer close(folder)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.flushHeat(); err != nil {
				t.Error(err)
			}
			if err := s.foldHeat(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-folder
	for n, c := range chunks {
		appendTo(t, []store.Chunk{c}, plain)
		if deleted(n) {
			if err := plain.DeleteSession(ctx, site, c.SessionID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// What is still due folds now, so the last folds are checked too.
	if err := s.flushHeat(); err != nil {
		t.Fatal(err)
	}
	if err := s.foldHeat(); err != nil {
		t.Fatal(err)
	}
	if got, want := heatDump(t, s, site), heatDump(t, plain, site); !reflect.DeepEqual(got, want) {
		t.Fatalf("with folds:\n got %v\nwant %v", got, want)
	}
	s.heatFolds.mu.Lock()
	folded := s.heatFolds.folded
	s.heatFolds.mu.Unlock()
	if folded == 0 {
		t.Fatal("no list was folded")
	}
	t.Logf("%d folds", folded)
}

// TestReadFoldsMergedLists: a read of lists that have operands pending
// (which flushes, told to fold late here, leave) makes them due, and the
// flusher folds them; the sums stay, and a read after the folds makes
// nothing due.
func TestReadFoldsMergedLists(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	s.heatFolds.after = 1 << 30
	const site = int64(3_000_000_041)
	for n := range 4 {
		if _, err := s.Append(ctx, []store.Chunk{chunk(t, site, n, 0, 20000, false)}); err != nil {
			t.Fatal(err)
		}
		if err := s.flushHeat(); err != nil {
			t.Fatal(err)
		}
	}
	state := func() (pending, folded, due int) {
		s.heatFolds.mu.Lock()
		defer s.heatFolds.mu.Unlock()
		for k, c := range s.heatFolds.lists {
			// All days are read, so from week rows (their days' rows
			// stay unread, their operands pending).
			if c.ops >= 2 && k[heatGroupLen-1]&weekFlag != 0 {
				pending++
			}
		}
		for _, keys := range s.heatFolds.due {
			due += len(keys)
		}
		return pending, s.heatFolds.folded, due
	}
	pending, folded, _ := state()
	if pending == 0 || folded != 0 {
		t.Fatalf("before the read: %d week lists with operands pending, %d folds", pending, folded)
	}
	want := heatDump(t, s, site)
	deadline := time.Now().Add(10 * time.Second)
	for _, folded, _ = state(); folded < pending; _, folded, _ = state() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d lists the read merged were folded", folded, pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := heatDump(t, s, site); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the folds:\n got %v\nwant %v", got, want)
	}
	if p, f, due := state(); p != 0 || f != pending || due != 0 {
		t.Fatalf("after a read of the folded lists: %d week lists pending, %d folds (want %d), %d due", p, f, pending, due)
	}
}
