package pebble

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestRowCacheMatchesRereading runs one random sequence of every writer of
// session rows — appends (duplicates, gaps, late chunks, several sessions
// in a call), survey answers, ending idle sessions, deleting a session or
// a visitor, a deleted session's id coming back — against a store with
// its row cache and one whose cache is emptied before each step (every
// append reads its row back, as before the cache), and compares every
// session's row after each step. A writer that left a cached row stale
// would make the next append build on it, and the two stores part.
func TestRowCacheMatchesRereading(t *testing.T) {
	// Tombstones of a millisecond: a deleted session's id comes back as
	// a new session, which a stale cached row would carry on from.
	cached, reread := openWith(t, Options{TombstoneTTL: time.Millisecond}), openWith(t, Options{TombstoneTTL: time.Millisecond})
	ctx := context.Background()
	const site = int64(3_000_000_021)
	t0 := time.Now().Add(-3 * time.Hour).UnixMilli()
	rng := rand.New(rand.NewPCG(21, 1))
	sessions := []string{"s_rc_a", "s_rc_b", "s_rc_c", "s_rc_d"}
	visitor := func(sess string) string { return fmt.Sprintf("v_rc_%d", sess[len(sess)-1]%2) } // two visitors
	nextSeq := map[string]int64{}
	answers := 0
	both := func(what string, op func(s *Store) error) {
		t.Helper()
		reread.rows = rowCache{}
		errA, errB := op(cached), op(reread)
		// Deleting a session already gone is an error (not found),
		// the same for both.
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("%s: with the cache %v, without %v", what, errA, errB)
		}
		if errA != nil && !errors.Is(errA, store.ErrNotFound) {
			t.Fatalf("%s: %v", what, errA)
		}
	}
	for step := range 300 {
		var what string
		switch r := rng.IntN(20); {
		case r < 13: // an append of 1–3 sessions' chunks
			var chunks []store.Chunk
			for _, sess := range sessions {
				if rng.IntN(2) == 0 {
					continue
				}
				b := &storetest.Builder{Site: site, Session: sess, Visitor: visitor(sess), ServerMs: t0 + int64(step)*1000}
				for range 1 + rng.IntN(2) {
					seq := nextSeq[sess]
					switch rng.IntN(6) {
					case 0: // a duplicate or a late earlier chunk
						seq = rng.Int64N(seq + 1)
					case 1: // a gap
						seq += 2
					}
					nextSeq[sess] = max(nextSeq[sess], seq+1)
					chunks = append(chunks, b.Chunk(t, seq, 200+rng.IntN(400)))
				}
			}
			what = fmt.Sprintf("step %d: append %d chunks", step, len(chunks))
			both(what, func(s *Store) error { _, err := s.Append(ctx, chunks); return err })
		case r < 15:
			sess := sessions[rng.IntN(len(sessions))]
			answers++
			a := storetest.Answer(site, sess, visitor(sess), fmt.Sprintf("a_rc_%019d", answers), 7, int32(1+rng.IntN(5)), -1, t0+int64(step)*1000)
			what = fmt.Sprintf("step %d: answer of %s", step, sess)
			both(what, func(s *Store) error { _, err := s.AppendAnswers(ctx, []store.Answer{a}); return err })
		case r < 17:
			what = fmt.Sprintf("step %d: end idle sessions", step)
			cut := time.UnixMilli(t0 + int64(step)*1000 + 3*time.Hour.Milliseconds())
			both(what, func(s *Store) error { _, _, err := s.EndIdleSessions(ctx, cut, 10); return err })
		case r < 19:
			sess := sessions[rng.IntN(len(sessions))]
			what = fmt.Sprintf("step %d: delete %s", step, sess)
			both(what, func(s *Store) error { return s.DeleteSession(ctx, site, sess) })
			time.Sleep(2 * time.Millisecond) // past both stores' tombstones
		default:
			v := visitor(sessions[rng.IntN(len(sessions))])
			what = fmt.Sprintf("step %d: delete visitor %s", step, v)
			both(what, func(s *Store) error { _, err := s.DeleteVisitor(ctx, site, v); return err })
			time.Sleep(2 * time.Millisecond)
		}
		for _, sess := range sessions {
			a, errA := cached.loadRow(site, sess)
			b, errB := reread.loadRow(site, sess)
			if errA != nil || errB != nil {
				t.Fatalf("%s: rows of %s: %v, %v", what, sess, errA, errB)
			}
			if (a == nil) != (b == nil) {
				t.Fatalf("%s: %s has a row with the cache: %v, without: %v", what, sess, a != nil, b != nil)
			}
			if a == nil {
				continue
			}
			// When it was created and ended is each store's own clock.
			if (a.EndedMs > 0) != (b.EndedMs > 0) {
				t.Fatalf("%s: %s ended with the cache: %v, without: %v", what, sess, a.EndedMs > 0, b.EndedMs > 0)
			}
			a.CreatedMs, b.CreatedMs, a.EndedMs, b.EndedMs = 0, 0, 0, 0
			if !reflect.DeepEqual(a, b) {
				ja, _ := encodeRow(a)
				jb, _ := encodeRow(b)
				t.Fatalf("%s: %s's row with the cache differs from rereading:\ncached %s\nreread %s", what, sess, ja, jb)
			}
		}
	}
	if cached.rows.hits.Load() == 0 {
		t.Fatal("no append found its row in the cache")
	}
	if reread.rows.hits.Load() != 0 {
		t.Fatalf("the store emptied before each step hit its cache %d times", reread.rows.hits.Load())
	}
	n := 0
	for _, st := range cached.rows.stripes {
		n += len(st.rows)
	}
	t.Logf("row cache: %d hits, %d misses; %d rows of %d bytes on average", cached.rows.hits.Load(), cached.rows.misses.Load(), n, cached.rows.bytes.Load()/int64(max(n, 1)))
}

// TestRowCacheAfterFailedAppend fails an append's write after it built
// its session's new row (in place, on the row it took from the cache), and
// the session goes on without that chunk: the next append must build on
// the row as stored, not on the one the failed attempt changed, so the
// session ends as on a store that never saw the failed chunk. (A retry of
// the same chunk would not show it: a chunk at or below the row's last
// sequence number makes the fold start over from the stored stats.)
func TestRowCacheAfterFailedAppend(t *testing.T) {
	s, ref := open(t, store.Limits{}), open(t, store.Limits{})
	ctx := context.Background()
	const site = int64(3_000_000_022)
	b := &storetest.Builder{Site: site, Session: "s_rc_failed", Visitor: "v_rc", ServerMs: time.Now().Add(-time.Hour).UnixMilli()}
	first, failed, next := b.Chunk(t, 0, 300), b.Chunk(t, 1, 300), b.Chunk(t, 2, 300)
	for _, st := range []*Store{s, ref} {
		if _, err := st.Append(ctx, []store.Chunk{first}); err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("disk refused the write")
	failOn(s, "append", refused)
	if _, err := s.Append(ctx, []store.Chunk{failed}); !errors.Is(err, refused) {
		t.Fatalf("the failed append answered %v", err)
	}
	failOn(s, "", nil)
	for _, st := range []*Store{s, ref} {
		if _, err := st.Append(ctx, []store.Chunk{next}); err != nil {
			t.Fatal(err)
		}
	}
	got, err1 := s.loadRow(site, b.Session)
	want, err2 := ref.loadRow(site, b.Session)
	if err1 != nil || err2 != nil || got == nil || want == nil {
		t.Fatalf("rows: %v %v", err1, err2)
	}
	got.CreatedMs, want.CreatedMs = 0, 0
	if !reflect.DeepEqual(got, want) {
		g, _ := encodeRow(got)
		w, _ := encodeRow(want)
		t.Fatalf("after a failed append the row is\n%s\nwhere the chunk never came\n%s", g, w)
	}
	if got.State.Chunks != 2 {
		t.Fatalf("the session counts %d chunks, want 2", got.State.Chunks)
	}
}

// TestRowCacheBound keeps, takes and drops rows of random sizes in random
// stripes and checks after each step that the cache's count of bytes is
// the sum of what it holds and never passes rowCacheBytes; that a row
// above a stripe's share of the bound (a long session's) is kept when
// there is room; and that one above maxCachedRow never is.
func TestRowCacheBound(t *testing.T) {
	var c rowCache
	rng := rand.New(rand.NewPCG(22, 1))
	held := func() (n int, sum int64) {
		for i := range c.stripes {
			var own int64
			for _, r := range c.stripes[i].rows {
				n, own = n+1, own+int64(r.size)
			}
			if own != c.stripes[i].bytes {
				t.Fatalf("stripe %d counts %d bytes, holds %d", i, c.stripes[i].bytes, own)
			}
			sum += own
		}
		return n, sum
	}
	key := func(k int) []byte { return []byte(fmt.Sprintf("session-%03d", k)) }
	big := rowCacheBytes/stripes + 1 // above a stripe's share
	c.keep(3, key(0), &sessionRow{}, big)
	if c.take(3, key(0)) == nil {
		t.Fatalf("a row of %d bytes (above a stripe's share, below the bound) was not kept", big)
	}
	c.keep(3, key(0), &sessionRow{}, maxCachedRow+1)
	if c.take(3, key(0)) != nil {
		t.Fatal("a row above maxCachedRow was kept")
	}
	full := false
	for step := range 20000 {
		k := rng.IntN(400)
		i := k % stripes
		switch r := rng.IntN(10); {
		case r < 6:
			size := 1 + rng.IntN(300<<10)
			c.keep(i, key(k), &sessionRow{}, size)
		case r < 8:
			c.take(i, key(k))
		default:
			c.drop(i, key(k))
		}
		n, sum := held()
		if got := c.bytes.Load(); got != sum {
			t.Fatalf("step %d: the cache counts %d bytes, holds %d in %d rows", step, got, sum, n)
		}
		if sum > rowCacheBytes {
			t.Fatalf("step %d: the cache holds %d bytes, above its bound %d", step, sum, rowCacheBytes)
		}
		full = full || sum > rowCacheBytes-(300<<10)
	}
	if !full {
		t.Fatal("the random steps never filled the cache: the bound was not exercised")
	}
}

// TestRowCacheKeepsRowsItCannotMakeRoomWith: when the other stripes hold
// so much that dropping every row of a stripe would not make room for a
// long session's row, the row is not kept and the stripe keeps its rows
// (their sessions' next appends would read them back for nothing).
func TestRowCacheKeepsRowsItCannotMakeRoomWith(t *testing.T) {
	var c rowCache
	key := func(k int) []byte { return []byte(fmt.Sprintf("session-%03d", k)) }
	// Stripe 1 holds all but 100 KB of the bound, stripe 0 ten rows of 10 KB.
	const other = rowCacheBytes - 100<<10
	for k := range 8 {
		c.keep(1, key(100+k), &sessionRow{}, other/8)
	}
	for k := range 10 {
		c.keep(0, key(k), &sessionRow{}, 10<<10)
	}
	if got := c.bytes.Load(); got != other+100<<10 {
		t.Fatalf("the cache holds %d bytes, want %d", got, other+100<<10)
	}
	// 300 KB: freeing stripe 0's 100 KB leaves it 200 KB short.
	c.keep(0, key(50), &sessionRow{}, 300<<10)
	if c.take(0, key(50)) != nil {
		t.Fatal("a row with no room for it was kept")
	}
	for k := range 10 {
		if _, ok := c.stripes[0].rows[string(key(k))]; !ok {
			t.Fatalf("row %d of the stripe went for a row that could not be kept", k)
		}
	}
	// A row the stripe can make room for (50 KB of its 100) is kept, at
	// the price of some of its rows.
	c.keep(0, key(51), &sessionRow{}, 50<<10)
	if c.take(0, key(51)) == nil {
		t.Fatal("a row the stripe could make room for was not kept")
	}
	if n := len(c.stripes[0].rows); n > 5 {
		t.Fatalf("the stripe kept %d of its 10 rows of 10 KB beside a 50 KB row in a full cache", n)
	}
}
