package pebble

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestOutboxKeepsTraceparent: an entry recorded by a traced call carries
// that call's trace context (the relay links to it); one recorded without
// a trace, and one written before entries kept it, carry none and still
// decode.
func TestOutboxKeepsTraceparent(t *testing.T) {
	s := open(t, store.Limits{})
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
	})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	const want = "00-4bf92f0102030405060708090a0b0c0d-00f067aa0ba902b7-01"
	if got := store.Traceparent(traced); got != want {
		t.Fatalf("Traceparent = %q, want %q", got, want)
	}

	const site = int64(3_000_000_077)
	b := &storetest.Builder{Site: site, Session: "s_outboxtrace00000000001", Visitor: "v_outboxtrace00000000001", ServerMs: 1763890000000}
	if _, err := s.Append(traced, []store.Chunk{b.Chunk(t, 0, 200)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []store.Chunk{b.Chunk(t, 1, 200)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(traced, site, b.Session); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAnswers(traced, []store.Answer{storetest.Answer(site, "s_outboxtrace00000000002", "v_outboxtrace00000000002", "a_outboxtrace0000000000001", 0, 4, 0, 1763890000000)}); err != nil {
		t.Fatal(err)
	}
	// An entry as an older version wrote it: no "t".
	if err := s.db.Set(newKey(pOutbox).u64(s.outboxN.Add(1)), []byte(`{"k":2,"s":3000000077,"i":["s_old"]}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}

	es, err := s.OutboxPending(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Traceparent)
	}
	if len(es) != 4 || got[0] != want || got[1] != "" || got[2] != want || got[3] != "" {
		t.Fatalf("traceparents %q of %d entries, want [%s, \"\", %s, \"\"]", got, len(es), want, want)
	}
	if es[3].Kind != store.OutboxDeleteSessions || len(es[3].SessionIDs) != 1 || es[3].SessionIDs[0] != "s_old" {
		t.Fatalf("old entry decoded as %+v", es[3])
	}
	as, err := s.AnswerOutboxPending(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Traceparent != want {
		t.Fatalf("answer outbox %+v", as)
	}
}
