package recordings

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Internal is the service's RecordingsInternalService: the calls of the
// other services (ingest's chunks and answer counts, search's reindexing,
// notify's sweeps, the heatmaps rebuild command), which carry the mesh's
// service credential instead of a user's and so skip the site check.
func (s *Service) Internal() recordingsv1.RecordingsInternalServiceServer { return internal{s: s} }

type internal struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	s *Service
}

// RunSweep runs one pass of a scheduled task. Every task is idempotent:
// an overlapping or retried pass changes nothing more.
func (in internal) RunSweep(ctx context.Context, req *recordingsv1.RunSweepRequest) (*recordingsv1.RunSweepResponse, error) {
	switch req.GetTask() {
	case recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS:
		n, more, err := in.s.endIdle(ctx)
		if err != nil {
			return nil, in.s.storeErr(ctx, "end idle sessions", err)
		}
		return &recordingsv1.RunSweepResponse{Sessions: int64(n), More: more}, nil
	case recordingsv1.SweepTask_SWEEP_TASK_RETENTION:
		n, err := in.s.retention(ctx)
		if err != nil {
			return nil, in.s.storeErr(ctx, "retention sweep", err)
		}
		// The cold pass rides on retention's schedule (notify's scheduler
		// calls RETENTION, not COLD): more is the cold pass's, so the
		// scheduler's repeated passes work a backlog of due sessions off.
		_, more, err := in.s.moveCold(ctx)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "recordings: cold sweep after retention (%d sessions removed): %v", n, err)
		}
		return &recordingsv1.RunSweepResponse{Sessions: int64(n), More: more}, nil
	case recordingsv1.SweepTask_SWEEP_TASK_COLD:
		n, more, err := in.s.moveCold(ctx)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "recordings: cold sweep: %d sessions moved, then: %v", n, err)
		}
		return &recordingsv1.RunSweepResponse{Sessions: int64(n), More: more}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "task: %v is not END_IDLE_SESSIONS, RETENTION or COLD", req.GetTask())
}

// The internal RPCs below keep their implementations on Service, beside
// the store code they use; this type only exposes them on the internal
// contract.

func (in internal) AppendChunks(ctx context.Context, req *recordingsv1.AppendChunksRequest) (*recordingsv1.AppendChunksResponse, error) {
	return in.s.AppendChunks(ctx, req)
}

func (in internal) ListSessionSummaries(ctx context.Context, req *recordingsv1.ListSessionSummariesRequest) (*recordingsv1.ListSessionSummariesResponse, error) {
	return in.s.ListSessionSummaries(ctx, req)
}

func (in internal) RebuildHeatmaps(req *recordingsv1.RebuildHeatmapsRequest, stream grpc.ServerStreamingServer[recordingsv1.RebuildHeatmapsResponse]) error {
	return in.s.RebuildHeatmaps(req, stream)
}

func (in internal) GetAnswerCounts(ctx context.Context, req *recordingsv1.GetAnswerCountsRequest) (*recordingsv1.GetAnswerCountsResponse, error) {
	return in.s.GetAnswerCounts(ctx, req)
}

func (in internal) ListAnswers(ctx context.Context, req *recordingsv1.ListAnswersRequest) (*recordingsv1.ListAnswersResponse, error) {
	return in.s.ListAnswers(ctx, req)
}
