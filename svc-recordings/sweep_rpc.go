package recordings

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Internal is the service's RecordingsInternalService: RunSweep, called by
// notify's scheduler (internal: a service credential, no site check).
func (s *Service) Internal() recordingsv1.RecordingsInternalServiceServer { return internal{s: s} }

type internal struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	s *Service
}

// RunSweep runs one pass of a scheduled task. Both tasks are idempotent:
// an overlapping or retried pass changes nothing more.
func (in internal) RunSweep(ctx context.Context, req *recordingsv1.RunSweepRequest) (*recordingsv1.RunSweepResponse, error) {
	switch req.GetTask() {
	case recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS:
		n, more, err := in.s.endIdle(ctx)
		if err != nil {
			return nil, storeErr(err)
		}
		return &recordingsv1.RunSweepResponse{Sessions: int64(n), More: more}, nil
	case recordingsv1.SweepTask_SWEEP_TASK_RETENTION:
		n, err := in.s.retention(ctx)
		if err != nil {
			return nil, storeErr(err)
		}
		return &recordingsv1.RunSweepResponse{Sessions: int64(n)}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "task: %v is not END_IDLE_SESSIONS or RETENTION", req.GetTask())
}
