package ingest

// Feedback and survey answers: POST /i/v1/answer (docs/wire-format.md,
// "Answer"). An answer takes the batches' durable path — the same site-key,
// origin, content-type, encoding and per-IP checks, then the spool and the
// forwarder — as a Chunk whose `answer` is set and `events` empty. It has
// its own body limit and per-site rate, and is not counted against the
// per-session limits or the daily session quota (an answer starts no
// session).

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contract "github.com/sightlinehq/sightline/batch"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/scrub"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

func (s *Service) serveAnswer(w http.ResponseWriter, r *http.Request) {
	b := s.newBatch(w, r, s.cfg.AnswerMaxBytes)
	var ans contract.Answer
	a := s.answerIntake(b, &ans)
	if b.span == nil {
		b.ctx, b.span = s.startSpan(r, b.start, "", "ingest.answer")
	}
	if ans.ID != "" {
		b.span.SetAttributes(attribute.String("sightline.answer_id", ans.ID), attribute.String("sightline.session_id", ans.SessionID),
			attribute.Int64("sightline.survey_id", ans.SurveyID))
	}
	s.reply(b, a, "answer")
	s.finish(b, a.code, s.m.answers)
}

// answerIntake admits one answer with the batches' steps and the answers'
// own limits: the client, the site, the body, then the spool.
func (s *Service) answerIntake(b *batch, ans *contract.Answer) answer {
	if a := s.admitClient(b); a != nil {
		return *a
	}
	read := func(b *batch) *answer { return s.readAnswer(b, ans) }
	if a := s.admitSite(b, s.answerSiteChecks, read); a != nil {
		return *a
	}
	if a := read(b); a != nil {
		return *a
	}
	return s.spoolAnswer(b, ans)
}

// readAnswer reads the body and decodes it with the answer contract into
// ans, then starts the intake span, continuing the answer's traceparent.
// Once done, it does nothing.
func (s *Service) readAnswer(b *batch, ans *contract.Answer) *answer {
	if b.read {
		return nil
	}
	body, a := s.readRequest(b, s.answerLimits)
	if a != nil {
		return a
	}
	decoded, err := contract.DecodeAnswer(body)
	if err != nil {
		return &answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	*ans = decoded
	b.body, b.read = body, true
	b.env.SiteKey, b.env.URL = ans.SiteKey, ans.URL
	b.ctx, b.span = s.startSpan(b.r, b.start, ans.Traceparent, "ingest.answer")
	return matchKey(b)
}

// spoolAnswer appends the answer's chunk to the spool.
func (s *Service) spoolAnswer(b *batch, ans *contract.Answer) answer {
	payload, err := s.answerChunk(b.ctx, b.r, b.site, ans, b.ip, b.start)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	if a := s.appendToSpool(b.ctx, payload, "answer"); a != nil {
		return *a
	}
	return answer{code: http.StatusNoContent}
}

// answerSiteChecks are the answers' own checks of an admitted site: their
// per-site rate and Do-Not-Track. A site that does not record sessions
// still takes answers: feedback and surveys are their own feature (the
// answer is then not "recorded").
func (s *Service) answerSiteChecks(b *batch) *answer {
	if a := s.admitRate(b.ctx, s.answerRate, siteRateKey(b.site), b.start, "answer_rate_site", "too many answers for this site"); a != nil {
		return a
	}
	return s.dropByDNT(b)
}

// answerChunk builds and encodes the spool record of an answer: the
// enriched sessions.v1.Answer, its texts scrubbed, inside a Chunk without
// events that carries the intake span's trace context.
func (s *Service) answerChunk(ctx context.Context, r *http.Request, site *siteconfig.Site, ans *contract.Answer, ip netip.Addr, now time.Time) ([]byte, error) {
	p := &sessionsv1.Answer{SiteId: site.GetSiteId(), OrganizationId: site.GetOrganizationId()}
	ans.Fill(p)
	p.ServerTime = timestamppb.New(now)
	p.Client = s.enrich.Client(r.UserAgent(), ip)
	derive(p, site.GetSurveys())
	scrubAnswer(p)
	// The contract on the very message recordings will check: what is
	// spooled is storable.
	if err := contract.CheckAnswer(p); err != nil {
		return nil, err
	}
	c := &recordingsv1.Chunk{
		SiteId: p.SiteId, OrganizationId: p.OrganizationId, SessionId: p.SessionId, VisitorId: p.VisitorId,
		PageViewId: p.PageViewId, Url: p.Url, ClientTime: p.ClientTime, ServerTime: p.ServerTime, Client: p.Client,
		RetentionDays: retentionDays(site), Answer: p,
	}
	if p.ViewportWidth > 0 || p.ViewportHeight > 0 {
		c.Viewport = &recordingsv1.Viewport{Width: p.ViewportWidth, Height: p.ViewportHeight}
	}
	c.Traceparent = traceparent(ctx, ans.Traceparent)
	out, err := proto.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode answer chunk: %w", err)
	}
	return out, nil
}

// derive sets a survey answer's rating and NPS from the survey's definition
// in the cached site config: the score of the first answered 1–5 rating
// question is the rating, that of the first answered NPS question the NPS.
// A survey not in the config (deleted or paused since the page loaded)
// derives nothing; the answer is kept.
func derive(p *sessionsv1.Answer, surveys []*accountsv1.Survey) {
	if p.GetKind() != sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
		return
	}
	var sv *accountsv1.Survey
	for _, x := range surveys {
		if x.GetId() == p.GetSurveyId() {
			sv = x
			break
		}
	}
	if sv == nil {
		return
	}
	scores := make(map[int32]int32, len(p.GetAnswers()))
	for _, qa := range p.GetAnswers() {
		if qa.Score != nil {
			scores[qa.GetQuestionId()] = qa.GetScore()
		}
	}
	ratingSet := false
	for _, q := range sv.GetQuestions() {
		score, ok := scores[q.GetId()]
		if !ok {
			continue
		}
		switch q.GetType() {
		case accountsv1.QuestionType_QUESTION_TYPE_RATING_5:
			if !ratingSet && score >= 1 && score <= 5 {
				p.Rating, ratingSet = score, true
			}
		case accountsv1.QuestionType_QUESTION_TYPE_NPS:
			if p.Nps == nil && score >= 0 && score <= 10 {
				p.Nps = proto.Int32(score)
			}
		}
	}
}

// scrubAnswer removes e-mail addresses, card and phone numbers from the
// visitor's texts (package scrub), whatever the site's masking settings:
// the visitor typed them into a feedback form on purpose, so they are
// kept, but personal data in them never reaches the disk. Scrubbing may
// lengthen a text by a byte per e-mail address; past the contract's limit
// it is cut there.
func scrubAnswer(p *sessionsv1.Answer) {
	p.Comment = clip(scrub.Text(p.Comment), contract.MaxAnswerText)
	p.Selector = clip(scrub.Text(p.Selector), contract.MaxSelector)
	for _, qa := range p.Answers {
		qa.Text = clip(scrub.Text(qa.Text), contract.MaxAnswerText)
	}
}

// clip cuts s to at most max characters.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}
