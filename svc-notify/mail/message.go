// Package mail renders notify's e-mails from templates (text and HTML) and
// sends them: over SMTP (go-mail) when notify.smtp.host is set, else into
// a local outbox directory the operator reads in the dashboard.
package mail

import (
	"context"
	"time"
)

// Message is one rendered e-mail.
type Message struct {
	// ID is unique per logical message (the job's idempotency key); it
	// makes the Message-ID header and the outbox file name, so a re-sent
	// job overwrites its own outbox file instead of adding one.
	ID     string
	To     string
	ToName string
	// Kind is the template: "verify_email", "password_reset",
	// "invitation", "new_login", "signup_existing", "alert", "digest",
	// "webhook_disabled".
	Kind    string
	Subject string
	Text    string
	HTML    string
	// Unsubscribe, when set, is the one-click unsubscribe URL: it becomes
	// the List-Unsubscribe (and List-Unsubscribe-Post) headers.
	Unsubscribe string
}

// Sender sends one message. An error wrapping ErrPermanent is not worth
// retrying (the server refused the recipient for good).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Data is what a template needs; each kind has its own type below, passed
// to Build by value. Every link is an absolute http(s) URL.
type Data interface{ kind() string }

// VerifyEmailData: "Confirm your e-mail address".
type VerifyEmailData struct{ Name, Link string }

// PasswordResetData: "Reset your password".
type PasswordResetData struct {
	Name, Link string
	ValidFor   time.Duration
}

// InvitationData: "<Inviter> invited you to <Organization>".
type InvitationData struct{ OrganizationName, InviterName, Role, Link string }

// NewLoginData: "New log-in to Sightline".
type NewLoginData struct {
	Name, Device, IPPrefix string
	Time                   time.Time
	ResetLink              string
}

// SignUpExistingData: someone signed up with an address that has an
// account.
type SignUpExistingData struct{ Name, LoginLink, ResetLink string }

// AlertData: one fired alert.
type AlertData struct {
	SiteName string
	// Kind is "no_data", "rage_clicks", "js_errors" or "answer".
	// Summary is one line that follows "[<site>] " in the subject and
	// heads the body, e.g. "No data for 6 hours" (empty: a line per kind).
	Kind, Summary string
	// Link opens the matching recordings; Settings the alert settings.
	Link, SettingsLink, UnsubscribeLink string
}

// DigestPage is one row of a digest's top pages.
type DigestPage struct {
	URL                          string
	FrustratedSessions, Sessions int64
	Link                         string
}

// DigestData: a daily or weekly digest of one site.
type DigestData struct {
	SiteName string
	// Frequency is "daily" or "weekly"; Period names it ("Sunday 29
	// November 2026", "23–29 November 2026").
	Frequency, Period                     string
	Sessions, RageSessions, ErrorSessions int64
	TopPages                              []DigestPage
	FeedbackAnswers                       int64
	FeedbackAverage                       float64
	SurveyAnswers                         int64
	NPS                                   *int32
	RecordingsLink, SettingsLink          string
	UnsubscribeLink                       string
}

// WebhookDisabledData: a webhook was disabled after failing.
type WebhookDisabledData struct {
	SiteName, URL string
	Failures      int32
	FailingSince  time.Time
	SettingsLink  string
}

func (VerifyEmailData) kind() string     { return "verify_email" }
func (PasswordResetData) kind() string   { return "password_reset" }
func (InvitationData) kind() string      { return "invitation" }
func (NewLoginData) kind() string        { return "new_login" }
func (SignUpExistingData) kind() string  { return "signup_existing" }
func (AlertData) kind() string           { return "alert" }
func (DigestData) kind() string          { return "digest" }
func (WebhookDisabledData) kind() string { return "webhook_disabled" }
