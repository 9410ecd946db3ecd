// Package store is the contract of svc-recordings' storage: recording chunks
// in a wide-column layout (partition (site, session), clustering (seq, page
// view id)), the
// session summaries folded from them, the indexes for visitor deletion and
// retention, and the outbox that carries summary changes to search.
//
// Backends: store/pebble (embedded) and store/scylla. Both pass
// store/storetest.Run.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// ErrNotFound is returned for a session that does not exist, was deleted
// or has expired.
var ErrNotFound = errors.New("store: not found")

// ErrBadToken is returned by ListSessions for a token it did not issue.
var ErrBadToken = errors.New("store: bad page token")

// ErrSessionChunks and ErrSessionBytes are why a chunk is refused when its
// session already holds the most chunks or bytes the store was opened with
// (AppendResult.Refused wraps them).
var (
	ErrSessionChunks = errors.New("store: session has the most chunks allowed")
	ErrSessionBytes  = errors.New("store: session has the most bytes allowed")
)

// Limits bound one session; zero means no bound.
type Limits struct {
	// MaxChunks is the most chunks of one session.
	MaxChunks int64
	// MaxRawBytes is the most uncompressed event bytes of one session
	// (the sum of Stats.RawBytes).
	MaxRawBytes int64
}

// Admit answers nil when a session that holds chunks chunks of raw bytes
// may take one more chunk of size raw bytes, or why it may not.
func (l Limits) Admit(chunks, raw, size int64) error {
	if l.MaxChunks > 0 && chunks >= l.MaxChunks {
		return fmt.Errorf("%w (%d)", ErrSessionChunks, l.MaxChunks)
	}
	if l.MaxRawBytes > 0 && raw+size > l.MaxRawBytes {
		return fmt.Errorf("%w (%d; it holds %d, the chunk has %d)", ErrSessionBytes, l.MaxRawBytes, raw, size)
	}
	return nil
}

// Chunk is one recording chunk as the service hands it to the store.
type Chunk struct {
	SiteID    int64
	SessionID string
	Seq       int64
	// PageViewID is part of the key: two tabs of one session can allocate
	// the same seq (the tracker's counter lives in localStorage, which has
	// no compare-and-set), and both of their chunks must be kept. It equals
	// Stats.PageViewID.
	PageViewID string
	// Data is the chunk's events, compressed by the service (zstd).
	Data []byte
	// Stats were extracted from the chunk (summary.Extract); they carry
	// the visitor, page view, times, expiry and everything the summary
	// needs, so the summary can be refolded without reading Data.
	Stats summary.ChunkStats
}

// StoredChunk is a chunk as read back.
type StoredChunk struct {
	Seq        int64
	PageViewID string
	Data       []byte
	FirstMs    int64
	LastMs     int64
}

// ChunkMeta is what a player needs to choose where to start.
type ChunkMeta struct {
	Seq            int64
	PageViewID     string
	FirstMs        int64
	LastMs         int64
	FullSnapshotMs int64
}

// AppendResult tells, per chunk of an Append call (same order), whether it
// was stored for the first time, was already there (Stored false, Refused
// nil), or was refused for good.
type AppendResult struct {
	Stored bool
	// Refused is why the chunk was refused (wrapping ErrSessionChunks or
	// ErrSessionBytes); sending it again cannot succeed.
	Refused error
}

// OutboxKind is what an outbox entry asks search to do.
type OutboxKind int

// Outbox kinds.
const (
	OutboxUpsert OutboxKind = iota + 1
	OutboxDeleteSessions
	OutboxDeleteVisitor
	// OutboxUpsertAnswers asks search to index the answers AnswerIDs of
	// SiteID; the relay reads them from the store when it delivers (one
	// deleted meanwhile is skipped: its deletion follows in the outbox).
	OutboxUpsertAnswers
	// OutboxDeleteAnswers asks search to delete answers of SiteID: those
	// of AnswerIDs, else of VisitorID, else of SessionIDs[0].
	OutboxDeleteAnswers
)

// OutboxEntry is one change waiting for search.
type OutboxEntry struct {
	// ID orders the entries; entries are delivered in ID order.
	ID   string
	Kind OutboxKind
	// Summary, for OutboxUpsert: as of the change or later; nil when the
	// session is gone (nothing to index).
	Summary *sessionsv1.SessionSummary
	SiteID  int64
	// SessionIDs, for OutboxDeleteSessions.
	SessionIDs []string
	// VisitorID, for OutboxDeleteVisitor (and OutboxDeleteAnswers).
	VisitorID string
	// AnswerIDs, for OutboxUpsertAnswers and OutboxDeleteAnswers.
	AnswerIDs []string
	// Traceparent is the W3C trace context of the call that recorded the
	// entry (see Traceparent): the relay's span links to it, so a change
	// can be followed from its call to search. Empty when the call had
	// none, for a backend that does not keep it (ScyllaDB), and for
	// entries recorded before it was kept.
	Traceparent string
}

// Traceparent returns ctx's span context as a W3C traceparent, "" when
// ctx has none: what OutboxEntry.Traceparent keeps.
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// HeatQuery selects heatmap aggregates of one site: the pages (page keys),
// the device classes (empty: every one), the UTC days [FromDay, ToDay] and
// the kinds.
type HeatQuery struct {
	SiteID  int64
	Pages   []string
	Devices []int32
	FromDay int32
	ToDay   int32
	Kinds   []heatmap.Kind
}

// HeatSnapshot points at a chunk holding a full snapshot of a page.
type HeatSnapshot struct {
	SessionID  string
	PageViewID string
	Seq        int64
	// FullSnapshotMs is the snapshot's time; ServerMs when it was stored.
	FullSnapshotMs int64
	ServerMs       int64
	URL            string
	ViewportW      int32
	ViewportH      int32
}

// Page is one page of a summary listing.
type Page struct {
	Sessions []*sessionsv1.SessionSummary
	// Next is empty on the last page.
	Next string
}

// Store keeps recordings. Every method is safe for concurrent use.
//
// Contract (checked by storetest.Run):
//   - Append is idempotent by (site, session, seq, page view): the first
//     write of a key wins; a later chunk with the same key changes nothing
//     and is reported Stored=false. Two chunks with the same seq and
//     different page views are two chunks, both kept. Chunks of one call
//     may belong to many sessions and arrive in any order. When Append
//     returns nil, every chunk of the call is durable or refused.
//   - Limits (given when the store is opened): a new chunk that would take
//     its session past Limits.MaxChunks or Limits.MaxRawBytes is refused
//     (AppendResult.Refused), never stored and never silently dropped; the
//     other chunks of the call are unaffected. A chunk already stored is a
//     duplicate, not refused, however full its session. The chunks of one
//     call are admitted in key order. (ScyllaDB: concurrent writers of one
//     session may overshoot by the chunks in flight.)
//   - A session's summary is summary.Fold of the stats of all its stored
//     chunks (in key order), with SiteId/SessionId set; so re-delivery and
//     reordering never change it. Its Version starts at 1 and grows by one
//     for every Append call that changed it; an Append that changes
//     nothing (only duplicates) leaves it alone.
//   - Every summary change is recorded in the outbox atomically with the
//     chunk that caused it (a crash loses neither or both). Deletions
//     are recorded in the outbox too. OutboxPending lists entries in the
//     order they were recorded; OutboxAck removes them. An upsert's
//     summary is the session's as of the change that recorded it or a
//     later one (search keeps the highest version): Pebble records only
//     the session's name and reads its current summary when listing, nil
//     once the session is gone (its deletion follows in the outbox).
//   - Chunks are read back in key order (seq, then page view id as bytes),
//     byte-identical.
//   - A session expires at the maximum over its chunks of Stats.ExpiresMs
//     (zero: never). An expired session reads as ErrNotFound and is left
//     out of listings; Sweep removes it (and records a deletion in the
//     outbox).
//   - A session that is ended (EndIdleSessions; Ending's contract) is
//     final: its summary keeps the fold of the chunks stored before it
//     ended, plus EndedTime.
//   - DeleteSession/DeleteVisitor remove chunks, summaries and indexes;
//     chunks of a deleted session that arrive later (re-delivery) are
//     dropped and reported as duplicates (Stored=false, Refused nil): the
//     session's data is gone on purpose, not refused.
//   - Heatmap aggregates (Heat, HeatPages) always equal, key by key,
//     heatmap.Session of every stored session (its chunks' stats and its
//     fold): a new chunk adds heatmap.AddChunk and the change of
//     heatmap.AddState, in the same atomic write as the chunk; deleting or
//     sweeping a session subtracts what it added (ScyllaDB: counters are
//     applied after the chunk's write; a crash between them can miss one
//     chunk's part, which RebuildHeat repairs). Each page a chunk
//     shows (ChunkSnapshots: its full snapshot's, its route changes')
//     becomes that page's HeatSnapshot for the chunk's device class and
//     its session's SnapshotSlot when the chunk's server time is the
//     latest there.
type Store interface {
	// Append stores chunks; results are in the order of chunks.
	Append(ctx context.Context, chunks []Chunk) ([]AppendResult, error)
	// Session returns a session's summary.
	Session(ctx context.Context, siteID int64, sessionID string) (*sessionsv1.SessionSummary, error)
	// SessionDetail returns a session's summary and its frustrations
	// (summary.State.FrustrationList), read together so the list and the
	// summary's rage/dead counts come from the same fold.
	SessionDetail(ctx context.Context, siteID int64, sessionID string) (*sessionsv1.SessionSummary, []*recordingsv1.Frustration, error)
	// ChunkIndex lists a session's chunks' times in key order.
	ChunkIndex(ctx context.Context, siteID int64, sessionID string) ([]ChunkMeta, error)
	// ReadChunks calls fn for each chunk with seq ≥ fromSeq (every page
	// view of that seq included) in key order, until fn returns an error
	// (which ReadChunks returns).
	ReadChunks(ctx context.Context, siteID int64, sessionID string, fromSeq int64, fn func(StoredChunk) error) error
	// ListSessions pages through the summaries of a site (every site when
	// siteID is 0) in a stable order; token is "" or a previous Page.Next.
	ListSessions(ctx context.Context, siteID int64, token string, limit int) (Page, error)
	// DeleteSession removes a session; ErrNotFound when there is none.
	DeleteSession(ctx context.Context, siteID int64, sessionID string) error
	// DeleteVisitor removes every session of a visitor of a site and
	// answers their ids, so that what else holds a session (its cold
	// segments) goes with it without listing the site's every object.
	DeleteVisitor(ctx context.Context, siteID int64, visitorID string) ([]string, error)
	// SiteActivity answers the server time of the site's latest chunk (zero
	// when none) and how many sessions began (first chunk stored) since.
	SiteActivity(ctx context.Context, siteID int64, since time.Time) (time.Time, int64, error)
	// Sweep removes sessions expired at now and answers how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// OutboxPending returns up to limit entries in recorded order.
	OutboxPending(ctx context.Context, limit int) ([]OutboxEntry, error)
	// OutboxAck removes delivered entries.
	OutboxAck(ctx context.Context, entries []OutboxEntry) error
	// OutboxDepth counts waiting entries.
	OutboxDepth(ctx context.Context) (int64, error)
	// Heat calls fn for every stored aggregate row of the site matching q
	// (any order; a cell may come once per page, device and day: the caller
	// sums them, heatmap.Sums), until fn returns an error, which Heat
	// returns.
	Heat(ctx context.Context, q HeatQuery, fn func(kind heatmap.Kind, cell string, v heatmap.Vec) error) error
	// HeatPages calls fn for each page key of the site's page dictionary
	// (heatmap.Page aggregates: N page views, X clicks) in key order, from
	// the first key > after ("" from the start), until fn returns an
	// error. Pages whose sums are all zero may be skipped.
	HeatPages(ctx context.Context, siteID int64, after string, fn func(page string, v heatmap.Vec) error) error
	// HeatSnapshot answers the latest stored chunk (by server time) holding
	// a full snapshot of page on device class device whose session is
	// still stored, among the newest of each SnapshotSlot (ties: the lower
	// slot), and false when there is none.
	HeatSnapshot(ctx context.Context, siteID int64, page string, device int32) (HeatSnapshot, bool, error)
	// RebuildHeat recomputes the site's aggregates of days ≥ sinceDay (and
	// its whole page dictionary) from the stored sessions, and points each
	// page's snapshot again from every stored chunk (ChunkSnapshots of
	// StatsChunks: the newest still wins, and chunks stored before a
	// version that pointed pages they show — route changes' — point them
	// now), calling progress after each step. A run cut off (error, crash)
	// resumes where it stopped when called again with the same site and sinceDay; another
	// sinceDay starts over. While it runs, aggregates of those days are
	// partial; appends and deletions go on and end up counted once.
	RebuildHeat(ctx context.Context, siteID int64, sinceDay int32, progress func(done, total int64)) error
	Answers
	Ending
	Cold
	// Ping checks the store is usable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// ChunkSnap is a page a chunk shows, the device class it was recorded on
// and the HeatSnapshot pointing at it.
type ChunkSnap struct {
	Page   string
	Device int32
	// Slot is the session's SnapshotSlot.
	Slot int
	Snap HeatSnapshot
}

// StatsChunks is a stored session's chunks as their stats describe them,
// without their events: what ChunkSnapshots reads, for a rebuild.
func StatsChunks(stats []summary.ChunkStats) []Chunk {
	out := make([]Chunk, len(stats))
	for i, st := range stats {
		out[i] = Chunk{Seq: st.Seq, PageViewID: st.PageViewID, Stats: st}
	}
	return out
}

// SnapshotSlots is how many snapshot pointers a page keeps per device
// class: the newest of the sessions of each slot. One pointer would leave
// a page's heatmap without a page to be drawn over once its session was
// deleted (a visitor's erasure) or expired, until a new visit recorded
// it; with a slot per session hash, the next-newest session of another
// slot draws it. A slot, not the K newest sessions, because both backends
// keep a pointer with a blind write (a max merge, a write timestamp),
// never a read; deleted sessions' pointers stay until a newer session of
// their slot replaces them, and are skipped.
const SnapshotSlots = 8

// SnapshotSlot is the slot of a session's snapshot pointers (FNV-1a of its
// id: the same in every process and backend).
func SnapshotSlot(session string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(session)) // a hash.Hash never fails
	return int(h.Sum32() % SnapshotSlots)
}

// SlotPointer is a snapshot pointer as a backend reads it: its slot
// (SnapshotSlots for one written before slots, last in a tie) and the chunk
// it points at.
type SlotPointer struct {
	Slot int
	Snap HeatSnapshot
}

// NewestLive is HeatSnapshot's choice among a page's pointers: the newest
// by server time (ties: the lower slot) whose session live says is still
// stored (a pointer outlives a deleted or expired session), false when
// none is. It reorders ps.
func NewestLive(ps []SlotPointer, live func(session string) (bool, error)) (HeatSnapshot, bool, error) {
	slices.SortFunc(ps, func(a, b SlotPointer) int {
		return cmp.Or(cmp.Compare(b.Snap.ServerMs, a.Snap.ServerMs), cmp.Compare(a.Slot, b.Slot))
	})
	for _, p := range ps {
		ok, err := live(p.Snap.SessionID)
		if err != nil {
			return HeatSnapshot{}, false, err
		}
		if ok {
			return p.Snap, true, nil
		}
	}
	return HeatSnapshot{}, false, nil
}

// maxRouteSnaps bounds the route changes of one chunk that become
// snapshot pointers (an app may replaceState on every scroll).
const maxRouteSnaps = 8

// ChunkSnapshots answers the pages a chunk shows that a heatmap can be
// drawn over, with the HeatSnapshot pointing at each: the page of its
// first full snapshot (the chunk's URL when it is that page's, else the
// page key), and each page a single-page app's route change (sl:navigation)
// moved to, at the change's time (the last change to each page, at most
// maxRouteSnaps, none to the full snapshot's page). A route's page has no
// full snapshot of its own: it is rebuilt by replaying from the last full
// snapshot before the change (StreamRecording's start_offset) to the
// change. None when the chunk carries no heatmap data. Both backends keep
// the newest per page, device and SnapshotSlot of the session.
func ChunkSnapshots(session string, c *Chunk) []ChunkSnap {
	h := c.Stats.Heat
	if h == nil {
		return nil // heatmaps off (summary.ExtractWithoutHeat), or nothing of them
	}
	var device int32
	if c.Stats.Client != nil {
		device = c.Stats.Client.DeviceType
	}
	slot := SnapshotSlot(session)
	snap := func(page, u string, ms int64) ChunkSnap {
		return ChunkSnap{Page: page, Device: device, Slot: slot, Snap: HeatSnapshot{
			SessionID: session, PageViewID: c.PageViewID, Seq: c.Seq, FullSnapshotMs: ms,
			ServerMs: c.Stats.ServerMs, URL: u, ViewportW: c.Stats.ViewportW, ViewportH: c.Stats.ViewportH,
		}}
	}
	var out []ChunkSnap
	full := ""
	if h.Snap > 0 && int(h.Snap) <= len(h.Pages) {
		full = h.Pages[h.Snap-1]
		u := c.Stats.URL
		if pagerule.Key(u) != full {
			u = full
		}
		out = append(out, snap(full, u, c.Stats.FullSnapshotMs))
	}
	seen := map[string]bool{full: true}
	for i := len(c.Stats.Navs) - 1; i >= 0 && len(out) < 1+maxRouteSnaps; i-- {
		n := c.Stats.Navs[i]
		page := pagerule.Key(n.URL)
		if page == "" || seen[page] || n.T <= 0 {
			continue
		}
		seen[page] = true
		out = append(out, snap(page, n.URL, n.T))
	}
	return out
}

// Answer is one feedback or survey answer as the service hands it to the
// store: validated and scrubbed. ExpiresMs (zero: never) comes from the
// site's retention like a chunk's.
type Answer struct {
	Answer    *sessionsv1.Answer
	ExpiresMs int64
}

// TimeMs is when the answer was given, the time answers are listed by:
// the client's time, else the server's, never before the epoch (0 when
// neither is set).
func (a *Answer) TimeMs() int64 {
	t := a.Answer.GetClientTime()
	if t == nil {
		t = a.Answer.GetServerTime()
	}
	if t == nil {
		return 0
	}
	return max(t.AsTime().UnixMilli(), 0)
}

// AnswerPage is one page of an answers listing.
type AnswerPage struct {
	Answers []*sessionsv1.Answer
	// Next is empty on the last page.
	Next string
}

// AnswerCounts counts a site's stored answers.
type AnswerCounts struct {
	// Surveys is responses per survey id.
	Surveys map[int64]int64
	// Feedback is feedback-widget answers.
	Feedback int64
}

// Answers keeps feedback and survey answers.
//
// Contract (checked by storetest.Run, section Answers):
//   - AppendAnswers is idempotent by (site, answer id): the first write
//     wins and is reported Stored; a later one changes nothing
//     (Stored=false, Refused nil), whatever it holds. An answer of a
//     session or visitor deleted earlier (within the tombstone time) or
//     already expired is dropped, reported like a duplicate.
//   - ListAnswers pages through a site's answers newest first by client
//     time (then by id), each page strictly after the last.
//   - AnswerCounts counts the stored answers per survey and feedback
//     answers; deleted and expired answers no longer count.
//   - A session's summary (when the session has stored chunks) carries
//     the tally of its stored answers — FeedbackCount, MinFeedbackRating,
//     SurveyResponseCount — whatever the order in which chunks and answers
//     arrived; an answer changing it bumps the version and records an
//     OutboxUpsert, atomically with the answer (Pebble). Answers alone
//     make no session.
//   - Answers have their own outbox (AnswerOutboxPending/Ack, in recorded
//     order, apart from the sessions' so neither waits on the other): every
//     stored answer records an OutboxUpsertAnswers entry, every removal an
//     OutboxDeleteAnswers entry, atomically with the write (ScyllaDB: in
//     the same logged batch).
//   - DeleteSessionAnswers / DeleteVisitorAnswers remove the answers of a
//     session / visitor (and keep re-deliveries out like DeleteSession);
//     SweepAnswers removes answers expired at now.
type Answers interface {
	// AppendAnswers stores answers; results are in the order of answers.
	AppendAnswers(ctx context.Context, answers []Answer) ([]AppendResult, error)
	// GetAnswers reads the stored answers of a site among ids (missing ones
	// left out), in the order of ids.
	GetAnswers(ctx context.Context, siteID int64, ids []string) ([]*sessionsv1.Answer, error)
	// ListAnswers pages through a site's answers, newest first; token is ""
	// or a previous AnswerPage.Next (ErrBadToken otherwise).
	ListAnswers(ctx context.Context, siteID int64, token string, limit int) (AnswerPage, error)
	// AnswerCounts counts a site's stored answers.
	AnswerCounts(ctx context.Context, siteID int64) (AnswerCounts, error)
	// DeleteSessionAnswers removes a session's answers and answers how many.
	DeleteSessionAnswers(ctx context.Context, siteID int64, sessionID string) (int64, error)
	// DeleteVisitorAnswers removes a visitor's answers and answers how many.
	DeleteVisitorAnswers(ctx context.Context, siteID int64, visitorID string) (int64, error)
	// SweepAnswers removes answers expired at now and answers how many.
	SweepAnswers(ctx context.Context, now time.Time) (int, error)
	// AnswerOutboxPending returns up to limit answer outbox entries in
	// recorded order; AnswerOutboxAck removes delivered ones.
	AnswerOutboxPending(ctx context.Context, limit int) ([]OutboxEntry, error)
	AnswerOutboxAck(ctx context.Context, entries []OutboxEntry) error
}

// Notify event types: what a notify outbox entry publishes.
const (
	EventSessionEnded          = "session.ended"
	EventFeedbackCreated       = "feedback.created"
	EventSurveyResponseCreated = "survey.response.created"
)

// NotifyEntry is one event waiting for notify. It names its object rather
// than carrying it: the relay reads the session or the answer when it
// publishes, and skips (and acknowledges) one deleted meanwhile, so a
// deletion never has to find and drop pending entries, and an event never
// carries data removed on purpose.
type NotifyEntry struct {
	// ID orders the entries; entries are published in ID order.
	ID string
	// Type is EventSessionEnded, or EventFeedbackCreated /
	// EventSurveyResponseCreated by the answer's kind.
	Type   string
	SiteID int64
	// SessionID, for EventSessionEnded.
	SessionID string
	// AnswerID, for the answer events.
	AnswerID string
	// TimeMs is when the event happened: the session's end, the answer's
	// storing.
	TimeMs int64
}

// EventID is the event's stable id, the same however often it is
// published: "session.ended:<site>:<session>" or
// "answer.created:<site>:<answer id>".
func (e NotifyEntry) EventID() string {
	if e.Type == EventSessionEnded {
		return fmt.Sprintf("session.ended:%d:%s", e.SiteID, e.SessionID)
	}
	return fmt.Sprintf("answer.created:%d:%s", e.SiteID, e.AnswerID)
}

// AnswerEvent is the event type of a stored answer: EventFeedbackCreated
// or EventSurveyResponseCreated.
func AnswerEvent(a *sessionsv1.Answer) string {
	if a.GetKind() == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
		return EventSurveyResponseCreated
	}
	return EventFeedbackCreated
}

// Ending ends idle sessions and keeps the events notify publishes.
//
// Contract (checked by storetest.Run, section Ending):
//   - Every session is in an index of open sessions from its first stored
//     chunk (written once, atomically with the session's creation: the
//     append path pays one extra write per session, none per chunk) until
//     it is ended, deleted or removed by retention.
//   - EndIdleSessions ends every open session whose last activity is
//     before idleBefore, up to limit of them per call (more: others may be
//     waiting). Last activity is the ingest server time of its latest
//     chunk (the visitor's clock can be off by hours; ingest's is the one
//     idleBefore is taken from), or its end_time when its chunks carry no
//     server time. Ending a session, atomically and once: EndedTime = now
//     on a new summary version (recorded in the outbox for search), out of
//     the open index, and an EventSessionEnded entry in the notify outbox.
//     A second or a concurrent call ends nothing twice (ScyllaDB: a
//     lightweight transaction on the summary's version decides the one
//     writer).
//   - An ended session is final: chunks appended later are still stored
//     (nothing accepted is lost; replay reads them and they count towards
//     the session's limits and heatmaps) but change no summary field and
//     no version; answers of it are stored, listed, counted and published,
//     but change its summary no more.
//   - Every stored answer records an event entry (EventFeedbackCreated or
//     EventSurveyResponseCreated by its kind) atomically with the answer.
//   - NotifyOutboxPending lists entries in recorded order; NotifyOutboxAck
//     removes them; NotifyOutboxDepth counts them. Deleting a session,
//     visitor or answer leaves its entries: the relay skips what is gone.
type Ending interface {
	// EndIdleSessions ends open sessions idle since before idleBefore, at
	// most limit of them, and answers their final summaries and whether
	// idle sessions may be left.
	EndIdleSessions(ctx context.Context, idleBefore time.Time, limit int) (ended []*sessionsv1.SessionSummary, more bool, err error)
	// NotifyOutboxPending returns up to limit event entries, oldest first.
	NotifyOutboxPending(ctx context.Context, limit int) ([]NotifyEntry, error)
	// NotifyOutboxAck removes published entries.
	NotifyOutboxAck(ctx context.Context, entries []NotifyEntry) error
	// NotifyOutboxDepth counts waiting entries.
	NotifyOutboxDepth(ctx context.Context) (int64, error)
}

// ColdRef names a session due to move to object storage: its cold time
// (summary.State.ColdMs) when it was listed.
type ColdRef struct {
	SiteID    int64
	SessionID string
	ColdMs    int64
}

// ChunkKey is a chunk's key within its session.
type ChunkKey struct {
	Seq        int64
	PageViewID string
}

// Cold is the primary store's side of the cold tier (svc-recordings/cold):
// the sessions due to move and the removal of chunk data once it is held
// elsewhere.
//
// Contract (checked by storetest.Run, section Cold):
//   - A session is due from its cold time (the maximum over its chunks of
//     Stats.ColdMs; zero: never) until DropChunkData is called with that
//     cold time. A chunk raising the cold time makes it due again, later.
//     Expired, deleted and swept sessions are never listed.
//   - ColdDue lists due sessions by cold time, at most limit of them.
//   - DropChunkData removes the data rows of the given chunks (missing ones
//     are no error) and the session's due entry of coldMs, atomically. The
//     summary, chunk stats and ChunkIndex stay: the session is listed,
//     counted, swept and deleted as before; ReadChunks no longer yields the
//     dropped chunks. Calling it again changes nothing.
type Cold interface {
	// ColdDue lists up to limit sessions whose cold time is at or before
	// now, earliest first.
	ColdDue(ctx context.Context, now time.Time, limit int) ([]ColdRef, error)
	// DropChunkData removes the data of keys of a session and its due
	// entry of coldMs.
	DropChunkData(ctx context.Context, siteID int64, sessionID string, coldMs int64, keys []ChunkKey) error
}
