package recordings

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

const (
	// maxHeatDays bounds GetHeatmap's range; defaultHeatDays is the range
	// when no start is given.
	maxHeatDays     = 400
	defaultHeatDays = 30
	// maxHeatPages bounds the page keys a rule's walk of the page
	// dictionary reads: a rule over a site with more pages maps only the
	// matches among the pages read, and says so (Truncated).
	maxHeatPages = 10_000
	// maxSnapshotPages bounds the matched pages (most viewed first) whose
	// snapshots are looked at.
	maxSnapshotPages = 50
	// maxPagesQuery and maxPagesList bound ListHeatmapPages.
	maxPagesQuery   = 2048
	maxPagesList    = 1000
	defaultPageList = 50
	// maxAnswerBytes bounds the cells of an answer, well under gRPC's
	// message limit (rpc.DefaultMaxMsgBytes, 16 MiB).
	maxAnswerBytes = 8 << 20
	// rebuildEvery spaces RebuildHeatmaps' progress messages.
	rebuildEvery = 250 * time.Millisecond
)

// heatDevices are the device classes a map may be asked for, in the order
// an unspecified device looks for a snapshot (desktop pages are the widest
// and most common to draw over). Bots and "other" have no map: their
// chunks carry nothing for heatmaps (summary.Extract).
var heatDevices = []int32{
	int32(sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP),
	int32(sessionsv1.DeviceType_DEVICE_TYPE_TABLET),
	int32(sessionsv1.DeviceType_DEVICE_TYPE_MOBILE),
}

// errEnough stops a walk of the page dictionary early.
var errEnough = errors.New("recordings: enough pages")

// heatRange is a validated GetHeatmap request.
type heatRange struct {
	rule     pagerule.Rule
	kind     heatmap.Kind
	devices  []int32
	from, to int32 // UTC days, inclusive
	maxCells int
}

func checkHeatmap(req *recordingsv1.GetHeatmapRequest, now time.Time) (heatRange, error) {
	var h heatRange
	switch req.GetKind() {
	case recordingsv1.HeatmapKind_HEATMAP_KIND_CLICK:
		h.kind = heatmap.Click
	case recordingsv1.HeatmapKind_HEATMAP_KIND_MOVE:
		h.kind = heatmap.Move
	case recordingsv1.HeatmapKind_HEATMAP_KIND_SCROLL:
		h.kind = heatmap.Scroll
	case recordingsv1.HeatmapKind_HEATMAP_KIND_RAGE:
		h.kind = heatmap.Rage
	case recordingsv1.HeatmapKind_HEATMAP_KIND_DEAD:
		h.kind = heatmap.Dead
	case recordingsv1.HeatmapKind_HEATMAP_KIND_UNSPECIFIED:
		return h, invalid("kind: required (click, move, scroll, rage or dead)")
	default:
		return h, invalid("kind: %d is not a heatmap kind", req.GetKind())
	}
	var err error
	if h.rule, err = checkPage(req.GetPage()); err != nil {
		return h, err
	}
	switch d := req.GetDeviceType(); d {
	case sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED:
		h.devices = heatDevices
	case sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET:
		h.devices = []int32{int32(d)}
	default:
		return h, invalid("device_type: must be unspecified, desktop, mobile or tablet")
	}
	end := now
	if t := req.GetEndTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return h, invalid("end_time: %v", err)
		}
		end = t.AsTime()
	}
	start := end.Add(-defaultHeatDays * 24 * time.Hour)
	if t := req.GetStartTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return h, invalid("start_time: %v", err)
		}
		start = t.AsTime()
	}
	switch {
	case !start.Before(end):
		return h, invalid("start_time: must be before end_time")
	case end.Sub(start) > maxHeatDays*24*time.Hour:
		return h, invalid("start_time, end_time: the range is %.1f days, more than the limit of %d", end.Sub(start).Hours()/24, maxHeatDays)
	case start.UnixMilli() < 0:
		return h, invalid("start_time: before 1970")
	}
	// Every day the range [start, end) touches.
	h.from, h.to = summary.Day(start.UnixMilli()), summary.Day(end.UnixMilli()-1)
	if m := req.GetMaxCells(); m < 0 || m > heatmap.MaxCells {
		return h, invalid("max_cells: must be between 0 and %d", heatmap.MaxCells)
	}
	h.maxCells = int(req.GetMaxCells())
	return h, nil
}

// checkPage validates a map's page rule and answers it made for page keys.
func checkPage(m *searchv1.UrlMatch) (pagerule.Rule, error) {
	if m == nil || m.GetOperator() == 0 {
		return pagerule.Rule{}, invalid("page: required, with an operator (equals, contains, prefix or pattern) and a value")
	}
	r := pagerule.Rule{Op: pagerule.Op(m.GetOperator()), Value: m.GetValue()}
	if err := r.Check(); err != nil {
		return pagerule.Rule{}, invalid("page.%v", err)
	}
	return r.ForKeys(), nil
}

// GetHeatmap answers the aggregate of one kind over the pages a rule
// matches, a device class and whole UTC days, with a snapshot to draw it
// over. The caller is authorized before anything else is looked at, so
// another organisation's site is NotFound whatever else the request says.
func (s *Service) GetHeatmap(ctx context.Context, req *recordingsv1.GetHeatmapRequest) (*recordingsv1.GetHeatmapResponse, error) {
	if err := s.heatReader(ctx, req.GetSiteId()); err != nil {
		return nil, err
	}
	h, err := checkHeatmap(req, time.Now())
	if err != nil {
		return nil, err
	}
	site := req.GetSiteId()
	pages, cut, err := s.heatPages(ctx, site, h.rule)
	if err != nil {
		return nil, s.storeErr(ctx, "get heatmap", err)
	}
	keys := make([]string, len(pages))
	for i, p := range pages {
		keys[i] = p.key
	}
	// The device switch's sessions are read beside the map, a read per
	// class; the map's own sessions are the sum of its classes', so the
	// map's read leaves the Sessions rows out rather than read them twice
	// (BenchmarkHeatWide, a rule of 10,001 pages: the class reads cost
	// about what the map's own read does).
	devices := make([]int64, len(heatDevices))
	var devicesErr error
	var wg sync.WaitGroup
	if len(keys) > 0 {
		wg.Go(func() { devicesErr = s.deviceSessions(ctx, site, keys, h, devices) })
	}
	sums := heatmap.Sums{}
	var mapErr error
	if len(keys) > 0 {
		// Scroll's fold cell is a Scroll cell: it comes with the kind.
		kinds := slices.DeleteFunc(heatmap.Reads(h.kind), func(k heatmap.Kind) bool { return k == heatmap.Sessions })
		q := store.HeatQuery{SiteID: site, Pages: keys, Devices: h.devices, FromDay: h.from, ToDay: h.to, Kinds: kinds}
		mapErr = s.store.Heat(ctx, q, func(kind heatmap.Kind, cell string, v heatmap.Vec) error {
			sums.Add(kind, cell, v)
			return nil
		})
	}
	wg.Wait()
	if err := cmp.Or(mapErr, devicesErr); err != nil {
		return nil, s.storeErr(ctx, "get heatmap", err)
	}
	perClass := make([]*recordingsv1.HeatmapDeviceSessions, len(heatDevices))
	for i, d := range heatDevices {
		if slices.Contains(h.devices, d) {
			sums.Add(heatmap.Sessions, "", heatmap.Vec{N: devices[i]})
		}
		perClass[i] = &recordingsv1.HeatmapDeviceSessions{DeviceType: sessionsv1.DeviceType(d), Sessions: devices[i]}
	}
	out := heatmap.Build(h.kind, sums, h.maxCells)
	fitAnswer(out, maxAnswerBytes)
	out.DeviceSessions = perClass
	out.Pages = int32(len(pages))
	out.Truncated = out.Truncated || cut
	out.StartTime = timestamppb.New(time.UnixMilli(int64(h.from) * dayMs).UTC())
	out.EndTime = timestamppb.New(time.UnixMilli(int64(h.to+1) * dayMs).UTC())
	if out.Snapshot, err = s.heatSnapshot(ctx, site, pages, h.devices); err != nil {
		return nil, s.storeErr(ctx, "get heatmap", err)
	}
	trace.SpanFromContext(ctx).SetAttributes(
		attribute.Int("sightline.heatmap.kind", int(h.kind)),
		attribute.Int("sightline.heatmap.pages", len(pages)),
		attribute.Int("sightline.heatmap.cells", len(out.Cells)+len(out.Clicks)),
		attribute.Int("sightline.heatmap.days", int(h.to-h.from+1)),
		attribute.Bool("sightline.heatmap.truncated", out.Truncated),
	)
	return out, nil
}

// deviceSessions counts the sessions on keys and the days of h of each
// device class into out (in heatDevices' order), one read of the Sessions
// rows per class.
func (s *Service) deviceSessions(ctx context.Context, site int64, keys []string, h heatRange, out []int64) error {
	for i, d := range heatDevices {
		q := store.HeatQuery{SiteID: site, Pages: keys, Devices: []int32{d}, FromDay: h.from, ToDay: h.to, Kinds: []heatmap.Kind{heatmap.Sessions}}
		err := s.store.Heat(ctx, q, func(kind heatmap.Kind, _ string, v heatmap.Vec) error {
			if kind == heatmap.Sessions {
				out[i] += v.N
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// heatReader admits a dashboard caller's heatmap read: a valid site the
// caller may read (authorized before anything else, so another
// organisation's site is NotFound), on an instance that aggregates maps.
func (s *Service) heatReader(ctx context.Context, siteID int64) error {
	if siteID <= 0 {
		return invalid("site_id: must be positive")
	}
	if err := s.authorize(ctx, siteID, false); err != nil {
		return err
	}
	return s.heatmapsOn()
}

// heatmapsOn refuses heatmap calls on an instance that does not aggregate
// them (recordings.heatmaps=false): a map would be silently stale or empty.
func (s *Service) heatmapsOn() error {
	if !s.cfg.Heatmaps {
		return status.Error(codes.FailedPrecondition, "heatmaps are turned off on this instance")
	}
	return nil
}

// fitAnswer cuts an answer's cells (the least counted first: they come
// sorted) so that they take at most budget bytes, and says so (Truncated):
// 100,000 click cells with long selectors would pass gRPC's message limit.
func fitAnswer(out *recordingsv1.GetHeatmapResponse, budget int) {
	used := 0
	for i, c := range out.Clicks {
		if used += protowire.SizeTag(3) + protowire.SizeBytes(proto.Size(c)); used > budget {
			out.Clicks, out.Truncated = out.Clicks[:i], true
			break
		}
	}
	for i, c := range out.Cells {
		if used += protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(c)); used > budget {
			out.Cells, out.Truncated = out.Cells[:i], true
			break
		}
	}
}

// heatPage is a matched page key with its page views (snapshot order).
type heatPage struct {
	key   string
	views int64
}

// heatPages resolves a rule (made ForKeys) to the page keys of the site's page dictionary
// it matches (pages whose counts are all gone are not pages any more): it
// walks the dictionary from the rule's literal prefix when it has one
// (an Equals rule's key: one key is read), reading at most maxHeatPages
// keys. cut tells the walk stopped before the dictionary's end.
func (s *Service) heatPages(ctx context.Context, site int64, rule pagerule.Rule) (pages []heatPage, cut bool, err error) {
	prefix := rule.LiteralPrefix()
	exact, one := rule.Exact()
	read := 0
	err = s.store.HeatPages(ctx, site, before(prefix), func(page string, v heatmap.Vec) error {
		if !strings.HasPrefix(page, prefix) {
			if page > prefix {
				return errEnough // key order: no later key has the prefix
			}
			return nil
		}
		if one && page != exact {
			return errEnough // the first key at or after it is the one, if it is there
		}
		if read == maxHeatPages {
			cut = true
			return errEnough
		}
		read++
		if !v.Zero() && rule.MatchKey(page) {
			pages = append(pages, heatPage{key: page, views: v.N})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, false, fmt.Errorf("recordings: heatmap pages: %w", err)
	}
	return pages, cut, nil
}

// before answers a string that sorts just before every string starting
// with prefix (HeatPages reads keys > after). Page keys are UTF-8, so none
// holds the byte 0xff.
func before(prefix string) string {
	if prefix == "" {
		return ""
	}
	last := prefix[len(prefix)-1]
	if last == 0 {
		return prefix[:len(prefix)-1]
	}
	return prefix[:len(prefix)-1] + string([]byte{last - 1, 0xff})
}

// heatSnapshot picks the page a map is drawn over: for the first device
// class (in heatDevices order) with a snapshot of a matched page, the most
// viewed such page (ties by key, so the choice is stable) among the
// maxSnapshotPages most viewed, and its newest snapshot there. A snapshot
// whose session is gone passes to the next page.
func (s *Service) heatSnapshot(ctx context.Context, site int64, pages []heatPage, devices []int32) (*recordingsv1.HeatmapSnapshot, error) {
	pages = slices.Clone(pages)
	slices.SortFunc(pages, func(a, b heatPage) int { return cmp.Or(cmp.Compare(b.views, a.views), strings.Compare(a.key, b.key)) })
	pages = pages[:min(len(pages), maxSnapshotPages)]
	for _, d := range devices {
		for _, p := range pages {
			snap, ok, err := s.store.HeatSnapshot(ctx, site, p.key, d)
			if err != nil {
				return nil, fmt.Errorf("recordings: heatmap snapshot: %w", err)
			}
			if !ok {
				continue
			}
			sum, err := s.store.Session(ctx, site, snap.SessionID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since the snapshot was recorded
			}
			if err != nil {
				return nil, fmt.Errorf("recordings: heatmap snapshot's session: %w", err)
			}
			return &recordingsv1.HeatmapSnapshot{
				SessionId: snap.SessionID, PageViewId: snap.PageViewID, Offset: sinceStart(sum, snap.FullSnapshotMs),
				Url: snap.URL, ViewportWidth: snap.ViewportW, ViewportHeight: snap.ViewportH,
				Time: timestamppb.New(time.UnixMilli(snap.FullSnapshotMs)),
			}, nil
		}
	}
	return nil, nil
}

// sinceStart is how far into the session a time is (a snapshot's offset,
// which StreamRecording starts from).
func sinceStart(sum *sessionsv1.SessionSummary, ms int64) *durationpb.Duration {
	var d time.Duration
	if st := sum.GetStartTime(); st != nil {
		d = time.Duration(max(ms-st.AsTime().UnixMilli(), 0)) * time.Millisecond
	}
	return durationpb.New(d)
}

// GetHeatmapSnapshot answers the snapshot of the session's first page
// whose page key the rule matches and that can be rebuilt, for the
// dashboard's "draw over another recording": a page view's load, at its
// first full snapshot, or a single-page app's route change within a page
// view whose first full snapshot came before it, at the change (the
// snapshot replayed up to it, as store.ChunkSnapshots points routes).
// NotFound when the session is gone or has no such page.
func (s *Service) GetHeatmapSnapshot(ctx context.Context, req *recordingsv1.GetHeatmapSnapshotRequest) (*recordingsv1.GetHeatmapSnapshotResponse, error) {
	if err := s.heatReader(ctx, req.GetSiteId()); err != nil {
		return nil, err
	}
	site, session := req.GetSiteId(), req.GetSessionId()
	if err := checkSession(site, session); err != nil {
		return nil, err
	}
	rule, err := checkPage(req.GetPage())
	if err != nil {
		return nil, err
	}
	sum, err := s.store.Session(ctx, site, session)
	if err != nil {
		return nil, s.storeErr(ctx, "get heatmap snapshot", err)
	}
	metas, err := s.store.ChunkIndex(ctx, site, session)
	if err != nil {
		return nil, s.storeErr(ctx, "get heatmap snapshot", err)
	}
	snapAt := map[string]int64{} // page view → its first full snapshot
	for _, m := range metas {
		if m.FullSnapshotMs <= 0 {
			continue
		}
		if t, ok := snapAt[m.PageViewID]; !ok || m.FullSnapshotMs < t {
			snapAt[m.PageViewID] = m.FullSnapshotMs
		}
	}
	loaded := map[string]bool{} // page views whose load (first page) was passed
	for _, pv := range sum.GetPages() {
		at, ok := snapAt[pv.GetPageViewId()]
		route := loaded[pv.GetPageViewId()]
		loaded[pv.GetPageViewId()] = true
		if route {
			// A route change: rebuilt from the page view's snapshot when
			// that came first (a second of slack, as the dashboard's).
			start := pv.GetStartTime().AsTime().UnixMilli()
			ok = ok && pv.GetStartTime() != nil && at <= start+1000
			at = max(at, start)
		}
		if !ok || !rule.MatchKey(pagerule.Key(pv.GetUrl())) {
			continue
		}
		return &recordingsv1.GetHeatmapSnapshotResponse{
			Snapshot: &recordingsv1.HeatmapSnapshot{
				SessionId: session, PageViewId: pv.GetPageViewId(), Offset: sinceStart(sum, at), Url: pv.GetUrl(),
				ViewportWidth: sum.GetViewportWidth(), ViewportHeight: sum.GetViewportHeight(), Time: timestamppb.New(time.UnixMilli(at)),
			},
			DeviceType: sum.GetClient().GetDeviceType(),
		}, nil
	}
	return nil, status.Error(codes.NotFound, "no page view of this session that the rule matches holds a snapshot")
}

// ListHeatmapPages lists the site's page keys with the most page views
// (ties by key), those a Contains rule of query matches when given: the
// list shows the pages such a rule maps (readable text matches encoded
// keys; a path's case matters, a host's does not).
func (s *Service) ListHeatmapPages(ctx context.Context, req *recordingsv1.ListHeatmapPagesRequest) (*recordingsv1.ListHeatmapPagesResponse, error) {
	if err := s.heatReader(ctx, req.GetSiteId()); err != nil {
		return nil, err
	}
	q := req.GetQuery()
	switch {
	case len(q) > maxPagesQuery:
		return nil, invalid("query: %d bytes, more than the limit of %d", len(q), maxPagesQuery)
	case !utf8.ValidString(q):
		return nil, invalid("query: not valid UTF-8")
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalid("page_size: must not be negative")
	case size == 0:
		size = defaultPageList
	case size > maxPagesList:
		size = maxPagesList
	}
	contains := pagerule.Rule{Op: pagerule.Contains, Value: q}.ForKeys()
	top := &pageHeap{}
	n := 0
	err := s.store.HeatPages(ctx, req.GetSiteId(), "", func(page string, v heatmap.Vec) error {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if v.Zero() || (q != "" && !contains.MatchKey(page)) {
			return nil
		}
		p := &recordingsv1.HeatmapPage{Url: page, PageViews: v.N, Clicks: v.X}
		if top.Len() < size {
			heap.Push(top, p)
		} else if pageLess((*top)[0], p) {
			(*top)[0] = p
			heap.Fix(top, 0)
		}
		return nil
	})
	if err != nil {
		return nil, s.storeErr(ctx, "list heatmap pages", err)
	}
	out := &recordingsv1.ListHeatmapPagesResponse{Pages: make([]*recordingsv1.HeatmapPage, top.Len())}
	for i := top.Len() - 1; i >= 0; i-- {
		out.Pages[i] = heap.Pop(top).(*recordingsv1.HeatmapPage)
	}
	return out, nil
}

// pageLess orders pages from the least to the most wanted: fewer views,
// then the later key.
func pageLess(a, b *recordingsv1.HeatmapPage) bool {
	if a.PageViews != b.PageViews {
		return a.PageViews < b.PageViews
	}
	return a.Url > b.Url
}

// pageHeap is a min-heap (by pageLess) keeping the most viewed pages.
type pageHeap []*recordingsv1.HeatmapPage

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return pageLess(h[i], h[j]) }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(*recordingsv1.HeatmapPage)) }
func (h *pageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// RebuildHeatmaps recomputes a site's heatmap aggregates from its stored
// sessions (internal, like ListSessionSummaries: the `sightline heatmaps
// rebuild` command; no authorization), streaming progress at most every
// rebuildEvery and a last message with finished set. The store keeps the
// cursor, so a run cut off resumes when called again with the same since.
func (s *Service) RebuildHeatmaps(req *recordingsv1.RebuildHeatmapsRequest, stream grpc.ServerStreamingServer[recordingsv1.RebuildHeatmapsResponse]) error {
	ctx := stream.Context()
	if req.GetSiteId() <= 0 {
		return invalid("site_id: must be positive")
	}
	if err := s.heatmapsOn(); err != nil {
		return err
	}
	sinceDay := int32(0)
	if t := req.GetSince(); t != nil {
		if err := t.CheckValid(); err != nil {
			return invalid("since: %v", err)
		}
		if t.AsTime().UnixMilli() < 0 {
			return invalid("since: before 1970")
		}
		sinceDay = summary.Day(t.AsTime().UnixMilli())
	}
	began := time.Now()
	var last time.Time
	var done, total int64
	var sendErr error
	err := s.store.RebuildHeat(ctx, req.GetSiteId(), sinceDay, func(d, t int64) {
		done, total = d, t
		if sendErr != nil || time.Since(last) < rebuildEvery {
			return
		}
		last = time.Now()
		sendErr = stream.Send(&recordingsv1.RebuildHeatmapsResponse{SessionsDone: d, SessionsTotal: t})
	})
	if err == nil {
		err = sendErr
	}
	if err != nil {
		s.log.WarnContext(ctx, "recordings: heatmap rebuild stopped", "site_id", req.GetSiteId(), "since_day", sinceDay,
			"sessions_done", done, "sessions_total", total, "err", err)
		if errors.Is(err, store.ErrRebuildRunning) {
			return status.Error(codes.FailedPrecondition, "a heatmap rebuild of this site is already running; wait for it")
		}
		return s.storeErr(ctx, "rebuild heatmaps", err)
	}
	s.log.InfoContext(ctx, "recordings: heatmaps rebuilt", "site_id", req.GetSiteId(), "since_day", sinceDay,
		"sessions", total, "duration", time.Since(began))
	return stream.Send(&recordingsv1.RebuildHeatmapsResponse{SessionsDone: done, SessionsTotal: total, Finished: true})
}
