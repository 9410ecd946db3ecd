// Package webhook signs and sends webhook deliveries per the Standard
// Webhooks specification (webhook-id, webhook-timestamp,
// webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
// signature per active secret, space-separated), refusing private,
// loopback and link-local targets unless allowed.
//
// Files: sign.go (secrets, Sign, Verify), target.go (CheckURL and the
// dial-time address guard), send.go (Sender), backoff.go (the retry
// schedule), payload.go (the envelope and every event's data: the public
// webhook reference, also in docs/webhooks.md).
package webhook

import "time"

// Request is one attempt to deliver.
type Request struct {
	URL string
	// MessageID is the webhook-id header: the same on every attempt of one
	// event to one webhook, so receivers can de-duplicate.
	MessageID string
	// Time is the webhook-timestamp: when this attempt is made (receivers
	// refuse timestamps more than 5 minutes off), now when zero.
	Time time.Time
	Body []byte
	// Secrets sign the body (whsec_…); after a rotation, both.
	Secrets []string
}

// Result is what came of an attempt.
type Result struct {
	// StatusCode is the receiver's HTTP status, 0 when none came.
	StatusCode int
	// Response is the start of the receiver's body (≤ 1 KiB, valid UTF-8).
	Response string
	Duration time.Duration
	// Err is set unless the receiver answered 2xx.
	Err error
	// Permanent: retrying cannot help (a refused or malformed target).
	Permanent bool
}
