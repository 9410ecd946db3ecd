package accounts

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/telemetry/telemetrytest"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

const (
	firefoxLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	firefoxLinux2  = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
	chromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	badLinkMessage = "this link has expired or was already used; ask for a new one"
)

// withUA adds the browser's User-Agent as the gateway forwards it.
func withUA(ctx context.Context, ua string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, userAgentKey, ua)
}

func wantStatus(t *testing.T, err error, c codes.Code, msg, what string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != c || !strings.Contains(st.Message(), msg) {
		t.Fatalf("%s: %v %q, want %v containing %q", what, st.Code(), st.Message(), c, msg)
	}
}

func TestSignUpFirstUserLoggedIn(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	r, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "first@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetVerificationRequired() || r.GetSessionToken() == "" || r.GetUser().GetEmailVerifyTime() == nil {
		t.Fatalf("first user's sign-up = %v, want logged in and verified", r)
	}
	if n := e.sentCount(); n != 0 {
		t.Fatalf("the first sign-up sent %d e-mails", n)
	}
}

func TestSignUpNewAndExistingAnswerAlike(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		e.signUp("operator@example.com") // the first user, logged in at once
		taken := e.signUp("taken@example.com")

		rNew, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "new@example.com", Password: password, Name: "New"})
		if err != nil {
			t.Fatal(err)
		}
		rTaken, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "Taken@Example.com", Password: "another password 1", Name: "Mallory"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(rNew, rTaken) || !rNew.GetVerificationRequired() {
			t.Fatalf("answers differ or ask no verification:\nnew   %v\ntaken %v", rNew, rTaken)
		}
		// The new address got a verification link; the owner of the taken
		// one a notice, and their account is untouched.
		newMail := e.mails("new@example.com")
		if len(newMail) != 1 || !strings.HasPrefix(newMail[0].GetVerifyEmail().GetToken(), "slv_") || newMail[0].GetName() != "New" {
			t.Fatalf("e-mails to the new address = %v", newMail)
		}
		takenMail := e.mails("taken@example.com")
		if len(takenMail) != 2 || takenMail[1].GetSignupExisting() == nil {
			t.Fatalf("e-mails to the taken address = %v, want verification then sign-up-existing", takenMail)
		}
		if _, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "taken@example.com", Password: password}); err != nil {
			t.Fatalf("the owner's password changed: %v", err)
		}
		if _, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "taken@example.com", Password: "another password 1"}); code(err) != codes.Unauthenticated {
			t.Fatalf("the second sign-up's password works: %v", err)
		}
		cu, err := e.client.GetCurrentUser(as(taken.token), &accountsv1.GetCurrentUserRequest{})
		if err != nil || len(cu.GetMemberships()) != 1 {
			t.Fatalf("a sign-up with a taken address created something: %v %v", cu, err)
		}
		// At most one such notice an hour per address.
		if _, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "taken@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
		if n := len(e.mails("taken@example.com")); n != 2 {
			t.Fatalf("%d e-mails to the taken address after a second attempt, want still 2", n)
		}
		// Every key is distinct and bounded.
		seen := map[string]bool{}
		for _, m := range e.notify.sent {
			if k := m.GetIdempotencyKey(); seen[k] || len(k) > 200 {
				t.Fatalf("idempotency key %q repeated or too long", k)
			} else {
				seen[k] = true
			}
		}
	})
}

func TestVerifyEmailFlow(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		e.signUp("operator@example.com")
		if _, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "v@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
		tok := e.verifyToken("v@example.com")

		// Unverified: the right password is refused kindly, with a new link
		// (once the rate limit allows); a wrong one as always.
		_, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "v@example.com", Password: "wrong password!"})
		wantStatus(t, err, codes.Unauthenticated, "invalid e-mail or password", "unverified, wrong password")
		_, err = e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "v@example.com", Password: password})
		wantStatus(t, err, codes.FailedPrecondition, "confirm your e-mail address first; we sent you a new link", "unverified log-in")
		if n := len(e.mails("v@example.com")); n != 1 {
			t.Fatalf("%d e-mails within a minute of sign-up, want 1 (rate-limited)", n)
		}
		e.svc.verifyEvery = 0
		_, err = e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "v@example.com", Password: password})
		wantCode(t, err, codes.FailedPrecondition, "unverified log-in")
		tok2 := e.verifyToken("v@example.com")
		if tok2 == tok {
			t.Fatal("the unverified log-in sent no new link")
		}

		for _, bad := range []string{"", "slv_short", "sls_" + strings.Repeat("A", 43), "slv_" + strings.Repeat("A", 43), strings.Repeat("x", 10000)} {
			_, err := e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: bad})
			wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "verify "+trunc(bad))
		}
		v, err := e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		if v.GetUser().GetEmailVerifyTime() == nil || v.GetSessionToken() == "" {
			t.Fatalf("verify = %v", v)
		}
		if _, err := e.client.GetCurrentUser(as(v.GetSessionToken()), &accountsv1.GetCurrentUserRequest{}); err != nil {
			t.Fatalf("the verify session does not work: %v", err)
		}
		_, err = e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: tok})
		wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "verify twice")
		// The newer link still works once (it logs in again).
		if _, err := e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: tok2}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "v@example.com", Password: password}); err != nil {
			t.Fatalf("log-in after verifying: %v", err)
		}
		// A verified address gets no more links.
		before := e.sentCount()
		if _, err := e.client.ResendVerification(as(""), &accountsv1.ResendVerificationRequest{Email: "v@example.com"}); err != nil {
			t.Fatal(err)
		}
		if e.sentCount() != before {
			t.Fatal("a verified address was sent a verification link")
		}
	})
}

func TestPasswordResetFlow(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		e.signUp("operator@example.com")
		u := e.signUp("reset@example.com")
		other, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "reset@example.com", Password: password})
		if err != nil {
			t.Fatal(err)
		}

		// Enumeration-safe: the same empty answer for every address.
		rKnown, err := e.client.RequestPasswordReset(as(""), &accountsv1.RequestPasswordResetRequest{Email: "Reset@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		before := e.sentCount()
		rUnknown, err := e.client.RequestPasswordReset(as(""), &accountsv1.RequestPasswordResetRequest{Email: "nobody@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(rKnown, rUnknown) || e.sentCount() != before {
			t.Fatalf("answers %v / %v, or an e-mail for an unknown address", rKnown, rUnknown)
		}
		_, err = e.client.RequestPasswordReset(as(""), &accountsv1.RequestPasswordResetRequest{Email: "not an address"})
		wantCode(t, err, codes.InvalidArgument, "malformed address")
		mails := e.mails("reset@example.com")
		tok := mails[len(mails)-1].GetPasswordReset().GetToken()
		if !strings.HasPrefix(tok, "slr_") {
			t.Fatalf("last e-mail = %v, want a reset link", mails[len(mails)-1])
		}

		// A rejected password leaves the link usable.
		_, err = e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: tok, Password: "short"})
		wantStatus(t, err, codes.InvalidArgument, "at least 10", "short password")
		_, err = e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: tok, Password: "RESET@example.com"})
		wantStatus(t, err, codes.InvalidArgument, "e-mail address", "password = address")
		r, err := e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: tok, Password: "a brand new password"})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetUser().GetId() != u.id || r.GetSessionToken() == "" {
			t.Fatalf("reset = %v", r)
		}
		// Every earlier session is gone; the new one works.
		for _, old := range []string{u.token, other.GetSessionToken()} {
			_, err := e.client.GetCurrentUser(as(old), &accountsv1.GetCurrentUserRequest{})
			wantCode(t, err, codes.Unauthenticated, "a session from before the reset")
		}
		if _, err := e.client.GetCurrentUser(as(r.GetSessionToken()), &accountsv1.GetCurrentUserRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "reset@example.com", Password: password})
		wantCode(t, err, codes.Unauthenticated, "the old password")
		if _, err := e.client.LogIn(as(""), &accountsv1.LogInRequest{Email: "reset@example.com", Password: "a brand new password"}); err != nil {
			t.Fatal(err)
		}
		// Single use; expired and unknown links answer the same.
		_, err = e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: tok, Password: "yet another password"})
		wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "reset twice")
		expired := randomToken(resetPrefix)
		if _, err := e.store.CreateUserToken(context.Background(), store.UserToken{UserID: u.id, Kind: store.TokenReset,
			TokenHash: hashToken(expired), ExpireTime: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{expired, randomToken(resetPrefix), "slr_x", ""} {
			_, err = e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: bad, Password: "yet another password"})
			wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "reset with "+trunc(bad))
		}
		// A verify link is no reset link.
		_, err = e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: e.verifyToken("reset@example.com"), Password: "yet another password"})
		wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "reset with a verify token")

		// Per address: a burst, then silence (still OK).
		for range 5 {
			if _, err := e.client.RequestPasswordReset(asIP("", "198.51.100.9"), &accountsv1.RequestPasswordResetRequest{Email: "reset@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
		resets := 0
		for _, m := range e.mails("reset@example.com") {
			if m.GetPasswordReset() != nil {
				resets++
			}
		}
		if resets != 3 {
			t.Fatalf("%d reset e-mails after 6 requests, want 3 (the per-address burst)", resets)
		}
	})
}

func TestPasswordResetPerIPLimit(t *testing.T) {
	e := newEnv(t, BackendSQLite, func(c *Config) { c.Login.IPBurst = 3 })
	var err error
	for i := range 4 {
		_, err = e.client.RequestPasswordReset(asIP("", "198.51.100.20"), &accountsv1.RequestPasswordResetRequest{Email: "x" + strings.Repeat("y", i) + "@example.com"})
	}
	wantCode(t, err, codes.ResourceExhausted, "fourth reset request from one IP")
}

func TestInvitationEmail(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	owner := e.signUp("owner@example.com")
	inv, err := e.client.CreateInvitation(as(owner.token), &accountsv1.CreateInvitationRequest{OrganizationId: owner.org, Email: "Guest@Example.com", Role: accountsv1.Role_ROLE_ADMIN})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv.GetToken(), "sli_") {
		t.Fatalf("the response lost its link token: %v", inv)
	}
	mails := e.mails("guest@example.com")
	if len(mails) != 1 {
		t.Fatalf("e-mails to the guest = %v", mails)
	}
	got := mails[0].GetInvitation()
	if got.GetToken() != inv.GetToken() || got.GetInviterName() != "User owner@example.com" || got.GetRole() != "admin" ||
		got.GetOrganizationName() != "owner's organization" {
		t.Fatalf("invitation e-mail = %v", got)
	}
}

func TestNewDeviceEmail(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		e.signUp("operator@example.com")
		// Signed up (and verified) from Firefox on Linux: that device is
		// known silently.
		if _, err := e.client.SignUp(withUA(as(""), firefoxLinux), &accountsv1.SignUpRequest{Email: "d@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.VerifyEmail(withUA(as(""), firefoxLinux), &accountsv1.VerifyEmailRequest{Token: e.verifyToken("d@example.com")}); err != nil {
			t.Fatal(err)
		}
		logIn := func(ua string) {
			t.Helper()
			if _, err := e.client.LogIn(withUA(as(""), ua), &accountsv1.LogInRequest{Email: "d@example.com", Password: password}); err != nil {
				t.Fatal(err)
			}
		}
		newLogins := func() []string {
			var out []string
			for _, m := range e.mails("d@example.com") {
				if n := m.GetNewLogin(); n != nil {
					out = append(out, n.GetDevice()+" "+n.GetIpPrefix())
					if n.GetTime() == nil {
						t.Fatal("new log-in e-mail without a time")
					}
				}
			}
			return out
		}
		logIn(firefoxLinux)
		logIn(firefoxLinux2) // a browser update is no new device
		if got := newLogins(); len(got) != 0 {
			t.Fatalf("known device e-mailed: %v", got)
		}
		logIn(chromeWindows)
		logIn(chromeWindows)
		if got := newLogins(); len(got) != 1 || got[0] != "Chrome on Windows 203.0.113.0/24" {
			t.Fatalf("new log-in e-mails = %v, want one for Chrome on Windows", got)
		}
	})
}

func TestNotifyDown(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	e.signUp("operator@example.com")
	e.notify.down.Store(true)
	r, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "late@example.com", Password: password})
	if err != nil || !r.GetVerificationRequired() {
		t.Fatalf("sign-up with notify down: %v %v", r, err)
	}
	if _, err := e.client.RequestPasswordReset(as(""), &accountsv1.RequestPasswordResetRequest{Email: "operator@example.com"}); err != nil {
		t.Fatalf("reset request with notify down: %v", err)
	}
	if n := e.sentCount(); n != 0 {
		t.Fatalf("%d e-mails recorded while down", n)
	}
	e.notify.down.Store(false)
	e.svc.verifyEvery = 0 // the failed attempt's token is seconds old
	if _, err := e.client.ResendVerification(as(""), &accountsv1.ResendVerificationRequest{Email: "late@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.VerifyEmail(as(""), &accountsv1.VerifyEmailRequest{Token: e.verifyToken("late@example.com")}); err != nil {
		t.Fatal(err)
	}
	if got := emailCount(t, e, "verify_email", "failed"); got != 1 {
		t.Fatalf("accounts.emails{verify_email,failed} = %d, want 1", got)
	}

	// No notify at all: requests still succeed, e-mails are counted.
	e.svc.deps.Notify = nil
	r, err = e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "none@example.com", Password: password})
	if err != nil || !r.GetVerificationRequired() {
		t.Fatalf("sign-up without notify: %v %v", r, err)
	}
	if got := emailCount(t, e, "verify_email", "not_sent"); got != 1 {
		t.Fatalf("accounts.emails{verify_email,not_sent} = %d, want 1", got)
	}
}

func emailCount(t *testing.T, e *env, kind, outcome string) int64 {
	t.Helper()
	e.svc.bg.Wait()
	return telemetrytest.SumBy(t, e.reader, "accounts.emails", "kind", "outcome")[kind+"/"+outcome]
}

func TestSignUpVerificationOff(t *testing.T) {
	e := newEnv(t, BackendSQLite, func(c *Config) { c.SignupVerifyEmail = false })
	e.signUp("operator@example.com")
	r, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "b@example.com", Password: password})
	if err != nil || r.GetVerificationRequired() || r.GetSessionToken() == "" || r.GetUser().GetEmailVerifyTime() == nil {
		t.Fatalf("sign-up with verification off = %v %v, want logged in", r, err)
	}
	_, err = e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "B@example.com", Password: password})
	wantStatus(t, err, codes.AlreadyExists, "already exists", "taken address, verification off")
	if n := e.sentCount(); n != 0 {
		t.Fatalf("%d e-mails with verification off", n)
	}
}

func TestListSiteRecipients(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		owner := e.signUp("owner@example.com")
		admin := e.join(owner, owner.org, "admin@example.com", accountsv1.Role_ROLE_ADMIN)
		viewer := e.join(owner, owner.org, "viewer@example.com", accountsv1.Role_ROLE_VIEWER)
		// Another sign-up, never verified, changes nothing (the store suite
		// checks unverified members are left out).
		if _, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "unverified@example.com", Password: password}); err != nil {
			t.Fatal(err)
		}
		s, err := e.client.CreateSite(as(owner.token), &accountsv1.CreateSiteRequest{OrganizationId: owner.org, Name: "Shop", Domains: []string{"shop.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		site := s.GetSite().GetId()
		r, err := e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{SiteId: site, MinRole: accountsv1.Role_ROLE_ADMIN})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetSiteName() != "Shop" || r.GetTimeZone() != "UTC" || r.GetOrganizationId() != owner.org || len(r.GetRecipients()) != 2 ||
			r.GetRecipients()[0].GetUserId() != owner.id || r.GetRecipients()[1].GetUserId() != admin.id ||
			r.GetRecipients()[1].GetEmail() != "admin@example.com" || r.GetRecipients()[1].GetRole() != accountsv1.Role_ROLE_ADMIN {
			t.Fatalf("admins of the site = %v", r)
		}
		r, err = e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{SiteId: site, UserIds: []int64{viewer.id, 1 << 40}})
		if err != nil || len(r.GetRecipients()) != 1 || r.GetRecipients()[0].GetUserId() != viewer.id {
			t.Fatalf("named recipients = %v %v", r, err)
		}
		_, err = e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{SiteId: site + 1_000_000})
		wantCode(t, err, codes.NotFound, "unknown site")
		_, err = e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{})
		wantCode(t, err, codes.InvalidArgument, "no site")
		_, err = e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{SiteId: site, MinRole: 99})
		wantCode(t, err, codes.InvalidArgument, "bad role")
		_, err = e.internal.ListSiteRecipients(context.Background(), &accountsv1.ListSiteRecipientsRequest{SiteId: site, UserIds: make([]int64, maxRecipientUsers+1)})
		wantCode(t, err, codes.InvalidArgument, "too many users")
	})
}

func TestResetPasswordConcurrentUseOnce(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, nil)
		e.signUp("operator@example.com")
		e.signUp("race@example.com")
		if _, err := e.client.RequestPasswordReset(as(""), &accountsv1.RequestPasswordResetRequest{Email: "race@example.com"}); err != nil {
			t.Fatal(err)
		}
		ms := e.mails("race@example.com")
		tok := ms[len(ms)-1].GetPasswordReset().GetToken()
		errs := make(chan error, 4)
		for i := range 4 {
			go func() {
				_, err := e.client.ResetPassword(as(""), &accountsv1.ResetPasswordRequest{Token: tok, Password: strings.Repeat("p", 10+i)})
				errs <- err
			}()
		}
		ok := 0
		for range 4 {
			if err := <-errs; err == nil {
				ok++
			} else {
				wantStatus(t, err, codes.InvalidArgument, badLinkMessage, "a losing concurrent reset")
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent resets with one link succeeded, want 1", ok)
		}
	})
}
