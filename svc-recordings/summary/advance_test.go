package summary

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// advanceSources serves All from stored (the chunks a store holds) and
// counts the reads, so a test sees which path Advance took.
type advanceSources struct {
	stored       []ChunkStats
	all, answers int
	tally        *AnswerTally
	err          error
}

func (a *advanceSources) sources() Sources {
	return Sources{
		All: func() ([]ChunkStats, error) {
			a.all++
			return a.stored, a.err
		},
		Answers: func() (*AnswerTally, error) {
			a.answers++
			return a.tally, nil
		},
	}
}

func ptrs(cs []ChunkStats) []*ChunkStats {
	out := make([]*ChunkStats, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}

func TestAdvance(t *testing.T) {
	const site, session = 3_000_000_001, "s_0123456789abcdefghijkl"
	cs := scripted(t)
	want := Fold(cs).Summary(site, session)
	tally := &AnswerTally{Feedback: 1, MinRating: 2}
	want.FeedbackCount, want.MinFeedbackRating = 1, 2

	// A new session: folded from the fresh chunks, with the stored tally.
	src := &advanceSources{tally: tally}
	st, err := Advance(site, session, nil, ptrs(cs[:2]), false, src.sources())
	if err != nil || st.State == nil || !st.Changed || src.all != 0 || src.answers != 1 || st.State.Answers != tally {
		t.Fatalf("new session: %+v, %v; reads all=%d answers=%d", st, err, src.all, src.answers)
	}
	stored := st.State

	// In order: applied in place, no read; the tally stays the state's.
	src = &advanceSources{tally: &AnswerTally{Surveys: 9}}
	st, err = Advance(site, session, stored, ptrs(cs[2:]), false, src.sources())
	if err != nil || st.State != stored || !st.Changed || src.all+src.answers != 0 {
		t.Fatalf("in order: same state %v, %+v, %v; reads all=%d answers=%d", st.State == stored, st, err, src.all, src.answers)
	}
	if got := st.State.Summary(site, session); !proto.Equal(got, want) {
		t.Fatalf("in order: summary\n%v\nwant\n%v", got, want)
	}

	// Nothing new and no duplicate: nothing to store.
	if st, err := Advance(site, session, stored, nil, false, src.sources()); err != nil || st.State != nil {
		t.Fatalf("no chunks: %+v, %v", st, err)
	}

	// An equal seq (another tab's chunk) or a duplicate refolds from the
	// store; the same chunks again change nothing.
	for name, c := range map[string]struct {
		fresh []ChunkStats
		dups  bool
	}{"equal seq": {cs[3:], false}, "duplicate": {nil, true}, "earlier seq": {cs[:1], false}} {
		src = &advanceSources{stored: cs, tally: tally}
		st, err := Advance(site, session, Fold(cs).withAnswers(tally), ptrs(c.fresh), c.dups, src.sources())
		if err != nil || st.State == nil || st.Changed || src.all != 1 || src.answers != 1 || !proto.Equal(st.State.Summary(site, session), want) {
			t.Fatalf("%s: %+v, %v; reads all=%d answers=%d", name, st, err, src.all, src.answers)
		}
	}

	// A refold that finds a chunk the state missed changes the summary.
	src = &advanceSources{stored: cs, tally: tally}
	st, err = Advance(site, session, Fold(cs[:3]).withAnswers(tally), nil, true, src.sources())
	if err != nil || !st.Changed || !proto.Equal(st.State.Summary(site, session), want) {
		t.Fatalf("refold with a missed chunk: %+v, %v", st, err)
	}

	// A duplicate of a session the store holds no chunk of: nothing.
	src = &advanceSources{}
	if st, err := Advance(site, session, nil, nil, true, src.sources()); err != nil || st.State != nil || src.all != 1 {
		t.Fatalf("empty refold: %+v, %v", st, err)
	}

	// The store's read error is the caller's.
	boom := errors.New("boom")
	src = &advanceSources{err: boom}
	if _, err := Advance(site, session, stored, ptrs(cs[:1]), false, src.sources()); !errors.Is(err, boom) {
		t.Fatalf("read error = %v, want boom", err)
	}
}

func (s *State) withAnswers(t *AnswerTally) *State {
	s.Answers = t
	return s
}

func TestRetally(t *testing.T) {
	const site, session = 3_000_000_001, "s_0123456789abcdefghijkl"
	s := Fold(scripted(t))
	sum, changed := s.Retally(site, session, &AnswerTally{Feedback: 2, MinRating: 1, Surveys: 1})
	if !changed || sum.GetFeedbackCount() != 2 || sum.GetMinFeedbackRating() != 1 || sum.GetSurveyResponseCount() != 1 {
		t.Fatalf("first tally: changed %v, %v", changed, sum)
	}
	if _, changed := s.Retally(site, session, &AnswerTally{Feedback: 2, MinRating: 1, Surveys: 1}); changed {
		t.Fatal("the same tally again changed the summary")
	}
	// A zero tally is none: the state holds nil, as a fold without answers.
	sum, changed = s.Retally(site, session, &AnswerTally{})
	if !changed || s.Answers != nil || sum.GetFeedbackCount() != 0 || sum.GetSurveyResponseCount() != 0 {
		t.Fatalf("zero tally: changed %v, answers %v, %v", changed, s.Answers, sum)
	}
	if _, changed := s.Retally(site, session, nil); changed {
		t.Fatal("no tally after a zero one changed the summary")
	}
}

func TestStored(t *testing.T) {
	s := Fold(scripted(t))
	open := s.Stored(1, "s_0123456789", 7, 0)
	if open.GetVersion() != 7 || open.GetEndedTime() != nil {
		t.Fatalf("open session: version %d, ended %v", open.GetVersion(), open.GetEndedTime())
	}
	ended := s.Stored(1, "s_0123456789", 8, t0+60_000)
	if ended.GetVersion() != 8 || ended.GetEndedTime().AsTime().UnixMilli() != t0+60_000 {
		t.Fatalf("ended session: version %d, ended %v", ended.GetVersion(), ended.GetEndedTime())
	}
	ended.Version, ended.EndedTime = 0, nil
	if !proto.Equal(ended, s.Summary(1, "s_0123456789")) {
		t.Fatal("Stored changed more than the version and the end")
	}
}
