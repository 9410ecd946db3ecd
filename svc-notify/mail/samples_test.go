package mail_test

import (
	"time"

	"github.com/sightlinehq/sightline/svc-notify/mail"
)

// hostile is put in every shown field: HTML must escape it, subjects must
// stay on one line.
const hostile = `<script>alert("x")</script> & 'quotes' "double"`

// sample is one e-mail of each kind, with what it must show.
type sample struct {
	kind    string
	data    mail.Data
	subject string
	// links must all appear in both parts.
	links       []string
	unsubscribe string
	// says are phrases the text part must hold.
	says []string
}

const base = "https://sightline.example.com"

func samples() []sample {
	nps := int32(32)
	return []sample{
		{
			kind:    "verify_email",
			data:    mail.VerifyEmailData{Name: "Ada", Link: base + "/verify-email?token=v1&x=1"},
			subject: "Confirm your e-mail address for Sightline",
			links:   []string{base + "/verify-email?token=v1&x=1"},
			says:    []string{"Hi Ada,", "confirm that this is your e-mail address"},
		},
		{
			kind:    "password_reset",
			data:    mail.PasswordResetData{Name: "Ada", Link: base + "/reset-password?token=r1", ValidFor: time.Hour},
			subject: "Reset your Sightline password",
			links:   []string{base + "/reset-password?token=r1"},
			says:    []string{"within the next 1 hour", "your password stays as it is"},
		},
		{
			kind: "invitation",
			data: mail.InvitationData{OrganizationName: "Acme " + hostile, InviterName: "Grace Hopper",
				Role: "admin", Link: base + "/invitations/accept?token=i1"},
			subject: `Grace Hopper invited you to Acme <script>alert("x")</script> & 'quotes' "double" on Sightline`,
			links:   []string{base + "/invitations/accept?token=i1"},
			says:    []string{"Grace Hopper invited you to join Acme", "as admin"},
		},
		{
			kind: "new_login",
			data: mail.NewLoginData{Name: "Ada", Device: "Firefox on Linux", IPPrefix: "203.0.113.0/24",
				Time: time.Date(2026, 11, 29, 7, 12, 0, 0, time.UTC), ResetLink: base + "/forgot-password"},
			subject: "New log-in to Sightline from Firefox on Linux",
			links:   []string{base + "/forgot-password"},
			says:    []string{"Firefox on Linux", "203.0.113.0/24", "Sunday 29 November 2026 at 07:12 UTC"},
		},
		{
			kind:    "signup_existing",
			data:    mail.SignUpExistingData{Name: "Ada", LoginLink: base + "/login", ResetLink: base + "/forgot-password"},
			subject: "Someone tried to sign up with your address",
			links:   []string{base + "/login", base + "/forgot-password"},
			says:    []string{"no new one was made"},
		},
		{
			kind: "alert",
			data: mail.AlertData{SiteName: "shop\r\nBcc: evil@example.com", Kind: "no_data", Summary: "No data for 6 hours",
				Link: base + "/sites/9000000001/recordings?from=1&to=2", SettingsLink: base + "/sites/9000000001/settings/notifications",
				UnsubscribeLink: base + "/unsubscribe?token=u1"},
			subject:     "[shop Bcc: evil@example.com] No data for 6 hours",
			links:       []string{base + "/sites/9000000001/recordings?from=1&to=2", base + "/sites/9000000001/settings/notifications", base + "/unsubscribe?token=u1"},
			unsubscribe: base + "/unsubscribe?token=u1",
			says:        []string{"No data for 6 hours", "nothing has arrived lately"},
		},
		{
			kind: "digest",
			data: mail.DigestData{SiteName: hostile, Frequency: "daily", Period: "Sunday 29 November 2026",
				Sessions: 12345, RageSessions: 67, ErrorSessions: 8,
				TopPages: []mail.DigestPage{
					{URL: "https://shop.example/cart?a=<b>", FrustratedSessions: 40, Sessions: 400, Link: base + "/sites/9000000001/recordings?url=%2Fcart&rage=1"},
					{URL: "https://shop.example/", FrustratedSessions: 1, Sessions: 1, Link: base + "/sites/9000000001/recordings?url=%2F"},
				},
				FeedbackAnswers: 3, FeedbackAverage: 4.333, SurveyAnswers: 10, NPS: &nps,
				RecordingsLink: base + "/sites/9000000001/recordings", SettingsLink: base + "/sites/9000000001/settings/notifications",
				UnsubscribeLink: base + "/unsubscribe?token=d1"},
			subject: `[<script>alert("x")</script> & 'quotes' "double"] Daily digest for Sunday 29 November 2026`,
			links: []string{base + "/sites/9000000001/recordings?url=%2Fcart&rage=1", base + "/sites/9000000001/recordings?url=%2F",
				base + "/sites/9000000001/recordings", base + "/sites/9000000001/settings/notifications", base + "/unsubscribe?token=d1"},
			unsubscribe: base + "/unsubscribe?token=d1",
			says: []string{"12,345", "Sessions with rage clicks:   67", "Sessions with JS errors:     8",
				"40 frustrated of 400 sessions", "1 frustrated of 1 session:", "3 answers, average rating 4.3 out of 5",
				"Surveys:  10 answers", "NPS:      +32"},
		},
		{
			kind: "webhook_disabled",
			data: mail.WebhookDisabledData{SiteName: "shop", URL: `https://hooks.example/in?x="><script>`, Failures: 1,
				FailingSince: time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC), SettingsLink: base + "/sites/9000000001/settings/webhooks"},
			subject: "[shop] A webhook was disabled",
			links:   []string{base + "/sites/9000000001/settings/webhooks"},
			says:    []string{"after 1 failed delivery in a row", "Saturday 28 November 2026 at 06:00 UTC"},
		},
	}
}
