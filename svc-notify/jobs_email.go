package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// emailArgs is one e-mail, rendered when queued (mail.Build) so a template
// changed by an upgrade never alters an e-mail already in the queue.
type emailArgs struct {
	// Key is the idempotency key (also Message.ID).
	Key     string       `json:"key" river:"unique"`
	Message mail.Message `json:"message"`
}

func (emailArgs) Kind() string { return kindEmail }

// emailJob renders d for to and returns the job's args.
func (s *Service) emailJob(key, to, toName string, d mail.Data) (emailArgs, error) {
	m, err := mail.Build(key, to, toName, d)
	if err != nil {
		return emailArgs{}, fmt.Errorf("notify: render e-mail %s: %w", key, err)
	}
	return emailArgs{Key: key, Message: m}, nil
}

// queueEmailTx renders and queues an e-mail in tx.
func (s *Service) queueEmailTx(ctx context.Context, tx store.Tx, key, to, toName string, d mail.Data) error {
	args, err := s.emailJob(key, to, toName, d)
	if err != nil {
		return err
	}
	_, err = s.queue.InsertTx(ctx, tx, args, insertOpts(kindEmail))
	return err
}

func (s *Service) workEmail(ctx context.Context, job *river.Job[emailArgs]) error {
	m := job.Args.Message
	err := s.mailer.Send(ctx, m)
	switch {
	case err == nil:
		count(ctx, s.m.emails, 1, "kind", m.Kind, "outcome", "sent")
		return nil
	case errors.Is(err, mail.ErrPermanent):
		// The server refused the recipient for good: retrying cannot help.
		count(ctx, s.m.emails, 1, "kind", m.Kind, "outcome", "rejected")
		s.log.WarnContext(ctx, "notify: e-mail rejected, not retried", "kind", m.Kind, "key", job.Args.Key, "err", err)
		return river.JobCancel(err)
	default:
		count(ctx, s.m.emails, 1, "kind", m.Kind, "outcome", "retry")
		return fmt.Errorf("notify: send e-mail %s (attempt %d of %d): %w", job.Args.Key, job.Attempt, job.MaxAttempts, err)
	}
}
