package outbox

import (
	"context"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// OnceAnswers delivers one batch of the answers' outbox and answers how
// many entries it took. Upserts carry ids: the answers are read from the
// store when they are sent (one deleted meanwhile is left out; its
// deletion follows). Runs of upserts of a site become one call; a deletion
// flushes the run first so the order of changes is kept.
func (r *Relay) OnceAnswers(ctx context.Context) (_ int, err error) {
	began := time.Now()
	entries, err := r.Store.AnswerOutboxPending(ctx, r.Batch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	ctx, end := r.work(ctx, "recordings.outbox deliver answers", began, len(entries), traceparents(entries))
	defer end(&err)
	var site int64
	var ids []string
	seen := map[string]bool{}
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		defer func() { ids, seen = nil, map[string]bool{} }()
		answers, err := r.Store.GetAnswers(ctx, site, ids)
		if err != nil || len(answers) == 0 {
			return err
		}
		return sendCalls(ctx, answers, r.CallSize, r.CallBytes, r.upsertAnswers, func(a *sessionsv1.Answer, err error) {
			r.Logger.ErrorContext(ctx, "outbox: search refused an answer; dropped", "site_id", a.GetSiteId(), "answer_id", a.GetId(), "err", err)
		})
	}
	for _, e := range entries {
		switch e.Kind {
		case store.OutboxUpsertAnswers:
			if e.SiteID != site {
				if err := flush(); err != nil {
					return 0, err
				}
				site = e.SiteID
			}
			for _, id := range e.AnswerIDs {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		case store.OutboxDeleteAnswers:
			if err := flush(); err != nil {
				return 0, err
			}
			req := &searchv1.DeleteAnswersRequest{SiteId: e.SiteID}
			switch {
			case len(e.AnswerIDs) > 0:
				req.Selector = &searchv1.DeleteAnswersRequest_AnswerIds{AnswerIds: &searchv1.AnswerIds{Ids: e.AnswerIDs}}
			case e.VisitorID != "":
				req.Selector = &searchv1.DeleteAnswersRequest_VisitorId{VisitorId: e.VisitorID}
			case len(e.SessionIDs) > 0:
				req.Selector = &searchv1.DeleteAnswersRequest_SessionId{SessionId: e.SessionIDs[0]}
			default:
				req.Selector = &searchv1.DeleteAnswersRequest_WholeSite{WholeSite: true}
			}
			if err := r.deleteCall(ctx, "an answers deletion", e.SiteID, func(ctx context.Context) error {
				_, err := r.Search.DeleteAnswers(ctx, req)
				return err
			}); err != nil {
				return 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := r.Store.AnswerOutboxAck(ctx, entries); err != nil {
		return 0, err
	}
	r.delivered(ctx, len(entries))
	return len(entries), nil
}

func (r *Relay) upsertAnswers(ctx context.Context, answers []*sessionsv1.Answer) error {
	return r.call(ctx, func(ctx context.Context) error {
		_, err := r.Search.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: answers})
		return err
	})
}
