package accounts

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

var errTooManyAttempts = status.Error(codes.ResourceExhausted, "too many log-in attempts; wait a minute and try again")

// newSession creates a session token for user.
func (s *Service) newSession(ctx context.Context, user int64) (string, time.Time, error) {
	tok := randomToken(sessionPrefix)
	exp := time.Now().Add(s.cfg.SessionTTL).UTC().Truncate(time.Microsecond)
	if _, err := s.store.CreateAuthSession(ctx, store.AuthSession{UserID: user, TokenHash: hashToken(tok), ExpireTime: exp}); err != nil {
		return "", time.Time{}, s.internal(ctx, "create session", err)
	}
	return tok, exp, nil
}

// SignUp creates a user and their first organisation, and logs them in.
func (s *Service) SignUp(ctx context.Context, req *accountsv1.SignUpRequest) (*accountsv1.SignUpResponse, error) {
	if !s.cfg.SignupEnabled {
		return nil, status.Error(codes.PermissionDenied, "sign-up is disabled on this installation; ask an operator for an account")
	}
	if ip := clientIP(ctx); !s.ipLimit.allow("ip:"+ip.String(), time.Now()) {
		return nil, errTooManyAttempts
	}
	email, err := normalizeEmail(req.GetEmail())
	if err != nil {
		return nil, err
	}
	if err := checkPassword(req.GetPassword(), email, s.cfg.PasswordMinLength); err != nil {
		return nil, err
	}
	name := req.GetName()
	if name != "" {
		if name, err = checkName("name", name); err != nil {
			return nil, err
		}
	}
	orgName := req.GetOrganizationName()
	if orgName == "" {
		orgName = defaultOrgName(email)
	}
	if orgName, err = checkName("organization_name", orgName); err != nil {
		return nil, err
	}
	// Hashed on every path, so the time taken does not tell a taken
	// address from a new one.
	hash, err := s.hasher.hash(ctx, req.GetPassword())
	if err != nil {
		return nil, err
	}
	newUser := store.User{Email: email, Name: name, PasswordHash: hash}
	if !s.cfg.SignupVerifyEmail {
		// Addresses are taken as given when the operator turned
		// verification off, so they receive digests and alerts.
		newUser.EmailVerifyTime = time.Now()
		return s.signUpAndLogIn(ctx, newUser, orgName)
	}
	existing, known, err := s.lookUp(ctx, email, "sign up")
	if err != nil {
		return nil, err
	}
	n, err := s.store.CountUsers(ctx) // on both paths, like every read before the answer
	if err != nil {
		return nil, s.internal(ctx, "sign up", err)
	}
	if !known && n == 0 {
		// The instance's first user (made its operator by the store) has
		// nobody to hide from and may have no mail set up yet: logged in
		// at once.
		newUser.EmailVerifyTime = time.Now()
		return s.signUpAndLogIn(ctx, newUser, orgName)
	}
	// The rest happens after the answer on both paths, so neither a new
	// account's writes nor an e-mail's round trip tell a taken address from
	// a new one by the time taken.
	s.background(ctx, func(ctx context.Context) {
		if known {
			s.sendSignUpExisting(ctx, existing)
			s.audit(ctx, 0, 0, "user.signup_existing", target("user", existing.ID))
			return
		}
		s.createUnverified(ctx, newUser, orgName)
	})
	return &accountsv1.SignUpResponse{VerificationRequired: true}, nil
}

// createUnverified creates an unverified user and organisation and e-mails
// the verification link (in the background of SignUp: errors are logged).
func (s *Service) createUnverified(ctx context.Context, nu store.User, orgName string) {
	u, o, err := s.store.SignUp(ctx, nu, orgName, s.cfg.plan())
	if errors.Is(err, store.ErrConflict) {
		// Taken since the look-up: the owner hears of it, as above.
		if existing, known, _ := s.lookUp(ctx, nu.Email, "sign up"); known {
			s.sendSignUpExisting(ctx, existing)
		}
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "accounts: sign up (after answering)", "err", err)
		return
	}
	s.audit(ctx, o.ID, u.ID, "user.signup", target("user", u.ID))
	s.log.InfoContext(ctx, "user signed up; verification e-mailed", "user_id", u.ID, "organization_id", o.ID)
	s.noteDevice(ctx, u, false)
	if err := s.sendVerification(ctx, u); err != nil {
		// The user can ask for a new link once notify is back.
		s.log.ErrorContext(ctx, "accounts: verification e-mail not sent", "user_id", u.ID, "err", err)
	}
}

// background runs fn after the request's answer, with the request's
// metadata and trace but not its cancellation; Close waits for it.
func (s *Service) background(ctx context.Context, fn func(context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		// Let the answer leave first: work started at once competes with
		// it for the CPU and shows in its timing (measured: ~4 ms of ~25).
		time.Sleep(backgroundDelay)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		fn(ctx)
	}()
}

// backgroundDelay is how long SignUp's after-answer work waits to start.
const backgroundDelay = 50 * time.Millisecond

// backgroundTimeout bounds the work SignUp leaves for after its answer.
const backgroundTimeout = 30 * time.Second

// signUpAndLogIn creates the user and organisation and logs the user in.
func (s *Service) signUpAndLogIn(ctx context.Context, nu store.User, orgName string) (*accountsv1.SignUpResponse, error) {
	u, o, err := s.store.SignUp(ctx, nu, orgName, s.cfg.plan())
	if errors.Is(err, store.ErrConflict) {
		return nil, status.Error(codes.AlreadyExists, "an account with this e-mail already exists; log in instead")
	}
	if err != nil {
		return nil, s.internal(ctx, "sign up", err)
	}
	s.noteDevice(ctx, u, false)
	tok, exp, err := s.newSession(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, o.ID, u.ID, "user.signup", target("user", u.ID))
	s.log.InfoContext(ctx, "user signed up", "user_id", u.ID, "organization_id", o.ID, "operator", u.Operator)
	if u.Operator {
		s.audit(ctx, o.ID, u.ID, "user.operator_first", target("user", u.ID))
	}
	return &accountsv1.SignUpResponse{User: userPB(u), Organization: orgPB(o), SessionToken: tok, ExpireTime: tspb(exp)}, nil
}

func (s *Service) loginFailed(ctx context.Context, reason string) {
	s.m.loginFailures.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// LogIn checks an e-mail and password and returns a new session token.
func (s *Service) LogIn(ctx context.Context, req *accountsv1.LogInRequest) (*accountsv1.LogInResponse, error) {
	email, err := normalizeEmail(req.GetEmail())
	if err != nil {
		return nil, err
	}
	if len(req.GetPassword()) > maxPasswordBytes {
		return nil, invalid("password is longer than %d bytes", maxPasswordBytes)
	}
	now := time.Now()
	ip := clientIP(ctx)
	// Both buckets are charged for every attempt, so neither many accounts
	// from one IP nor one account from many IPs gets far.
	ipOK := s.ipLimit.allow("ip:"+ip.String(), now)
	accountOK := s.accountLimit.allow("account:"+email, now)
	if !ipOK || !accountOK {
		s.loginFailed(ctx, "rate_limited")
		s.log.WarnContext(ctx, "log-in rate limited", "ip_prefix", ipPrefix(ip), "per_ip", !ipOK, "per_account", !accountOK)
		return nil, errTooManyAttempts
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.internal(ctx, "log in", err)
	}
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.verify(ctx, hash, req.GetPassword())
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, s.internal(ctx, "verify password", err)
	}
	if !ok || !known {
		s.loginFailed(ctx, "bad_credentials")
		if known {
			ms, _ := s.store.ListMemberships(ctx, u.ID)
			for _, m := range ms {
				s.audit(ctx, m.OrganizationID, u.ID, "user.login_failed", target("user", u.ID))
			}
		} else {
			s.audit(ctx, 0, 0, "user.login_failed", "email:unknown")
		}
		return nil, status.Error(codes.Unauthenticated, "invalid e-mail or password")
	}
	if s.cfg.SignupVerifyEmail && u.EmailVerifyTime.IsZero() {
		// Only after the password matched: this answer reveals that the
		// account exists, to someone who knows its password.
		s.loginFailed(ctx, "unverified")
		if err := s.sendVerification(ctx, u); err != nil {
			s.log.ErrorContext(ctx, "accounts: verification e-mail not sent", "user_id", u.ID, "err", err)
		}
		return nil, errUnverified
	}
	s.noteDevice(ctx, u, true)
	tok, exp, err := s.newSession(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ms, _ := s.store.ListMemberships(ctx, u.ID)
	for _, m := range ms {
		s.audit(ctx, m.OrganizationID, u.ID, "user.login", target("user", u.ID))
	}
	return &accountsv1.LogInResponse{User: userPB(u), SessionToken: tok, ExpireTime: tspb(exp)}, nil
}

// LogOut revokes the session token in the request, or else the caller's.
func (s *Service) LogOut(ctx context.Context, req *accountsv1.LogOutRequest) (*accountsv1.LogOutResponse, error) {
	tok := req.GetSessionToken()
	if tok == "" {
		tok = bearer(ctx)
	}
	if tok == "" {
		return nil, status.Error(codes.Unauthenticated, "no session token in the request or in metadata")
	}
	if !wellFormed(tok, sessionPrefix) {
		return nil, invalid("session_token is not a session token (sls_…)")
	}
	if err := s.store.RevokeAuthSession(ctx, hashToken(tok), time.Now()); err != nil {
		return nil, s.internal(ctx, "log out", err)
	}
	return &accountsv1.LogOutResponse{}, nil
}

// Authenticate resolves a session token or API key: one hash and one
// indexed query, no cache, so a revocation or role change applies to the
// very next request.
func (s *Service) Authenticate(ctx context.Context, req *accountsv1.AuthenticateRequest) (*accountsv1.AuthenticateResponse, error) {
	var cred string
	switch c := req.GetCredential().(type) {
	case *accountsv1.AuthenticateRequest_SessionToken:
		cred = c.SessionToken
		if !wellFormed(cred, sessionPrefix) {
			return nil, status.Error(codes.Unauthenticated, "session_token is not a session token (sls_…)")
		}
	case *accountsv1.AuthenticateRequest_ApiKey:
		cred = c.ApiKey
		if !wellFormed(cred, apiKeyPrefix) {
			return nil, status.Error(codes.Unauthenticated, "api_key is not an API key (slk_…)")
		}
	default:
		return nil, invalid("credential is required: set session_token or api_key")
	}
	p, err := s.principal(ctx, cred)
	if err != nil {
		return nil, err
	}
	return &accountsv1.AuthenticateResponse{Principal: principalPB(p), ExpireTime: tspb(p.ExpireTime)}, nil
}

// GetCurrentUser returns the caller and their memberships.
func (s *Service) GetCurrentUser(ctx context.Context, _ *accountsv1.GetCurrentUserRequest) (*accountsv1.GetCurrentUserResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, c.UserID)
	if err != nil {
		return nil, s.storeErr(ctx, "get user", err)
	}
	return &accountsv1.GetCurrentUserResponse{User: userPB(u), Memberships: membershipsPB(c.Memberships)}, nil
}
