package notify

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/riverqueue/river"
	"google.golang.org/protobuf/encoding/protojson"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// eventArgs is one published event, kept as protojson so the job row is
// readable and the proto may gain fields.
type eventArgs struct {
	ID    string `json:"id" river:"unique"`
	Event string `json:"event"`
}

func (eventArgs) Kind() string { return kindEvent }

// link is an absolute dashboard URL; path is formatted with args (ids),
// query values are the caller's to escape.
func (s *Service) link(format string, args ...any) string {
	return strings.TrimRight(s.cfg.DashboardURL, "/") + fmt.Sprintf(format, args...)
}

// sessionLink opens one recording.
func (s *Service) sessionLink(siteID int64, sessionID string) string {
	return s.link("/sites/%d/recordings/%s", siteID, url.PathEscape(sessionID))
}

// recordingsLink opens the recordings list filtered by q (the query
// format of web/src/lib/filters.ts).
func (s *Service) recordingsLink(siteID int64, q url.Values) string {
	l := s.link("/sites/%d/recordings", siteID)
	if len(q) > 0 {
		l += "?" + q.Encode()
	}
	return l
}

// answerLink opens an answer: its recording when the session was
// recorded, else the feedback or survey page.
func (s *Service) answerLink(a *sessionsv1.Answer) string {
	switch {
	case a.GetRecorded() && a.GetSessionId() != "":
		return s.sessionLink(a.GetSiteId(), a.GetSessionId())
	case a.GetKind() == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY && a.GetSurveyId() > 0:
		return s.link("/sites/%d/surveys/%d", a.GetSiteId(), a.GetSurveyId())
	default:
		return s.link("/sites/%d/feedback", a.GetSiteId())
	}
}

func (s *Service) workEvent(ctx context.Context, job *river.Job[eventArgs]) error {
	ev := &notifyv1.Event{}
	if err := protojson.Unmarshal([]byte(job.Args.Event), ev); err != nil {
		return river.JobCancel(fmt.Errorf("notify: event %q: %w", job.Args.ID, err))
	}
	var data any
	switch p := ev.GetPayload().(type) {
	case *notifyv1.Event_Session:
		data = webhook.SessionEnded(p.Session, s.sessionLink(ev.GetSiteId(), p.Session.GetSessionId()))
	case *notifyv1.Event_Answer:
		data = webhook.AnswerCreated(p.Answer, s.answerLink(p.Answer))
	default:
		return river.JobCancel(fmt.Errorf("notify: event %q has no payload", job.Args.ID))
	}
	at := ev.GetTime().AsTime()
	if ev.GetTime() == nil {
		at = job.CreatedAt
	}
	body, err := webhook.Envelope(ev.GetType(), at, data)
	if err != nil {
		return river.JobCancel(fmt.Errorf("notify: event %q: %w", job.Args.ID, err))
	}
	hooks, err := s.store.ListSubscribedWebhooks(ctx, ev.GetSiteId(), ev.GetType())
	if err != nil {
		return fmt.Errorf("notify: webhooks of site %d: %w", ev.GetSiteId(), err)
	}
	// Every delivery in one transaction, keyed by the event id (a re-run
	// after a crash finds them made); a session's event job completes in
	// it too, an answer's after its alerts.
	a := ev.GetAnswer()
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, h := range hooks {
			if err := s.queueDeliveryTx(ctx, tx, h, ev.GetId(), messageID(ev.GetId(), h.ID), ev.GetType(), body); err != nil {
				return err
			}
		}
		if a == nil {
			return queue.CompleteTx(ctx, tx, job)
		}
		return nil
	})
	if err != nil || a == nil {
		return err
	}
	return s.answerAlerts(ctx, ev.GetSiteId(), a)
}

// answerAlerts fires the site's answer rules matching a: one alert per
// (rule, answer id), with its e-mail in the same transaction.
func (s *Service) answerAlerts(ctx context.Context, siteID int64, a *sessionsv1.Answer) error {
	rules, err := s.store.ListSiteAlertRules(ctx, siteID, KindAnswer)
	if err != nil {
		return fmt.Errorf("notify: answer rules of site %d: %w", siteID, err)
	}
	var match []store.AlertRule
	for _, r := range rules {
		pb, err := DecodeRule(r)
		if err != nil {
			s.log.WarnContext(ctx, "notify: skip undecodable rule", "rule", r.ID, "err", err)
			continue
		}
		if answerMatches(pb.GetAnswer(), a) {
			match = append(match, r)
		}
	}
	if len(match) == 0 {
		return nil
	}
	what := "feedback"
	if a.GetKind() == sessionsv1.AnswerKind_ANSWER_KIND_SURVEY {
		what = "survey answer"
	}
	headline := "New " + what
	if a.GetRating() > 0 {
		headline += fmt.Sprintf(" rated %d/5", a.GetRating())
	}
	if a.Nps != nil {
		headline += fmt.Sprintf(" with NPS score %d", a.GetNps())
	}
	summary := headline
	if c := strings.Join(strings.Fields(a.GetComment()), " "); c != "" {
		headline += ": “" + cutRunes(c, 60) + "”"
		summary += ": “" + cutRunes(c, 300) + "”"
	}
	if a.GetUrl() != "" {
		summary += " on " + cutRunes(a.GetUrl(), 200)
	}
	_, err = s.fireAlerts(ctx, siteID, match, a.GetId(), headline, summary, s.answerLink(a))
	return err
}

// fireAlerts records an alert of each rule for periodKey and queues its
// e-mail to the rule's owner in the same transaction; a rule already
// fired for periodKey, or whose owner left the site, sends nothing. The
// headline is the e-mail's subject line, the summary the stored alert's
// sentence. It returns the site's name.
func (s *Service) fireAlerts(ctx context.Context, siteID int64, rules []store.AlertRule, periodKey, headline, summary, link string) (string, error) {
	if s.deps.AccountsInternal == nil {
		return "", errNoMesh
	}
	ids := make([]int64, 0, len(rules))
	for _, r := range rules {
		ids = append(ids, r.UserID)
	}
	rcpt, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{
		SiteId: siteID, UserIds: ids, MinRole: accountsv1.Role_ROLE_VIEWER,
	})
	if err != nil {
		return "", fmt.Errorf("notify: recipients of site %d: %w", siteID, err)
	}
	byUser := map[int64]*accountsv1.Recipient{}
	for _, r := range rcpt.GetRecipients() {
		byUser[r.GetUserId()] = r
	}
	now := s.now()
	settings := s.link("/sites/%d/settings/notifications", siteID)
	for _, r := range rules {
		to := byUser[r.UserID]
		if to == nil {
			continue // a former member
		}
		err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			stored, created, err := tx.RecordAlert(ctx, store.Alert{
				SiteID: siteID, RuleID: r.ID, UserID: r.UserID, Kind: r.Kind, PeriodKey: periodKey,
				FireTime: now, Summary: summary, Link: link,
			})
			if err != nil || !created {
				return err
			}
			count(ctx, s.m.alerts, 1, "kind", r.Kind)
			unsub := s.link("/unsubscribe?token=%s", s.unsubscribeToken(Unsubscribe{Kind: UnsubscribeAlert, UserID: r.UserID, SiteID: siteID, RuleID: r.ID}))
			key := fmt.Sprintf("alert:%d", stored.ID)
			return s.queueEmailTx(ctx, tx, key, to.GetEmail(), to.GetName(), mail.AlertData{
				SiteName: rcpt.GetSiteName(), Kind: r.Kind, Summary: headline,
				Link: link, SettingsLink: settings, UnsubscribeLink: unsub,
			})
		})
		if err != nil {
			return "", fmt.Errorf("notify: fire alert of rule %d: %w", r.ID, err)
		}
	}
	return rcpt.GetSiteName(), nil
}

// answerMatches reports whether a satisfies c (notify.proto's
// AnswerCondition: every set condition must hold).
func answerMatches(c *notifyv1.AnswerCondition, a *sessionsv1.Answer) bool {
	if c == nil {
		return false
	}
	if c.GetSurveyId() != 0 && a.GetSurveyId() != c.GetSurveyId() {
		return false
	}
	if c.GetMaxRating() > 0 && (a.GetRating() == 0 || a.GetRating() > c.GetMaxRating()) {
		return false
	}
	if c.GetMaxNps() >= 0 && (a.Nps == nil || a.GetNps() > c.GetMaxNps()) {
		return false
	}
	if t := c.GetTextContains(); t != "" && !strings.Contains(strings.ToLower(answerText(a)), strings.ToLower(t)) {
		return false
	}
	return true
}

// answerText is an answer's free text: the comment and any text answers.
func answerText(a *sessionsv1.Answer) string {
	parts := []string{a.GetComment()}
	for _, q := range a.GetAnswers() {
		if q.GetText() != "" {
			parts = append(parts, q.GetText())
		}
	}
	return strings.Join(parts, "\n")
}

func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
