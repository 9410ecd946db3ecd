package scylla

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

func TestAnswersMigration(t *testing.T) {
	ms, err := Migrations("ks")
	if err != nil {
		t.Fatal(err)
	}
	last := ms[3]
	if last.Version != 4 {
		t.Fatalf("fourth migration %d, want 004_answers", last.Version)
	}
	tables := map[string]string{}
	for _, st := range last.Statements {
		name := strings.Fields(strings.TrimPrefix(st, "CREATE TABLE IF NOT EXISTS "))[0]
		tables[name] = st
	}
	for name, key := range map[string]string{
		"ks.answers":            "PRIMARY KEY ((site_id), time_ms, answer_id)",
		"ks.answers_by_id":      "PRIMARY KEY ((site_id, answer_id))",
		"ks.answers_by_session": "PRIMARY KEY ((site_id, session_id), answer_id)",
		"ks.answers_by_visitor": "PRIMARY KEY ((site_id, visitor_id), answer_id)",
		"ks.answer_counts":      "PRIMARY KEY ((site_id), survey_id)",
		"ks.answers_expiry":     "PRIMARY KEY ((day), expires_ms, site_id, answer_id)",
		"ks.answer_outbox":      "PRIMARY KEY ((shard), id)",
	} {
		if !strings.Contains(tables[name], key) {
			t.Errorf("%s: want %s in %q", name, key, tables[name])
		}
	}
	if !strings.Contains(tables["ks.answers"], "CLUSTERING ORDER BY (time_ms DESC, answer_id ASC)") {
		t.Errorf("answers are not listed newest first: %s", tables["ks.answers"])
	}
}

// TestAppendAnswerStatements: rows first (idempotent, with the retention's
// TTL), then the claim (a lightweight transaction); only a claim that
// applied records the outbox entry and the count.
func TestAppendAnswerStatements(t *testing.T) {
	const site = int64(3_000_000_007)
	a := storetest.Answer(site, "s_abcdefghijklmnopqrstuv", "v_abcdefghijklmnopqrstuv", "a_abcdefghijklmnopqrstuv", 1<<40, 0, 9, fixedNow.UnixMilli())
	a.ExpiresMs = fixedNow.Add(30 * 24 * time.Hour).UnixMilli()
	for _, applied := range []bool{true, false} {
		r := &recorder{casApplied: applied}
		s := newRecorded(r)
		res, err := s.AppendAnswers(context.Background(), []store.Answer{a, a})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Stored != applied || res[1].Stored || res[1].Refused != nil {
			t.Fatalf("applied %v: results %+v", applied, res)
		}
		wantBatches := 1
		if applied {
			wantBatches = 2 // the rows; then the outbox and notify entries
		}
		if len(r.batches) != wantBatches || len(r.cas) != 1 {
			t.Fatalf("applied %v: %d batches, %d claims; want %d and 1 (the second copy is the call's duplicate)", applied, len(r.batches), len(r.cas), wantBatches)
		}
		ttl := s.rowTTL(a.ExpiresMs)
		for _, st := range r.batches[0] {
			if !st.Idempotent || st.Args[len(st.Args)-1] != ttl || !strings.Contains(st.CQL, "USING TTL ?") {
				t.Errorf("row statement %q: idempotent %v, args %v; want idempotent with TTL %d", st.CQL, st.Idempotent, st.Args, ttl)
			}
		}
		if n := len(find(r.batches[0], "INSERT INTO ks.answers_expiry")); n != 1 {
			t.Errorf("expiry rows: %d", n)
		}
		claim := r.cas[0]
		if !strings.Contains(claim.CQL, "INSERT INTO ks.answers_by_id") || !strings.Contains(claim.CQL, "IF NOT EXISTS") || !claim.Serial {
			t.Errorf("claim %+v", claim)
		}
		var outbox, events []Stmt
		if applied {
			outbox, events = find(r.batches[1], "INSERT INTO ks.answer_outbox"), find(r.batches[1], "INSERT INTO ks.notify_outbox")
		}
		wantOrder := []string{"batch", "cas"}
		if applied {
			if len(outbox) != 1 || outbox[0].Idempotent || outbox[0].Args[2] != int(store.OutboxUpsertAnswers) {
				t.Fatalf("outbox %+v", outbox)
			}
			// A survey response: kind 3, the answer id as payload, with the
			// search entry in one logged batch.
			if len(events) != 1 || events[0].Idempotent || events[0].Args[2] != 3 || string(events[0].Args[4].([]byte)) != "a_abcdefghijklmnopqrstuv" {
				t.Fatalf("notify entry %+v", events)
			}
			if len(r.counters) != 1 || r.counters[0][0].Args[0] != int64(1) || r.counters[0][0].Args[2] != int64(1<<40) {
				t.Fatalf("counters %+v", r.counters)
			}
			wantOrder = append(wantOrder, "batch", "counters")
		} else if len(outbox) != 0 || len(r.counters) != 0 {
			t.Fatalf("a duplicate recorded outbox %v, counters %v", outbox, r.counters)
		}
		if !slices.Equal(r.order, wantOrder) {
			t.Errorf("applied %v: writes in order %v, want %v", applied, r.order, wantOrder)
		}
	}
}

// TestAppendAnswerTombstoned: an answer of a deleted session writes nothing.
func TestAppendAnswerTombstoned(t *testing.T) {
	r := &recorder{casApplied: true, rows: func(st Stmt) [][]any {
		if strings.HasPrefix(st.CQL, "SELECT session_id FROM ks.tombstones") {
			return [][]any{{"s_abcdefghijklmnopqrstuv"}}
		}
		return nil
	}}
	s := newRecorded(r)
	a := storetest.Answer(3_000_000_007, "s_abcdefghijklmnopqrstuv", "v_abcdefghijklmnopqrstuv", "a_abcdefghijklmnopqrstuv", 0, 3, 0, fixedNow.UnixMilli())
	res, err := s.AppendAnswers(context.Background(), []store.Answer{a})
	if err != nil || res[0].Stored || res[0].Refused != nil {
		t.Fatalf("AppendAnswers: %+v, %v", res, err)
	}
	if len(r.order) != 0 {
		t.Fatalf("wrote %v for a deleted session's answer", r.order)
	}
}

// TestAnswerTallyUpdate: an answer of a recorded session sets the tally
// in its state with a compare-and-set on its version and records the
// summary change.
func TestAnswerTallyUpdate(t *testing.T) {
	const site = int64(3_000_000_007)
	const sess = "s_abcdefghijklmnopqrstuv"
	c := testChunk(t, 0, time.Hour)
	state, err := summary.Fold([]summary.ChunkStats{c.Stats}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{casApplied: true, rows: func(st Stmt) [][]any {
		switch {
		case strings.HasPrefix(st.CQL, "SELECT state, version"):
			return [][]any{{state, int64(3), int64(3), "v_abcdefghijklmnopqrstuv", fixedNow.UnixMilli(), c.Stats.ExpiresMs, int64(0)}}
		case strings.HasPrefix(st.CQL, "SELECT kind, rating FROM ks.answers_by_session"):
			return [][]any{{1, 4}, {1, 2}, {2, 0}}
		}
		return nil
	}}
	s := newRecorded(r)
	a := storetest.Answer(site, sess, "v_abcdefghijklmnopqrstuv", "a_abcdefghijklmnopqrstuv", 0, 2, 0, fixedNow.UnixMilli())
	if _, err := s.AppendAnswers(context.Background(), []store.Answer{a}); err != nil {
		t.Fatal(err)
	}
	upd := find(r.cas, "UPDATE ks.sessions")
	if len(upd) != 1 || !strings.HasSuffix(upd[0].CQL, "IF version = ?") || upd[0].Args[2] != int64(4) || upd[0].Args[len(upd[0].Args)-1] != int64(3) {
		t.Fatalf("summary update %+v", upd)
	}
	st, err := summary.UnmarshalState(upd[0].Args[1].([]byte))
	if err != nil {
		t.Fatal(err)
	}
	if st.Answers == nil || *st.Answers != (summary.AnswerTally{Feedback: 2, MinRating: 2, Surveys: 1}) {
		t.Fatalf("tally %+v", st.Answers)
	}
	var recorded bool
	for _, b := range r.batches {
		recorded = recorded || len(find(b, "INSERT INTO ks.outbox")) == 1
	}
	if !recorded {
		t.Fatal("the summary change is not in the outbox")
	}
}
