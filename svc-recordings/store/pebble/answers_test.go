package pebble

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestAnswersSurviveReopen: answers, counts, tallies and the answers'
// outbox are on disk when AppendAnswers returns; after a reopen new outbox
// entries never overwrite waiting ones and come after them.
func TestAnswersSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const site = int64(3_000_000_042)
	now := time.Now().UnixMilli()
	write := func(s *Store, from, n int) {
		t.Helper()
		var as []store.Answer
		for i := from; i < from+n; i++ {
			as = append(as, storetest.Answer(site, "s_reopen000000000000000", "v_reopen000000000000000", fmt.Sprintf("a_%022d", i), 0, 3, 0, now))
		}
		for _, a := range as { // one call each: one outbox entry each
			if _, err := s.AppendAnswers(ctx, []store.Answer{a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 3 {
		s, err := Open(dir, Options{Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		write(s, round*5, 5)
		es, err := s.AnswerOutboxPending(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != (round+1)*5 {
			t.Fatalf("round %d: %d outbox entries, want %d", round, len(es), (round+1)*5)
		}
		for i, e := range es {
			if want := fmt.Sprintf("a_%022d", i); len(e.AnswerIDs) != 1 || e.AnswerIDs[0] != want {
				t.Fatalf("round %d: entry %d holds %v, want [%s] (recorded order)", round, i, e.AnswerIDs, want)
			}
		}
		c, err := s.AnswerCounts(ctx, site)
		if err != nil || c.Feedback != int64((round+1)*5) {
			t.Fatalf("round %d: counts %+v, %v", round, c, err)
		}
		if tally, err := s.answerTally(site, "s_reopen000000000000000"); err != nil || tally == nil || tally.Feedback != int32((round+1)*5) || tally.MinRating != 3 {
			t.Fatalf("round %d: tally %+v, %v", round, tally, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
