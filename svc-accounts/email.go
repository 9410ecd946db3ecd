package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mileusna/useragent"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/metadata"

	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// Prefixes of the tokens e-mailed to users.
const (
	verifyPrefix = "slv_"
	resetPrefix  = "slr_"
)

// sendTimeout bounds one SendEmail call, so a slow notify cannot hold a
// user's sign-up or log-in for long.
const sendTimeout = 5 * time.Second

// errNoNotify is returned by sendEmail when notify is not configured.
var errNoNotify = errors.New("notify is not configured")

// emailKind names a SendEmail content kind for metrics and logs.
func emailKind(req *notifyv1.SendEmailRequest) string {
	switch req.GetContent().(type) {
	case *notifyv1.SendEmailRequest_VerifyEmail:
		return "verify_email"
	case *notifyv1.SendEmailRequest_PasswordReset:
		return "password_reset"
	case *notifyv1.SendEmailRequest_Invitation:
		return "invitation"
	case *notifyv1.SendEmailRequest_NewLogin:
		return "new_login"
	case *notifyv1.SendEmailRequest_SignupExisting:
		return "signup_existing"
	}
	return "unknown"
}

func (s *Service) countEmail(ctx context.Context, kind, outcome string) {
	s.m.emails.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind), attribute.String("outcome", outcome)))
}

// sendEmail hands one e-mail to notify. Errors are logged and counted here;
// callers decide whether the user's request cares (almost never).
func (s *Service) sendEmail(ctx context.Context, req *notifyv1.SendEmailRequest) error {
	kind := emailKind(req)
	if s.deps.Notify == nil {
		s.countEmail(ctx, kind, "not_sent")
		return errNoNotify
	}
	// Not the caller's metadata (credentials, forwarded address): notify
	// gets a fresh outgoing context, with the caller's deadline and trace.
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, metadata.MD{}), sendTimeout)
	defer cancel()
	if _, err := s.deps.Notify.SendEmail(ctx, req); err != nil {
		s.countEmail(ctx, kind, "failed")
		s.log.WarnContext(ctx, "accounts: send e-mail", "kind", kind, "err", err)
		return fmt.Errorf("send %s e-mail: %w", kind, err)
	}
	s.countEmail(ctx, kind, "sent")
	return nil
}

// idemKey derives a SendEmail idempotency key from what makes the e-mail
// unique (a token's hash, a row id), so a retried RPC sends once.
func idemKey(kind string, parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return "accounts:" + kind + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// sendVerification creates a verification token for u and e-mails it,
// unless the address had one very recently (rate limit per address in
// this process, and the newest stored token's age across replicas).
func (s *Service) sendVerification(ctx context.Context, u store.User) error {
	now := time.Now()
	if last, err := s.store.LatestUserToken(ctx, u.ID, store.TokenVerify); err == nil && now.Sub(last.CreateTime) < s.verifyEvery {
		s.countEmail(ctx, "verify_email", "rate_limited")
		return nil
	}
	if !s.mailLimit.allow("verify:"+u.Email, now) {
		s.countEmail(ctx, "verify_email", "rate_limited")
		return nil
	}
	return s.mailToken(ctx, u, store.TokenVerify, verifyPrefix, now.Add(s.cfg.VerifyTokenTTL), func(tok string) *notifyv1.SendEmailRequest {
		return &notifyv1.SendEmailRequest{Content: &notifyv1.SendEmailRequest_VerifyEmail{VerifyEmail: &notifyv1.VerifyEmail{Token: tok}}}
	})
}

// sendReset creates a reset token for u and e-mails it.
func (s *Service) sendReset(ctx context.Context, u store.User) error {
	return s.mailToken(ctx, u, store.TokenReset, resetPrefix, time.Now().Add(s.cfg.ResetTokenTTL), func(tok string) *notifyv1.SendEmailRequest {
		return &notifyv1.SendEmailRequest{Content: &notifyv1.SendEmailRequest_PasswordReset{PasswordReset: &notifyv1.PasswordReset{Token: tok}}}
	})
}

// mailToken creates a one-time token of kind for u, valid until expire, and
// e-mails it to u: mail(token) gives the e-mail's content; the kind and the
// token's hash make its idempotency key.
func (s *Service) mailToken(ctx context.Context, u store.User, kind store.TokenKind, prefix string, expire time.Time, mail func(tok string) *notifyv1.SendEmailRequest) error {
	tok := randomToken(prefix)
	if _, err := s.store.CreateUserToken(ctx, store.UserToken{UserID: u.ID, Kind: kind, TokenHash: hashToken(tok), ExpireTime: expire}); err != nil {
		return fmt.Errorf("create %s token: %w", kind, err)
	}
	req := mail(tok)
	req.To, req.Name, req.IdempotencyKey = u.Email, u.Name, idemKey(string(kind), hex.EncodeToString(hashToken(tok)))
	return s.sendEmail(ctx, req)
}

// sendSignUpExisting tells the owner of an address that someone tried to
// sign up with it, at most once an hour per address.
func (s *Service) sendSignUpExisting(ctx context.Context, u store.User) {
	now := time.Now()
	if !s.existingLimit.allow("existing:"+u.Email, now) {
		s.countEmail(ctx, "signup_existing", "rate_limited")
		return
	}
	_ = s.sendEmail(ctx, &notifyv1.SendEmailRequest{To: u.Email, Name: u.Name,
		Content:        &notifyv1.SendEmailRequest_SignupExisting{SignupExisting: &notifyv1.SignUpExisting{}},
		IdempotencyKey: idemKey("signup-existing", u.ID, now.Unix()/3600)})
}

// userAgentKey is the metadata the gateway forwards the browser's
// User-Agent in (grpc-gateway's name for forwarded headers; "user-agent"
// itself is the gRPC client's own).
const userAgentKey = "grpcgateway-user-agent"

// maxUserAgent bounds the User-Agent parsed.
const maxUserAgent = 512

// device describes the caller's browser and OS family ("Firefox on
// Linux") and the key that identifies it among a user's devices. Versions
// are left out: a browser update is not a new device.
func device(ctx context.Context) (name string, key []byte) {
	md, _ := metadata.FromIncomingContext(ctx)
	var ua string
	if v := md.Get(userAgentKey); len(v) > 0 {
		ua = v[0]
	}
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	p := useragent.Parse(ua)
	browser, os := p.Name, p.OS
	if browser == "" {
		browser = "an unknown browser"
	}
	name = browser
	if os != "" {
		name += " on " + os
	}
	h := sha256.Sum256([]byte("device\x00" + strings.ToLower(p.Name) + "\x00" + strings.ToLower(os)))
	return name, h[:]
}

// noteDevice records the caller's device for u; when it is new and not
// the user's first, it e-mails a new log-in notice.
func (s *Service) noteDevice(ctx context.Context, u store.User, tell bool) {
	name, key := device(ctx)
	now := time.Now().UTC()
	d, err := s.store.RecordUserDevice(ctx, u.ID, key, now)
	if err != nil {
		s.log.WarnContext(ctx, "accounts: record device", "user_id", u.ID, "err", err)
		return
	}
	if !tell || !d.New || d.First {
		return
	}
	_ = s.sendEmail(ctx, &notifyv1.SendEmailRequest{To: u.Email, Name: u.Name,
		Content: &notifyv1.SendEmailRequest_NewLogin{NewLogin: &notifyv1.NewLogin{
			Device: name, IpPrefix: ipPrefix(clientIP(ctx)), Time: tspb(now)}},
		IdempotencyKey: idemKey("new-login", u.ID, hex.EncodeToString(key))})
}

// sendInvitation e-mails an invitation; the response carries the link as
// well, so a failure here only costs the inviter a copy and paste.
func (s *Service) sendInvitation(ctx context.Context, c *caller, inv store.Invitation, tok string) {
	inviter := c.Email
	if u, err := s.store.GetUser(ctx, c.UserID); err == nil && u.Name != "" {
		inviter = u.Name
	}
	var orgName string
	for _, m := range c.Memberships {
		if m.OrganizationID == inv.OrganizationID {
			orgName = m.OrganizationName
		}
	}
	_ = s.sendEmail(ctx, &notifyv1.SendEmailRequest{To: inv.Email,
		Content: &notifyv1.SendEmailRequest_Invitation{Invitation: &notifyv1.Invitation{
			Token: tok, OrganizationName: orgName, InviterName: inviter, Role: roleNames[inv.Role]}},
		IdempotencyKey: idemKey("invitation", inv.ID)})
}
