package main

import (
	"fmt"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// TestCallsOf: both shapes hold every batch once in calls of 48; whole
// page views keep a page view's batches in one call, in order; interleaved
// calls hold one batch of each of 48 page views, all of one seq, and a
// page view's batches go in seq order.
func TestCallsOf(t *testing.T) {
	var visits [][]*recordingsv1.Chunk
	for v := range 96 {
		var chunks []*recordingsv1.Chunk
		for seq := range 12 {
			chunks = append(chunks, &recordingsv1.Chunk{SessionId: fmt.Sprint(v), Seq: int64(seq)})
		}
		visits = append(visits, chunks)
	}
	for _, interleave := range []bool{false, true} {
		calls := callsOf(visits, interleave)
		seen := map[string]bool{}
		next := map[string]int64{} // each session's next seq
		for i, call := range calls {
			if len(call) != 48 {
				t.Fatalf("interleave %v: call %d holds %d batches", interleave, i, len(call))
			}
			sessions := map[string]bool{}
			for _, c := range call {
				k := fmt.Sprint(c.SessionId, "/", c.Seq)
				if seen[k] || c.Seq != next[c.SessionId] {
					t.Fatalf("interleave %v: call %d: batch %s again or out of order", interleave, i, k)
				}
				seen[k], next[c.SessionId], sessions[c.SessionId] = true, c.Seq+1, true
				if interleave && c.Seq != call[0].Seq {
					t.Fatalf("interleave %v: call %d mixes seqs %d and %d", interleave, i, call[0].Seq, c.Seq)
				}
			}
			if want := map[bool]int{false: 4, true: 48}[interleave]; len(sessions) != want {
				t.Fatalf("interleave %v: call %d holds %d page views, want %d", interleave, i, len(sessions), want)
			}
		}
		if len(seen) != 96*12 {
			t.Fatalf("interleave %v: %d batches in the calls, want %d", interleave, len(seen), 96*12)
		}
	}
}
