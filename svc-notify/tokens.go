package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sightlinehq/sightline/platform/durablefile"
)

// Unsubscribe is what an unsubscribe token names: a user's digest of a
// site, or one of their alert rules.
type Unsubscribe struct {
	// Kind is "digest" or "alert".
	Kind                   string
	UserID, SiteID, RuleID int64
}

// Unsubscribe kinds.
const (
	UnsubscribeDigest = "digest"
	UnsubscribeAlert  = "alert"
)

// Token layout: "1." + base64url(kind byte, uvarint user, site, rule,
// first 16 bytes of HMAC-SHA256(key, domain || those bytes)). The version
// prefix lets a later layout live alongside; tokens never expire (an
// e-mail's link should keep working), and a leaked one only turns an
// e-mail off.
const (
	tokenVersion  = "1."
	tokenMACBytes = 16
	// maxTokenLen bounds the parse of hostile input: 1 + 3 varints of at
	// most 10 bytes + the MAC, base64-encoded, plus the prefix.
	maxTokenLen = 2 + (1+30+tokenMACBytes+2)/3*4
	tokenDomain = "sightline/notify/unsubscribe/v1\x00"
	keyBytes    = 32
	minKeyBytes = 16
)

var errBadToken = errors.New("invalid unsubscribe token")

func (s *Service) unsubscribeToken(u Unsubscribe) string {
	var kind byte
	switch u.Kind {
	case UnsubscribeDigest:
		kind = 'd'
	case UnsubscribeAlert:
		kind = 'a'
	default:
		panic("notify: unsubscribe token of unknown kind " + u.Kind)
	}
	b := []byte{kind}
	b = binary.AppendUvarint(b, uint64(u.UserID))
	b = binary.AppendUvarint(b, uint64(u.SiteID))
	b = binary.AppendUvarint(b, uint64(u.RuleID))
	b = append(b, s.tokenMAC(b)...)
	return tokenVersion + base64.RawURLEncoding.EncodeToString(b)
}

// parseUnsubscribeToken checks a token's signature (in constant time) and
// returns what it names; any malformed or forged token is errBadToken.
func (s *Service) parseUnsubscribeToken(tok string) (Unsubscribe, error) {
	if len(tok) > maxTokenLen || !strings.HasPrefix(tok, tokenVersion) {
		return Unsubscribe{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[len(tokenVersion):])
	if err != nil || len(b) < 1+3+tokenMACBytes {
		return Unsubscribe{}, errBadToken
	}
	body, mac := b[:len(b)-tokenMACBytes], b[len(b)-tokenMACBytes:]
	if !hmac.Equal(mac, s.tokenMAC(body)) {
		return Unsubscribe{}, errBadToken
	}
	var u Unsubscribe
	switch body[0] {
	case 'd':
		u.Kind = UnsubscribeDigest
	case 'a':
		u.Kind = UnsubscribeAlert
	default:
		return Unsubscribe{}, errBadToken
	}
	rest := body[1:]
	for _, p := range []*int64{&u.UserID, &u.SiteID, &u.RuleID} {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<63-1 {
			return Unsubscribe{}, errBadToken
		}
		*p, rest = int64(v), rest[n:]
	}
	if len(rest) != 0 || u.UserID <= 0 || u.SiteID <= 0 || (u.Kind == UnsubscribeAlert) != (u.RuleID > 0) {
		return Unsubscribe{}, errBadToken
	}
	return u, nil
}

func (s *Service) tokenMAC(body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(tokenDomain))
	m.Write(body)
	return m.Sum(nil)[:tokenMACBytes]
}

// loadKey reads the token key from secretFile, or from <dataDir>/notify.key,
// making that once (0600, fsync'd) when missing. Replicas that share links
// must share the key: set notify.secret-file on each.
func loadKey(secretFile, dataDir string) ([]byte, error) {
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("notify.secret-file: %w", err)
		}
		b = bytes.TrimSpace(b)
		if len(b) < minKeyBytes {
			return nil, fmt.Errorf("notify.secret-file: %s holds %d bytes, want at least %d", secretFile, len(b), minKeyBytes)
		}
		return b, nil
	}
	if dataDir == "" {
		return nil, errors.New("notify: no data directory for notify.key (set the data dir or notify.secret-file)")
	}
	path := filepath.Join(dataDir, "notify.key")
	if b, err := os.ReadFile(path); err == nil {
		if len(b) < minKeyBytes {
			return nil, fmt.Errorf("notify: %s holds %d bytes, want at least %d (remove it to make a new key)", path, len(b), minKeyBytes)
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("notify: read key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: key directory: %w", err)
	}
	key := make([]byte, keyBytes)
	rand.Read(key)
	// Of two processes starting at once, both get the first one's key.
	b, err := durablefile.Create(path, key, 0o600)
	if err != nil {
		return nil, fmt.Errorf("notify: write key: %w", err)
	}
	return b, nil
}
