package pebble

import (
	"context"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
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
			if c.ops >= 1 && k[heatGroupLen-1]&weekFlag != 0 {
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
	// The day row where the read switched to week rows folds too: landing
	// on it merged it.
	if p, f, due := state(); p != 0 || f < pending || due != 0 {
		t.Fatalf("after a read of the folded lists: %d week lists pending, %d folds (want %d or more), %d due", p, f, pending, due)
	}
}

// foldState answers how many lists are due and how many folds there were.
func foldState(s *Store) (due, folded int) {
	s.heatFolds.mu.Lock()
	defer s.heatFolds.mu.Unlock()
	for _, keys := range s.heatFolds.due {
		due += len(keys)
	}
	return due, s.heatFolds.folded
}

// stopFlusher stops s's flusher, so that flushes and folds happen when the
// test calls them, and only then (Close then flushes nothing).
func stopFlusher(s *Store) {
	q := &s.heatq
	close(q.stop)
	<-q.done
	q.stop = nil
}

// TestReadFoldsOneOperand: a folded list that took one more operand holds
// two values, which every read merged: the read makes it due. So do lists
// this process has not counted (written before it opened), folded once;
// the sums stay, and a read after the folds merges no list and makes
// nothing due.
func TestReadFoldsOneOperand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	stopFlusher(s)
	const site = int64(3_000_000_042)
	step := func(n int) {
		t.Helper()
		// Folds come from reads only, run here rather than by the flusher.
		s.heatFolds.after = 1 << 30
		if _, err := s.Append(ctx, []store.Chunk{chunk(t, site, n, 0, 20000, false)}); err != nil {
			t.Fatal(err)
		}
		if err := s.flushHeat(); err != nil {
			t.Fatal(err)
		}
	}
	// readFolds reads the site's map and folds what the read made due.
	readFolds := func(what string) {
		t.Helper()
		want := heatDump(t, s, site)
		due, before := foldState(s)
		if err := s.foldHeat(); err != nil {
			t.Fatal(err)
		}
		if _, after := foldState(s); after-before != due {
			t.Fatalf("%s: %d lists due, %d folded", what, due, after-before)
		}
		// Nothing compacts here (the memtable never fills): every merge is
		// a read's.
		merges := s.listMerges.Load()
		if got := heatDump(t, s, site); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: after the folds\n got %v\nwant %v", what, got, want)
		}
		if n := s.listMerges.Load() - merges; n != 0 {
			t.Fatalf("%s: a read after the folds merged %d lists", what, n)
		}
		if due, _ := foldState(s); due != 0 {
			t.Fatalf("%s: a read of folded lists made %d due", what, due)
		}
	}
	step(0)
	_, f0 := foldState(s)
	readFolds("first operands")
	_, f1 := foldState(s)
	if f1 == f0 {
		t.Fatal("a read of lists holding one operand each folded none")
	}
	step(1) // one operand on each folded list
	readFolds("one operand on a fold")
	_, f2 := foldState(s)
	if f2 == f1 {
		t.Fatal("a read of folded lists holding one more operand folded none")
	}
	step(2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{Logger: quiet{}}); err != nil {
		t.Fatal(err)
	}
	stopFlusher(s)
	_, f3 := foldState(s)
	readFolds("written before the store opened")
	if _, f4 := foldState(s); f4 == f3 {
		t.Fatal("a read of lists written before the store opened folded none")
	}
	// A map of one kind, read again once its lists are folded, merges
	// none of the other kinds' lists (each holding an operand now).
	step(3)
	clicks := func() {
		t.Helper()
		q := store.HeatQuery{SiteID: site, Pages: []string{"https://shop.example.com/"}, FromDay: math.MinInt32, ToDay: math.MaxInt32, Kinds: []heatmap.Kind{heatmap.Click}}
		if err := s.Heat(ctx, q, func(heatmap.Kind, string, heatmap.Vec) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	clicks()
	if err := s.foldHeat(); err != nil {
		t.Fatal(err)
	}
	merges := s.listMerges.Load()
	clicks()
	if n := s.listMerges.Load() - merges; n != 0 {
		t.Fatalf("a click map read after its folds merged %d lists", n)
	}
}
