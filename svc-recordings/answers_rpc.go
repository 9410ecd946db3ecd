package recordings

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/scrub"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// isAnswer tells an answer record from a batch of events: ingest sends
// answers down the batches' path as chunks whose answer is set.
func isAnswer(c *recordingsv1.Chunk) bool { return c.GetAnswer() != nil }

// prepareAnswer validates one answer record and turns it into what the
// store keeps: the chunk's site, organisation and ids must be the answer's
// (an answer cannot be filed under another tenant by its envelope), text
// is scrubbed again (idempotent) and the expiry follows the site's
// retention like a chunk's.
func (s *Service) prepareAnswer(i int, c *recordingsv1.Chunk, nowMs int64) (store.Answer, error) {
	a := c.GetAnswer()
	if len(c.GetEvents()) > 0 {
		return store.Answer{}, invalid("chunks[%d]: an answer record carries no events", i)
	}
	// The batch contract's answer rules: the code ingest ran before it
	// answered 204.
	if err := batch.CheckAnswer(a); err != nil {
		return store.Answer{}, invalid("chunks[%d]: %v", i, err)
	}
	switch {
	case c.GetSiteId() != a.GetSiteId():
		return store.Answer{}, invalid("chunks[%d]: answer: site_id %d differs from the chunk's %d", i, a.GetSiteId(), c.GetSiteId())
	case c.GetOrganizationId() != a.GetOrganizationId():
		return store.Answer{}, invalid("chunks[%d]: answer: organization_id differs from the chunk's", i)
	case c.GetSessionId() != "" && c.GetSessionId() != a.GetSessionId():
		return store.Answer{}, invalid("chunks[%d]: answer: session_id differs from the chunk's", i)
	case c.GetVisitorId() != "" && c.GetVisitorId() != a.GetVisitorId():
		return store.Answer{}, invalid("chunks[%d]: answer: visitor_id differs from the chunk's", i)
	case c.GetRetentionDays() < 0 || int(c.GetRetentionDays()) > s.cfg.MaxRetentionDays:
		return store.Answer{}, invalid("chunks[%d]: retention_days: must be between 0 and %d", i, s.cfg.MaxRetentionDays)
	}
	a = proto.Clone(a).(*sessionsv1.Answer)
	scrubAnswer(a)
	serverMs := nowMs
	if t := a.GetServerTime(); t != nil {
		serverMs = t.AsTime().UnixMilli()
	} else if t := c.GetServerTime(); t != nil {
		serverMs = t.AsTime().UnixMilli()
		a.ServerTime = t
	}
	days := int64(c.GetRetentionDays())
	if days == 0 {
		days = int64(s.cfg.DefaultRetentionDays)
	}
	return store.Answer{Answer: a, ExpiresMs: serverMs + days*dayMs}, nil
}

// appendAnswers stores the answer records of an AppendChunks call
// (positions pos in the request) and fills their results.
func (s *Service) appendAnswers(ctx context.Context, answers []store.Answer, pos []int, out []*recordingsv1.ChunkResult) error {
	if len(answers) == 0 {
		return nil
	}
	res, err := s.store.AppendAnswers(ctx, answers)
	if err != nil {
		return s.storeErr(ctx, "append answers", err)
	}
	if len(res) != len(answers) {
		return status.Errorf(codes.Internal, "recordings: the store answered %d results for %d answers", len(res), len(answers))
	}
	for j, r := range res {
		i := pos[j]
		switch {
		case r.Refused != nil:
			out[i] = s.refuse(ctx, refusedOther, fmt.Sprintf("chunks[%d]: %v", i, r.Refused))
		case r.Stored:
			out[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED}
		default:
			out[i] = &recordingsv1.ChunkResult{Outcome: recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE}
		}
	}
	return nil
}

// GetAnswerCounts counts a site's stored answers per survey (internal:
// ingest stops serving a survey at its response limit; no authorization,
// like AppendChunks).
func (s *Service) GetAnswerCounts(ctx context.Context, req *recordingsv1.GetAnswerCountsRequest) (*recordingsv1.GetAnswerCountsResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	c, err := s.store.AnswerCounts(ctx, req.GetSiteId())
	if err != nil {
		return nil, s.storeErr(ctx, "get answer counts", err)
	}
	return &recordingsv1.GetAnswerCountsResponse{SurveyResponses: c.Surveys, Feedback: c.Feedback}, nil
}

// ListAnswers pages through a site's answers, newest first (internal:
// search's reindex).
func (s *Service) ListAnswers(ctx context.Context, req *recordingsv1.ListAnswersRequest) (*recordingsv1.ListAnswersResponse, error) {
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id: must be positive")
	}
	size, err := s.pageSize(req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListAnswers(ctx, req.GetSiteId(), req.GetPageToken(), size)
	if err != nil {
		return nil, s.pageErr(ctx, "list answers", err)
	}
	return &recordingsv1.ListAnswersResponse{Answers: page.Answers, NextPageToken: page.Next}, nil
}

// sweepAnswers removes expired answers after the sessions' sweep.
func (s *Service) sweepAnswers(ctx context.Context) (int, error) {
	return s.store.SweepAnswers(ctx, time.Now())
}

// The store's answers methods, traced and timed like the others.

func (t *traced) AppendAnswers(ctx context.Context, answers []store.Answer) (_ []store.AppendResult, err error) {
	ctx, end := t.calls.Start(ctx, "append_answers", attribute.Int("answers", len(answers)))
	defer end(&err)
	return t.next.AppendAnswers(ctx, answers)
}

func (t *traced) GetAnswers(ctx context.Context, siteID int64, ids []string) (_ []*sessionsv1.Answer, err error) {
	ctx, end := t.calls.Start(ctx, "get_answers", siteAttr(siteID), attribute.Int("answers", len(ids)))
	defer end(&err)
	return t.next.GetAnswers(ctx, siteID, ids)
}

func (t *traced) ListAnswers(ctx context.Context, siteID int64, token string, limit int) (_ store.AnswerPage, err error) {
	ctx, end := t.calls.Start(ctx, "list_answers", siteAttr(siteID))
	defer end(&err)
	return t.next.ListAnswers(ctx, siteID, token, limit)
}

func (t *traced) AnswerCounts(ctx context.Context, siteID int64) (_ store.AnswerCounts, err error) {
	ctx, end := t.calls.Start(ctx, "answer_counts", siteAttr(siteID))
	defer end(&err)
	return t.next.AnswerCounts(ctx, siteID)
}

func (t *traced) DeleteSessionAnswers(ctx context.Context, siteID int64, session string) (_ int64, err error) {
	ctx, end := t.calls.Start(ctx, "delete_session_answers", siteAttr(siteID))
	defer end(&err)
	return t.next.DeleteSessionAnswers(ctx, siteID, session)
}

func (t *traced) DeleteVisitorAnswers(ctx context.Context, siteID int64, visitor string) (_ int64, err error) {
	ctx, end := t.calls.Start(ctx, "delete_visitor_answers", siteAttr(siteID))
	defer end(&err)
	return t.next.DeleteVisitorAnswers(ctx, siteID, visitor)
}

func (t *traced) SweepAnswers(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, end := t.calls.Start(ctx, "sweep_answers")
	defer end(&err)
	return t.next.SweepAnswers(ctx, now)
}

func (t *traced) AnswerOutboxPending(ctx context.Context, limit int) (_ []store.OutboxEntry, err error) {
	ctx, end := t.calls.Start(ctx, "answer_outbox_pending")
	defer end(&err)
	return t.next.AnswerOutboxPending(ctx, limit)
}

func (t *traced) AnswerOutboxAck(ctx context.Context, entries []store.OutboxEntry) (err error) {
	ctx, end := t.calls.Start(ctx, "answer_outbox_ack", attribute.Int("entries", len(entries)))
	defer end(&err)
	return t.next.AnswerOutboxAck(ctx, entries)
}

// scrubAnswer scrubs the answer's visitor text again (scrub.Text is
// idempotent: what ingest scrubbed stays as it is).
func scrubAnswer(a *sessionsv1.Answer) {
	a.Comment = scrub.Text(a.GetComment())
	for _, q := range a.GetAnswers() {
		if q.GetText() != "" {
			q.Text = scrub.Text(q.GetText())
		}
	}
}
