package notify

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail"
)

func outboxPB(m mail.Summary) *notifyv1.OutboxEmail {
	return &notifyv1.OutboxEmail{Id: m.ID, To: m.To, Subject: m.Subject, Kind: m.Kind, CreateTime: tspb(m.Time)}
}

// outboxErr maps the outbox's errors: a malformed id or token is the
// caller's, a missing file NotFound, anything else Internal.
func (s *Service) outboxErr(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, mail.ErrInvalidID):
		return invalidf("%s: not an outbox e-mail id (pass an id or next_page_token as listed)", op)
	case errors.Is(err, mail.ErrNotFound):
		return status.Error(codes.NotFound, "outbox e-mail not found (the outbox keeps notify.outbox.max-files e-mails)")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return s.internal(ctx, "outbox: "+op, err)
}

// ListOutboxEmails implements notifyv1.NotifyServiceServer (operator).
func (s *Service) ListOutboxEmails(ctx context.Context, req *notifyv1.ListOutboxEmailsRequest) (*notifyv1.ListOutboxEmailsResponse, error) {
	if err := s.authorizeOperator(ctx); err != nil {
		return nil, err
	}
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		return nil, err
	}
	n := int(req.GetPageSize())
	if n < 0 || n > mail.MaxOutboxPage {
		return nil, invalidf("page_size must be between 1 and %d, got %d", mail.MaxOutboxPage, n)
	}
	if len(req.GetPageToken()) > maxOutboxIDBytes {
		return nil, invalidf("page_token is not valid: pass next_page_token from the previous page")
	}
	if s.outbox == nil {
		// SMTP is configured: e-mails leave at once, nothing is kept.
		return &notifyv1.ListOutboxEmailsResponse{OutboxEnabled: false}, nil
	}
	ms, next, err := s.outbox.List(ctx, n, req.GetPageToken())
	if err != nil {
		return nil, s.outboxErr(ctx, "page_token", err)
	}
	out := &notifyv1.ListOutboxEmailsResponse{OutboxEnabled: true, NextPageToken: next, Emails: make([]*notifyv1.OutboxEmail, 0, len(ms))}
	for _, m := range ms {
		out.Emails = append(out.Emails, outboxPB(m))
	}
	return out, nil
}

// GetOutboxEmail implements notifyv1.NotifyServiceServer (operator).
func (s *Service) GetOutboxEmail(ctx context.Context, req *notifyv1.GetOutboxEmailRequest) (*notifyv1.GetOutboxEmailResponse, error) {
	if err := s.authorizeOperator(ctx); err != nil {
		return nil, err
	}
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" || len(id) > maxOutboxIDBytes {
		return nil, invalidf("id: not an outbox e-mail id (pass an id as listed)")
	}
	if s.outbox == nil {
		return nil, status.Error(codes.FailedPrecondition, "the outbox is off: e-mails are sent through the SMTP server (notify.smtp.host)")
	}
	m, err := s.outbox.Get(ctx, id)
	if err != nil {
		return nil, s.outboxErr(ctx, "id", err)
	}
	pb := outboxPB(m.Summary)
	pb.TextBody, pb.HtmlBody = m.Text, m.HTML
	return &notifyv1.GetOutboxEmailResponse{Email: pb}, nil
}
