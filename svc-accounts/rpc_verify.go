package accounts

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// errBadLink answers every unusable verify or reset token alike: unknown,
// used, expired and malformed are not told apart.
var errBadLink = status.Error(codes.InvalidArgument, "this link has expired or was already used; ask for a new one")

// errUnverified answers a log-in with the right password to an unverified
// address.
var errUnverified = status.Error(codes.FailedPrecondition, "confirm your e-mail address first; we sent you a new link")

// VerifyEmail confirms the address with the e-mailed token and logs the
// user in.
func (s *Service) VerifyEmail(ctx context.Context, req *accountsv1.VerifyEmailRequest) (*accountsv1.VerifyEmailResponse, error) {
	if !wellFormed(req.GetToken(), verifyPrefix) {
		return nil, errBadLink
	}
	u, err := s.store.VerifyEmail(ctx, hashToken(req.GetToken()), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadLink
	}
	if err != nil {
		return nil, s.internal(ctx, "verify e-mail", err)
	}
	tok, exp, err := s.linkLogIn(ctx, u, "user.verify_email")
	if err != nil {
		return nil, err
	}
	return &accountsv1.VerifyEmailResponse{User: userPB(u), SessionToken: tok, ExpireTime: tspb(exp)}, nil
}

// linkLogIn logs in u, who has just followed an e-mailed link (verify or
// reset): the device is noted (no new-login mail), a session started and
// action audited in every organisation of u.
func (s *Service) linkLogIn(ctx context.Context, u store.User, action string) (string, time.Time, error) {
	s.noteDevice(ctx, u, false)
	tok, exp, err := s.newSession(ctx, u.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	ms, _ := s.store.ListMemberships(ctx, u.ID)
	for _, m := range ms {
		s.audit(ctx, m.OrganizationID, u.ID, action, target("user", u.ID))
	}
	return tok, exp, nil
}

// publicUser checks the per-IP limit, normalises the address of a request
// that answers the same whether or not it has an account, and looks its
// user up (ok=false when there is none); op names the request in errors.
func (s *Service) publicUser(ctx context.Context, raw, op string) (u store.User, email string, ok bool, err error) {
	if ip := clientIP(ctx); !s.ipLimit.allow("ip:"+ip.String(), time.Now()) {
		return u, "", false, errTooManyAttempts
	}
	if email, err = normalizeEmail(raw); err != nil {
		return u, "", false, err
	}
	u, ok, err = s.lookUp(ctx, email, op)
	return u, email, ok, err
}

// lookUp returns the user with email, or ok=false when there is none.
func (s *Service) lookUp(ctx context.Context, email, op string) (store.User, bool, error) {
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return u, false, nil
	}
	if err != nil {
		return u, false, s.internal(ctx, op, err)
	}
	return u, true, nil
}

// ResendVerification e-mails a new link to an unverified address; the
// answer is the same whatever the address.
func (s *Service) ResendVerification(ctx context.Context, req *accountsv1.ResendVerificationRequest) (*accountsv1.ResendVerificationResponse, error) {
	u, _, ok, err := s.publicUser(ctx, req.GetEmail(), "resend verification")
	if err != nil {
		return nil, err
	}
	if ok && u.EmailVerifyTime.IsZero() {
		if err := s.sendVerification(ctx, u); err != nil {
			// Still OK: the answer must not differ by address.
			s.log.ErrorContext(ctx, "accounts: resend verification e-mail not sent", "user_id", u.ID, "err", err)
		}
	}
	return &accountsv1.ResendVerificationResponse{}, nil
}

// RequestPasswordReset e-mails a reset link when the address has an
// account; the answer is the same whatever the address.
func (s *Service) RequestPasswordReset(ctx context.Context, req *accountsv1.RequestPasswordResetRequest) (*accountsv1.RequestPasswordResetResponse, error) {
	u, email, ok, err := s.publicUser(ctx, req.GetEmail(), "request password reset")
	if err != nil {
		return nil, err
	}
	if !ok {
		return &accountsv1.RequestPasswordResetResponse{}, nil
	}
	if !s.mailLimit.allow("reset:"+email, time.Now()) {
		s.countEmail(ctx, "password_reset", "rate_limited")
		return &accountsv1.RequestPasswordResetResponse{}, nil
	}
	if err := s.sendReset(ctx, u); err != nil {
		s.log.ErrorContext(ctx, "accounts: password reset e-mail not sent", "user_id", u.ID, "err", err)
	}
	return &accountsv1.RequestPasswordResetResponse{}, nil
}

// ResetPassword sets a new password with a reset token, revokes every
// session of the user and logs them in.
func (s *Service) ResetPassword(ctx context.Context, req *accountsv1.ResetPasswordRequest) (*accountsv1.ResetPasswordResponse, error) {
	if !wellFormed(req.GetToken(), resetPrefix) {
		return nil, errBadLink
	}
	h := hashToken(req.GetToken())
	// Look first (without consuming) so a rejected password leaves the
	// link usable.
	t, err := s.store.GetUserToken(ctx, store.TokenReset, h, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadLink
	}
	if err != nil {
		return nil, s.internal(ctx, "reset password", err)
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, s.storeErr(ctx, "reset password", err)
	}
	if err := checkPassword(req.GetPassword(), u.Email, s.cfg.PasswordMinLength); err != nil {
		return nil, err
	}
	hash, err := s.hasher.hash(ctx, req.GetPassword())
	if err != nil {
		return nil, err
	}
	u, err = s.store.ResetPassword(ctx, h, hash, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadLink // used by a concurrent reset, or expired meanwhile
	}
	if err != nil {
		return nil, s.internal(ctx, "reset password", err)
	}
	tok, exp, err := s.linkLogIn(ctx, u, "user.password_reset")
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "password reset; every other session revoked", "user_id", u.ID)
	return &accountsv1.ResetPasswordResponse{User: userPB(u), SessionToken: tok, ExpireTime: tspb(exp)}, nil
}
