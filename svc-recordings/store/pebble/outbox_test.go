package pebble

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// obKind drives one of the three outboxes through the store's own write,
// pending and ack paths; entries are told apart by their site.
type obKind struct {
	name   string
	prefix byte
	write  func(s *Store, b *pebble.Batch, site int64) error
	// pending returns the sites of up to limit entries and acks them.
	pending func(s *Store, limit int) (sites []int64, ack func() error, err error)
	// depth counts the pending entries (nil: the outbox has no gauge).
	depth func(s *Store) (int64, error)
}

var obKinds = []obKind{
	{
		name: "sessions", prefix: pOutbox,
		write: func(s *Store, b *pebble.Batch, site int64) error {
			return s.outbox(b, store.OutboxEntry{Kind: store.OutboxDeleteSessions, SiteID: site, SessionIDs: []string{"s"}})
		},
		pending: func(s *Store, limit int) ([]int64, func() error, error) {
			es, err := s.OutboxPending(context.Background(), limit)
			return outboxSites(es), func() error { return s.OutboxAck(context.Background(), es) }, err
		},
		depth: func(s *Store) (int64, error) { return s.OutboxDepth(context.Background()) },
	},
	{
		name: "answers", prefix: pAnswerOutbox,
		write: func(s *Store, b *pebble.Batch, site int64) error {
			return s.answerOutbox(b, answerOutbox{Kind: store.OutboxDeleteAnswers, SiteID: site, IDs: []string{"a"}})
		},
		pending: func(s *Store, limit int) ([]int64, func() error, error) {
			es, err := s.AnswerOutboxPending(context.Background(), limit)
			return outboxSites(es), func() error { return s.AnswerOutboxAck(context.Background(), es) }, err
		},
	},
	{
		name: "notify", prefix: pNotify,
		write: func(s *Store, b *pebble.Batch, site int64) error {
			return s.notifyOutbox(b, store.NotifyEntry{Type: store.EventSessionEnded, SiteID: site, SessionID: "s", TimeMs: 1})
		},
		pending: func(s *Store, limit int) ([]int64, func() error, error) {
			es, err := s.NotifyOutboxPending(context.Background(), limit)
			var sites []int64
			for _, e := range es {
				sites = append(sites, e.SiteID)
			}
			return sites, func() error { return s.NotifyOutboxAck(context.Background(), es) }, err
		},
		depth: func(s *Store) (int64, error) { return s.NotifyOutboxDepth(context.Background()) },
	},
}

func outboxSites(es []store.OutboxEntry) []int64 {
	var sites []int64
	for _, e := range es {
		sites = append(sites, e.SiteID)
	}
	return sites
}

// writeOutbox commits one batch holding entries for sites.
func writeOutbox(t testing.TB, s *Store, k obKind, sites ...int64) {
	t.Helper()
	b, done := s.newOutboxBatch()
	defer done()
	for _, site := range sites {
		if err := k.write(s, b, site); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
}

// internalSteps is how many internal entries (tombstones included) an
// iterator stepped over or sought to.
func internalSteps(st pebble.IteratorStats) int {
	return st.ForwardStepCount[pebble.InternalIterCall] + st.ForwardSeekCount[pebble.InternalIterCall]
}

// TestOutboxScanSkipsAcked: draining an outbox of n entries limit at a
// time, each scan steps over about the entries it returns plus the
// tombstones of the last batch acked — not over every tombstone since the
// start, which a scan from the prefix still meets (the reference below).
func TestOutboxScanSkipsAcked(t *testing.T) {
	const n, limit = 3000, 100
	for _, k := range obKinds {
		t.Run(k.name, func(t *testing.T) {
			s := open(t, store.Limits{})
			var steps []int
			depthSteps := -1 // ≥ 0 while a depth is counted
			s.floors.onScan = func(p byte, st pebble.IteratorStats) {
				switch {
				case p != k.prefix:
				case depthSteps >= 0:
					depthSteps = internalSteps(st)
				default:
					steps = append(steps, internalSteps(st))
				}
			}
			for i := range n / limit {
				sites := make([]int64, limit)
				for j := range sites {
					sites[j] = int64(i*limit + j + 1)
				}
				writeOutbox(t, s, k, sites...)
			}
			next := int64(1)
			for {
				sites, ack, err := k.pending(s, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(sites) == 0 {
					break
				}
				for _, site := range sites {
					if site != next {
						t.Fatalf("entry of site %d, want %d", site, next)
					}
					next++
				}
				if err := ack(); err != nil {
					t.Fatal(err)
				}
				// The gauge counts from the floor too, exactly.
				// It steps over the pending entries and the tombstones of
				// the last batch acked, not over every one acked before.
				if k.depth != nil {
					depthSteps = 0
					d, err := k.depth(s)
					if err != nil {
						t.Fatal(err)
					}
					if want := int64(n) - (next - 1); d != want {
						t.Fatalf("depth %d after %d acked, want %d", d, next-1, want)
					}
					if depthSteps > int(d)+2*limit+4 {
						t.Fatalf("counting a depth of %d stepped %d times", d, depthSteps)
					}
					depthSteps = -1
				}
			}
			if next != n+1 {
				t.Fatalf("drained %d entries, want %d", next-1, n)
			}
			// A scan returns limit entries and may pass the limit acked
			// just before, each a tombstone over its entry (both still in
			// the memtable): about 3×limit steps, whatever n.
			for i, st := range steps {
				if st > 3*limit+4 {
					t.Fatalf("scan %d stepped %d times (limit %d): %v", i, st, limit, steps)
				}
			}
			if last := steps[len(steps)-1]; last > 2*limit+4 {
				t.Fatalf("the scan of the empty outbox stepped %d times", last)
			}
			// Reference: the tombstones are still there for a scan from
			// the prefix to walk.
			it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{k.prefix}, UpperBound: []byte{k.prefix + 1}})
			if err != nil {
				t.Fatal(err)
			}
			if it.First() {
				t.Fatal("an entry is left")
			}
			ref := internalSteps(it.Stats())
			it.Close()
			if ref < n {
				t.Fatalf("a scan from the prefix stepped %d times, want ≥ %d (tombstones gone: the test proves nothing)", ref, n)
			}
			t.Logf("%s: %d entries drained %d at a time; scans stepped ≤ %d times each, the last %d; from the prefix: %d",
				k.name, n, limit, maxOf(steps), steps[len(steps)-1], ref)
		})
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// TestOutboxFloorWaitsForOpenBatch: an entry whose key was taken before
// another's but committed after it (a batch still being written while a
// later one commits) is still delivered once the earlier ones are acked.
func TestOutboxFloorWaitsForOpenBatch(t *testing.T) {
	for _, k := range obKinds {
		t.Run(k.name, func(t *testing.T) {
			s := open(t, store.Limits{})
			writeOutbox(t, s, k, 1)
			slow, done := s.newOutboxBatch()
			defer done()
			if err := k.write(s, slow, 2); err != nil { // key taken, not committed
				t.Fatal(err)
			}
			writeOutbox(t, s, k, 3)
			sites, ack, err := k.pending(s, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != 2 || sites[0] != 1 || sites[1] != 3 {
				t.Fatalf("pending %v, want [1 3]", sites)
			}
			if err := ack(); err != nil {
				t.Fatal(err)
			}
			if sites, _, err := k.pending(s, 10); err != nil || len(sites) != 0 {
				t.Fatalf("pending %v, %v; want none", sites, err)
			}
			if err := slow.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			sites, _, err = k.pending(s, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != 1 || sites[0] != 2 {
				t.Fatalf("after the slow batch committed: pending %v, want [2]", sites)
			}
		})
	}
}

// TestOutboxConcurrentDrain: writers commit batches of entries (holding
// some open while others commit) while a reader drains and acks the three
// outboxes; every entry is delivered exactly once.
func TestOutboxConcurrentDrain(t *testing.T) {
	const writers, batches, per = 6, 150, 3
	s := open(t, store.Limits{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				err := func() error {
					b, done := s.newOutboxBatch()
					defer done()
					for j := range per {
						site := int64((w*batches+i)*per + j + 1)
						for _, k := range obKinds {
							if err := k.write(s, b, site); err != nil {
								return err
							}
						}
						if j == 0 && i%3 == 0 {
							// Keep the batch open while other writers commit
							// and the reader acks theirs.
							for range 20 {
								if _, _, err := obKinds[i%3].pending(s, 1); err != nil {
									return err
								}
							}
						}
					}
					return b.Commit(pebble.NoSync)
				}()
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()

	const total = writers * batches * per
	seen := make([]map[int64]int, len(obKinds))
	for i := range seen {
		seen[i] = map[int64]int{}
	}
	drain := func() (int, error) {
		got := 0
		for i, k := range obKinds {
			sites, ack, err := k.pending(s, 7)
			if err != nil {
				return 0, err
			}
			for _, site := range sites {
				seen[i][site]++
			}
			got += len(sites)
			if err := ack(); err != nil {
				return 0, err
			}
		}
		return got, nil
	}
	for running := true; running; {
		select {
		case <-stop:
			running = false
		default:
		}
		if _, err := drain(); err != nil {
			t.Fatal(err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Writers are done: drain the rest.
	for {
		got, err := drain()
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			break
		}
	}
	for i, k := range obKinds {
		if len(seen[i]) != total {
			t.Errorf("%s: %d entries delivered, want %d", k.name, len(seen[i]), total)
		}
		for site, c := range seen[i] {
			if c != 1 {
				t.Errorf("%s: entry of site %d delivered %d times", k.name, site, c)
			}
		}
	}
}

// TestOutboxUpsertsReadTheRow: an upsert is stored as its session's name
// and listed with the session's current summary, read once per session
// and page; a session deleted since lists none (the relay skips it, its
// deletion follows); an entry written whole by an earlier version still
// lists its own summary.
func TestOutboxUpsertsReadTheRow(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.Limits{})
	a := &storetest.Builder{Site: 7, Session: "s_outboxrowa", Visitor: "v_a"}
	gone := &storetest.Builder{Site: 7, Session: "s_outboxrowgone", Visitor: "v_g"}
	for seq := range int64(3) {
		if _, err := s.Append(ctx, []store.Chunk{a.Chunk(t, seq, 200)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, []store.Chunk{gone.Chunk(t, 0, 200)}); err != nil {
		t.Fatal(err)
	}
	// An entry as the versions before wrote them: the summary itself.
	old := &sessionsv1.SessionSummary{SiteId: 8, SessionId: "s_older", Version: 4, ChunkCount: 9}
	pb, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := storedjson.Marshal(outboxValue{Kind: store.OutboxUpsert, SiteID: 8, Summary: pb, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	if err != nil {
		t.Fatal(err)
	}
	b, done := s.newOutboxBatch()
	if err := b.Set(s.outboxKey(b), raw, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	done()
	// What an upsert stores: no summary, the session's name.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pOutbox}, UpperBound: []byte{pOutbox + 1}})
	if err != nil {
		t.Fatal(err)
	}
	it.First()
	var first outboxValue
	if err := storedjson.Unmarshal(it.Value(), &first); err != nil || first.Summary != nil || first.Session != a.Session || first.Kind != store.OutboxUpsert {
		t.Fatalf("stored upsert %s (%v), want the session's name only", it.Value(), err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, gone.Site, gone.Session); err != nil {
		t.Fatal(err)
	}

	es, err := s.OutboxPending(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 6 { // a's 3, gone's 1, the old one, gone's deletion
		t.Fatalf("%d entries, want 6", len(es))
	}
	want, err := s.Session(ctx, a.Site, a.Session)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es[:3] {
		if e.Kind != store.OutboxUpsert || !proto.Equal(e.Summary, want) || e.Summary != es[0].Summary {
			t.Fatalf("entry %d: %v, want a's current summary (version %d), read once", i, e.Summary, want.GetVersion())
		}
	}
	if want.GetVersion() != 3 {
		t.Fatalf("a's version %d, want 3", want.GetVersion())
	}
	if e := es[3]; e.Kind != store.OutboxUpsert || e.Summary != nil {
		t.Fatalf("deleted session's upsert: %v, want no summary", e.Summary)
	}
	if e := es[4]; !proto.Equal(e.Summary, old) || e.Traceparent == "" {
		t.Fatalf("an older entry lists %v (traceparent %q), want its own summary", e.Summary, e.Traceparent)
	}
	if e := es[5]; e.Kind != store.OutboxDeleteSessions || !slices.Equal(e.SessionIDs, []string{gone.Session}) {
		t.Fatalf("last entry %v %v, want gone's deletion", e.Kind, e.SessionIDs)
	}
}
