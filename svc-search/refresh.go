package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/telemetry"
)

// Refresh backoff: recordings may still be starting (or down) when the
// process begins to serve; the refresh waits for it without giving up.
const (
	refreshFirstWait = time.Second
	refreshMaxWait   = time.Minute
)

// refresh re-sends every summary and answer from recordings when an
// upgrade of the index's schema left documents without fields recordings
// can fill (index.Refresher): what an operator would otherwise do by hand
// with `sightline reindex`, resumable through a cursor beside the index.
// The index serves meanwhile; the old sessions gain the new fields as
// their pages arrive. Without a recordings connection it says which
// command does it.
func (s *Service) refresh(ctx context.Context) {
	r := s.refresher
	if r == nil || !r.RefreshDue() {
		return
	}
	if s.deps.Recordings == nil {
		s.log.WarnContext(ctx, "sessions indexed by an earlier version lack fields of this one (found by the new filters only once re-sent): "+
			"no recordings service is configured here, run `sightline reindex` (every site: no -site) against this search service, "+
			"or start it with remote.recordings set; either does it and ends this notice")
		return
	}
	cursor := s.refreshCursor()
	tracer := s.deps.TracerProvider.Tracer("github.com/sightlinehq/sightline/svc-search")
	s.log.InfoContext(ctx, "refreshing the index from recordings for its new schema")
	wait := refreshFirstWait
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := Reindex(ctx, s.deps.Recordings, selfUpserter{s}, 0, cursor, io.Discard)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = r.RefreshDone()
		}
		telemetry.RecordWork(ctx, tracer, "index refresh from recordings", start, err, attribute.Int("sightline.attempt", attempt))
		if err == nil {
			s.log.InfoContext(ctx, "refreshed the index from recordings", "took", time.Since(start).Round(time.Millisecond), "attempts", attempt)
			return
		}
		s.log.WarnContext(ctx, "index refresh from recordings failed; resumed from its cursor", "err", err, "attempt", attempt, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, refreshMaxWait)
	}
}

// FinishReindex implements searchv1.SearchInternalServiceServer (internal): `sightline
// reindex` of every site re-sent every summary and answer, which is what
// the refresh an index upgrade left due waits for, so the mark is cleared
// (and the start-up notice asking for the command ends).
func (s *Service) FinishReindex(ctx context.Context, _ *searchv1.FinishReindexRequest) (_ *searchv1.FinishReindexResponse, err error) {
	defer func() { err = s.finish(ctx, "FinishReindex", err) }()
	r := s.refresher
	if r == nil || !r.RefreshDue() {
		return &searchv1.FinishReindexResponse{}, nil
	}
	// A refresh of this process's own that was cut off left its cursor:
	// the next upgrade's refresh must start from the beginning.
	if err := os.Remove(s.refreshCursor()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("drop the refresh cursor: %w", err)
	}
	if err := r.RefreshDone(); err != nil {
		return nil, fmt.Errorf("mark the index refreshed: %w", err)
	}
	s.log.InfoContext(ctx, "a reindex of every site from recordings completed: the index's refresh for its new schema is done")
	return &searchv1.FinishReindexResponse{Refreshed: true}, nil
}

// refreshCursor is where the refresh from recordings keeps its progress.
func (s *Service) refreshCursor() string {
	return filepath.Join(s.deps.DataDir, "search", "refresh.cursor")
}

// selfUpserter sends Reindex's upserts to the service itself, through the
// same checks as the internal RPCs.
type selfUpserter struct{ s *Service }

func (u selfUpserter) UpsertSessions(ctx context.Context, in *searchv1.UpsertSessionsRequest, _ ...grpc.CallOption) (*searchv1.UpsertSessionsResponse, error) {
	return u.s.UpsertSessions(ctx, in)
}

func (u selfUpserter) UpsertAnswers(ctx context.Context, in *searchv1.UpsertAnswersRequest, _ ...grpc.CallOption) (*searchv1.UpsertAnswersResponse, error) {
	return u.s.UpsertAnswers(ctx, in)
}
