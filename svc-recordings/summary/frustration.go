package summary

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// The one definition of rage and dead clicks. The session's counts
// (SessionSummary.rage_click_count, dead_click_count, which search indexes)
// and the list GetSession returns (and the player shows) are both made
// here, by the fold, so they cannot disagree.
//
//   - A click is dead when nothing reacts (reacts) within DeadWindowMs after
//     it in its own page view, and the page view's data goes on past that
//     window. Its reaction may come in a later chunk: the click waits in
//     its page view's fold state. A click whose page view sends nothing
//     more (the visitor navigated away or closed the tab) is never dead.
//   - Its wait ends early when the visitor presses elsewhere (Press: on
//     another element, farther than RageRadiusPx): what reacts after that
//     answers the new action, so a click nothing answered before the
//     visitor went on to something else is dead. (Pressing the same spot
//     again, as an impatient visitor does, keeps the wait going.)
//   - A click into an editable field is never dead (and never part of a
//     rage burst: triple-clicking to select a field's text is no anger).
//   - Rage: clicks within RageRadiusPx of a burst's first click, each within
//     RageWindowMs of the one before, with RageClicks of them within
//     RageWindowMs. One burst counts once however long it goes on; its
//     clicks are never also dead (a click waits for its burst to close
//     before it is called dead).
//
// Determinism: the fold sees chunks in key order only (the store refolds
// when one arrives out of order, and skips duplicates), so arrival order
// never changes the answer.

// FrustrationKind says what was wrong with a click.
type FrustrationKind int8

// Frustration kinds.
const (
	Rage FrustrationKind = 1
	Dead FrustrationKind = 2
)

// MaxFrustrations bounds the stored list (the counts go on).
const MaxFrustrations = 1000

// maxViews bounds the page views whose click state the fold keeps; the
// one touched longest ago makes room (its waiting clicks are dropped).
const maxViews = 8

// Frustration is one rage burst or one dead click.
type Frustration struct {
	Kind       FrustrationKind `json:"k"`
	T          int64           `json:"t"`
	PageViewID string          `json:"p"`
	Node       int32           `json:"n,omitempty"`
	X          int32           `json:"x"`
	Y          int32           `json:"y"`
	Clicks     int32           `json:"c"`
	// H anchors the (first) click for the rage and dead heatmaps.
	H *Anchor `json:"h,omitempty"`
}

// waiting is a click not yet judged.
type waiting struct {
	Click
	Burst   int64 `json:"b"`
	Expired bool  `json:"xp,omitempty"` // its window passed with no reaction
}

// burst is a page view's current run of clicks.
type burst struct {
	ID    int64 `json:"id"`
	First Click `json:"f"`
	Prev  int64 `json:"pv"` // time of the click before Last (N ≥ 2)
	Last  int64 `json:"l"`
	N     int32 `json:"n"`
	Rage  bool  `json:"r,omitempty"`
	// Entry is the burst's index in State.Frustrations, -1 when past the bound.
	Entry  int  `json:"e"`
	Closed bool `json:"c,omitempty"`
}

// view is the click state of one page view.
type view struct {
	Editable []int32   `json:"ed,omitempty"` // sorted
	Waiting  []waiting `json:"w,omitempty"`
	Burst    *burst    `json:"b,omitempty"`
	Touched  int32     `json:"t"`
}

func (v *view) editable(id int32) bool {
	_, ok := slices.BinarySearch(v.Editable, id)
	return ok && id != 0
}

func (v *view) learn(c *ChunkStats) {
	if c.EditableReset {
		v.Editable = v.Editable[:0]
	}
	for _, id := range c.Editable {
		if i, ok := slices.BinarySearch(v.Editable, id); !ok && len(v.Editable) < maxEditable {
			v.Editable = slices.Insert(v.Editable, i, id)
		}
	}
}

// pageView answers the click state of page view id, making room for it.
func (s *State) pageView(id string) *view {
	if v, ok := s.Views[id]; ok {
		v.Touched = s.Chunks
		return v
	}
	if s.Views == nil {
		s.Views = map[string]*view{}
	}
	if len(s.Views) >= maxViews {
		oldest := ""
		for k, v := range s.Views {
			if oldest == "" || v.Touched < s.Views[oldest].Touched || (v.Touched == s.Views[oldest].Touched && k < oldest) {
				oldest = k
			}
		}
		delete(s.Views, oldest)
	}
	v := &view{Touched: s.Chunks}
	s.Views[id] = v
	return v
}

func (s *State) applyClicks(c *ChunkStats) {
	s.Clicks += c.ClickCount
	if c.EventCount == 0 {
		return
	}
	v := s.pageView(c.PageViewID)
	// Clicks of earlier chunks of this page view: this chunk's first
	// reaction may answer them; data past their window expires them.
	keep := v.Waiting[:0]
	for _, w := range v.Waiting {
		switch {
		case w.Expired:
		case answers(c, w.Click):
			continue
		case c.LastMs > w.T+DeadWindowMs || cutAt(c, w.Click) <= w.T+DeadWindowMs:
			w.Expired = true
		}
		keep = append(keep, w)
	}
	v.Waiting = keep
	// The chunk's fields are known before its clicks are judged (ids are
	// never reused, so learning them first cannot misjudge a click).
	var before []int32
	if c.EditableReset {
		before = slices.Clone(v.Editable)
	}
	v.learn(c)
	for _, k := range c.Clicks {
		if k.Editable || v.editable(k.Node) || containsSorted(before, k.Node) {
			// Into a field: never dead, and it ends any burst.
			s.closeBurst(c.PageViewID, v)
			continue
		}
		s.rage(c.PageViewID, v, k)
		if k.Resolved || v.Burst.Rage {
			continue
		}
		if len(v.Waiting) < maxClicksPerChunk {
			v.Waiting = append(v.Waiting, waiting{Click: k, Burst: v.Burst.ID, Expired: k.Cut || c.LastMs > k.T+DeadWindowMs})
		}
	}
	// No later click can join a burst once the data is past its window.
	if v.Burst != nil && c.LastMs > v.Burst.Last+RageWindowMs {
		s.closeBurst(c.PageViewID, v)
	}
	s.settle(c.PageViewID, v)
}

// answers tells whether chunk c reacts to click k of an earlier chunk
// before the visitor pressed elsewhere.
func answers(c *ChunkStats, k Click) bool {
	until := min(k.T+DeadWindowMs, cutAt(c, k)-1)
	if len(c.Early) == 0 {
		// Stats stored before Early existed.
		return c.FirstResponseMs > 0 && c.FirstResponseMs <= until
	}
	for _, r := range c.Early {
		if r.T <= until && (r.Focus == 0 || r.Focus != k.Node) {
			return true
		}
	}
	return false
}

// cutAt is the time of chunk c's first press elsewhere than click k (at or
// after it), math.MaxInt64 when none. A reaction in the same millisecond
// as that press is taken for the press's: within a chunk the stream order
// decides, which the lists across chunks no longer hold.
func cutAt(c *ChunkStats, k Click) int64 {
	for _, p := range c.Presses {
		if p.T >= k.T && pressedElsewhere(k, p) {
			return p.T
		}
	}
	return math.MaxInt64
}

func containsSorted(ids []int32, id int32) bool {
	_, ok := slices.BinarySearch(ids, id)
	return ok && id != 0
}

// rage adds k to the page view's burst, or starts a new one.
func (s *State) rage(pv string, v *view, k Click) {
	if b := v.Burst; b != nil && !b.Closed {
		dx, dy := int64(k.X-b.First.X), int64(k.Y-b.First.Y)
		if k.T >= b.Last && k.T-b.Last <= RageWindowMs && dx*dx+dy*dy <= RageRadiusPx*RageRadiusPx {
			// RageClicks (3) clicks within the window: this one and the two before.
			three := b.N >= RageClicks-1 && k.T-b.Prev <= RageWindowMs
			b.Prev, b.Last = b.Last, k.T
			b.N++
			switch {
			case b.Rage:
				if b.Entry >= 0 {
					s.Frustrations[b.Entry].Clicks = b.N
				}
			case three:
				b.Rage = true
				s.Rage++
				b.Entry = s.addFrustration(Frustration{Kind: Rage, T: b.First.T, PageViewID: pv, Node: b.First.Node, X: b.First.X, Y: b.First.Y, Clicks: b.N, H: b.First.H})
				// Its clicks are rage, not dead.
				v.Waiting = slices.DeleteFunc(v.Waiting, func(w waiting) bool { return w.Burst == b.ID })
			}
			return
		}
		s.closeBurst(pv, v)
	}
	s.Bursts++
	v.Burst = &burst{ID: s.Bursts, First: k, Last: k.T, N: 1, Entry: -1}
}

// closeBurst ends the page view's burst: no click joins it any more, so its
// expired clicks can be judged.
func (s *State) closeBurst(pv string, v *view) {
	if v.Burst != nil && !v.Burst.Closed {
		v.Burst.Closed = true
		s.settle(pv, v)
	}
}

// settle calls dead the expired clicks whose burst is closed.
func (s *State) settle(pv string, v *view) {
	open := int64(-1)
	if v.Burst != nil && !v.Burst.Closed {
		open = v.Burst.ID
	}
	v.Waiting = slices.DeleteFunc(v.Waiting, func(w waiting) bool {
		if !w.Expired || w.Burst == open {
			return false
		}
		s.Dead++
		s.addFrustration(Frustration{Kind: Dead, T: w.T, PageViewID: pv, Node: w.Node, X: w.X, Y: w.Y, Clicks: 1, H: w.H})
		return true
	})
}

func (s *State) addFrustration(f Frustration) int {
	if len(s.Frustrations) >= MaxFrustrations {
		return -1
	}
	s.Frustrations = append(s.Frustrations, f)
	return len(s.Frustrations) - 1
}

// FrustrationList renders the session's frustrations in time order (ties:
// page view, then kind), as GetSession returns them.
func (s *State) FrustrationList() []*recordingsv1.Frustration {
	fs := slices.Clone(s.Frustrations)
	slices.SortStableFunc(fs, func(a, b Frustration) int {
		return cmp.Or(cmp.Compare(a.T, b.T), strings.Compare(a.PageViewID, b.PageViewID), cmp.Compare(a.Kind, b.Kind))
	})
	out := make([]*recordingsv1.Frustration, 0, len(fs))
	for _, f := range fs {
		kind := recordingsv1.FrustrationKind_FRUSTRATION_KIND_DEAD
		if f.Kind == Rage {
			kind = recordingsv1.FrustrationKind_FRUSTRATION_KIND_RAGE
		}
		out = append(out, &recordingsv1.Frustration{
			Kind: kind, Time: timestamppb.New(time.UnixMilli(f.T)), PageViewId: f.PageViewID,
			NodeId: f.Node, X: f.X, Y: f.Y, Clicks: f.Clicks,
		})
	}
	return out
}
