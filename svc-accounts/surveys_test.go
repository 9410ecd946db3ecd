package accounts

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// sampleSurvey has a rating question skipping to the end on low scores, a
// choice question skipping to the text question, and a text question. The
// ids are the client's references (10, 20, 30; choices 1, 2, 3).
func sampleSurvey() *accountsv1.Survey {
	return &accountsv1.Survey{
		Name:   "  Checkout NPS ",
		Status: accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE,
		Questions: []*accountsv1.Question{
			{Id: 10, Type: accountsv1.QuestionType_QUESTION_TYPE_NPS, Text: "How likely are you to recommend us?", Required: true,
				LowLabel: "Not likely", HighLabel: "Very likely",
				Skip: []*accountsv1.SkipRule{{MinScore: proto.Int32(0), MaxScore: proto.Int32(3), ToQuestionId: 0}}},
			{Id: 20, Type: accountsv1.QuestionType_QUESTION_TYPE_SINGLE_CHOICE, Text: "What brought you here?",
				Choices: []*accountsv1.Choice{{Id: 1, Label: "Search"}, {Id: 2, Label: "A friend"}, {Id: 3, Label: "Ads"}},
				Skip:    []*accountsv1.SkipRule{{ChoiceIds: []int32{3}, ToQuestionId: 30}}},
			{Id: 25, Type: accountsv1.QuestionType_QUESTION_TYPE_RATING_5, Text: "How easy was checkout?"},
			{Id: 30, Type: accountsv1.QuestionType_QUESTION_TYPE_LONG_TEXT, Text: "Anything else?"},
		},
		Targeting: &accountsv1.SurveyTargeting{
			Pages:       []*searchv1.UrlMatch{{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/checkout"}},
			DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP},
			Visitors:    accountsv1.SurveyTargeting_VISITORS_RETURNING,
			Attributes:  []*sessionsv1.Attribute{{Key: "plan", Value: "pro"}},
		},
		Trigger:        &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_AFTER_SECONDS, Seconds: 10, Event: "stale"},
		SampleRate:     proto.Float64(0.5),
		OncePerVisitor: true,
		ResponseLimit:  500,
		Thanks:         "Thank you!",
		Language:       "EN-gb",
	}
}

func TestSurveysCRUDAndIDs(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("surveys@a.example")
		admin := e.join(owner, owner.org, "admin@a.example", accountsv1.Role_ROLE_ADMIN)
		member := e.join(owner, owner.org, "member@a.example", accountsv1.Role_ROLE_MEMBER)
		siteID := e.shop(owner).GetId()

		// Members read but do not write.
		_, err := c.CreateSurvey(as(member.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
		wantCode(t, err, codes.PermissionDenied, "member creates a survey")

		cr, err := c.CreateSurvey(as(admin.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
		if err != nil {
			t.Fatal(err)
		}
		sv := cr.GetSurvey()
		if sv.GetId() <= 1<<31 || sv.GetSiteId() != siteID || sv.GetName() != "Checkout NPS" || sv.GetLanguage() != "en-GB" ||
			sv.GetCreateTime() == nil || sv.GetStatus() != accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE {
			t.Fatalf("created = %v", sv)
		}
		// Accounts numbers questions 1.. and choices 1.. per question, and
		// rewrites the skip rules to those ids.
		qs := sv.GetQuestions()
		if ids := []int32{qs[0].GetId(), qs[1].GetId(), qs[2].GetId(), qs[3].GetId()}; !slices.Equal(ids, []int32{1, 2, 3, 4}) {
			t.Fatalf("question ids = %v, want 1..4", ids)
		}
		if got := qs[1].GetSkip()[0]; got.GetToQuestionId() != 4 || !slices.Equal(got.GetChoiceIds(), []int32{3}) {
			t.Fatalf("choice skip rule = %v, want choice 3 → question 4", got)
		}
		if qs[0].GetSkip()[0].GetToQuestionId() != 0 || qs[0].GetSkip()[0].GetMaxScore() != 3 {
			t.Fatalf("score skip rule = %v", qs[0].GetSkip()[0])
		}
		// Fields of other trigger kinds are dropped.
		if tr := sv.GetTrigger(); tr.GetSeconds() != 10 || tr.GetEvent() != "" {
			t.Fatalf("trigger = %v", tr)
		}
		got, err := c.GetSurvey(as(member.token), &accountsv1.GetSurveyRequest{SiteId: siteID, SurveyId: sv.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetSurvey(), sv) {
			t.Fatalf("get = %v\nwant %v", got.GetSurvey(), sv)
		}

		// An edit: drop question 3 (the rating), rename choice 2, drop choice
		// 1, add a choice and a question, and send a made-up id (99).
		ed := proto.Clone(sv).(*accountsv1.Survey)
		ed.Questions = []*accountsv1.Question{ed.Questions[0], ed.Questions[1], ed.Questions[3],
			{Id: 99, Type: accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT, Text: "Your e-mail?"}}
		ed.Questions[1].Choices = []*accountsv1.Choice{{Id: 2, Label: "A friend or colleague"}, {Id: 3, Label: "Ads"}, {Label: "Podcast"}}
		ed.Questions[1].Skip = []*accountsv1.SkipRule{{ChoiceIds: []int32{3, 2}, ToQuestionId: 99}}
		ed.Status = accountsv1.SurveyStatus_SURVEY_STATUS_PAUSED
		_, err = c.UpdateSurvey(as(member.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: sv.GetId(), Survey: ed})
		wantCode(t, err, codes.PermissionDenied, "member updates a survey")
		up, err := c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: sv.GetId(), Survey: ed})
		if err != nil {
			t.Fatal(err)
		}
		uq := up.GetSurvey().GetQuestions()
		if ids := []int32{uq[0].GetId(), uq[1].GetId(), uq[2].GetId(), uq[3].GetId()}; !slices.Equal(ids, []int32{1, 2, 4, 5}) {
			t.Fatalf("question ids after edit = %v, want [1 2 4 5]", ids)
		}
		var cids []int32
		for _, ch := range uq[1].GetChoices() {
			cids = append(cids, ch.GetId())
		}
		if !slices.Equal(cids, []int32{2, 3, 4}) || uq[1].GetChoices()[0].GetLabel() != "A friend or colleague" {
			t.Fatalf("choices after edit = %v, want ids [2 3 4]", uq[1].GetChoices())
		}
		if r := uq[1].GetSkip()[0]; r.GetToQuestionId() != 5 || !slices.Equal(r.GetChoiceIds(), []int32{3, 2}) {
			t.Fatalf("skip after edit = %v, want [3 2] → 5", r)
		}
		if up.GetSurvey().GetStatus() != accountsv1.SurveyStatus_SURVEY_STATUS_PAUSED || up.GetSurvey().GetId() != sv.GetId() ||
			!up.GetSurvey().GetCreateTime().AsTime().Equal(sv.GetCreateTime().AsTime()) {
			t.Fatalf("updated = %v", up.GetSurvey())
		}
		// A second edit: question 5 removed, a new question and a new choice
		// on question 2 after choice 4 was removed: ids freed are never
		// reused (answers keep pointing at what was asked). Question 1
		// changes type: it becomes a new question.
		ed2 := proto.Clone(up.GetSurvey()).(*accountsv1.Survey)
		ed2.Questions = ed2.Questions[:3]
		ed2.Questions[0].Type = accountsv1.QuestionType_QUESTION_TYPE_RATING_10
		ed2.Questions[0].Skip = nil
		ed2.Questions[1].Choices = ed2.Questions[1].Choices[:2]
		ed2.Questions[1].Skip = nil
		ed2.Questions = append(ed2.Questions, &accountsv1.Question{Type: accountsv1.QuestionType_QUESTION_TYPE_MULTIPLE_CHOICE, Text: "Which?",
			Choices: []*accountsv1.Choice{{Label: "a"}, {Label: "b"}}})
		up2, err := c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: sv.GetId(), Survey: ed2})
		if err != nil {
			t.Fatal(err)
		}
		q2 := up2.GetSurvey().GetQuestions()
		if ids := []int32{q2[0].GetId(), q2[1].GetId(), q2[2].GetId(), q2[3].GetId()}; !slices.Equal(ids, []int32{6, 2, 4, 7}) {
			t.Fatalf("question ids after second edit = %v, want [6 2 4 7]", ids)
		}
		ed3 := proto.Clone(up2.GetSurvey()).(*accountsv1.Survey)
		ed3.Questions[1].Choices = append(ed3.Questions[1].Choices, &accountsv1.Choice{Label: "Newsletter"})
		up3, err := c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: sv.GetId(), Survey: ed3})
		if err != nil {
			t.Fatal(err)
		}
		if ch := up3.GetSurvey().GetQuestions()[1].GetChoices(); ch[2].GetId() != 5 {
			t.Fatalf("a choice added after choice 4 was removed got id %d, want 5", ch[2].GetId())
		}

		// List: newest first; another site of the organisation sees none.
		cr2, err := c.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.ListSurveys(as(member.token), &accountsv1.ListSurveysRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.GetSurveys()) != 2 || l.GetSurveys()[0].GetId() != cr2.GetSurvey().GetId() || l.GetSurveys()[1].GetId() != sv.GetId() {
			t.Fatalf("list = %v", l.GetSurveys())
		}
		site2, err := c.CreateSite(as(owner.token), &accountsv1.CreateSiteRequest{OrganizationId: owner.org, Name: "Blog"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSurvey(as(owner.token), &accountsv1.GetSurveyRequest{SiteId: site2.GetSite().GetId(), SurveyId: sv.GetId()})
		wantCode(t, err, codes.NotFound, "a survey through another site of the same organisation")
		_, err = c.DeleteSurvey(as(owner.token), &accountsv1.DeleteSurveyRequest{SiteId: site2.GetSite().GetId(), SurveyId: sv.GetId()})
		wantCode(t, err, codes.NotFound, "delete a survey through another site")

		// Delete.
		_, err = c.DeleteSurvey(as(member.token), &accountsv1.DeleteSurveyRequest{SiteId: siteID, SurveyId: sv.GetId()})
		wantCode(t, err, codes.PermissionDenied, "member deletes a survey")
		if _, err := c.DeleteSurvey(as(admin.token), &accountsv1.DeleteSurveyRequest{SiteId: siteID, SurveyId: sv.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSurvey(as(owner.token), &accountsv1.GetSurveyRequest{SiteId: siteID, SurveyId: sv.GetId()})
		wantCode(t, err, codes.NotFound, "a deleted survey")
		_, err = c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: sv.GetId(), Survey: sampleSurvey()})
		wantCode(t, err, codes.NotFound, "update a deleted survey")

		// Audit events name the survey.
		ev, err := c.ListAuditEvents(as(owner.token), &accountsv1.ListAuditEventsRequest{OrganizationId: owner.org, PageSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, a := range ev.GetEvents() {
			if strings.HasPrefix(a.GetAction(), "survey.") {
				count[a.GetAction()]++
				if !strings.Contains(a.GetTarget(), "survey:") {
					t.Errorf("audit target %q does not name the survey", a.GetTarget())
				}
			}
		}
		if count["survey.create"] != 2 || count["survey.update"] != 3 || count["survey.delete"] != 1 {
			t.Fatalf("survey audit events = %v, want 2 create, 3 update, 1 delete", count)
		}
	})
}

// TestSurveyConcurrentEdits: edits racing on one survey never hand out the
// same question id twice (each edit adds a question; all get distinct ids).
func TestSurveyConcurrentEdits(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		owner := e.signUp("race@a.example")
		siteID := e.shop(owner).GetId()
		cr, err := e.client.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sampleSurvey()})
		if err != nil {
			t.Fatal(err)
		}
		const writers = 4
		ids := make([]int32, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ed := proto.Clone(cr.GetSurvey()).(*accountsv1.Survey)
				text := fmt.Sprintf("Added by writer %d?", i)
				ed.Questions = append(ed.Questions, &accountsv1.Question{Type: accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT, Text: text})
				r, err := e.client.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: cr.GetSurvey().GetId(), Survey: ed})
				if err != nil {
					errs[i] = err
					return
				}
				for _, q := range r.GetSurvey().GetQuestions() {
					if q.GetText() == text {
						ids[i] = q.GetId()
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		seen := map[int32]bool{}
		for i, id := range ids {
			if id <= 4 || seen[id] {
				t.Fatalf("writer %d's new question got id %d (all: %v): ids must be fresh and distinct", i, id, ids)
			}
			seen[id] = true
		}
	})
}

func TestSurveyLimitPerSite(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("limit@a.example")
	site := e.shop(owner)
	for i := range maxSurveysPerSite {
		if _, err := e.client.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: site.GetId(), Survey: sampleSurvey()}); err != nil {
			t.Fatalf("survey %d: %v", i, err)
		}
	}
	_, err := e.client.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: site.GetId(), Survey: sampleSurvey()})
	wantCode(t, err, codes.ResourceExhausted, "survey 101")
	if !strings.Contains(err.Error(), "100") {
		t.Fatalf("limit error %q does not say the limit", err)
	}
}

func TestSurveyBadInput(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("bad@a.example")
	siteID := e.shop(owner).GetId()
	long := func(n int) string { return strings.Repeat("é", n) }
	choices := func(n int) []*accountsv1.Choice {
		out := make([]*accountsv1.Choice, n)
		for i := range out {
			out[i] = &accountsv1.Choice{Label: "c"}
		}
		return out
	}
	questions := func(n int) []*accountsv1.Question {
		out := make([]*accountsv1.Question, n)
		for i := range out {
			out[i] = &accountsv1.Question{Type: accountsv1.QuestionType_QUESTION_TYPE_SHORT_TEXT, Text: "q"}
		}
		return out
	}
	cases := []struct {
		name    string
		change  func(sv *accountsv1.Survey)
		mention string
	}{
		{"no name", func(sv *accountsv1.Survey) { sv.Name = "  " }, "survey.name"},
		{"long name", func(sv *accountsv1.Survey) { sv.Name = long(101) }, "survey.name"},
		{"unknown status", func(sv *accountsv1.Survey) { sv.Status = 9 }, "survey.status"},
		{"no questions", func(sv *accountsv1.Survey) { sv.Questions = nil }, "survey.questions"},
		{"21 questions", func(sv *accountsv1.Survey) { sv.Questions = questions(21) }, "survey.questions"},
		{"nil question", func(sv *accountsv1.Survey) { sv.Questions[1] = nil }, "survey.questions[1]"},
		{"no type", func(sv *accountsv1.Survey) { sv.Questions[0].Type = 0 }, "survey.questions[0].type"},
		{"unknown type", func(sv *accountsv1.Survey) { sv.Questions[0].Type = 42 }, "survey.questions[0].type"},
		{"empty text", func(sv *accountsv1.Survey) { sv.Questions[2].Text = "" }, "survey.questions[2].text"},
		{"long text", func(sv *accountsv1.Survey) { sv.Questions[2].Text = long(301) }, "survey.questions[2].text"},
		{"control characters", func(sv *accountsv1.Survey) { sv.Questions[2].Text = "a\x00b" }, "survey.questions[2].text"},
		{"duplicate question id", func(sv *accountsv1.Survey) { sv.Questions[2].Id = 10 }, "survey.questions[2].id"},
		{"negative question id", func(sv *accountsv1.Survey) { sv.Questions[2].Id = -1 }, "survey.questions[2].id"},
		{"one choice", func(sv *accountsv1.Survey) { sv.Questions[1].Choices = choices(1); sv.Questions[1].Skip = nil }, "survey.questions[1].choices"},
		{"21 choices", func(sv *accountsv1.Survey) { sv.Questions[1].Choices = choices(21); sv.Questions[1].Skip = nil }, "survey.questions[1].choices"},
		{"empty label", func(sv *accountsv1.Survey) { sv.Questions[1].Choices[0].Label = " " }, "survey.questions[1].choices[0].label"},
		{"long label", func(sv *accountsv1.Survey) { sv.Questions[1].Choices[0].Label = long(201) }, "survey.questions[1].choices[0].label"},
		{"duplicate choice id", func(sv *accountsv1.Survey) { sv.Questions[1].Choices[1].Id = 1 }, "survey.questions[1].choices[1].id"},
		{"choices on a rating", func(sv *accountsv1.Survey) { sv.Questions[2].Choices = choices(2) }, "survey.questions[2].choices"},
		{"labels on a text", func(sv *accountsv1.Survey) { sv.Questions[3].LowLabel = "low" }, "survey.questions[3]"},
		{"skip backwards", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].ToQuestionId = 10 }, "survey.questions[1].skip[0].to_question_id"},
		{"skip to itself", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].ToQuestionId = 20 }, "survey.questions[1].skip[0].to_question_id"},
		{"skip nowhere", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].ToQuestionId = 77 }, "survey.questions[1].skip[0].to_question_id"},
		{"skip unknown choice", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].ChoiceIds = []int32{9} }, "survey.questions[1].skip[0].choice_ids"},
		{"skip choice without choices", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].ChoiceIds = nil }, "survey.questions[1].skip[0].choice_ids"},
		{"skip score on a choice", func(sv *accountsv1.Survey) { sv.Questions[1].Skip[0].MinScore = proto.Int32(1) }, "survey.questions[1].skip[0]"},
		{"skip choice on a rating", func(sv *accountsv1.Survey) { sv.Questions[0].Skip[0].ChoiceIds = []int32{1} }, "survey.questions[0].skip[0]"},
		{"skip score over NPS", func(sv *accountsv1.Survey) { sv.Questions[0].Skip[0].MaxScore = proto.Int32(11) }, "survey.questions[0].skip[0].max_score"},
		{"skip score 0 on rating 5", func(sv *accountsv1.Survey) {
			sv.Questions[2].Skip = []*accountsv1.SkipRule{{MinScore: proto.Int32(0)}}
		}, "survey.questions[2].skip[0].min_score"},
		{"skip min above max", func(sv *accountsv1.Survey) { sv.Questions[0].Skip[0].MinScore = proto.Int32(5) }, "survey.questions[0].skip[0]"},
		{"skip without a condition", func(sv *accountsv1.Survey) {
			sv.Questions[0].Skip[0].MinScore, sv.Questions[0].Skip[0].MaxScore = nil, nil
		}, "survey.questions[0].skip[0]"},
		{"skip on a text", func(sv *accountsv1.Survey) { sv.Questions[3].Skip = []*accountsv1.SkipRule{{}} }, "survey.questions[3].skip[0]"},
		{"21 page rules", func(sv *accountsv1.Survey) {
			for range 20 {
				sv.Targeting.Pages = append(sv.Targeting.Pages, &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "x"})
			}
		}, "survey.targeting.pages"},
		{"page rule without operator", func(sv *accountsv1.Survey) { sv.Targeting.Pages[0].Operator = 0 }, "survey.targeting.pages[0].operator"},
		{"page rule without value", func(sv *accountsv1.Survey) { sv.Targeting.Pages[0].Value = "" }, "survey.targeting.pages[0].value"},
		{"page pattern with many stars", func(sv *accountsv1.Survey) {
			sv.Targeting.Pages[0] = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: strings.Repeat("*a", 17)}
		}, "survey.targeting.pages[0].value"},
		{"bot device", func(sv *accountsv1.Survey) {
			sv.Targeting.DeviceTypes = []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_BOT}
		}, "survey.targeting.device_types[0]"},
		{"device twice", func(sv *accountsv1.Survey) {
			sv.Targeting.DeviceTypes = append(sv.Targeting.DeviceTypes, sv.Targeting.DeviceTypes[0])
		}, "survey.targeting.device_types[1]"},
		{"unknown visitors", func(sv *accountsv1.Survey) { sv.Targeting.Visitors = 7 }, "survey.targeting.visitors"},
		{"11 attributes", func(sv *accountsv1.Survey) {
			for range 10 {
				sv.Targeting.Attributes = append(sv.Targeting.Attributes, &sessionsv1.Attribute{Key: "k", Value: "v"})
			}
		}, "survey.targeting.attributes"},
		{"attribute without key", func(sv *accountsv1.Survey) { sv.Targeting.Attributes[0].Key = "" }, "survey.targeting.attributes[0].key"},
		{"long attribute value", func(sv *accountsv1.Survey) { sv.Targeting.Attributes[0].Value = long(101) }, "survey.targeting.attributes[0].value"},
		{"unknown trigger", func(sv *accountsv1.Survey) { sv.Trigger.Kind = 12 }, "survey.trigger.kind"},
		{"0 seconds", func(sv *accountsv1.Survey) { sv.Trigger.Seconds = 0 }, "survey.trigger.seconds"},
		{"3601 seconds", func(sv *accountsv1.Survey) { sv.Trigger.Seconds = 3601 }, "survey.trigger.seconds"},
		{"scroll 101", func(sv *accountsv1.Survey) {
			sv.Trigger = &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_SCROLL_PERCENT, ScrollPercent: 101}
		}, "survey.trigger.scroll_percent"},
		{"event without name", func(sv *accountsv1.Survey) {
			sv.Trigger = &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_CUSTOM_EVENT}
		}, "survey.trigger.event"},
		{"long event name", func(sv *accountsv1.Survey) {
			sv.Trigger = &accountsv1.SurveyTrigger{Kind: accountsv1.SurveyTrigger_KIND_CUSTOM_EVENT, Event: long(101)}
		}, "survey.trigger.event"},
		{"sample over 1", func(sv *accountsv1.Survey) { sv.SampleRate = proto.Float64(1.5) }, "survey.sample_rate"},
		{"sample NaN", func(sv *accountsv1.Survey) { sv.SampleRate = proto.Float64(math.NaN()) }, "survey.sample_rate"},
		{"end before start", func(sv *accountsv1.Survey) {
			sv.StartTime, sv.EndTime = timestamppb.New(time.Now()), timestamppb.New(time.Now().Add(-time.Hour))
		}, "survey.end_time"},
		{"invalid time", func(sv *accountsv1.Survey) { sv.StartTime = &timestamppb.Timestamp{Seconds: 1, Nanos: -5} }, "survey.start_time"},
		{"negative limit", func(sv *accountsv1.Survey) { sv.ResponseLimit = -1 }, "survey.response_limit"},
		{"long thanks", func(sv *accountsv1.Survey) { sv.Thanks = long(301) }, "survey.thanks"},
		{"bad language", func(sv *accountsv1.Survey) { sv.Language = "english please" }, "survey.language"},
		{"long language", func(sv *accountsv1.Survey) { sv.Language = "en-" + strings.Repeat("a", 40) }, "survey.language"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sv := sampleSurvey()
			tc.change(sv)
			_, err := e.client.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sv})
			wantCode(t, err, codes.InvalidArgument, tc.name)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not name %q", err, tc.mention)
			}
		})
	}
	_, err := e.client.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID})
	wantCode(t, err, codes.InvalidArgument, "no survey")
	_, err = e.client.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: 1})
	wantCode(t, err, codes.InvalidArgument, "update without survey")
	_, err = e.client.GetSurvey(as(owner.token), &accountsv1.GetSurveyRequest{SiteId: siteID, SurveyId: -4})
	wantCode(t, err, codes.InvalidArgument, "negative survey id")
	_, err = e.client.ListSurveys(as(owner.token), &accountsv1.ListSurveysRequest{SiteId: 0})
	wantCode(t, err, codes.InvalidArgument, "no site")
	// Nothing invalid was stored.
	l, err := e.client.ListSurveys(as(owner.token), &accountsv1.ListSurveysRequest{SiteId: siteID})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.GetSurveys()) != 0 {
		t.Fatalf("%d invalid surveys stored", len(l.GetSurveys()))
	}
}

// TestSiteConfigSurveysAndWidget: the config carries the active, unended
// surveys and the widget; its etag moves with any change to them and
// only then.
func TestSiteConfigSurveysAndWidget(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		c := e.client
		owner := e.signUp("cfg@a.example")
		site := e.shop(owner)
		siteID, key := site.GetId(), site.GetSiteKey()
		config := func() *accountsv1.GetSiteConfigResponse {
			t.Helper()
			r, err := c.GetSiteConfig(as(""), &accountsv1.GetSiteConfigRequest{SiteKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		ids := func(r *accountsv1.GetSiteConfigResponse) []int64 {
			var out []int64
			for _, s := range r.GetSurveys() {
				out = append(out, s.GetId())
			}
			return out
		}
		create := func(change func(*accountsv1.Survey)) *accountsv1.Survey {
			t.Helper()
			sv := sampleSurvey()
			change(sv)
			r, err := c.CreateSurvey(as(owner.token), &accountsv1.CreateSurveyRequest{SiteId: siteID, Survey: sv})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetSurvey()
		}
		c0 := config()
		if len(c0.GetSurveys()) != 0 || c0.GetSettings().GetFeedback() != nil {
			t.Fatalf("new site's config = %v", c0)
		}
		if config().GetEtag() != c0.GetEtag() {
			t.Fatal("the etag changes with nothing changed")
		}
		active := create(func(*accountsv1.Survey) {})
		create(func(sv *accountsv1.Survey) { sv.Status = accountsv1.SurveyStatus_SURVEY_STATUS_DRAFT })
		paused := create(func(sv *accountsv1.Survey) { sv.Status = accountsv1.SurveyStatus_SURVEY_STATUS_PAUSED })
		create(func(sv *accountsv1.Survey) { sv.Status = 0 }) // draft by default
		create(func(sv *accountsv1.Survey) {
			sv.StartTime = timestamppb.New(time.Now().Add(-2 * time.Hour))
			sv.EndTime = timestamppb.New(time.Now().Add(-time.Hour))
		})
		// Not yet started: included (ingest drops it when rendering, by its
		// own clock).
		future := create(func(sv *accountsv1.Survey) {
			sv.StartTime = timestamppb.New(time.Now().Add(time.Hour))
			sv.EndTime = timestamppb.New(time.Now().Add(2 * time.Hour))
		})
		c1 := config()
		if got := ids(c1); !slices.Equal(got, []int64{future.GetId(), active.GetId()}) {
			t.Fatalf("config surveys = %v, want [%d %d] (active and not ended, newest first)", got, future.GetId(), active.GetId())
		}
		if !proto.Equal(c1.GetSurveys()[1], active) {
			t.Fatalf("config survey = %v\nwant %v", c1.GetSurveys()[1], active)
		}
		if c1.GetEtag() == c0.GetEtag() {
			t.Fatal("adding an active survey kept the etag")
		}
		// A paused survey turned active changes the config and the etag.
		ed := proto.Clone(paused).(*accountsv1.Survey)
		ed.Status = accountsv1.SurveyStatus_SURVEY_STATUS_ACTIVE
		if _, err := c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: paused.GetId(), Survey: ed}); err != nil {
			t.Fatal(err)
		}
		c2 := config()
		if len(c2.GetSurveys()) != 3 || c2.GetEtag() == c1.GetEtag() {
			t.Fatalf("after activating: %d surveys, etag %s (was %s)", len(c2.GetSurveys()), c2.GetEtag(), c1.GetEtag())
		}
		// A wording change in an active survey changes the etag.
		ed = proto.Clone(active).(*accountsv1.Survey)
		ed.Questions[0].Text = "Would you recommend us?"
		if _, err := c.UpdateSurvey(as(owner.token), &accountsv1.UpdateSurveyRequest{SiteId: siteID, SurveyId: active.GetId(), Survey: ed}); err != nil {
			t.Fatal(err)
		}
		c3 := config()
		if c3.GetEtag() == c2.GetEtag() {
			t.Fatal("editing an active survey kept the etag")
		}
		if config().GetEtag() != c3.GetEtag() {
			t.Fatal("the etag changes with nothing changed")
		}
		// Deleting one changes it too.
		if _, err := c.DeleteSurvey(as(owner.token), &accountsv1.DeleteSurveyRequest{SiteId: siteID, SurveyId: future.GetId()}); err != nil {
			t.Fatal(err)
		}
		c4 := config()
		if slices.Contains(ids(c4), future.GetId()) || c4.GetEtag() == c3.GetEtag() {
			t.Fatalf("after delete: %v, etag moved %v", ids(c4), c4.GetEtag() != c3.GetEtag())
		}

		// The feedback widget: masked update, normalised, in the config.
		w := &accountsv1.FeedbackWidget{Enabled: true, Position: accountsv1.FeedbackWidget_POSITION_BOTTOM_LEFT, Color: "#0A7CFF",
			Language: "de", TabLabel: " Feedback ", Title: "Wie gefällt Ihnen die Seite?", AllowElement: true,
			Pages: []*searchv1.UrlMatch{{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/shop/*"}}}
		up, err := c.UpdateSiteSettings(as(owner.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
			Settings: &accountsv1.SiteSettings{Feedback: w, SampleRate: 0.01}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"feedback"}}})
		if err != nil {
			t.Fatal(err)
		}
		gw := up.GetSettings().GetFeedback()
		if gw.GetColor() != "#0a7cff" || gw.GetTabLabel() != "Feedback" || gw.GetPosition() != accountsv1.FeedbackWidget_POSITION_BOTTOM_LEFT ||
			len(gw.GetPages()) != 1 || gw.GetPages()[0].GetValue() != "/shop/*" || !gw.GetAllowElement() || up.GetSettings().GetSampleRate() != 1 {
			t.Fatalf("widget = %v (settings %v)", gw, up.GetSettings())
		}
		c5 := config()
		if !proto.Equal(c5.GetSettings().GetFeedback(), gw) || c5.GetEtag() == c4.GetEtag() {
			t.Fatalf("config widget = %v, etag moved %v", c5.GetSettings().GetFeedback(), c5.GetEtag() != c4.GetEtag())
		}
		gs, err := c.GetSiteSettings(as(owner.token), &accountsv1.GetSiteSettingsRequest{SiteId: siteID})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(gs.GetSettings().GetFeedback(), gw) {
			t.Fatalf("stored widget = %v", gs.GetSettings().GetFeedback())
		}
		// Another masked field leaves the widget alone; a widget change moves the etag.
		w.Thanks = "Danke!"
		if _, err := c.UpdateSiteSettings(as(owner.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
			Settings: &accountsv1.SiteSettings{Feedback: w}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"feedback"}}}); err != nil {
			t.Fatal(err)
		}
		c6 := config()
		if c6.GetSettings().GetFeedback().GetThanks() != "Danke!" || c6.GetEtag() == c5.GetEtag() {
			t.Fatalf("thanks change: %v, etag moved %v", c6.GetSettings().GetFeedback(), c6.GetEtag() != c5.GetEtag())
		}
		if _, err := c.UpdateSiteSettings(as(owner.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
			Settings: &accountsv1.SiteSettings{SampleRate: 0.5}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"sample_rate"}}}); err != nil {
			t.Fatal(err)
		}
		if got := config().GetSettings().GetFeedback(); got.GetThanks() != "Danke!" || !got.GetEnabled() {
			t.Fatalf("a sample-rate update lost the widget: %v", got)
		}
	})
}

func TestFeedbackWidgetBadInput(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("fw@a.example")
	siteID := e.shop(owner).GetId()
	many := make([]*searchv1.UrlMatch, 21)
	for i := range many {
		many[i] = &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "x"}
	}
	for _, tc := range []struct {
		name    string
		w       *accountsv1.FeedbackWidget
		mention string
	}{
		{"color name", &accountsv1.FeedbackWidget{Color: "red"}, "settings.feedback.color"},
		{"short color", &accountsv1.FeedbackWidget{Color: "#fff"}, "settings.feedback.color"},
		{"color with script", &accountsv1.FeedbackWidget{Color: "#fff;}</style><script>"}, "settings.feedback.color"},
		{"position", &accountsv1.FeedbackWidget{Position: 9}, "settings.feedback.position"},
		{"language", &accountsv1.FeedbackWidget{Language: "xx_!!"}, "settings.feedback.language"},
		{"long tab", &accountsv1.FeedbackWidget{TabLabel: strings.Repeat("a", 201)}, "settings.feedback.tab_label"},
		{"long title", &accountsv1.FeedbackWidget{Title: strings.Repeat("ü", 201)}, "settings.feedback.title"},
		{"markup prompt", &accountsv1.FeedbackWidget{CommentPrompt: "<img src=x onerror=alert(1)>"}, "settings.feedback.comment_prompt"},
		{"control thanks", &accountsv1.FeedbackWidget{Thanks: "a\x07"}, "settings.feedback.thanks"},
		{"21 pages", &accountsv1.FeedbackWidget{Pages: many}, "settings.feedback.pages"},
		{"page without op", &accountsv1.FeedbackWidget{Pages: []*searchv1.UrlMatch{{Value: "/x"}}}, "settings.feedback.pages[0].operator"},
		{"page without value", &accountsv1.FeedbackWidget{Pages: []*searchv1.UrlMatch{{Operator: searchv1.UrlMatch_OPERATOR_EQUALS}}}, "settings.feedback.pages[0].value"},
	} {
		_, err := e.client.UpdateSiteSettings(as(owner.token), &accountsv1.UpdateSiteSettingsRequest{SiteId: siteID,
			Settings: &accountsv1.SiteSettings{Feedback: tc.w}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"feedback"}}})
		wantCode(t, err, codes.InvalidArgument, tc.name)
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %q does not name %q", tc.name, err, tc.mention)
		}
	}
	gs, err := e.client.GetSiteSettings(as(owner.token), &accountsv1.GetSiteSettingsRequest{SiteId: siteID})
	if err != nil {
		t.Fatal(err)
	}
	if gs.GetSettings().GetFeedback() != nil {
		t.Fatalf("an invalid widget was stored: %v", gs.GetSettings().GetFeedback())
	}
}
