package scylla

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the shared suite against a real ScyllaDB named by
// SCYLLA_HOSTS (deploy/compose starts one).
func TestConformance(t *testing.T) {
	hosts := os.Getenv("SCYLLA_HOSTS")
	if hosts == "" {
		t.Skip("SCYLLA_HOSTS not set: the ScyllaDB conformance run needs a real server")
	}
	storetest.Run(t, func(t *testing.T, lim store.Limits) store.Store {
		s, err := Open(context.Background(), Config{
			Hosts: strings.Split(hosts, ","), Keyspace: "sightline_recordings_test", Consistency: "ONE",
			Replication: 1, Timeout: 10 * time.Second, PageSize: 16, Limits: lim,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// recorder is the statement seam: it records what the store issues and
// answers reads from a script.
type recorder struct {
	mu       sync.Mutex
	execs    []Stmt
	cas      []Stmt
	batches  [][]Stmt
	counters [][]Stmt
	iters    []Stmt
	// order names each write as it came: "exec", "cas", "batch", "counters".
	order []string
	// rows answers a read; nil rows is an empty result.
	rows       func(st Stmt) [][]any
	casApplied bool
	// onCAS, when set, answers lightweight transactions instead.
	onCAS func(st Stmt) bool
}

func (r *recorder) Exec(ctx context.Context, st Stmt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.execs = append(r.execs, st)
	r.order = append(r.order, "exec")
	return nil
}

func (r *recorder) Counters(ctx context.Context, sts []Stmt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters = append(r.counters, sts)
	r.order = append(r.order, "counters")
	return nil
}

func (r *recorder) ExecCAS(ctx context.Context, st Stmt) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cas = append(r.cas, st)
	r.order = append(r.order, "cas")
	if r.onCAS != nil {
		return r.onCAS(st), nil
	}
	return r.casApplied, nil
}

func (r *recorder) Batch(ctx context.Context, sts []Stmt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, sts)
	r.order = append(r.order, "batch")
	return nil
}

func (r *recorder) Iter(ctx context.Context, st Stmt) Iter {
	r.mu.Lock()
	r.iters = append(r.iters, st)
	r.mu.Unlock()
	var rows [][]any
	if r.rows != nil {
		rows = r.rows(st)
	}
	return &rowsIter{rows: rows}
}

type rowsIter struct{ rows [][]any }

func (it *rowsIter) Scan(dest ...any) bool {
	if len(it.rows) == 0 {
		return false
	}
	row := it.rows[0]
	it.rows = it.rows[1:]
	for i, d := range dest {
		reflect.ValueOf(d).Elem().Set(reflect.ValueOf(row[i]))
	}
	return true
}
func (it *rowsIter) PageState() []byte { return nil }
func (it *rowsIter) Close() error      { return nil }

func find(sts []Stmt, prefix string) []Stmt {
	var out []Stmt
	for _, st := range sts {
		if strings.HasPrefix(st.CQL, prefix) {
			out = append(out, st)
		}
	}
	return out
}

var fixedNow = time.UnixMilli(1763890000000)

func newRecorded(r *recorder) *Store {
	s := newStore(r, Config{Keyspace: "ks", PageSize: 7})
	s.now = func() time.Time { return fixedNow }
	return s
}

func testChunk(t *testing.T, seq int64, expires time.Duration) store.Chunk {
	t.Helper()
	evs, _ := json.Marshal([]map[string]any{
		{"type": 2, "timestamp": 1763890000000 + seq, "data": map[string]any{"node": map[string]any{}}},
		{"type": 3, "timestamp": 1763890000100 + seq, "data": map[string]any{"source": 2, "type": 2, "x": 1, "y": 1}},
	})
	ch := &recordingsv1.Chunk{
		SiteId: 3_000_000_007, SessionId: "s_abcdefghijklmnopqrstuv", VisitorId: "v_abcdefghijklmnopqrstuv",
		PageViewId: "p_abcdefghijklmnopqrstuv", Seq: seq, Events: evs, ServerTime: timestamppb.New(fixedNow),
	}
	st, err := summary.Extract(ch, 42, fixedNow.Add(expires).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return store.Chunk{SiteID: ch.SiteId, SessionID: ch.SessionId, Seq: seq, PageViewID: ch.PageViewId, Data: []byte("zstd"), Stats: st}
}

func TestMigrations(t *testing.T) {
	ms, err := Migrations("ks")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations %+v", ms)
	}
	// The schema after every migration: tables created, less those dropped.
	tables := map[string]string{}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Fatalf("migration %s has version %d, want %d", m.Name, m.Version, i+1)
		}
		for _, st := range m.Statements {
			if strings.Contains(st, "{{") || strings.Contains(st, "--") {
				t.Fatalf("statement %q", st)
			}
			switch {
			case strings.HasPrefix(st, "CREATE TABLE IF NOT EXISTS ks."):
				tables[strings.Fields(st)[5]] = st
			case strings.HasPrefix(st, "DROP TABLE IF EXISTS ks."):
				delete(tables, strings.Fields(st)[4])
			case strings.HasPrefix(st, "ALTER TABLE ks.") && strings.Contains(st, " ADD "):
				// A column added: the table must exist.
				if tables[strings.Fields(st)[2]] == "" {
					t.Fatalf("%q alters a table not created", st)
				}
			default:
				t.Fatalf("statement %q", st)
			}
		}
	}
	for _, want := range []string{"ks." + chunksTable, "ks.sessions", "ks.sessions_by_visitor", "ks.outbox", "ks.expiry", "ks.tombstones", "ks.heat", "ks.heat_pages", "ks.heat_snapshot", "ks.heat_snapshots", "ks.heat_layout", "ks.cold"} {
		if tables[want] == "" {
			t.Errorf("no table %s in %v", want, tables)
		}
	}
	if _, ok := tables["ks.chunks"]; ok {
		t.Errorf("the chunks table clustered by seq alone is still there")
	}
	// Two tabs of one session may send the same seq: the page view is part
	// of the key.
	if !strings.Contains(tables["ks."+chunksTable], "PRIMARY KEY ((site_id, session_id), seq, page_view_id)") ||
		!strings.Contains(tables["ks."+chunksTable], "CLUSTERING ORDER BY (seq ASC, page_view_id ASC)") {
		t.Errorf("chunks are not partitioned by (site_id, session_id) and clustered by (seq, page_view_id): %s", tables["ks."+chunksTable])
	}
}

func TestMigrateAppliesOnce(t *testing.T) {
	r := &recorder{}
	s := newRecorded(r)
	if err := s.migrate(context.Background(), 3, nil); err != nil {
		t.Fatal(err)
	}
	ks := find(r.execs, "CREATE KEYSPACE IF NOT EXISTS ks ")
	if len(ks) != 1 || !strings.Contains(ks[0].CQL, "'replication_factor': 3") {
		t.Fatalf("keyspace statement %+v", ks)
	}
	if n := len(find(r.execs, "CREATE TABLE IF NOT EXISTS ks."+chunksTable+" ")); n != 1 {
		t.Fatalf("chunks created %d times", n)
	}
	rec := find(r.execs, "INSERT INTO ks.schema_migrations")
	const migrations = 9
	if len(rec) != migrations {
		t.Fatalf("%d migrations recorded, want %d: %+v", len(rec), migrations, rec)
	}
	for i, st := range rec {
		if st.Args[0] != i+1 {
			t.Fatalf("migrations not recorded in order: %+v", rec)
		}
	}
	if alter := find(r.execs, "ALTER TABLE ks.notify_outbox ADD traceparent"); len(alter) != 1 {
		t.Fatalf("006 did not add notify_outbox.traceparent: %+v", r.execs)
	}
	applied := func(versions ...int) *recorder {
		return &recorder{rows: func(st Stmt) [][]any {
			if strings.HasPrefix(st.CQL, "SELECT version FROM ks.schema_migrations") {
				var rows [][]any
				for _, v := range versions {
					rows = append(rows, []any{v})
				}
				return rows
			}
			return nil
		}}
	}
	// Already applied: nothing but the bookkeeping runs.
	r2 := applied(1, 2, 3, 4, 5, 6, 7, 8, 9)
	if err := newRecorded(r2).migrate(context.Background(), 3, nil); err != nil {
		t.Fatal(err)
	}
	// A keyspace at 7 (the release before the open index's activity):
	// 008 and 009 run.
	r7 := applied(1, 2, 3, 4, 5, 6, 7)
	if err := newRecorded(r7).migrate(context.Background(), 3, nil); err != nil {
		t.Fatal(err)
	}
	if alter := find(r7.execs, "ALTER TABLE"); len(alter) != 1 || alter[0].CQL != "ALTER TABLE ks.open_sessions ADD last_activity_ms bigint" {
		t.Fatalf("a keyspace at 7 ran %+v", alter)
	}
	if created := find(r7.execs, "CREATE TABLE IF NOT EXISTS ks.heat"); len(created) != 1 || !strings.HasPrefix(created[0].CQL, "CREATE TABLE IF NOT EXISTS ks.heat_snapshots ") {
		t.Fatalf("a keyspace at 7 created %+v", created)
	}
	if n := len(find(r2.execs, "CREATE TABLE IF NOT EXISTS ks.sessions ")) + len(find(r2.execs, "CREATE TABLE IF NOT EXISTS ks."+chunksTable)) +
		len(find(r2.execs, "CREATE TABLE IF NOT EXISTS ks.heat")) + len(find(r2.execs, "DROP TABLE")) + len(find(r2.execs, "ALTER TABLE")); n != 0 {
		t.Fatalf("applied migrations ran again")
	}
	// A keyspace from before 002: only 002 runs.
	r3 := applied(1)
	if err := newRecorded(r3).migrate(context.Background(), 3, nil); err != nil {
		t.Fatal(err)
	}
	if len(find(r3.execs, "CREATE TABLE IF NOT EXISTS ks.sessions ")) != 0 || len(find(r3.execs, "CREATE TABLE IF NOT EXISTS ks."+chunksTable+" ")) != 1 ||
		len(find(r3.execs, "DROP TABLE IF EXISTS ks.chunks")) != 1 {
		t.Fatalf("upgrade from 001 ran %+v", r3.execs)
	}
}

func TestAppendNewSessionStatements(t *testing.T) {
	r := &recorder{casApplied: true}
	s := newRecorded(r)
	c0, c1 := testChunk(t, 0, 30*24*time.Hour), testChunk(t, 1, 30*24*time.Hour+time.Second)
	// The append runs in the forwarder's trace: the outbox entry keeps it.
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	res, err := s.Append(traced, []store.Chunk{c1, c0, c0})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Stored || !res[1].Stored || res[2].Stored {
		t.Fatalf("results %+v", res)
	}
	// Existing seqs are read with one IN query of the distinct seqs.
	in := find(r.iters, "SELECT seq, page_view_id FROM ks.chunks_v2 WHERE site_id = ? AND session_id = ? AND seq IN ?")
	if len(in) != 1 || !reflect.DeepEqual(in[0].Args[2], []int64{1, 0}) {
		t.Fatalf("existing-seq query %+v", in)
	}
	ins := find(r.execs, "INSERT INTO ks.chunks_v2 ")
	if len(ins) != 2 {
		t.Fatalf("%d chunk inserts", len(ins))
	}
	for i, st := range ins {
		if !st.Idempotent || !strings.HasSuffix(st.CQL, "USING TTL ?") {
			t.Fatalf("chunk insert %q idempotent=%v", st.CQL, st.Idempotent)
		}
		if st.Args[0] != int64(3_000_000_007) || st.Args[1] != "s_abcdefghijklmnopqrstuv" || st.Args[2] != int64(i) || st.Args[3] != "p_abcdefghijklmnopqrstuv" {
			t.Fatalf("chunk insert args %v", st.Args[:4])
		}
		// Retention plus the sweep's look-back: the sweep deletes the
		// session at its expiry, subtracting its heatmap counters.
		wantTTL := 30*24*3600 + sweepLookbackDays*86400
		if i == 1 {
			wantTTL++
		}
		if ttl := st.Args[len(st.Args)-1]; ttl != wantTTL {
			t.Fatalf("TTL %v, want %d (retention)", ttl, wantTTL)
		}
		var stats summary.ChunkStats
		if err := json.Unmarshal(st.Args[8].([]byte), &stats); err != nil || stats.Seq != int64(i) {
			t.Fatalf("stats column: %v", err)
		}
	}
	act := find(r.execs, "INSERT INTO ks.site_activity")
	if len(act) != 1 || !strings.Contains(act[0].CQL, "USING TIMESTAMP ?") || act[0].Args[2] != fixedNow.UnixMilli()*1000 || !act[0].Idempotent {
		t.Fatalf("site activity %+v", act)
	}
	// The summary row is created with a lightweight transaction.
	if len(r.cas) != 1 || !strings.Contains(r.cas[0].CQL, "IF NOT EXISTS USING TTL ?") || r.cas[0].Idempotent || !r.cas[0].Serial {
		t.Fatalf("summary insert %+v", r.cas)
	}
	if r.cas[0].Args[3] != int64(1) {
		t.Fatalf("first version %v", r.cas[0].Args[3])
	}
	// Outbox and indexes in one logged batch.
	if len(r.batches) != 1 {
		t.Fatalf("%d batches", len(r.batches))
	}
	b := r.batches[0]
	ob := find(b, "INSERT INTO ks.outbox ")
	if len(ob) != 1 || ob[0].Idempotent {
		t.Fatalf("outbox insert %+v", ob)
	}
	if tp := ob[0].Args[len(ob[0].Args)-1]; tp != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
		t.Fatalf("outbox entry's traceparent %v, want the append's", tp)
	}
	vis := find(b, "INSERT INTO ks.sessions_by_visitor")
	if len(vis) != 1 || vis[0].Args[1] != "v_abcdefghijklmnopqrstuv" {
		t.Fatalf("visitor index %+v", vis)
	}
	exp := find(b, "INSERT INTO ks.expiry ")
	if len(exp) != 1 || exp[0].Args[1] != fixedNow.Add(30*24*time.Hour+time.Second).UnixMilli() {
		t.Fatalf("expiry index %+v", exp)
	}
	mark := find(b, "UPDATE ks.sessions USING TTL ? SET outboxed_version = ?")
	if len(mark) != 1 || mark[0].Args[1] != int64(1) {
		t.Fatalf("outboxed mark %+v", mark)
	}
}

func TestAppendInOrderUsesCAS(t *testing.T) {
	c0, c1 := testChunk(t, 0, time.Hour), testChunk(t, 1, 2*time.Hour)
	r := &recorder{casApplied: true, rows: storedRows(t, c0, 4, [][]any{{int64(0), "p_abcdefghijklmnopqrstuv"}}, c0, c1)}
	s := newRecorded(r)
	res, err := s.Append(context.Background(), []store.Chunk{c0, c1})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Stored || !res[1].Stored {
		t.Fatalf("results %+v", res)
	}
	if n := len(find(r.execs, "INSERT INTO ks.chunks_v2")); n != 1 {
		t.Fatalf("duplicate re-inserted: %d inserts", n)
	}
	// A duplicate in the call makes the store refold from stored stats.
	if n := len(find(r.iters, "SELECT stats FROM ks.chunks_v2")); n != 1 {
		t.Fatalf("no refold after a duplicate")
	}
	if len(r.cas) != 1 {
		t.Fatalf("cas %+v", r.cas)
	}
	upd := r.cas[0]
	if !strings.HasSuffix(upd.CQL, "IF version = ?") || upd.Args[2] != int64(5) || upd.Args[len(upd.Args)-1] != int64(4) || upd.Idempotent {
		t.Fatalf("summary update %q %v", upd.CQL, upd.Args)
	}
	b := r.batches[0]
	if del := find(b, "DELETE FROM ks.expiry"); len(del) != 1 || del[0].Args[1] != c0.Stats.ExpiresMs {
		t.Fatalf("old expiry row not removed: %+v", del)
	}
}

func TestAppendRetriesLostCAS(t *testing.T) {
	r := &recorder{casApplied: false}
	s := newRecorded(r)
	_, err := s.Append(context.Background(), []store.Chunk{testChunk(t, 0, time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "concurrent") {
		t.Fatalf("err %v", err)
	}
	if len(r.cas) != casRetries {
		t.Fatalf("%d attempts, want %d", len(r.cas), casRetries)
	}
}

func TestTombstonedSessionIsSkipped(t *testing.T) {
	r := &recorder{rows: func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT session_id FROM ks.tombstones") {
			return [][]any{{"s_abcdefghijklmnopqrstuv"}}
		}
		return nil
	}}
	res, err := newRecorded(r).Append(context.Background(), []store.Chunk{testChunk(t, 0, time.Hour)})
	if err != nil || res[0].Stored || len(r.execs) != 0 {
		t.Fatalf("tombstoned append: %v %+v %d writes", err, res, len(r.execs))
	}
}

func TestReadAndDeleteStatements(t *testing.T) {
	r := &recorder{rows: func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT state, version") {
			st, _ := summary.NewState().Marshal()
			return [][]any{{st, int64(2), int64(2), "v_x0000000", int64(86400000 * 3), int64(86400000 * 40), int64(0)}}
		}
		return nil
	}}
	s := newRecorded(r)
	if err := s.ReadChunks(context.Background(), 3_000_000_007, "s_abcdefghijklmnopqrstuv", 5, func(store.StoredChunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rd := find(r.iters, "SELECT seq, page_view_id, first_ms, last_ms, data FROM ks.chunks_v2 WHERE site_id = ? AND session_id = ? AND seq >= ?")
	if len(rd) != 1 || rd[0].PageSize != 7 || rd[0].Args[2] != int64(5) || !rd[0].Idempotent {
		t.Fatalf("read %+v", rd)
	}
	if err := s.DeleteSession(context.Background(), 3_000_000_007, "s_abcdefghijklmnopqrstuv"); err != nil {
		t.Fatal(err)
	}
	b := r.batches[0]
	for _, want := range []string{
		"DELETE FROM ks.chunks_v2 WHERE site_id = ? AND session_id = ?",
		"DELETE FROM ks.sessions WHERE",
		"DELETE FROM ks.sessions_by_visitor",
		"DELETE FROM ks.expiry",
		"INSERT INTO ks.tombstones",
		"INSERT INTO ks.outbox",
	} {
		if len(find(b, want)) != 1 {
			t.Errorf("delete batch lacks %q", want)
		}
	}
	if tomb := find(b, "INSERT INTO ks.tombstones"); tomb[0].Args[2] != 30*24*3600 {
		t.Errorf("tombstone TTL %v", tomb[0].Args[2])
	}
	if _, err := s.ListSessions(context.Background(), 1, "zz", 5); err == nil {
		t.Error("bad token accepted")
	}
	if _, err := ParseConsistency("LOCAL_QUORUM"); err != nil {
		t.Error(err)
	}
	if _, err := ParseConsistency("MOSTLY"); err == nil {
		t.Error("bad consistency accepted")
	}
}

// Another tab's chunk with a stored seq is new: the existing-key query
// matches on the page view too, and the summary is refolded (an equal seq
// may sort before the chunks folded so far).
func TestAppendSameSeqOtherPageView(t *testing.T) {
	c0 := testChunk(t, 0, time.Hour)
	other := testChunk(t, 0, time.Hour)
	other.PageViewID, other.Stats.PageViewID = "p_0therpageview00000000", "p_0therpageview00000000"
	r := &recorder{casApplied: true, rows: storedRows(t, c0, 1, [][]any{{int64(0), c0.PageViewID}}, other, c0)}
	res, err := newRecorded(r).Append(context.Background(), []store.Chunk{other, c0})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Stored || res[1].Stored || res[0].Refused != nil || res[1].Refused != nil {
		t.Fatalf("results %+v, want the other page view stored and the re-delivery a duplicate", res)
	}
	ins := find(r.execs, "INSERT INTO ks.chunks_v2 ")
	if len(ins) != 1 || ins[0].Args[2] != int64(0) || ins[0].Args[3] != other.PageViewID {
		t.Fatalf("inserts %+v", ins)
	}
	if n := len(find(r.iters, "SELECT stats FROM ks.chunks_v2")); n != 1 {
		t.Fatalf("no refold for an equal seq")
	}
	if len(r.cas) != 1 || r.cas[0].Args[2] != int64(2) {
		t.Fatalf("summary update %+v", r.cas)
	}
}

// A session at its chunk limit: a new chunk is refused (nothing written),
// a stored one stays a duplicate.
func TestAppendRefusesPastSessionLimit(t *testing.T) {
	c0, c1 := testChunk(t, 0, time.Hour), testChunk(t, 1, time.Hour)
	r := &recorder{casApplied: true, rows: storedRows(t, c0, 1, [][]any{{int64(0), c0.PageViewID}})}
	s := newStore(r, Config{Keyspace: "ks", Limits: store.Limits{MaxChunks: 1}})
	s.now = func() time.Time { return fixedNow }
	res, err := s.Append(context.Background(), []store.Chunk{c1, c0})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Stored || !errors.Is(res[0].Refused, store.ErrSessionChunks) {
		t.Fatalf("chunk past the limit: %+v, want refused", res[0])
	}
	if res[1].Stored || res[1].Refused != nil {
		t.Fatalf("re-delivery at the limit: %+v, want a duplicate", res[1])
	}
	if n := len(find(r.execs, "INSERT INTO ks.chunks_v2")); n != 0 {
		t.Fatalf("%d chunk inserts past the limit", n)
	}
}

// storedRows scripts a session that holds first: its state folded from
// first at version (outboxed alike), the stored chunk keys (seq, page
// view), and the stats of stored as the chunks' stats rows, in order.
func storedRows(t *testing.T, first store.Chunk, version int64, keys [][]any, stored ...store.Chunk) func(Stmt) [][]any {
	t.Helper()
	st := summary.NewState()
	st.Apply(&first.Stats)
	enc, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var stats [][]any
	for _, c := range stored {
		b, err := c.Stats.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, []any{b})
	}
	return func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			return [][]any{{enc, version, version, "v_abcdefghijklmnopqrstuv", int64(5), first.Stats.ExpiresMs, int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT seq, page_view_id FROM ks.chunks_v2"):
			return keys
		case strings.HasPrefix(q.CQL, "SELECT stats FROM ks.chunks_v2"):
			return stats
		}
		return nil
	}
}
