package summary

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Step is what Advance decided for a session's stored state.
type Step struct {
	// State is the state to store: stored itself when the chunks were
	// applied in order, a new one otherwise; nil when there is nothing to
	// store (no chunks at all).
	State *State
	// Changed: State's summary differs from the stored state's (always
	// for a new session or chunks applied in order), so the store writes
	// a new version and an outbox entry.
	Changed bool
}

// Sources are the reads Advance may need; each is read only when needed,
// as each costs the store a query.
type Sources struct {
	// All returns every stored chunk's stats, the fresh ones included; read
	// to refold.
	All func() ([]ChunkStats, error)
	// Answers returns the session's answer tally; read for a new or refolded
	// state (one applied in place keeps its own: the store updates it with
	// each answer).
	Answers func() (*AnswerTally, error)
}

// Advance is the rule every store follows to bring a session's stored state
// up to date with the chunks it has just stored. stored is the state held
// (nil: a new session); fresh are the new chunks' stats in key order. dups
// says the call also carried chunks the store already had: a re-delivery,
// which may follow a crash between writing the chunks and the state, so
// the state is refolded rather than trusted.
//
// Chunks after every chunk folded so far (a seq above stored.MaxSeq) are
// applied to stored in place, one Apply each; an equal seq or an earlier one
// refolds from every stored chunk, as another tab's chunk of that seq may
// sort either side of it. The caller takes what it needs of stored (its
// summary's heatmap part, its expiry) before calling.
func Advance(site int64, session string, stored *State, fresh []*ChunkStats, dups bool, src Sources) (Step, error) {
	if stored != nil && len(fresh) == 0 && !dups {
		return Step{}, nil
	}
	// Chunks applied in order always change the summary (its chunk count
	// grows); a refold is compared with the stored summary. The two
	// renderings and the proto.Equal were 85–89 % of Advance's CPU in
	// bench-heatmaps -interleave's profile (heatmaps on and off alike).
	inOrder := stored != nil && !dups && fresh[0].Seq > stored.MaxSeq
	var old *sessionsv1.SessionSummary
	if stored != nil && !inOrder {
		old = stored.Summary(site, session)
	}
	var state *State
	switch {
	case inOrder:
		state = stored
		for _, c := range fresh {
			state.Apply(c)
		}
	case stored == nil && !dups:
		if len(fresh) == 0 {
			return Step{}, nil
		}
		state = NewState()
		for _, c := range fresh {
			state.Apply(c)
		}
	default:
		all, err := src.All()
		if err != nil {
			return Step{}, err
		}
		if len(all) == 0 {
			return Step{}, nil
		}
		state = Fold(all)
	}
	if state != stored {
		t, err := src.Answers()
		if err != nil {
			return Step{}, err
		}
		state.Answers = t
	}
	changed := stored == nil || inOrder || !proto.Equal(old, state.Summary(site, session))
	return Step{State: state, Changed: changed}, nil
}

// Stored is the state's summary as a store answers it: with the version
// the store keeps and, once the session has ended (endedMs > 0), its end.
func (s *State) Stored(site int64, session string, version, endedMs int64) *sessionsv1.SessionSummary {
	sum := s.Summary(site, session)
	sum.Version = version
	if endedMs > 0 {
		sum.EndedTime = timestamppb.New(time.UnixMilli(endedMs))
	}
	return sum
}

// Retally gives the state the answer tally t (a zero one as none), the
// rule every store follows when a session's answers change: it returns the
// summary after and whether it changed (a new version for the outbox).
func (s *State) Retally(site int64, session string, t *AnswerTally) (*sessionsv1.SessionSummary, bool) {
	old := s.Summary(site, session)
	s.Answers = nil
	if !t.IsZero() {
		s.Answers = t
	}
	sum := s.Summary(site, session)
	return sum, !proto.Equal(old, sum)
}
