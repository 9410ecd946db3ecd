package scylla

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

const (
	endSite    = int64(3_000_000_007)
	endSession = "s_abcdefghijklmnopqrstuv"
)

// TestMigrationEnding: the open index and the notify outbox are sharded
// partitions; sessions gain ended_ms.
func TestMigrationEnding(t *testing.T) {
	ms, err := Migrations("ks")
	if err != nil {
		t.Fatal(err)
	}
	m := ms[4]
	if m.Version != 5 || len(m.Statements) != 3 {
		t.Fatalf("migration 5: %+v", m)
	}
	if m.Statements[0] != "ALTER TABLE ks.sessions ADD ended_ms bigint" {
		t.Errorf("first statement %q", m.Statements[0])
	}
	if !strings.Contains(m.Statements[1], "ks.open_sessions") || !strings.Contains(m.Statements[1], "PRIMARY KEY ((shard), site_id, session_id)") {
		t.Errorf("open index %q", m.Statements[1])
	}
	if !strings.Contains(m.Statements[2], "ks.notify_outbox") || !strings.Contains(m.Statements[2], "PRIMARY KEY ((shard), id)") {
		t.Errorf("notify outbox %q", m.Statements[2])
	}
}

// TestMigrationOpenActivity: the open index gains the sessions' last
// activity.
func TestMigrationOpenActivity(t *testing.T) {
	ms, err := Migrations("ks")
	if err != nil {
		t.Fatal(err)
	}
	m := ms[7]
	if m.Version != 8 || len(m.Statements) != 1 || m.Statements[0] != "ALTER TABLE ks.open_sessions ADD last_activity_ms bigint" {
		t.Fatalf("migration 8: %+v", m)
	}
}

// TestNewSessionOpens: a session's first version writes its open-index
// row, with its last activity, in the batch of its indexes; a later
// in-order append writes it again only when it moves the activity.
func TestNewSessionOpens(t *testing.T) {
	r := &recorder{casApplied: true}
	s := newRecorded(r)
	c0 := testChunk(t, 0, 30*24*time.Hour)
	if _, err := s.Append(context.Background(), []store.Chunk{c0}); err != nil {
		t.Fatal(err)
	}
	open := find(r.batches[0], "INSERT INTO ks.open_sessions")
	if len(open) != 1 || !open[0].Idempotent || open[0].Args[0] != openShard(endSite, endSession) || open[0].Args[3] != fixedNow.UnixMilli() || open[0].Args[4] != s.rowTTL(c0.Stats.ExpiresMs) {
		t.Fatalf("open-index insert %+v", open)
	}

	enc, _ := summary.Fold([]summary.ChunkStats{c0.Stats}).Marshal()
	r2 := &recorder{casApplied: true, rows: func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT state, version") {
			return [][]any{{enc, int64(1), int64(1), "v_abcdefghijklmnopqrstuv", int64(5), c0.Stats.ExpiresMs, int64(0)}}
		}
		return nil
	}}
	if _, err := newRecorded(r2).Append(context.Background(), []store.Chunk{testChunk(t, 1, 30*24*time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, b := range r2.batches {
		if n := len(find(b, "INSERT INTO ks.open_sessions")); n != 0 {
			t.Fatalf("an in-order append that does not move the activity wrote the open index again")
		}
	}
	// A chunk a minute later moves it.
	r3 := &recorder{casApplied: true, rows: r2.rows}
	c2 := testChunk(t, 2, 30*24*time.Hour)
	later := fixedNow.Add(time.Minute).UnixMilli()
	c2.Stats.ServerMs = later
	if _, err := newRecorded(r3).Append(context.Background(), []store.Chunk{c2}); err != nil {
		t.Fatal(err)
	}
	var opens []Stmt
	for _, b := range r3.batches {
		opens = append(opens, find(b, "INSERT INTO ks.open_sessions")...)
	}
	if len(opens) != 1 || opens[0].Args[3] != later {
		t.Fatalf("open-index writes after a later chunk: %+v, want one with activity %d", opens, later)
	}
}

// endRows scripts one open session of the given last activity and row
// (version, outboxed, ended), its index row without an activity (as
// written before migration 008).
func endRows(t *testing.T, serverMs int64, row func() (int64, int64, int64)) func(Stmt) [][]any {
	return endRowsIndexed(t, serverMs, 0, row)
}

// endRowsIndexed is endRows with the activity indexActive in the index row
// (0: none).
func endRowsIndexed(t *testing.T, serverMs, indexActive int64, row func() (int64, int64, int64)) func(Stmt) [][]any {
	st := summary.NewState()
	c := testChunk(t, 0, 30*24*time.Hour)
	c.Stats.ServerMs = serverMs
	st.Apply(&c.Stats)
	enc, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT site_id, session_id, last_activity_ms FROM ks.open_sessions WHERE shard = ?"):
			if q.Args[0] == openShard(endSite, endSession) {
				return [][]any{{endSite, endSession, indexActive}}
			}
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			v, o, e := row()
			return [][]any{{enc, v, o, "v_abcdefghijklmnopqrstuv", int64(5), c.Stats.ExpiresMs, e}}
		}
		return nil
	}
}

func TestEndIdleStatements(t *testing.T) {
	r := &recorder{casApplied: true}
	r.rows = endRows(t, fixedNow.Add(-2*time.Hour).UnixMilli(), func() (int64, int64, int64) { return 4, 4, 0 })
	s := newRecorded(r)
	ended, more, err := s.EndIdleSessions(context.Background(), fixedNow.Add(-time.Hour), 10)
	if err != nil || more || len(ended) != 1 {
		t.Fatalf("ended %v, more %v, err %v", ended, more, err)
	}
	if ended[0].Version != 5 || !ended[0].EndedTime.AsTime().Equal(fixedNow) {
		t.Fatalf("final summary %v", ended[0])
	}
	// Every shard of the open index is read.
	if n := len(find(r.iters, "SELECT site_id, session_id, last_activity_ms FROM ks.open_sessions")); n != outboxShards {
		t.Fatalf("%d open-index reads, want %d", n, outboxShards)
	}
	// The end is a lightweight transaction on the version.
	if len(r.cas) != 1 {
		t.Fatalf("%d CAS", len(r.cas))
	}
	cas := r.cas[0]
	if !strings.HasPrefix(cas.CQL, "UPDATE ks.sessions USING TTL ? SET ended_ms = ?, version = ? WHERE site_id = ? AND session_id = ? IF version = ?") ||
		!cas.Serial || cas.Idempotent || cas.Args[1] != fixedNow.UnixMilli() || cas.Args[2] != int64(5) || cas.Args[5] != int64(4) {
		t.Fatalf("end CAS %+v", cas)
	}
	// Then one logged batch: search's upsert, the event, the index, the mark.
	if len(r.batches) != 1 {
		t.Fatalf("%d batches", len(r.batches))
	}
	b := r.batches[0]
	ob := find(b, "INSERT INTO ks.outbox ")
	if len(ob) != 1 {
		t.Fatalf("outbox %+v", ob)
	}
	var sum sessionsv1.SessionSummary
	if err := proto.Unmarshal(ob[0].Args[4].([]byte), &sum); err != nil || sum.EndedTime == nil || sum.Version != 5 {
		t.Fatalf("outbox summary %v, %v", &sum, err)
	}
	ev := find(b, "INSERT INTO ks.notify_outbox")
	if len(ev) != 1 || ev[0].Args[2] != 1 || string(ev[0].Args[4].([]byte)) != endSession || ev[0].Args[3] != endSite {
		t.Fatalf("notify entry %+v", ev)
	}
	if del := find(b, "DELETE FROM ks.open_sessions"); len(del) != 1 || del[0].Args[0] != openShard(endSite, endSession) {
		t.Fatalf("open-index delete %+v", del)
	}
	if mark := find(b, "UPDATE ks.sessions USING TTL ? SET outboxed_version = ?"); len(mark) != 1 || mark[0].Args[1] != int64(5) {
		t.Fatalf("outboxed mark %+v", mark)
	}
}

func TestEndIdleStatementsNotIdle(t *testing.T) {
	r := &recorder{casApplied: true}
	r.rows = endRows(t, fixedNow.Add(-time.Minute).UnixMilli(), func() (int64, int64, int64) { return 4, 4, 0 })
	ended, _, err := newRecorded(r).EndIdleSessions(context.Background(), fixedNow.Add(-time.Hour), 10)
	if err != nil || len(ended) != 0 || len(r.cas) != 0 || len(r.batches) != 0 || len(r.execs) != 0 {
		t.Fatalf("an active session: ended %v, err %v, cas %v, batches %v, execs %v", ended, err, r.cas, r.batches, r.execs)
	}
}

// TestEndIdleByIndex: a session the index says was active since the cut is
// not read at all; one it says was idle is read and judged by its row,
// which may be newer (batches of concurrent appends landing out of order),
// and one idle by both is ended.
func TestEndIdleByIndex(t *testing.T) {
	cut := fixedNow.Add(-time.Hour)
	row := func() (int64, int64, int64) { return 4, 4, 0 }
	for _, tc := range []struct {
		name                 string
		rowActive, idxActive time.Time
		reads, ended         int
	}{
		{"active by the index", fixedNow.Add(-time.Minute), fixedNow.Add(-time.Minute), 0, 0},
		{"idle by a stale index, active by the row", fixedNow.Add(-time.Minute), fixedNow.Add(-2 * time.Hour), 1, 0},
		{"idle by both", fixedNow.Add(-2 * time.Hour), fixedNow.Add(-2 * time.Hour), 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{casApplied: true}
			r.rows = endRowsIndexed(t, tc.rowActive.UnixMilli(), tc.idxActive.UnixMilli(), row)
			ended, _, err := newRecorded(r).EndIdleSessions(context.Background(), cut, 10)
			if err != nil {
				t.Fatal(err)
			}
			if reads := len(find(r.iters, "SELECT state, version")); reads != tc.reads || len(ended) != tc.ended || len(r.cas) != tc.ended {
				t.Fatalf("session rows read %d, ended %d, CAS %d; want %d reads and %d ended", reads, len(ended), len(r.cas), tc.reads, tc.ended)
			}
		})
	}
}

// TestEndIdleStatementsLostRace: another pass's CAS won; this one reads the
// end and only drops the index row.
func TestEndIdleStatementsLostRace(t *testing.T) {
	var mu sync.Mutex
	reads := 0
	r := &recorder{casApplied: false}
	r.rows = endRows(t, fixedNow.Add(-2*time.Hour).UnixMilli(), func() (int64, int64, int64) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		if reads == 1 {
			return 4, 4, 0
		}
		return 5, 5, fixedNow.UnixMilli()
	})
	ended, _, err := newRecorded(r).EndIdleSessions(context.Background(), fixedNow.Add(-time.Hour), 10)
	if err != nil || len(ended) != 0 {
		t.Fatalf("ended %v, err %v", ended, err)
	}
	if len(r.cas) != 1 || len(r.batches) != 0 {
		t.Fatalf("cas %d, batches %d; want one lost CAS and no batch", len(r.cas), len(r.batches))
	}
	if del := find(r.execs, "DELETE FROM ks.open_sessions"); len(del) != 1 {
		t.Fatalf("execs %+v", r.execs)
	}
}

// TestEndIdleStatementsRecovers: a session ended by a pass that crashed
// before its batch gets the batch from the next pass.
func TestEndIdleStatementsRecovers(t *testing.T) {
	r := &recorder{casApplied: true}
	r.rows = endRows(t, fixedNow.Add(-2*time.Hour).UnixMilli(), func() (int64, int64, int64) { return 5, 4, fixedNow.UnixMilli() })
	ended, _, err := newRecorded(r).EndIdleSessions(context.Background(), fixedNow.Add(-time.Hour), 10)
	if err != nil || len(ended) != 0 || len(r.cas) != 0 {
		t.Fatalf("ended %v, err %v, cas %v", ended, err, r.cas)
	}
	if len(r.batches) != 1 || len(find(r.batches[0], "INSERT INTO ks.notify_outbox")) != 1 || len(find(r.batches[0], "DELETE FROM ks.open_sessions")) != 1 {
		t.Fatalf("recovery batches %+v", r.batches)
	}
}

// TestAppendEndedStatements: a late chunk is stored, counted for the
// limits by a COUNT of the partition, and changes no summary.
func TestAppendEndedStatements(t *testing.T) {
	r := &recorder{casApplied: true}
	rows := endRows(t, fixedNow.Add(-2*time.Hour).UnixMilli(), func() (int64, int64, int64) { return 5, 5, fixedNow.UnixMilli() })
	r.rows = func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT COUNT(*) FROM ks.chunks_v2") {
			return [][]any{{int64(3)}}
		}
		return rows(q)
	}
	s := newRecorded(r)
	s.limits = store.Limits{MaxChunks: 4}
	res, err := s.Append(context.Background(), []store.Chunk{testChunk(t, 7, 30*24*time.Hour), testChunk(t, 8, 30*24*time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Stored || res[1].Stored || res[1].Refused == nil {
		t.Fatalf("results %+v: want the 4th chunk stored, the 5th refused", res)
	}
	if n := len(find(r.execs, "INSERT INTO ks.chunks_v2")); n != 1 {
		t.Fatalf("%d chunk inserts", n)
	}
	if len(r.cas) != 0 || len(r.batches) != 0 {
		t.Fatalf("a late chunk changed the summary: cas %+v, batches %+v", r.cas, r.batches)
	}
}

func TestNotifyOutboxDecode(t *testing.T) {
	u1, u2 := gocql.UUIDFromTime(fixedNow), gocql.UUIDFromTime(fixedNow.Add(time.Second))
	r := &recorder{rows: func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT id, kind, site_id, payload, traceparent FROM ks.notify_outbox") && q.Args[0] == 0 {
			return [][]any{{u2, 3, endSite, []byte("a_1"), (*string)(nil)}, {u1, 1, endSite, []byte(endSession), (*string)(nil)}}
		}
		return nil
	}}
	s := newRecorded(r)
	es, err := s.NotifyOutboxPending(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Type != store.EventSessionEnded || es[0].SessionID != endSession || es[1].Type != store.EventSurveyResponseCreated || es[1].AnswerID != "a_1" {
		t.Fatalf("entries %+v", es)
	}
	if es[0].TimeMs != fixedNow.UnixMilli() {
		t.Fatalf("time %d", es[0].TimeMs)
	}
	if err := s.NotifyOutboxAck(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if del := find(r.execs, "DELETE FROM ks.notify_outbox WHERE shard = ? AND id = ?"); len(del) != 2 || del[0].Args[1] != u1 {
		t.Fatalf("acks %+v", del)
	}
}
