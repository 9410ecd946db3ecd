package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// running runs r until the test ends.
func running(t *testing.T, r *Relay) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ctx
}

// runHeld runs r (running) with its window waits the test's (Loop.after):
// each wait r asks for arrives on waits, and ends when the test sends on
// release. A wait left held is let go before the relay is stopped.
func runHeld(t *testing.T, r *Relay) (waits <-chan time.Duration, release chan<- time.Time) {
	w, rel := make(chan time.Duration), make(chan time.Time)
	stop := make(chan struct{})
	r.after = func(d time.Duration) <-chan time.Time {
		select {
		case w <- d:
		case <-stop:
		}
		return rel
	}
	running(t, r)
	t.Cleanup(func() { close(stop) }) // cleanups run last first: before running's
	return w, rel
}

// until waits (10 s at most) for cond, checked under sr's lock.
func until(t *testing.T, sr *search, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		sr.mu.Lock()
		ok := cond()
		sr.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			sr.mu.Lock()
			defer sr.mu.Unlock()
			t.Fatalf("%s: not within 10 s; search saw %q", what, sr.log)
		}
	}
}

func upsertCalls(log []string) int {
	n := 0
	for _, l := range log {
		if strings.HasPrefix(l, "upsert") {
			n++
		}
	}
	return n
}

// TestWindowCoalescesInOrder: with a window, the first summary after an
// idle window goes at once; the 27 writes (three sessions, one deleted
// half-way) made while the relay waits out the window reach search as
// two upsert calls around the deletion, each session once per run at its
// latest version, and the outbox is empty after. The window is held and
// released by the test (Loop.after), so what the relay sent while it
// waited is known, not raced.
func TestWindowCoalescesInOrder(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Window, r.Poll = time.Hour, time.Hour // only Notify and the window move it
	waits, release := runHeld(t, r)

	ctx := context.Background()
	now := time.Now().UnixMilli()
	a := &storetest.Builder{Site: 3_000_000_001, Session: "s_aaaaaaaaaaaa", Visitor: "v_aaaaaaaaaaaa", ServerMs: now}
	b := &storetest.Builder{Site: 3_000_000_001, Session: "s_bbbbbbbbbbbb", Visitor: "v_bbbbbbbbbbbb", ServerMs: now}
	c := &storetest.Builder{Site: 3_000_000_001, Session: "s_cccccccccccc", Visitor: "v_cccccccccccc", ServerMs: now}
	write := func(cs ...store.Chunk) {
		t.Helper()
		for _, ch := range cs {
			if _, err := st.Append(ctx, []store.Chunk{ch}); err != nil {
				t.Fatal(err)
			}
			r.Notify()
		}
	}
	write(a.Chunk(t, 0, 100))
	until(t, sr, "the first summary, at once", func() bool { return len(sr.log) == 1 })

	writes := 0
	for i := int64(1); i <= 9; i++ {
		write(a.Chunk(t, i, 100), b.Chunk(t, i-1, 100))
		writes += 2
		if i <= 5 {
			write(c.Chunk(t, i-1, 100))
			writes++
		}
	}
	if err := st.DeleteSession(ctx, c.Site, c.Session); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	write(a.Chunk(t, 10, 100), b.Chunk(t, 9, 100))
	writes += 3 // and the deletion

	// The relay is in the window now (it was woken after the first
	// delivery) and sent nothing more.
	select {
	case d := <-waits:
		if d <= 0 || d > time.Hour {
			t.Fatalf("window wait %v, want within (0, 1h]", d)
		}
	case <-time.After(10 * time.Second):
		sr.mu.Lock()
		defer sr.mu.Unlock()
		t.Fatalf("the relay did not wait out a window; search saw %q", sr.log)
	}
	sr.mu.Lock()
	if len(sr.log) != 1 {
		t.Fatalf("sent during the window: %q", sr.log)
	}
	sr.mu.Unlock()
	release <- time.Now()
	until(t, sr, "the window's writes", func() bool { return len(sr.log) == 4 })
	// The store lists each upsert with its session's summary as read
	// (Pebble's rows): c's are gone by then, a's and b's are their last.
	want := []string{
		"upsert s_aaaaaaaaaaaa@1",
		"upsert s_aaaaaaaaaaaa@11 s_bbbbbbbbbbbb@10",
		"delete [s_cccccccccccc]",
		"upsert s_aaaaaaaaaaaa@11 s_bbbbbbbbbbbb@10",
	}
	sr.mu.Lock()
	got := fmt.Sprint(sr.log)
	sr.mu.Unlock()
	if got != fmt.Sprint(want) {
		t.Fatalf("search saw %s, want %q", got, want)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if d, err := st.OutboxDepth(ctx); err == nil && d == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d (%v) after delivery", d, err)
		}
	}
	t.Logf("%d changes in the window: 2 upsert calls and 1 deletion (without a window: up to one call each)", writes)
}

// TestWindowLosesNothing: four writers append to 12 sessions while the
// relay runs with a short window; when they are done, search has seen
// every session at its last version, took them in fewer calls than there
// were writes, and the outbox is empty.
func TestWindowLosesNothing(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Window, r.Batch = 20*time.Millisecond, 25
	running(t, r)

	ctx := context.Background()
	now := time.Now().UnixMilli()
	const writers, perWriter, chunks = 4, 3, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var bs []*storetest.Builder
			for i := range perWriter {
				id := fmt.Sprintf("s_%02d%02d00000000", w, i)
				bs = append(bs, &storetest.Builder{Site: 3_000_000_001, Session: id, Visitor: "v_aaaaaaaaaaaa", ServerMs: now})
			}
			for seq := range int64(chunks) {
				for _, b := range bs {
					if _, err := st.Append(ctx, []store.Chunk{b.Chunk(t, seq, 100)}); err != nil {
						errs <- err
						return
					}
					r.Notify()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	latest := func() map[string]int64 {
		m := map[string]int64{}
		for _, l := range sr.log {
			for _, f := range strings.Fields(strings.TrimPrefix(l, "upsert")) {
				id, v, _ := strings.Cut(f, "@")
				n, _ := strconv.ParseInt(v, 10, 64)
				m[id] = max(m[id], n)
			}
		}
		return m
	}
	until(t, sr, "every session at its last version", func() bool {
		m := latest()
		if len(m) != writers*perWriter {
			return false
		}
		for _, v := range m {
			if v != chunks {
				return false
			}
		}
		return true
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if d, err := st.OutboxDepth(ctx); err == nil && d == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d (%v) after delivery", d, err)
		}
	}
	sr.mu.Lock()
	calls := upsertCalls(sr.log)
	sr.mu.Unlock()
	if writes := writers * perWriter * chunks; calls >= writes {
		t.Fatalf("%d upsert calls for %d writes: nothing coalesced", calls, writes)
	}
	t.Logf("%d writes, %d upsert calls", writers*perWriter*chunks, calls)
}

// TestStretch: the window doubles after a busy delivery that coalesced to
// half or fewer, up to MaxWindow and only while twice the entries fit one
// read; it halves, down to Window, after one that coalesced little or was
// small; it holds in between; and it never moves when MaxWindow is not
// above Window.
func TestStretch(t *testing.T) {
	const s = time.Second
	l := Loop{Window: s, MaxWindow: 4 * s}
	for _, c := range []struct {
		cur            time.Duration
		entries, items int
		batch          int
		want           time.Duration
	}{
		{s, 1650, 600, 8000, 2 * s},     // busy, coalesced to 36 %: doubles
		{2 * s, 3300, 600, 8000, 4 * s}, // again
		{4 * s, 6600, 600, 8000, 4 * s}, // at MaxWindow
		{2 * s, 4000, 600, 8000, 2 * s}, // twice 4,000 would not fit one read
		{2 * s, 100, 50, 8000, 4 * s},   // busyEntries, half: doubles
		{2 * s, 99, 10, 8000, s},        // few entries: halves
		{4 * s, 99, 10, 8000, 2 * s},    // halves, not straight back
		{2 * s, 1000, 760, 8000, s},     // coalesced under a quarter: halves
		{2 * s, 1000, 750, 8000, 2 * s}, // between: holds
		{2 * s, 1000, 501, 8000, 2 * s}, // between: holds
		{s, 50, 50, 8000, s},            // never under Window
		{3 * s, 6000, 100, 8000, 3 * s}, // a full-ish read holds
		{s, 1650, 600, 3300, s},         // 3,300 entries would fill a read of 3,300
		{s, 1650, 600, 3301, 2 * s},     // and fit one of 3,301
	} {
		if got := l.stretch(c.cur, delivery{c.entries, c.items}, c.batch); got != c.want {
			t.Errorf("stretch(%v, %d entries as %d items, batch %d) = %v, want %v", c.cur, c.entries, c.items, c.batch, got, c.want)
		}
	}
	for _, max := range []time.Duration{0, s / 2, s} {
		l := Loop{Window: s, MaxWindow: max}
		if got := l.stretch(s, delivery{5000, 10}, 80000); got != s {
			t.Errorf("MaxWindow %v: stretch = %v, want the window, %v", max, got, s)
		}
	}
}

// TestWindowStretchesUnderLoad runs a relay whose windows the test holds
// and releases (Loop.after), so it reads each wait the relay asks for:
// windows of 200 summaries of 10 sessions stretch the next wait from 1 to
// 2 to 4 minutes and no further (MaxWindow); a window of 5 summaries of 5
// sessions brings it back to 2. Every summary reaches search at its last
// version, each busy window's sessions in one call.
func TestWindowStretchesUnderLoad(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Window, r.MaxWindow, r.Poll = time.Minute, 4*time.Minute, time.Hour
	waits, release := runHeld(t, r)

	ctx := context.Background()
	now := time.Now().UnixMilli()
	var bs []*storetest.Builder
	seqs := map[string]int64{}
	for i := range 10 {
		id := fmt.Sprintf("s_%012d", i)
		bs = append(bs, &storetest.Builder{Site: 3_000_000_001, Session: id, Visitor: "v_aaaaaaaaaaaa", ServerMs: now})
	}
	write := func(sessions, each int) {
		t.Helper()
		for range each {
			for _, b := range bs[:sessions] {
				if _, err := st.Append(ctx, []store.Chunk{b.Chunk(t, seqs[b.Session], 100)}); err != nil {
					t.Fatal(err)
				}
				seqs[b.Session]++
				r.Notify()
			}
		}
	}
	calls := 1
	write(1, 1)
	until(t, sr, "the first summary, at once", func() bool { return len(sr.log) == calls })
	for i, w := range []struct {
		sessions, each int
		prev, window   time.Duration // the wait is within (prev, window]
	}{
		{10, 20, 0, time.Minute},
		{10, 20, time.Minute, 2 * time.Minute},
		{10, 20, 2 * time.Minute, 4 * time.Minute},
		{5, 1, 2 * time.Minute, 4 * time.Minute},
		{1, 1, time.Minute, 2 * time.Minute},
	} {
		write(w.sessions, w.each)
		select {
		case d := <-waits:
			if d <= w.prev || d > w.window {
				t.Fatalf("window %d: the relay waited %v, want within (%v, %v]", i, d, w.prev, w.window)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("window %d: the relay did not wait", i)
		}
		release <- time.Now()
		calls++
		until(t, sr, fmt.Sprintf("window %d's summaries", i), func() bool { return len(sr.log) == calls })
		sr.mu.Lock()
		last := sr.log[len(sr.log)-1]
		sr.mu.Unlock()
		if got := len(strings.Fields(last)) - 1; got != w.sessions {
			t.Fatalf("window %d sent %q, want its %d sessions once each", i, last, w.sessions)
		}
		for _, b := range bs[:w.sessions] {
			// Chunk seq n makes version n+1 (the first, 1).
			if want := fmt.Sprintf(" %s@%d", b.Session, seqs[b.Session]); !strings.Contains(last+" ", want+" ") {
				t.Fatalf("window %d sent %q, want %s at its last version", i, last, want)
			}
		}
	}
}
