package summary

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/referrer"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// Page is one page view in the fold.
type Page struct {
	PageViewID string `json:"p"`
	URL        string `json:"u"`
	Referrer   string `json:"r,omitempty"`
	StartMs    int64  `json:"s"`
	EndMs      int64  `json:"e"`
}

// State is the fold of a session's chunk stats in key order (seq, then page
// view id). It is small (bounded) and stored with the session, so a chunk
// that arrives in order costs one Apply; a chunk that arrives out of order
// (including one whose seq equals MaxSeq: another tab's chunk may sort
// either side of it) makes the store refold from the stored stats.
// Fold(stats sorted by key) == successive Apply.
type State struct {
	MaxSeq         int64   `json:"q"`
	Chunks         int32   `json:"n"`
	OrganizationID int64   `json:"o,omitempty"`
	VisitorID      string  `json:"v,omitempty"`
	Client         *Client `json:"c,omitempty"`
	ViewportW      int32   `json:"vw,omitempty"`
	ViewportH      int32   `json:"vh,omitempty"`
	Truncated      bool    `json:"tr,omitempty"`
	StartMs        int64   `json:"s,omitempty"`
	EndMs          int64   `json:"e,omitempty"`
	MaxServerMs    int64   `json:"sm,omitempty"`
	ExpiresMs      int64   `json:"x,omitempty"`
	ColdMs         int64   `json:"cm,omitempty"`
	Events         int64   `json:"ev"`
	StoredBytes    int64   `json:"sb"`
	RawBytes       int64   `json:"rb"`

	Pages        []Page         `json:"pg,omitempty"`
	PageOverflow int32          `json:"po,omitempty"`
	CurPage      map[string]int `json:"cp,omitempty"`

	Clicks int32 `json:"ck,omitempty"`
	Rage   int32 `json:"rg,omitempty"`
	Dead   int32 `json:"dd,omitempty"`
	// Views is the click state of the page views (frustration.go); Bursts
	// numbers the bursts; Frustrations is the session's list, in the order
	// the fold decided them, bounded by MaxFrustrations.
	Views        map[string]*view `json:"pvs,omitempty"`
	Bursts       int64            `json:"bn,omitempty"`
	Frustrations []Frustration    `json:"fl,omitempty"`

	ActiveMs int64     `json:"am,omitempty"`
	OpenSpan *Interval `json:"os,omitempty"`

	Errors       int32             `json:"er,omitempty"`
	CustomEvents []string          `json:"ce,omitempty"`
	UserID       string            `json:"u,omitempty"`
	Attrs        map[string]string `json:"at,omitempty"`

	// Reach is how far down each page of each page view the viewport
	// reached (key: page view id, NUL, page key), for scroll heatmaps;
	// bounded by maxReach. Clicked lists the selector paths clicked,
	// distinct, in order, bounded by maxClickedElems.
	Reach   map[string]*Reach `json:"hr,omitempty"`
	Clicked []string          `json:"hc,omitempty"`

	// Answers tallies the session's stored feedback and survey answers;
	// the store sets it (answers are no chunks: Fold leaves it nil).
	Answers *AnswerTally `json:"an,omitempty"`
}

// Reach is one page view's depth on one page: the deepest point as a
// percentage of the document height, with the UTC day, device class, first
// screen and document height of the chunk that first showed the page.
type Reach struct {
	Page   string `json:"pk"`
	Day    int32  `json:"d"`
	Device int32  `json:"dv,omitempty"`
	Pct    int32  `json:"p"`
	Fold   int32  `json:"f"`
	Doc    int32  `json:"h"`
}

// Fold folds stats (any order) into a fresh State, in key order.
func Fold(stats []ChunkStats) *State {
	sorted := slices.Clone(stats)
	slices.SortFunc(sorted, func(a, b ChunkStats) int { return CompareKey(a.Seq, a.PageViewID, b.Seq, b.PageViewID) })
	s := &State{MaxSeq: -1}
	for i := range sorted {
		if i > 0 && CompareKey(sorted[i-1].Seq, sorted[i-1].PageViewID, sorted[i].Seq, sorted[i].PageViewID) == 0 {
			continue // a duplicate: the store keeps the first write of a key
		}
		s.Apply(&sorted[i])
	}
	return s
}

// CompareKey orders chunks by their key: seq, then page view id as bytes
// (two tabs of one session may send the same seq). Every store reads chunks
// back in this order.
func CompareKey(seqA int64, pvA string, seqB int64, pvB string) int {
	if c := cmp.Compare(seqA, seqB); c != 0 {
		return c
	}
	return strings.Compare(pvA, pvB)
}

// NewState is the fold of no chunks.
func NewState() *State { return &State{MaxSeq: -1} }

// Apply folds in one chunk whose key is greater than every chunk folded so far.
func (s *State) Apply(c *ChunkStats) {
	s.MaxSeq = max(s.MaxSeq, c.Seq)
	s.Chunks++
	if s.OrganizationID == 0 {
		s.OrganizationID = c.OrganizationID
	}
	if s.VisitorID == "" {
		s.VisitorID = c.VisitorID
	}
	if s.Client == nil && c.Client != nil {
		cl := *c.Client
		s.Client = &cl
	}
	if s.ViewportW == 0 && c.ViewportW > 0 && c.ViewportH > 0 {
		s.ViewportW, s.ViewportH = c.ViewportW, c.ViewportH
	}
	s.Truncated = s.Truncated || c.Truncated
	if c.EventCount > 0 {
		if s.StartMs == 0 || c.FirstMs < s.StartMs {
			s.StartMs = c.FirstMs
		}
		s.EndMs = max(s.EndMs, c.LastMs)
	}
	s.MaxServerMs = max(s.MaxServerMs, c.ServerMs)
	s.ExpiresMs = max(s.ExpiresMs, c.ExpiresMs)
	s.ColdMs = max(s.ColdMs, c.ColdMs)
	s.Events += c.EventCount
	s.StoredBytes += c.StoredBytes
	s.RawBytes += c.RawBytes

	s.applyPages(c)
	s.applyClicks(c)
	s.applyActive(c)
	s.applyHeat(c)

	s.Errors += c.Errors
	for _, n := range c.CustomEvents {
		if !slices.Contains(s.CustomEvents, n) && len(s.CustomEvents) < maxCustomNames {
			s.CustomEvents = append(s.CustomEvents, n)
		}
	}
	for _, id := range c.Identifies {
		if id.UserID != "" {
			s.UserID = id.UserID
		}
		for _, kv := range id.Attrs {
			if s.Attrs == nil {
				s.Attrs = map[string]string{}
			}
			if _, ok := s.Attrs[kv[0]]; ok || len(s.Attrs) < maxAttributes {
				s.Attrs[kv[0]] = kv[1]
			}
		}
	}
}

func (s *State) applyPages(c *ChunkStats) {
	if c.EventCount == 0 {
		return
	}
	if s.CurPage == nil {
		s.CurPage = map[string]int{}
	}
	// The chunk's own page view: continue it, or start it.
	segEnd := c.LastMs
	if len(c.Navs) > 0 {
		segEnd = max(c.FirstMs, c.Navs[0].T)
	}
	idx, ok := s.CurPage[c.PageViewID]
	if ok && idx >= 0 {
		p := &s.Pages[idx]
		p.StartMs = min(p.StartMs, c.FirstMs)
		p.EndMs = max(p.EndMs, segEnd)
	} else if !ok {
		s.CurPage[c.PageViewID] = s.addPage(Page{PageViewID: c.PageViewID, URL: c.URL, Referrer: c.Referrer, StartMs: c.FirstMs, EndMs: segEnd})
	}
	// Route changes within it start new pages.
	for i, n := range c.Navs {
		end := c.LastMs
		if i+1 < len(c.Navs) {
			end = max(n.T, c.Navs[i+1].T)
		}
		cur := s.CurPage[c.PageViewID]
		if cur >= 0 && s.Pages[cur].URL == n.URL {
			s.Pages[cur].EndMs = max(s.Pages[cur].EndMs, end)
			continue
		}
		ref := n.Referrer
		if ref == "" && cur >= 0 {
			ref = s.Pages[cur].URL
		}
		s.CurPage[c.PageViewID] = s.addPage(Page{PageViewID: c.PageViewID, URL: n.URL, Referrer: ref, StartMs: n.T, EndMs: end})
	}
}

// addPage appends p, answering its index, or -1 past the bound (counted).
func (s *State) addPage(p Page) int {
	if len(s.Pages) >= maxPages {
		s.PageOverflow++
		return -1
	}
	s.Pages = append(s.Pages, p)
	return len(s.Pages) - 1
}

func (s *State) applyActive(c *ChunkStats) {
	for _, iv := range c.Active {
		switch {
		case s.OpenSpan == nil:
			sp := iv
			s.OpenSpan = &sp
		case iv.S <= s.OpenSpan.E && iv.E >= s.OpenSpan.S:
			s.OpenSpan.S = min(s.OpenSpan.S, iv.S)
			s.OpenSpan.E = max(s.OpenSpan.E, iv.E)
		default:
			s.ActiveMs += s.OpenSpan.E - s.OpenSpan.S
			sp := iv
			s.OpenSpan = &sp
		}
	}
}

// Marshal encodes the state for storage, selector paths unescaped
// (storedjson). States written with them escaped read the same.
func (s *State) Marshal() ([]byte, error) { return storedjson.MarshalUnsorted(s) }

// UnmarshalState decodes a stored state.
func UnmarshalState(b []byte) (*State, error) {
	s := NewState()
	if err := storedjson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("summary: decode state: %w", err)
	}
	return s, nil
}

// Summary renders the state (version zero; the store sets it).
func (s *State) Summary(siteID int64, sessionID string) *sessionsv1.SessionSummary {
	out := &sessionsv1.SessionSummary{
		SiteId:          siteID,
		OrganizationId:  s.OrganizationID,
		SessionId:       sessionID,
		VisitorId:       s.VisitorID,
		ClickCount:      s.Clicks,
		RageClickCount:  s.Rage,
		DeadClickCount:  s.Dead,
		ClickedElements: slices.Clone(s.Clicked),
		ErrorCount:      s.Errors,
		UserId:          s.UserID,
		ViewportWidth:   s.ViewportW,
		ViewportHeight:  s.ViewportH,
		Truncated:       s.Truncated || s.PageOverflow > 0,
		ChunkCount:      s.Chunks,
		EventCount:      s.Events,
		StoredBytes:     s.StoredBytes,
	}
	if s.StartMs > 0 {
		out.StartTime = timestamppb.New(time.UnixMilli(s.StartMs))
		out.EndTime = timestamppb.New(time.UnixMilli(s.EndMs))
		dur := time.Duration(s.EndMs-s.StartMs) * time.Millisecond
		out.Duration = durationpb.New(dur)
		active := s.ActiveMs
		if s.OpenSpan != nil {
			// The last span reaches past the last event; clip it there.
			active += max(min(s.OpenSpan.E, s.EndMs)-s.OpenSpan.S, 0)
		}
		out.ActiveDuration = durationpb.New(min(time.Duration(active)*time.Millisecond, dur))
	}
	if s.Client != nil {
		out.Client = &sessionsv1.Client{
			DeviceType: sessionsv1.DeviceType(s.Client.DeviceType), Browser: s.Client.Browser,
			BrowserVersion: s.Client.BrowserVersion, Os: s.Client.OS, OsVersion: s.Client.OSVersion,
			Country: s.Client.Country, IpPrefix: s.Client.IPPrefix, UserAgent: s.Client.UserAgent,
		}
	}
	pages := slices.Clone(s.Pages)
	slices.SortStableFunc(pages, func(a, b Page) int { return cmp.Compare(a.StartMs, b.StartMs) })
	for _, p := range pages {
		out.Pages = append(out.Pages, &sessionsv1.PageView{
			PageViewId: p.PageViewID, Url: p.URL, Referrer: p.Referrer,
			StartTime: timestamppb.New(time.UnixMilli(p.StartMs)),
			Duration:  durationpb.New(time.Duration(max(p.EndMs-p.StartMs, 0)) * time.Millisecond),
		})
	}
	out.PageCount = int32(len(pages)) + s.PageOverflow
	if len(pages) > 0 {
		first := pages[0]
		out.EntryUrl, out.ExitUrl = first.URL, pages[len(pages)-1].URL
		out.Referrer = first.Referrer
		out.ReferrerDomain = referrer.Domain(first.Referrer)
		out.UtmSource, out.UtmMedium, out.UtmCampaign = referrer.UTM(first.URL)
	}
	out.CustomEvents = slices.Sorted(slices.Values(s.CustomEvents))
	keys := make([]string, 0, len(s.Attrs))
	for k := range s.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out.UserAttributes = append(out.UserAttributes, &sessionsv1.Attribute{Key: k, Value: s.Attrs[k]})
	}
	out.RageClickedElements, out.DeadClickedElements = s.frustratedElements()
	s.Answers.fill(out)
	return out
}

// frustratedElements lists the selector paths of the elements the fold
// decided rage and dead clicks on, each list distinct, in the order
// decided, bounded as Clicked.
func (s *State) frustratedElements() (rage, dead []string) {
	for _, f := range s.Frustrations {
		if f.H == nil || f.H.Sel == "" {
			continue
		}
		into := &dead
		if f.Kind == Rage {
			into = &rage
		}
		if len(*into) < maxClickedElems && !slices.Contains(*into, f.H.Sel) {
			*into = append(*into, f.H.Sel)
		}
	}
	return rage, dead
}

// LastActivityMs is when the session was last active, as the stores'
// EndIdleSessions judge idleness: the ingest server time of its latest
// chunk, or the visitor's clock (EndMs) when no chunk carried one. The
// server's clock comes first: a visitor's clock can be off by hours.
func (s *State) LastActivityMs() int64 {
	if s.MaxServerMs > 0 {
		return s.MaxServerMs
	}
	return s.EndMs
}
