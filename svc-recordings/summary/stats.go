// Package summary derives a session's summary from its chunks. Each chunk is
// reduced on arrival to ChunkStats (stored beside the chunk); the summary is
// the fold of every chunk's stats in sequence order. Because the fold only
// ever sees stats in seq order, re-delivery and out-of-order arrival cannot
// change the result.
package summary

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// Thresholds of the derived metrics.
const (
	// RageWindowMs and RageRadiusPx: three clicks within one second within
	// ~30 px make one rage click.
	RageWindowMs = 1000
	RageRadiusPx = 30
	RageClicks   = 3
	// DeadWindowMs: a click nothing reacts to within this time after it is
	// dead (see reacts for what counts as a reaction).
	DeadWindowMs = 1500
	// ActiveWindowMs: each user input counts the following seconds as active
	// (gaps shorter than this between inputs are active time).
	ActiveWindowMs = 5000

	maxClicksPerChunk  = 1000
	maxNavsPerChunk    = 100
	maxIdentifyPerChk  = 20
	maxCustomNames     = 100
	maxCustomNameLen   = 128
	maxAttributes      = 50
	maxAttrKeyLen      = 64
	maxAttrValueLen    = 512
	maxURLLen          = 2048
	maxPages           = 500
	maxIntervalsPerChk = 256
)

// Client is ingest's enrichment of the visitor's software and place.
type Client struct {
	DeviceType     int32  `json:"dt,omitempty"`
	Browser        string `json:"b,omitempty"`
	BrowserVersion string `json:"bv,omitempty"`
	OS             string `json:"os,omitempty"`
	OSVersion      string `json:"ov,omitempty"`
	Country        string `json:"c,omitempty"`
	IPPrefix       string `json:"ip,omitempty"`
	UserAgent      string `json:"ua,omitempty"`
}

// Click is one mouse click. Resolved is true when something reacted to it
// (reacts) later in the same chunk, within DeadWindowMs; Cut when, before
// anything did, the visitor pressed elsewhere in the same chunk (so no
// later reaction is its); Editable when the chunk itself showed the
// clicked node is an editable field (the fold also knows the fields of
// earlier chunks of the page view).
type Click struct {
	T        int64 `json:"t"`
	X        int32 `json:"x"`
	Y        int32 `json:"y"`
	Node     int32 `json:"n,omitempty"`
	Resolved bool  `json:"r,omitempty"`
	Cut      bool  `json:"cu,omitempty"`
	Editable bool  `json:"ed,omitempty"`
	// H anchors the click for heatmaps (heat.go); nil when its page is
	// unknown.
	H *Anchor `json:"h,omitempty"`
}

// Reaction is an event that shows the page reacted (reacts), and the node a
// focus change focused (0 for other reactions).
type Reaction struct {
	T     int64 `json:"t"`
	Focus int32 `json:"f,omitempty"`
}

// Press is a pointer press (rrweb's MouseDown or TouchStart): the visitor
// beginning their next action. One elsewhere (pressedElsewhere) ends the
// wait of the clicks before it.
type Press struct {
	T    int64 `json:"t"`
	X    int32 `json:"x"`
	Y    int32 `json:"y"`
	Node int32 `json:"n,omitempty"`
}

// pressedElsewhere tells whether press p is on something other than click
// k: another node, and farther than RageRadiusPx (so pressing a button's
// label and then its edge, or a node rrweb could not name, is the same
// place).
func pressedElsewhere(k Click, p Press) bool {
	if k.Node != 0 && k.Node == p.Node {
		return false
	}
	dx, dy := int64(p.X-k.X), int64(p.Y-k.Y)
	return dx*dx+dy*dy > RageRadiusPx*RageRadiusPx
}

// maxEarly bounds ChunkStats.Early and ChunkStats.Presses.
const maxEarly = 8

// Interval is a half-open span of time [S, E) in ms since the epoch.
type Interval struct {
	S int64 `json:"s"`
	E int64 `json:"e"`
}

// Nav is a single-page-app route change (sl:navigation).
type Nav struct {
	T        int64  `json:"t"`
	URL      string `json:"u"`
	Referrer string `json:"r,omitempty"`
}

// Identify is one sightline('identify', ...) call.
type Identify struct {
	UserID string      `json:"u,omitempty"`
	Attrs  [][2]string `json:"a,omitempty"`
}

// ChunkStats is everything one chunk contributes to its session's summary.
// It depends on the chunk alone.
type ChunkStats struct {
	Seq            int64   `json:"q"`
	OrganizationID int64   `json:"o,omitempty"`
	VisitorID      string  `json:"v,omitempty"`
	PageViewID     string  `json:"p,omitempty"`
	URL            string  `json:"u,omitempty"`
	Referrer       string  `json:"r,omitempty"`
	ViewportW      int32   `json:"vw,omitempty"`
	ViewportH      int32   `json:"vh,omitempty"`
	Client         *Client `json:"c,omitempty"`
	Truncated      bool    `json:"tr,omitempty"`
	// ServerMs is when ingest accepted the chunk; ExpiresMs is when the
	// site's retention lets it go.
	ServerMs  int64 `json:"sm,omitempty"`
	ExpiresMs int64 `json:"x,omitempty"`
	// ColdMs is when the site's cold age lets the chunk move to object
	// storage (zero: never); the service sets it from cold_after_days.
	ColdMs int64 `json:"cm,omitempty"`

	// FirstMs/LastMs bound the chunk's event timestamps.
	FirstMs int64 `json:"f,omitempty"`
	LastMs  int64 `json:"l,omitempty"`
	// FullSnapshotMs is the time of the chunk's first full snapshot
	// (rrweb type 2), zero when it has none: a player can start there.
	FullSnapshotMs int64 `json:"fs,omitempty"`
	EventCount     int64 `json:"n"`
	RawBytes       int64 `json:"rb"`
	StoredBytes    int64 `json:"sb"`

	ClickCount int32   `json:"cc,omitempty"`
	Clicks     []Click `json:"ck,omitempty"`
	// FirstResponseMs is the earliest reaction (reacts) of the chunk, zero
	// when none: it resolves clicks left pending by the page view's chunk
	// before.
	FirstResponseMs int64 `json:"fr,omitempty"`
	// Early are the chunk's first reactions (up to maxEarly, within
	// DeadWindowMs of its first event), with the node a focus reaction
	// focused: focus moving to the clicked node itself answers no click.
	Early []Reaction `json:"ea,omitempty"`
	// Presses are the chunk's first pointer presses (up to maxEarly, within
	// DeadWindowMs of its first event): one elsewhere ends the wait of a
	// click the page view's chunk before left pending.
	Presses []Press `json:"pr,omitempty"`
	// Editable lists the rrweb ids of editable fields the chunk's full
	// snapshots and mutations added (bounded); EditableReset is true when
	// the chunk holds a full snapshot, whose ids replace the page view's.
	Editable      []int32    `json:"ef,omitempty"`
	EditableReset bool       `json:"ex,omitempty"`
	Active        []Interval `json:"a,omitempty"`
	Navs          []Nav      `json:"nv,omitempty"`
	Errors        int32      `json:"e,omitempty"`
	CustomEvents  []string   `json:"ce,omitempty"`
	Identifies    []Identify `json:"id,omitempty"`
	// Heat is the chunk's pointer movement and scroll reach per page, and
	// the page its full snapshot shows (heat.go).
	Heat *Heat `json:"ht,omitempty"`
}

// Marshal encodes stats for storage, compactly (every append writes them):
// a click's anchor names its page by its place in Heat.Pages and leaves
// out its day when it is the chunk's (compactAnchors), and selectors keep
// their '>' unescaped.
func (s *ChunkStats) Marshal() ([]byte, error) {
	return s.AppendMarshal(make([]byte, 0, 512))
}

// AppendMarshal appends Marshal's bytes to b.
//
// The heat, the struct's last field (TestMarshalWritesHeatLast keeps it
// so), is written by its own encoder after
// the rest: through the struct's encoder, the bytes its MarshalJSON
// answered were parsed again and copied (a third of the stats' encoding in
// bench-heatmaps' profile). The bytes are the same.
func (s *ChunkStats) AppendMarshal(b []byte) ([]byte, error) {
	c, _ := compactedPool.Get().(*compacted)
	if c == nil {
		c = &compacted{}
	}
	defer c.release()
	out := &c.stats
	*out = *s
	out.Clicks = compactAnchorsInto(s, c)
	heat := out.Heat
	out.Heat = nil
	b, err := storedjson.Append(b, out)
	if err == nil && heat != nil {
		// The struct's closing brace makes way for its last member
		// (EventCount and the byte counts are always written: never "{}").
		b, err = heat.appendJSON(append(b[:len(b)-1], `,"ht":`...))
		b = append(b, '}')
	}
	if err != nil {
		return nil, fmt.Errorf("summary: encode chunk stats: %w", err)
	}
	return b, nil
}

// UnmarshalStats decodes stored stats (either form of anchors).
func UnmarshalStats(b []byte) (ChunkStats, error) {
	var s ChunkStats
	if err := storedjson.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("summary: decode chunk stats: %w", err)
	}
	if err := s.expandAnchors(); err != nil {
		return s, fmt.Errorf("summary: decode chunk stats: %w", err)
	}
	return s, nil
}

// rrweb event types and incremental sources.
const (
	typeFullSnapshot = 2
	typeIncremental  = 3
	typeMeta         = 4
	typeCustom       = 5

	srcMutation           = 0
	srcMouseMove          = 1
	srcInteraction        = 2
	srcScroll             = 3
	srcViewportResize     = 4
	srcInput              = 5
	srcTouchMove          = 6
	srcMediaInteraction   = 7
	srcStyleSheetRule     = 8
	srcCanvasMutation     = 9
	srcStyleDeclaration   = 13
	srcSelection          = 14
	srcAdoptedStyleSheets = 15

	interactionMouseDown  = 1
	interactionClick      = 2
	interactionFocus      = 5
	interactionBlur       = 6
	interactionTouchStart = 7
)

// ErrEvents marks events that are not a JSON array of rrweb events.
var ErrEvents = errors.New("events must be a JSON array of rrweb event objects")

// Extract reduces one chunk to its stats. storedBytes is the size the chunk
// takes in the store (compressed); expiresMs is when retention drops it.
// A chunk of a bot or of a browser the User-Agent parser could not place
// ("other"; its client's device class) carries no heatmap data, as with
// ExtractWithoutHeat: maps are drawn per class and for desktops, tablets
// and phones together, and what a chunk's stats do not carry nothing
// counts — the aggregates, the page list's counts, the snapshots a map is
// drawn over, rebuilds and deletions all follow the stored stats — so the
// page list counts the visits the maps show, and no bot's clicks.
func Extract(ch *recordingsv1.Chunk, storedBytes, expiresMs int64) (ChunkStats, error) {
	return extract(ch, storedBytes, expiresMs, true, nil)
}

// ExtractWithoutHeat is Extract for an instance with heatmaps turned off:
// no Heat, no click anchors (so no clicked elements or frustration anchors
// either), and pointer positions are not read.
func ExtractWithoutHeat(ch *recordingsv1.Chunk, storedBytes, expiresMs int64) (ChunkStats, error) {
	return extract(ch, storedBytes, expiresMs, false, nil)
}

// ExtractEach is Extract (ExtractWithoutHeat when heat is false) that
// also hands each event to each, in order, as it reads it: a second
// reader of the chunk's events (asset capture's) needs no walk of its own.
// When the events are refused, each saw those before the faulty one.
func ExtractEach(ch *recordingsv1.Chunk, storedBytes, expiresMs int64, heat bool, each func(batch.Event)) (ChunkStats, error) {
	return extract(ch, storedBytes, expiresMs, heat, each)
}

// mapped tells whether a chunk of a device class carries heatmap data
// (Extract). An unknown class (a chunk without the client's details, or a
// request without a User-Agent, which browsers always send) keeps it.
func mapped(d sessionsv1.DeviceType) bool {
	return d != sessionsv1.DeviceType_DEVICE_TYPE_BOT && d != sessionsv1.DeviceType_DEVICE_TYPE_OTHER
}

func extract(ch *recordingsv1.Chunk, storedBytes, expiresMs int64, heat bool, each func(batch.Event)) (ChunkStats, error) {
	st := ChunkStats{
		Seq:            ch.GetSeq(),
		OrganizationID: ch.GetOrganizationId(),
		VisitorID:      ch.GetVisitorId(),
		PageViewID:     ch.GetPageViewId(),
		URL:            clip(ch.GetUrl(), maxURLLen),
		Referrer:       clip(ch.GetReferrer(), maxURLLen),
		ViewportW:      ch.GetViewport().GetWidth(),
		ViewportH:      ch.GetViewport().GetHeight(),
		Truncated:      ch.GetTruncated(),
		ExpiresMs:      expiresMs,
		RawBytes:       int64(len(ch.GetEvents())),
		StoredBytes:    storedBytes,
	}
	if t := ch.GetServerTime(); t != nil {
		st.ServerMs = t.AsTime().UnixMilli()
	}
	if c := ch.GetClient(); c != nil {
		st.Client = &Client{
			DeviceType: int32(c.GetDeviceType()), Browser: c.GetBrowser(), BrowserVersion: c.GetBrowserVersion(),
			OS: c.GetOs(), OSVersion: c.GetOsVersion(), Country: c.GetCountry(), IPPrefix: c.GetIpPrefix(),
			UserAgent: c.GetUserAgent(),
		}
	}
	var h *heatReader
	if heat && mapped(ch.GetClient().GetDeviceType()) {
		h = newHeatReader()
		defer h.release()
	}
	if err := st.addEvents(ch.GetEvents(), h, each); err != nil {
		return st, err
	}
	return st, nil
}

// addEvents reads the events with the batch contract's iterator, which
// checks each event exactly as ingest did before answering 204: whatever
// ingest accepted, this reads (no parser of its own with other limits).
// Fields are read by key from the raw bytes, without building a tree. heat
// follows what heatmaps need; nil skips it. each, when not nil, is handed
// every event read.
func (st *ChunkStats) addEvents(raw []byte, heat *heatReader, each func(batch.Event)) error {
	var activity []int64
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	nodes := newNodeKinds()
	// open holds the indexes in st.Clicks of clicks nothing has reacted to
	// yet; a reaction is an event after the click in the stream.
	var open []int
	// focus is the focused node as rrweb's Focus/Blur events tell (0: none),
	// once focusKnown.
	var focus int32
	var focusKnown bool
	react := func(t int64, focused int32) {
		if st.FirstResponseMs == 0 {
			st.FirstResponseMs = max(t, 1)
		}
		if len(st.Early) < maxEarly && t <= st.FirstResponseMs+DeadWindowMs {
			st.Early = append(st.Early, Reaction{T: t, Focus: focused})
		}
		keep := open[:0]
		for _, i := range open {
			c := &st.Clicks[i]
			switch {
			case t > c.T+DeadWindowMs:
				// Too late for it: the fold decides it from LastMs.
			case focused != 0 && focused == c.Node:
				// Focus moving to the clicked element itself is the
				// browser's default, not the page reacting.
				keep = append(keep, i)
			default:
				c.Resolved = true
			}
		}
		open = keep
	}
	// press ends the wait of the open clicks it is elsewhere from: what
	// reacts after it may be its answer, not theirs. A click left
	// unanswered until the visitor went on to something else is dead.
	press := func(p Press) {
		if len(st.Presses) < maxEarly && p.T <= first+DeadWindowMs {
			st.Presses = append(st.Presses, p)
		}
		keep := open[:0]
		for _, i := range open {
			c := &st.Clicks[i]
			switch {
			case p.T > c.T+DeadWindowMs:
				// Too late for it, as in react.
			case pressedElsewhere(*c, p):
				c.Cut = true
			default:
				keep = append(keep, i)
			}
		}
		open = keep
	}
	it := batch.NewEvents(raw)
	if heat != nil {
		// What heatmaps read of pointer moves and snapshots, read as the
		// events are checked.
		it.ReadPositions(positionKeys, heat.pos)
		it.ReadSnapshotFields()
	}
	for it.Next() {
		e := it.Event()
		if each != nil {
			each(e)
		}
		t, data := e.Timestamp, e.Data
		first, last = min(first, t), max(last, t)
		switch e.Type {
		case typeFullSnapshot:
			if st.FullSnapshotMs == 0 {
				st.FullSnapshotMs = max(t, 1)
				heat.snapshotSeen()
			}
			var node batch.Value
			if heat != nil {
				// Where the event's walk noted them, else one more walk.
				var offset batch.Value
				var ok bool
				if node, offset, ok = it.SnapshotFields(); !ok {
					node, offset = snapshotFields(data)
				}
				heat.snapshotOffset(node, offset)
			} else {
				node = data.Get("node")
			}
			nodes.snapshot(node)
			react(t, 0)
		case typeMeta:
			react(t, 0)
			if st.URL == "" {
				st.URL = clip(data.Get("href").Str(), maxURLLen)
			}
			w, _ := data.Get("width").Float()
			h, _ := data.Get("height").Float()
			if w > 0 && h > 0 && w < 1e6 && h < 1e6 {
				st.ViewportW, st.ViewportH = int32(w), int32(h)
				heat.viewport(h)
			}
		case typeIncremental:
			src, ok := data.Get("source").Float()
			if !ok {
				continue
			}
			switch src {
			case srcMutation:
				nodes.mutation(data)
				react(t, 0)
			case srcInteraction:
				activity = append(activity, t)
				kind, _ := data.Get("type").Float()
				id, _ := data.Get("id").Float()
				switch kind {
				case interactionClick:
					st.ClickCount++
					if len(st.Clicks) < maxClicksPerChunk {
						x, _ := data.Get("x").Float()
						y, _ := data.Get("y").Float()
						n := clampID(id)
						st.Clicks = append(st.Clicks, Click{T: t, X: clampPx(x), Y: clampPx(y), Node: n, Editable: nodes.editable(n)})
						heat.clickPos(&st.Clicks[len(st.Clicks)-1])
						open = append(open, len(st.Clicks)-1)
					}
				case interactionMouseDown, interactionTouchStart:
					x, _ := data.Get("x").Float()
					y, _ := data.Get("y").Float()
					press(Press{T: t, X: clampPx(x), Y: clampPx(y), Node: clampID(id)})
				case interactionFocus, interactionBlur:
					n := clampID(id)
					if kind == interactionFocus {
						focus = n
					} else if focus == n {
						focus = 0
					}
					focusKnown = true
					react(t, n)
				}
			case srcScroll:
				activity = append(activity, t)
				react(t, 0)
				heat.scroll(data)
			case srcInput:
				activity = append(activity, t)
				react(t, 0)
			case srcViewportResize:
				react(t, 0)
				if h, ok := data.Get("height").Float(); ok && h > 0 && h < 1e6 {
					heat.viewport(h)
				}
			case srcMediaInteraction, srcSelection:
				react(t, 0)
			case srcStyleSheetRule, srcCanvasMutation, srcStyleDeclaration, srcAdoptedStyleSheets:
				// What the page looks like changed, as with a mutation.
				react(t, 0)
			case srcMouseMove, srcTouchMove:
				activity = append(activity, t)
				if heat != nil {
					read, ok := it.Positions()
					heat.positions(t, data, read, ok)
				}
			}
		case typeCustom:
			tag := data.Get("tag").Str()
			switch tag {
			case "sl:view":
				if heat != nil {
					heat.view(data.Get("payload"))
				}
				continue
			case "sl:click":
				if heat != nil {
					elementClick(st.Clicks, t, data.Get("payload"))
				}
				continue
			}
			reacts := st.addCustom(t, tag, data.Get("payload"))
			heat.navigated(len(st.Navs))
			if !reacts {
				continue
			}
			if tag != "sl:focus" {
				react(t, 0)
				continue
			}
			// The tracker sends sl:focus a task after focus moved (for the
			// replay's focus ring), so it lands after the click that moved
			// focus on mousedown: it is a reaction only when it reports a
			// focus rrweb's own Focus/Blur events (in order) did not.
			id, _ := data.Get("payload").Get("id").Float()
			if n := clampID(id); focusKnown && n != focus {
				focus = n
				react(t, n)
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrEvents, err)
	}
	st.EventCount = int64(it.Count())
	st.FirstMs, st.LastMs = first, last
	st.Editable, st.EditableReset = nodes.added, nodes.reset
	st.Active = mergeActivity(activity)
	heat.finish(st)
	return nil
}

// clampID reads an rrweb node id (positive int32; anything else is 0, no node).
func clampID(v float64) int32 {
	if v >= 1 && v <= math.MaxInt32 {
		return int32(v)
	}
	return 0
}

// addCustom reads Sightline's custom events and answers whether the event
// is a reaction to a click (a route change, or a focus change the tracker
// reports with sl:focus). Every string it keeps comes from batch.Value.Str,
// so it is valid UTF-8 (lone surrogates → U+FFFD) and clip keeps it so.
func (st *ChunkStats) addCustom(t int64, tag string, payload batch.Value) bool {
	if tag == "sl:error" {
		st.Errors++
		return false
	}
	if payload.Kind() != batch.Object {
		return false
	}
	switch tag {
	case "sl:focus":
		return true
	case "sl:navigation":
		u := payload.Get("url").Str()
		if u == "" {
			return false
		}
		if len(st.Navs) < maxNavsPerChunk {
			st.Navs = append(st.Navs, Nav{T: t, URL: clip(u, maxURLLen), Referrer: clip(payload.Get("referrer").Str(), maxURLLen)})
		}
		return true
	case "sl:event":
		name := clip(payload.Get("name").Str(), maxCustomNameLen)
		if name != "" && !slices.Contains(st.CustomEvents, name) && len(st.CustomEvents) < maxCustomNames {
			st.CustomEvents = append(st.CustomEvents, name)
		}
	case "sl:identify":
		if len(st.Identifies) >= maxIdentifyPerChk {
			return false
		}
		id := Identify{UserID: clip(payload.Get("userId").Str(), maxAttrValueLen)}
		if attrs := payload.Get("attributes"); attrs.Kind() == batch.Object {
			var kvs [][2]string
			attrs.Fields(func(k string, v batch.Value) bool {
				if len(k) == 0 || len(k) > maxAttrKeyLen || v.Kind() == batch.Null {
					return true
				}
				val := v.Text() // numbers, booleans, arrays as their JSON text
				if v.Kind() == batch.String {
					val = v.Str()
				}
				kvs = append(kvs, [2]string{k, clip(val, maxAttrValueLen)})
				return true
			})
			slices.SortStableFunc(kvs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
			for i, kv := range kvs {
				if i+1 < len(kvs) && kvs[i+1][0] == kv[0] {
					continue // a repeated key keeps its last value
				}
				if len(id.Attrs) < maxAttributes {
					id.Attrs = append(id.Attrs, kv)
				}
			}
		}
		st.Identifies = append(st.Identifies, id)
	}
	return false
}

// mergeActivity turns input times into merged [t, t+ActiveWindowMs) spans.
func mergeActivity(ts []int64) []Interval {
	if len(ts) == 0 {
		return nil
	}
	slices.Sort(ts)
	var out []Interval
	cur := Interval{S: ts[0], E: ts[0] + ActiveWindowMs}
	for _, t := range ts[1:] {
		if t <= cur.E {
			cur.E = max(cur.E, t+ActiveWindowMs)
			continue
		}
		out = append(out, cur)
		cur = Interval{S: t, E: t + ActiveWindowMs}
	}
	out = append(out, cur)
	if len(out) > maxIntervalsPerChk {
		// Keep the total bounded: fold the tail into one span covering
		// the same active time at the end.
		var rest int64
		for _, iv := range out[maxIntervalsPerChk-1:] {
			rest += iv.E - iv.S
		}
		last := out[len(out)-1]
		out = append(out[:maxIntervalsPerChk-1], Interval{S: last.E - rest, E: last.E})
	}
	return out
}

func clampPx(v float64) int32 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > 1e7:
		return 1e7
	case v < -1e7:
		return -1e7
	}
	return int32(v)
}

// clip truncates s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
