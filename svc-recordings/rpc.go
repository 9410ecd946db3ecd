package recordings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/svc-recordings/assets"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
	"github.com/sightlinehq/sightline/wireid"
)

const (
	maxTokenSize = 1024
	dayMs        = int64(24 * time.Hour / time.Millisecond)
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkSession(site int64, session string) error {
	if site <= 0 {
		return invalid("site_id: must be positive")
	}
	if !wireid.Valid(session) {
		return invalid("session_id: must be 8–64 characters of [A-Za-z0-9_-]")
	}
	return nil
}

// newStoreErrors is how recordings answers for its store. Every store
// error but a missing session — ScyllaDB's "unreachable" ones (no
// connections, unavailable, read and write timeouts, no response), a
// deadline while waiting for the store, a failing disk — means the store
// cannot serve now: Unavailable, which ingest's forwarder and the dashboard
// retry (TestStoreErrUnreachableIsUnavailable), never the store's words.
func newStoreErrors(log *slog.Logger) *storecall.Errors {
	return &storecall.Errors{
		Service: "recordings", Store: "recordings store", Log: log,
		Kinds:     []storecall.Kind{{Err: store.ErrNotFound, Code: codes.NotFound}},
		Transient: func(error) bool { return true },
	}
}

// storeErr answers a store error of operation op (a missing object is the
// session).
func (s *Service) storeErr(ctx context.Context, op string, err error) error {
	return s.errs.Status(ctx, op, "session", err)
}

// authorize checks a dashboard caller (New refuses a service without an
// Authorizer, so there is always one).
func (s *Service) authorize(ctx context.Context, site int64, write bool) error {
	return s.deps.Authorizer.AuthorizeSite(ctx, site, write)
}

// prepare validates one chunk and turns it into a store chunk. What a chunk
// may hold is the batch contract's to say (package batch: the same code
// ingest ran before it answered 204), so recordings cannot refuse what
// ingest accepted; only recordings' own limits are checked here. The events
// are checked by the contract's iterator while summary.Extract reads them.
func (s *Service) prepare(i int, c *recordingsv1.Chunk, nowMs int64) prepared {
	if c == nil {
		return prepared{err: invalid("chunks[%d]: missing", i)}
	}
	if err := batch.CheckChunkFields(c); err != nil {
		return prepared{err: invalid("chunks[%d]: %v", i, err)}
	}
	switch {
	case len(c.GetEvents()) > s.cfg.MaxChunkBytes:
		return prepared{err: invalid("chunks[%d]: events: %d bytes, more than the limit of %d", i, len(c.GetEvents()), s.cfg.MaxChunkBytes)}
	case c.GetRetentionDays() < 0 || int(c.GetRetentionDays()) > s.cfg.MaxRetentionDays:
		return prepared{err: invalid("chunks[%d]: retention_days: must be between 0 and %d", i, s.cfg.MaxRetentionDays)}
	}
	serverMs := nowMs
	if t := c.GetServerTime(); t != nil {
		serverMs = t.AsTime().UnixMilli()
	}
	days := int64(c.GetRetentionDays())
	if days == 0 {
		days = int64(s.cfg.DefaultRetentionDays)
	}
	if c.GetColdAfterDays() < 0 || int64(c.GetColdAfterDays()) > days {
		return prepared{err: invalid("chunks[%d]: cold_after_days: must be between 0 and the retention (%d)", i, days)}
	}
	data := s.compress(c.GetEvents())
	// The page's assets are read in the summary's walk of the events
	// (nil: the site does not capture, or nothing in the chunk can refer
	// to one).
	var refs *assets.Refs
	var each func(batch.Event)
	if s.assets != nil && c.GetCaptureAssets() {
		if refs = assets.NewRefs(c.GetEvents(), c.GetUrl()); refs != nil {
			each = refs.Event
		}
	}
	st, err := summary.ExtractEach(c, int64(len(data)), serverMs+days*dayMs, s.cfg.Heatmaps, each)
	if err != nil {
		return prepared{err: invalid("chunks[%d]: %v", i, err)}
	}
	st.ServerMs = serverMs
	if d := int64(c.GetColdAfterDays()); d > 0 {
		st.ColdMs = serverMs + d*dayMs
	}
	p := prepared{chunk: store.Chunk{SiteID: c.GetSiteId(), SessionID: c.GetSessionId(), Seq: c.GetSeq(), Data: data, Stats: st}}
	if refs != nil {
		p.refs = refs.Refs()
	}
	return p
}

// prepared is prepare's answer for one chunk of a call: the chunk to
// store and the assets it refers to (captured once it is stored).
type prepared struct {
	chunk store.Chunk
	refs  []assets.Ref
	err   error
}

// prepareAll prepares a call's recording chunks (answers are left to
// prepareAnswer) on every core: validating, compressing and reading a
// chunk's events is most of an append's CPU and each chunk's is its own,
// while the forwarder sends one call at a time, so one goroutine for a call
// left a core idle and held the whole pipeline to one core's pace. The
// store then writes them in one batch, in request order.
func (s *Service) prepareAll(chunks []*recordingsv1.Chunk, nowMs int64) []prepared {
	out := make([]prepared, len(chunks))
	onCores(len(chunks), func(i int) {
		if !isAnswer(chunks[i]) {
			out[i] = s.prepare(i, chunks[i], nowMs)
		}
	})
	return out
}

// onCores calls fn(i) for every i < n on up to GOMAXPROCS goroutines and
// returns when all are done. A panic in fn is raised again in the caller,
// where the server's recovery handles it, as a workerPanic carrying the
// worker's stack: the caller's would not show where it happened.
//
// A worker yields its core after each item. A call's chunks keep every core
// busy for tens of milliseconds, and Go preempts a running goroutine only
// after 10 ms: in one process, an ingest request whose spool commit had
// woken it waited that long for a core to write its 204 (the runtime
// trace of serve at 1,500 batches/s: these workers' slices up to 21 ms,
// handlers' scheduling wait mostly after the commit's wake-up). One item is
// ~0.1–1 ms of work; the yield costs well under a microsecond.
func onCores(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
			runtime.Gosched()
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	panics := make(chan workerPanic, workers)
	for range workers {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panics <- workerPanic{value: p, stack: debug.Stack()}
				}
			}()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	select {
	case p := <-panics:
		panic(p)
	default:
	}
}

// workerPanic is a panic of an onCores worker, raised again in the caller.
// It is an error so that loggers print its text, stack included.
type workerPanic struct {
	value any
	stack []byte
}

func (p workerPanic) Error() string {
	return fmt.Sprintf("%v [in a worker goroutine:\n%s]", p.value, p.stack)
}

// AppendChunks stores chunks idempotently (internal: no authorization) and
// answers an outcome per chunk. A chunk that can never be stored (invalid,
// or past its session's limits) is refused with a reason while the others
// of the call are stored; only a transient failure of the store fails the
// whole call (Unavailable, DeadlineExceeded), so the caller retries it.
func (s *Service) AppendChunks(ctx context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	if n := len(req.GetChunks()); n > s.cfg.MaxChunksPerRequest {
		s.m.rejected.Add(ctx, 1)
		return nil, invalid("chunks: %d, more than the limit of %d", n, s.cfg.MaxChunksPerRequest)
	}
	if len(req.GetChunks()) == 0 {
		return &recordingsv1.AppendChunksResponse{}, nil
	}
	nowMs := time.Now().UnixMilli()
	out := &recordingsv1.AppendChunksResponse{Results: make([]*recordingsv1.ChunkResult, len(req.GetChunks()))}
	chunks := make([]store.Chunk, 0, len(req.GetChunks()))
	pos := make([]int, 0, len(req.GetChunks())) // request index of chunks[j]
	var answers []store.Answer
	var apos []int // request index of answers[j]
	ready := s.prepareAll(req.GetChunks(), nowMs)
	for i, c := range req.GetChunks() {
		if isAnswer(c) {
			a, err := s.prepareAnswer(i, c, nowMs)
			if err != nil {
				out.Results[i] = s.refuse(ctx, refusedInvalid, status.Convert(err).Message())
				continue
			}
			answers = append(answers, a)
			apos = append(apos, i)
			continue
		}
		ch, err := ready[i].chunk, ready[i].err
		if err != nil {
			// prepare looks at the chunk alone: what it refuses, it
			// refuses every time.
			out.Results[i] = s.refuse(ctx, refusedInvalid, status.Convert(err).Message())
			continue
		}
		ch.PageViewID = c.GetPageViewId()
		chunks = append(chunks, ch)
		pos = append(pos, i)
	}
	if len(chunks) > 0 {
		res, err := s.store.Append(ctx, chunks)
		if err != nil {
			return nil, s.storeErr(ctx, "append chunks", err)
		}
		if len(res) != len(chunks) {
			return nil, status.Errorf(codes.Internal, "recordings: the store answered %d results for %d chunks", len(res), len(chunks))
		}
		for j, r := range res {
			i := pos[j]
			switch {
			case r.Refused != nil:
				out.Results[i] = s.refuse(ctx, refusedClass(r.Refused), fmt.Sprintf("chunks[%d]: %v", i, r.Refused))
			case r.Stored:
				out.Results[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED}
				s.m.chunk(ctx, chunks[j].Stats.RawBytes, int64(len(chunks[j].Data)))
			default:
				out.Results[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE}
			}
		}
	}
	if err := s.appendAnswers(ctx, answers, apos, out.Results); err != nil {
		return nil, err
	}
	for _, r := range out.Results {
		switch r.GetOutcome() {
		case recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED:
			out.Stored++
		case recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE:
			out.Duplicates++
		case recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED:
			out.Refused++
		}
	}
	s.m.duplicates.Add(ctx, int64(out.Duplicates))
	if out.Refused > 0 {
		s.log.WarnContext(ctx, "recordings: chunks refused", "refused", out.Refused, "chunks", len(out.Results),
			"first_reason", firstReason(out.Results))
	}
	if out.Stored > 0 {
		// Stored chunks change sessions (search's outbox); of an append,
		// only stored answers reach notify's outbox (answer events).
		// Waking notify's relay on every append had it scan an empty
		// outbox each time: 2.0 % and 2.6 % of the server's CPU in two
		// bench-pipeline profiles (10 KB batches at 1650/s).
		answered := slices.ContainsFunc(apos, func(i int) bool {
			return out.Results[i].GetOutcome() == recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED
		})
		s.wake(answered)
		s.captureAssets(ctx, req.GetChunks(), ready, out.Results)
	}
	return out, nil
}

// Reason classes of refused chunks (the metric's "reason" attribute).
const (
	refusedInvalid       = "invalid"
	refusedSessionChunks = "session_chunks"
	refusedSessionBytes  = "session_bytes"
	refusedOther         = "other"
)

func refusedClass(err error) string {
	switch {
	case errors.Is(err, store.ErrSessionChunks):
		return refusedSessionChunks
	case errors.Is(err, store.ErrSessionBytes):
		return refusedSessionBytes
	}
	return refusedOther
}

// refuse counts one refused chunk and answers its result.
func (s *Service) refuse(ctx context.Context, class, reason string) *recordingsv1.ChunkResult {
	s.m.refused.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", class)))
	return &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED, Reason: reason}
}

func firstReason(rs []*recordingsv1.ChunkResult) string {
	for _, r := range rs {
		if r.GetOutcome() == recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED {
			return r.GetReason()
		}
	}
	return ""
}

// GetSession returns one session's summary and its frustrations (rage and
// dead clicks): both come from one read of the session's fold, so the list
// and the summary's counts agree.
func (s *Service) GetSession(ctx context.Context, req *recordingsv1.GetSessionRequest) (*recordingsv1.GetSessionResponse, error) {
	if err := checkSession(req.GetSiteId(), req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, req.GetSiteId(), false); err != nil {
		return nil, err
	}
	sum, fs, err := s.store.SessionDetail(ctx, req.GetSiteId(), req.GetSessionId())
	if err != nil {
		return nil, s.storeErr(ctx, "get session", err)
	}
	return &recordingsv1.GetSessionResponse{Session: sum, Frustrations: fs}, nil
}

// StreamRecording streams a session's chunks in key order (seq, then page
// view: two tabs may share a seq), from the last chunk with a full snapshot
// at or before start_offset.
func (s *Service) StreamRecording(req *recordingsv1.StreamRecordingRequest, stream grpc.ServerStreamingServer[recordingsv1.StreamRecordingResponse]) error {
	ctx := stream.Context()
	if err := checkSession(req.GetSiteId(), req.GetSessionId()); err != nil {
		return err
	}
	if req.GetStartOffset() != nil {
		if err := req.GetStartOffset().CheckValid(); err != nil || req.GetStartOffset().AsDuration() < 0 {
			return invalid("start_offset: must be a valid non-negative duration")
		}
	}
	if err := s.authorize(ctx, req.GetSiteId(), false); err != nil {
		return err
	}
	sum, err := s.store.Session(ctx, req.GetSiteId(), req.GetSessionId())
	if err != nil {
		return s.storeErr(ctx, "stream recording", err)
	}
	from := int64(0)
	if off := req.GetStartOffset().AsDuration(); off > 0 && sum.GetStartTime() != nil {
		target := sum.GetStartTime().AsTime().Add(off).UnixMilli()
		idx, err := s.store.ChunkIndex(ctx, req.GetSiteId(), req.GetSessionId())
		if err != nil {
			return s.storeErr(ctx, "stream recording", err)
		}
		from = seekSeq(idx, target)
	}
	// Through the cold tier: chunks moved to object storage read as if
	// they were still in the store.
	err = s.cold.ReadChunks(ctx, s.store, req.GetSiteId(), req.GetSessionId(), from, func(c store.StoredChunk) error {
		events, err := s.dec.DecodeAll(c.Data, nil)
		if err != nil {
			return fmt.Errorf("recordings: decompress chunk %d/%s: %w", c.Seq, c.PageViewID, err)
		}
		return stream.Send(&recordingsv1.StreamRecordingResponse{
			Seq: c.Seq, PageViewId: c.PageViewID, Events: events,
			FirstEventTime: timestamppb.New(time.UnixMilli(c.FirstMs)),
			LastEventTime:  timestamppb.New(time.UnixMilli(c.LastMs)),
		})
	})
	if err != nil {
		return s.storeErr(ctx, "stream recording", err)
	}
	return nil
}

// seekSeq picks the last chunk holding a full snapshot taken at or before
// target, or the first chunk when there is none. Reading from its seq also
// streams other tabs' chunks of that seq that sort before it: a few events
// too many, never one missing.
func seekSeq(idx []store.ChunkMeta, target int64) int64 {
	from := int64(0)
	for _, m := range idx {
		if m.FullSnapshotMs != 0 && m.FullSnapshotMs <= target {
			from = m.Seq
		}
	}
	return from
}

// ListSessionSummaries pages through summaries (internal: reindexing).
func (s *Service) ListSessionSummaries(ctx context.Context, req *recordingsv1.ListSessionSummariesRequest) (*recordingsv1.ListSessionSummariesResponse, error) {
	if req.GetSiteId() < 0 {
		return nil, invalid("site_id: must not be negative")
	}
	size, err := s.pageSize(req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListSessions(ctx, req.GetSiteId(), req.GetPageToken(), size)
	if err != nil {
		return nil, s.pageErr(ctx, "list session summaries", err)
	}
	return &recordingsv1.ListSessionSummariesResponse{Sessions: page.Sessions, NextPageToken: page.Next}, nil
}

// pageSize checks a paged read's token and size (internal reindexing
// lists) and answers the size to use: 100 when none, at most MaxPageSize.
func (s *Service) pageSize(token string, size int32) (int, error) {
	if len(token) > maxTokenSize {
		return 0, invalid("page_token: too long")
	}
	switch {
	case size < 0:
		return 0, invalid("page_size: must not be negative")
	case size == 0:
		return 100, nil
	}
	return min(int(size), s.cfg.MaxPageSize), nil
}

// pageErr answers a store's failed paged read: a token the store does not
// know is the caller's mistake.
func (s *Service) pageErr(ctx context.Context, op string, err error) error {
	if errors.Is(err, store.ErrBadToken) {
		return invalid("page_token: not a token from a previous page")
	}
	return s.storeErr(ctx, op, err)
}

// DeleteSession removes a session everywhere (search through the outbox).
func (s *Service) DeleteSession(ctx context.Context, req *recordingsv1.DeleteSessionRequest) (*recordingsv1.DeleteSessionResponse, error) {
	if err := checkSession(req.GetSiteId(), req.GetSessionId()); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, req.GetSiteId(), true); err != nil {
		return nil, err
	}
	// Answers first: a session that only answered has no recording.
	answers, err := s.store.DeleteSessionAnswers(ctx, req.GetSiteId(), req.GetSessionId())
	if err != nil {
		return nil, s.storeErr(ctx, "delete session", err)
	}
	if err := s.store.DeleteSession(ctx, req.GetSiteId(), req.GetSessionId()); err != nil && (answers == 0 || !errors.Is(err, store.ErrNotFound)) {
		return nil, s.storeErr(ctx, "delete session", err)
	}
	s.log.InfoContext(ctx, "recordings: session deleted", "site_id", req.GetSiteId(), "session_id", req.GetSessionId())
	s.notify()
	// The session's cold segments; a failure is left to retention's
	// collection (the session is gone from every listing already).
	if err := s.cold.DeleteSession(ctx, req.GetSiteId(), req.GetSessionId()); err != nil {
		s.log.WarnContext(ctx, "recordings: deleting a session's cold objects failed; retention collects them", "err", err)
	}
	return &recordingsv1.DeleteSessionResponse{}, nil
}

// DeleteVisitor removes every session of one visitor of one site (GDPR).
func (s *Service) DeleteVisitor(ctx context.Context, req *recordingsv1.DeleteVisitorRequest) (*recordingsv1.DeleteVisitorResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	if !wireid.Valid(req.GetVisitorId()) {
		return nil, invalid("visitor_id: must be 8–64 characters of [A-Za-z0-9_-]")
	}
	if err := s.authorize(ctx, req.GetSiteId(), true); err != nil {
		return nil, err
	}
	deleted, err := s.store.DeleteVisitor(ctx, req.GetSiteId(), req.GetVisitorId())
	// The cold segments of the sessions removed, even when the store
	// failed part way (a retry finds those sessions gone): only theirs,
	// where collecting would list every object of the site. What fails
	// here, retention's collection removes later.
	for _, id := range deleted {
		if err := s.cold.DeleteSession(ctx, req.GetSiteId(), id); err != nil {
			s.log.WarnContext(ctx, "recordings: deleting a visitor's cold objects failed; retention collects them", "session_id", id, "err", err)
		}
	}
	if err != nil {
		return nil, s.storeErr(ctx, "delete visitor", err)
	}
	if _, err := s.store.DeleteVisitorAnswers(ctx, req.GetSiteId(), req.GetVisitorId()); err != nil {
		return nil, s.storeErr(ctx, "delete visitor", err)
	}
	s.log.InfoContext(ctx, "recordings: visitor deleted", "site_id", req.GetSiteId(), "sessions", len(deleted))
	s.notify()
	return &recordingsv1.DeleteVisitorResponse{DeletedSessions: int64(len(deleted))}, nil
}

// GetSiteActivity tells whether data arrived for a site recently.
func (s *Service) GetSiteActivity(ctx context.Context, req *recordingsv1.GetSiteActivityRequest) (*recordingsv1.GetSiteActivityResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	if err := s.authorize(ctx, req.GetSiteId(), false); err != nil {
		return nil, err
	}
	last, n, err := s.store.SiteActivity(ctx, req.GetSiteId(), time.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, s.storeErr(ctx, "get site activity", err)
	}
	out := &recordingsv1.GetSiteActivityResponse{SessionsLast_24H: n}
	if !last.IsZero() {
		out.LastChunkTime = timestamppb.New(last)
	}
	return out, nil
}
