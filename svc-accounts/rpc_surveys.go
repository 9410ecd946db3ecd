package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// surveyRecord is a survey as stored (store.Survey.Definition). Besides the
// definition it keeps the highest question and choice ids ever handed out,
// so an id freed by a deleted question or choice is never given to another
// one: answers name questions and choices by id, for good.
type surveyRecord struct {
	Survey       json.RawMessage `json:"survey"`
	LastQuestion int32           `json:"last_question"`
	// LastChoice maps a question id to its highest choice id.
	LastChoice map[int32]int32 `json:"last_choice,omitempty"`
}

// decodeSurvey turns a stored survey into its proto, with the columns the
// store owns (ids, status, end and times) filled from the row.
func decodeSurvey(sv store.Survey) (*accountsv1.Survey, surveyRecord, error) {
	var rec surveyRecord
	if err := json.Unmarshal(sv.Definition, &rec); err != nil {
		return nil, rec, fmt.Errorf("decode survey %d: %w", sv.ID, err)
	}
	p := &accountsv1.Survey{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Survey, p); err != nil {
		return nil, rec, fmt.Errorf("decode survey %d: %w", sv.ID, err)
	}
	p.Id, p.SiteId, p.Status = sv.ID, sv.SiteID, accountsv1.SurveyStatus(sv.Status)
	p.EndTime, p.CreateTime, p.UpdateTime = tspb(sv.EndTime), tspb(sv.CreateTime), tspb(sv.UpdateTime)
	return p, rec, nil
}

// encodeSurvey is decodeSurvey's inverse.
func encodeSurvey(site int64, p *accountsv1.Survey, rec surveyRecord) (store.Survey, error) {
	def := proto.Clone(p).(*accountsv1.Survey)
	def.Id, def.SiteId, def.CreateTime, def.UpdateTime = 0, 0, nil, nil
	b, err := protojson.Marshal(def)
	if err != nil {
		return store.Survey{}, fmt.Errorf("encode survey: %w", err)
	}
	rec.Survey = b
	out, err := json.Marshal(rec)
	if err != nil {
		return store.Survey{}, fmt.Errorf("encode survey: %w", err)
	}
	sv := store.Survey{ID: p.GetId(), SiteID: site, Status: int32(p.GetStatus()), Definition: out}
	if p.EndTime != nil {
		sv.EndTime = p.GetEndTime().AsTime()
	}
	return sv, nil
}

// assignIDs replaces the client's question and choice ids (references
// within the request, checked by checkSurvey) with stored ones: a question
// keeps its id when prev has a question with that id and the same type
// (a changed type makes old answers mean something else, so it is a new
// question), a choice when that question had it; everything else gets the
// next unused id. Skip rules are rewritten to the new ids. prev is nil on
// create.
func assignIDs(sv *accountsv1.Survey, prev *accountsv1.Survey, rec *surveyRecord) {
	old := map[int32]*accountsv1.Question{}
	for _, q := range prev.GetQuestions() {
		old[q.GetId()] = q
		rec.LastQuestion = max(rec.LastQuestion, q.GetId())
	}
	if rec.LastChoice == nil {
		rec.LastChoice = map[int32]int32{}
	}
	qmap := map[int32]int32{} // client id -> stored id
	cmaps := make([]map[int32]int32, len(sv.GetQuestions()))
	for i, q := range sv.GetQuestions() {
		was, kept := old[q.GetId()]
		kept = kept && q.GetId() != 0 && was.GetType() == q.GetType()
		id := q.GetId()
		if !kept {
			rec.LastQuestion++
			id = rec.LastQuestion
		}
		if q.GetId() != 0 {
			qmap[q.GetId()] = id
		}
		oldChoices := map[int32]bool{}
		if kept {
			for _, c := range was.GetChoices() {
				oldChoices[c.GetId()] = true
				rec.LastChoice[id] = max(rec.LastChoice[id], c.GetId())
			}
		}
		cmaps[i] = map[int32]int32{}
		for _, c := range q.GetChoices() {
			cid := c.GetId()
			if cid == 0 || !oldChoices[cid] {
				rec.LastChoice[id]++
				cid = rec.LastChoice[id]
			}
			if c.GetId() != 0 {
				cmaps[i][c.GetId()] = cid
			}
			c.Id = cid
		}
		q.Id = id
	}
	for i, q := range sv.GetQuestions() {
		for _, r := range q.GetSkip() {
			if r.GetToQuestionId() != 0 {
				r.ToQuestionId = qmap[r.GetToQuestionId()]
			}
			for k, c := range r.GetChoiceIds() {
				r.ChoiceIds[k] = cmaps[i][c]
			}
		}
	}
	// Questions no longer in the survey keep their high-water marks (a
	// re-added question gets a fresh id anyway); choice marks of removed
	// questions are dropped to keep the record small.
	live := map[int32]bool{}
	for _, q := range sv.GetQuestions() {
		live[q.GetId()] = true
	}
	for id := range rec.LastChoice {
		if !live[id] {
			delete(rec.LastChoice, id)
		}
	}
}

// surveyPB decodes a stored survey for a client.
func surveyPB(row store.Survey) (*accountsv1.Survey, error) {
	p, _, err := decodeSurvey(row)
	return p, err
}

// ListSurveys lists a site's surveys, newest first (viewer or above).
func (s *Service) ListSurveys(ctx context.Context, req *accountsv1.ListSurveysRequest) (*accountsv1.ListSurveysResponse, error) {
	svs, err := listSiteObjects(ctx, s, req.GetSiteId(), "survey", func(site int64) ([]store.Survey, error) {
		return s.store.ListSurveys(ctx, site)
	}, surveyPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListSurveysResponse{Surveys: svs}, nil
}

// GetSurvey returns one survey (viewer or above).
func (s *Service) GetSurvey(ctx context.Context, req *accountsv1.GetSurveyRequest) (*accountsv1.GetSurveyResponse, error) {
	sv, err := getSiteObject(ctx, s, req.GetSiteId(), "survey", req.GetSurveyId(), func(site, id int64) (store.Survey, error) {
		return s.store.GetSurvey(ctx, site, id)
	}, surveyPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.GetSurveyResponse{Survey: sv}, nil
}

// checkedSurvey checks a request's survey and returns a copy to fill in.
func checkedSurvey(in *accountsv1.Survey) (*accountsv1.Survey, error) {
	if in == nil {
		return nil, invalid("survey is required")
	}
	sv := proto.Clone(in).(*accountsv1.Survey)
	if err := checkSurvey(sv); err != nil {
		return nil, err
	}
	return sv, nil
}

// CreateSurvey adds a survey (admin or owner).
func (s *Service) CreateSurvey(ctx context.Context, req *accountsv1.CreateSurveyRequest) (*accountsv1.CreateSurveyResponse, error) {
	c, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	sv, err := checkedSurvey(req.GetSurvey())
	if err != nil {
		return nil, err
	}
	var rec surveyRecord
	assignIDs(sv, nil, &rec)
	sv.Id = 0
	row, err := encodeSurvey(st.ID, sv, rec)
	if err != nil {
		return nil, s.internal(ctx, "create survey", err)
	}
	row, err = s.store.CreateSurvey(ctx, row, maxSurveysPerSite)
	if err != nil {
		return nil, s.storeErr(ctx, "create survey", err)
	}
	out, err := savedSiteObject(ctx, s, c, st, "survey", "create", row, row.ID, surveyPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.CreateSurveyResponse{Survey: out}, nil
}

// UpdateSurvey replaces a survey's definition (admin or owner).
func (s *Service) UpdateSurvey(ctx context.Context, req *accountsv1.UpdateSurveyRequest) (*accountsv1.UpdateSurveyResponse, error) {
	c, st, err := s.siteObjectCaller(ctx, req.GetSiteId(), store.RoleAdmin, "survey", req.GetSurveyId())
	if err != nil {
		return nil, err
	}
	sv, err := checkedSurvey(req.GetSurvey())
	if err != nil {
		return nil, err
	}
	row, err := s.replaceSurvey(ctx, st.ID, req.GetSurveyId(), sv)
	if err != nil {
		return nil, err
	}
	out, err := savedSiteObject(ctx, s, c, st, "survey", "update", row, row.ID, surveyPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.UpdateSurveyResponse{Survey: out}, nil
}

// replaceSurvey assigns ids against the stored survey and writes sv over
// it, on the condition that nobody wrote in between: two concurrent edits
// would otherwise hand out the same fresh id to different questions. A lost
// race reads again and reassigns (the edit is a replacement either way).
func (s *Service) replaceSurvey(ctx context.Context, site, id int64, in *accountsv1.Survey) (store.Survey, error) {
	const attempts = 5
	for i := 0; ; i++ {
		cur, err := s.store.GetSurvey(ctx, site, id)
		if err != nil {
			return store.Survey{}, s.storeErr(ctx, "update survey", err)
		}
		prev, rec, err := decodeSurvey(cur)
		if err != nil {
			return store.Survey{}, s.internal(ctx, "update survey", err)
		}
		sv := proto.Clone(in).(*accountsv1.Survey)
		assignIDs(sv, prev, &rec)
		sv.Id = cur.ID
		row, err := encodeSurvey(site, sv, rec)
		if err != nil {
			return store.Survey{}, s.internal(ctx, "update survey", err)
		}
		row.UpdateTime = cur.UpdateTime
		row, err = s.store.UpdateSurvey(ctx, row)
		if errors.Is(err, store.ErrPrecondition) && i+1 < attempts {
			continue
		}
		if err != nil {
			return store.Survey{}, s.storeErr(ctx, "update survey", err)
		}
		return row, nil
	}
}

// DeleteSurvey deletes a survey (admin or owner); its answers stay in
// recordings and search.
func (s *Service) DeleteSurvey(ctx context.Context, req *accountsv1.DeleteSurveyRequest) (*accountsv1.DeleteSurveyResponse, error) {
	err := s.deleteSiteObject(ctx, req.GetSiteId(), "survey", req.GetSurveyId(), func(site, id int64) error {
		return s.store.DeleteSurvey(ctx, site, id)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.DeleteSurveyResponse{}, nil
}

// activeSurveys decodes the config's surveys, dropping any whose end time
// has passed at now (the store filtered already; this keeps the rule in one
// place should a row slip through a clock skew between database and us).
func activeSurveys(rows []store.Survey, now time.Time) ([]*accountsv1.Survey, error) {
	var out []*accountsv1.Survey
	for _, r := range rows {
		if r.Status != store.SurveyActive || (!r.EndTime.IsZero() && !r.EndTime.After(now)) {
			continue
		}
		p, _, err := decodeSurvey(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
