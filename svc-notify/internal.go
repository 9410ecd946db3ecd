package notify

import (
	"context"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// internal serves NotifyInternalService (the other services' calls).
// Unknown fields are accepted: a newer caller in a rolling upgrade must
// not lose its e-mails.
type internal struct {
	notifyv1.UnimplementedNotifyInternalServiceServer
	s *Service
}

// Internal returns the NotifyInternalService server.
func (s *Service) Internal() notifyv1.NotifyInternalServiceServer { return &internal{s: s} }

// Limits of internal requests.
const (
	maxAddressBytes  = 254
	maxNameBytes     = 200
	maxKeyBytes      = 200
	maxTokenBytes    = 512
	maxTextBytes     = 200
	maxEvents        = 500
	maxEventIDBytes  = 200
	maxEventBytes    = 1 << 20
	passwordResetTTL = time.Hour // svc-accounts' reset links last an hour
)

// SendEmail renders an account e-mail and queues it; a repeated
// idempotency key queues nothing more.
func (in *internal) SendEmail(ctx context.Context, req *notifyv1.SendEmailRequest) (*notifyv1.SendEmailResponse, error) {
	s := in.s
	if err := checkAddress(req.GetTo()); err != nil {
		return nil, err
	}
	if err := checkText("name", req.GetName(), maxNameBytes); err != nil {
		return nil, err
	}
	if k := req.GetIdempotencyKey(); k == "" || len(k) > maxKeyBytes || !utf8.ValidString(k) {
		return nil, invalidf("idempotency_key must be 1..%d bytes of UTF-8", maxKeyBytes)
	}
	token := func(field, tok string) (string, error) {
		if tok == "" || len(tok) > maxTokenBytes || !utf8.ValidString(tok) {
			return "", invalidf("%s.token must be 1..%d bytes", field, maxTokenBytes)
		}
		return url.QueryEscape(tok), nil
	}
	var d mail.Data
	switch c := req.GetContent().(type) {
	case *notifyv1.SendEmailRequest_VerifyEmail:
		t, err := token("verify_email", c.VerifyEmail.GetToken())
		if err != nil {
			return nil, err
		}
		d = mail.VerifyEmailData{Name: req.GetName(), Link: s.link("/verify-email?token=%s", t)}
	case *notifyv1.SendEmailRequest_PasswordReset:
		t, err := token("password_reset", c.PasswordReset.GetToken())
		if err != nil {
			return nil, err
		}
		d = mail.PasswordResetData{Name: req.GetName(), Link: s.link("/reset-password?token=%s", t), ValidFor: passwordResetTTL}
	case *notifyv1.SendEmailRequest_Invitation:
		inv := c.Invitation
		t, err := token("invitation", inv.GetToken())
		if err != nil {
			return nil, err
		}
		for name, v := range map[string]string{"invitation.organization_name": inv.GetOrganizationName(),
			"invitation.inviter_name": inv.GetInviterName(), "invitation.role": inv.GetRole()} {
			if err := checkText(name, v, maxTextBytes); err != nil {
				return nil, err
			}
		}
		if inv.GetOrganizationName() == "" || inv.GetRole() == "" {
			return nil, invalidf("invitation.organization_name and invitation.role are required")
		}
		d = mail.InvitationData{OrganizationName: inv.GetOrganizationName(), InviterName: inv.GetInviterName(),
			Role: inv.GetRole(), Link: s.link("/invitations/accept?token=%s", t)}
	case *notifyv1.SendEmailRequest_NewLogin:
		nl := c.NewLogin
		if err := checkText("new_login.device", nl.GetDevice(), maxTextBytes); err != nil {
			return nil, err
		}
		if err := checkText("new_login.ip_prefix", nl.GetIpPrefix(), 64); err != nil {
			return nil, err
		}
		at := s.now()
		if nl.GetTime() != nil {
			if err := nl.GetTime().CheckValid(); err != nil {
				return nil, invalidf("new_login.time: %v", err)
			}
			at = nl.GetTime().AsTime()
		}
		d = mail.NewLoginData{Name: req.GetName(), Device: nl.GetDevice(), IPPrefix: nl.GetIpPrefix(), Time: at,
			ResetLink: s.link("/forgot-password")}
	case *notifyv1.SendEmailRequest_SignupExisting:
		d = mail.SignUpExistingData{Name: req.GetName(), LoginLink: s.link("/login"), ResetLink: s.link("/forgot-password")}
	default:
		return nil, invalidf("content is required (verify_email, password_reset, invitation, new_login or signup_existing)")
	}
	args, err := s.emailJob(req.GetIdempotencyKey(), req.GetTo(), req.GetName(), d)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	if _, err := s.queue.Insert(ctx, args, insertOpts(kindEmail)); err != nil {
		s.log.ErrorContext(ctx, "notify: queue e-mail", "kind", args.Message.Kind, "err", err)
		return nil, status.Error(codes.Unavailable, "cannot queue the e-mail now; retry")
	}
	return &notifyv1.SendEmailResponse{}, nil
}

// PublishEvents queues an event job per event not seen before, all in one
// transaction with the claims of their ids.
func (in *internal) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest) (*notifyv1.PublishEventsResponse, error) {
	s := in.s
	evs := req.GetEvents()
	if len(evs) > maxEvents {
		return nil, invalidf("at most %d events per call, got %d", maxEvents, len(evs))
	}
	jobs := make([]eventArgs, 0, len(evs))
	for i, ev := range evs {
		if err := checkEvent(ev); err != nil {
			return nil, invalidf("events[%d]: %s", i, status.Convert(err).Message())
		}
		b, err := protojson.Marshal(ev)
		if err != nil {
			return nil, invalidf("events[%d]: %v", i, err)
		}
		if len(b) > maxEventBytes {
			return nil, invalidf("events[%d]: larger than %d bytes", i, maxEventBytes)
		}
		jobs = append(jobs, eventArgs{ID: ev.GetId(), Event: string(b)})
	}
	if len(jobs) == 0 {
		return &notifyv1.PublishEventsResponse{}, nil
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		params := make([]river.InsertManyParams, 0, len(jobs))
		for _, j := range jobs {
			fresh, err := tx.ClaimEvent(ctx, j.ID)
			if err != nil {
				return err
			}
			if fresh {
				params = append(params, river.InsertManyParams{Args: j, InsertOpts: insertOpts(kindEvent)})
			}
		}
		_, err := s.queue.InsertManyTx(ctx, tx, params)
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "notify: queue events", "events", len(jobs), "err", err)
		return nil, status.Error(codes.Unavailable, "cannot queue the events now; retry")
	}
	return &notifyv1.PublishEventsResponse{}, nil
}

// checkEvent validates one event: a known type with its payload, of the
// event's site.
func checkEvent(ev *notifyv1.Event) error {
	if id := ev.GetId(); id == "" || len(id) > maxEventIDBytes || !utf8.ValidString(id) {
		return invalidf("id must be 1..%d bytes of UTF-8", maxEventIDBytes)
	}
	if ev.GetSiteId() <= 0 {
		return invalidf("site_id must be positive")
	}
	if ev.GetTime() != nil {
		if err := ev.GetTime().CheckValid(); err != nil {
			return invalidf("time: %v", err)
		}
	}
	switch ev.GetType() {
	case webhook.EventSessionEnded:
		sum := ev.GetSession()
		if sum == nil {
			return invalidf("session.ended needs the session payload")
		}
		if sum.GetSiteId() != ev.GetSiteId() || sum.GetSessionId() == "" {
			return invalidf("session must be of site %d and have a session_id", ev.GetSiteId())
		}
	case webhook.EventFeedbackCreated, webhook.EventSurveyResponseCreated:
		a := ev.GetAnswer()
		if a == nil {
			return invalidf("%s needs the answer payload", ev.GetType())
		}
		want := sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK
		if ev.GetType() == webhook.EventSurveyResponseCreated {
			want = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
		}
		if a.GetKind() != want {
			return invalidf("%s needs an answer of kind %s, got %s", ev.GetType(), want, a.GetKind())
		}
		if a.GetSiteId() != ev.GetSiteId() || a.GetId() == "" {
			return invalidf("answer must be of site %d and have an id", ev.GetSiteId())
		}
	default:
		return invalidf("type %q is not session.ended, feedback.created or survey.response.created", ev.GetType())
	}
	return nil
}

// checkAddress accepts a bare e-mail address (no display name) of at most
// 254 bytes.
func checkAddress(to string) error {
	if to == "" || len(to) > maxAddressBytes {
		return invalidf("to must be an e-mail address of 1..%d bytes", maxAddressBytes)
	}
	a, err := netmail.ParseAddress(to)
	if err != nil || a.Address != to || a.Name != "" {
		return invalidf("to is not a bare e-mail address")
	}
	return nil
}

// checkText accepts one line of valid UTF-8 of at most max bytes (it ends
// up in headers and templates).
func checkText(name, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") {
		return invalidf("%s must be one line of at most %d bytes of UTF-8", name, max)
	}
	return nil
}
