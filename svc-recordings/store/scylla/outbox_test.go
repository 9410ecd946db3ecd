package scylla

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// TestOutboxesPendingAndAck: both outboxes merge their shards oldest
// first up to the limit, decode their own payloads, and ack by shard/id.
func TestOutboxesPendingAndAck(t *testing.T) {
	old, young := gocql.UUIDFromTime(fixedNow.Add(-time.Minute)), gocql.UUIDFromTime(fixedNow)
	sum, _ := proto.Marshal(&sessionsv1.SessionSummary{SessionId: "s_abcdefghijklmnopqrstuv", Version: 3})
	ans, _ := json.Marshal(answerOutboxValue{IDs: []string{"a_abcdefghijklmnopqrstuv"}, Session: "s_abcdefghijklmnopqrstuv"})
	traceparent := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r := &recorder{rows: func(q Stmt) [][]any {
		for table, payload := range map[string][]byte{" ks.outbox ": sum, " ks.answer_outbox ": ans} {
			if strings.Contains(q.CQL, table) && strings.HasPrefix(q.CQL, "SELECT id, kind, site_id, payload, traceparent") {
				switch q.Args[0] {
				case 1:
					return [][]any{{young, int(store.OutboxUpsert), int64(7), payload, &traceparent}}
				case 2:
					// A row written before migration 006: no trace context.
					return [][]any{{old, int(store.OutboxDeleteAnswers), int64(8), payload, (*string)(nil)}}
				}
			}
		}
		return nil
	}}
	s := newRecorded(r)
	ctx := context.Background()
	for _, o := range []struct {
		table   string
		pending func(context.Context, int) ([]store.OutboxEntry, error)
		ack     func(context.Context, []store.OutboxEntry) error
	}{{"outbox", s.OutboxPending, s.OutboxAck}, {"answer_outbox", s.AnswerOutboxPending, s.AnswerOutboxAck}} {
		es, err := o.pending(ctx, 1)
		if err != nil || len(es) != 1 || es[0].ID != "2/"+old.String() || es[0].SiteID != 8 {
			t.Fatalf("%s: pending(1) = %+v, %v; want the oldest entry", o.table, es, err)
		}
		es, err = o.pending(ctx, 10)
		if err != nil || len(es) != 2 || es[1].ID != "1/"+young.String() || es[1].Kind != store.OutboxUpsert {
			t.Fatalf("%s: pending(10) = %+v, %v", o.table, es, err)
		}
		if es[1].Traceparent != traceparent || es[0].Traceparent != "" {
			t.Fatalf("%s: traceparents %q, %q; want %q and none", o.table, es[0].Traceparent, es[1].Traceparent, traceparent)
		}
		if o.table == "outbox" && es[1].Summary.GetVersion() != 3 {
			t.Fatalf("outbox: summary not decoded: %+v", es[1])
		}
		if o.table == "answer_outbox" && (!reflect.DeepEqual(es[1].AnswerIDs, []string{"a_abcdefghijklmnopqrstuv"}) || len(es[1].SessionIDs) != 1) {
			t.Fatalf("answer_outbox: payload not decoded: %+v", es[1])
		}
		r.execs = nil
		if err := o.ack(ctx, es); err != nil {
			t.Fatal(err)
		}
		dels := find(r.execs, "DELETE FROM ks."+o.table+" WHERE shard = ? AND id = ?")
		if len(dels) != 2 || dels[0].Args[0] != 2 || dels[0].Args[1] != old || dels[1].Args[0] != 1 {
			t.Fatalf("%s: ack issued %+v", o.table, r.execs)
		}
		for _, bad := range []string{"x", "1/not-a-uuid", "one/" + old.String()} {
			if err := o.ack(ctx, []store.OutboxEntry{{ID: bad}}); err == nil || !strings.Contains(err.Error(), "bad id") {
				t.Fatalf("%s: ack of %q: %v", o.table, bad, err)
			}
		}
	}
}

// TestSweepAnswersDropsExpiryRows: every expired row of the look-back is
// read; an answer already gone only loses its expiry row.
func TestSweepAnswersDropsExpiryRows(t *testing.T) {
	exp := fixedNow.Add(-time.Minute).UnixMilli()
	r := &recorder{rows: func(q Stmt) [][]any {
		if strings.HasPrefix(q.CQL, "SELECT expires_ms, site_id, answer_id FROM ks.answers_expiry") && q.Args[0] == exp/dayMs {
			return [][]any{{exp, int64(7), "a_abcdefghijklmnopqrstuv"}, {exp, int64(8), "a_bcdefghijklmnopqrstuvw"}}
		}
		return nil
	}}
	n, err := newRecorded(r).SweepAnswers(context.Background(), fixedNow)
	if err != nil || n != 0 {
		t.Fatalf("swept %d: %v", n, err)
	}
	if reads := find(r.iters, "SELECT expires_ms, site_id, answer_id FROM ks.answers_expiry WHERE day = ? AND expires_ms <= ?"); len(reads) != sweepLookbackDays+1 {
		t.Fatalf("%d expiry reads, want %d", len(reads), sweepLookbackDays+1)
	}
	dels := find(r.execs, "DELETE FROM ks.answers_expiry")
	if len(dels) != 2 || dels[0].Args[2] != int64(7) || dels[1].Args[3] != "a_bcdefghijklmnopqrstuvw" {
		t.Fatalf("expiry rows deleted: %+v", dels)
	}
}
