package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers every delivery carries.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret Sightline hands out.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock (the specification's recommendation): older deliveries
// are refused as possible replays.
const DefaultTolerance = 5 * time.Minute

// Secret key sizes the specification allows (24 to 64 bytes); new secrets
// are 32 bytes.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
	newSecretBytes = 32
)

// maxSignatures bounds the signatures a receiver looks at in one header
// (a hostile header could carry thousands).
const maxSignatures = 16

// ErrSignature is wrapped by every Verify failure.
var ErrSignature = errors.New("webhook: signature not verified")

// NewSecret returns a fresh signing secret: "whsec_" + the standard base64
// of 32 random bytes.
func NewSecret() string {
	b := make([]byte, newSecretBytes)
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSecret returns a secret's key bytes. The "whsec_" prefix is
// optional (receivers often paste the bare base64); the key must be
// standard base64 of 24 to 64 bytes.
func ParseSecret(secret string) ([]byte, error) {
	enc := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	if enc == "" {
		return nil, errors.New("webhook: empty signing secret")
	}
	if len(enc) > base64.StdEncoding.EncodedLen(maxSecretBytes) {
		return nil, fmt.Errorf("webhook: signing secret longer than %d bytes", maxSecretBytes)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("webhook: signing secret is not base64 after %q: %w", SecretPrefix, err)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("webhook: signing secret is %d bytes, want %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one delivery:
// "v1,<base64 HMAC-SHA256 of msgID.unix-seconds.body>" for each secret,
// space-separated in the order given (after a rotation, the new secret and
// the previous one, so receivers holding either verify).
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: no signing secret")
	}
	if msgID == "" {
		return "", errors.New("webhook: empty message id")
	}
	var b strings.Builder
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return "", fmt.Errorf("webhook: secret %d: %w", i+1, err)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(key, msgID, ts.Unix(), body)))
	}
	return b.String(), nil
}

// mac is the HMAC-SHA256 of "msgID.unix.body".
func mac(key []byte, msgID string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var num [20]byte
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(num[:0], unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received delivery the way a receiver should: the three
// headers present, the timestamp within tolerance of now (DefaultTolerance
// when tolerance ≤ 0), and at least one "v1," signature in the header
// matching the body under secret (compared in constant time). body must be
// the raw bytes received, before any JSON decoding.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsRaw, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s header", ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	unix, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not unix seconds", ErrSignature, HeaderTimestamp)
	}
	// Compare in seconds so a far-off timestamp cannot overflow a Duration.
	skew := now.Unix() - unix
	if skew > int64(tolerance/time.Second) {
		return fmt.Errorf("%w: timestamp %d is too old", ErrSignature, unix)
	}
	if -skew > int64(tolerance/time.Second) {
		return fmt.Errorf("%w: timestamp %d is in the future", ErrSignature, unix)
	}
	want := mac(key, id, unix, body)
	for i, sig := range strings.Fields(sigs) {
		if i >= maxSignatures {
			break
		}
		enc, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue // another scheme (e.g. "v1a,"): not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrSignature)
}
