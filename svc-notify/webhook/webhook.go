// Package webhook signs and sends webhook deliveries per the Standard
// Webhooks specification (webhook-id, webhook-timestamp,
// webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
// signature per active secret, space-separated), refusing private,
// loopback and link-local targets unless allowed.
package webhook

import "time"

// Request is one attempt to deliver.
type Request struct {
	URL       string
	MessageID string
	Time      time.Time
	Body      []byte
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
