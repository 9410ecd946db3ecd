package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/wireid"
)

// Credential prefixes: they make leaked secrets recognisable to scanners
// and let the gateway tell the kinds apart without a lookup.
const (
	sessionPrefix    = "sls_"
	apiKeyPrefix     = "slk_"
	invitationPrefix = "sli_"
	siteKeyPrefix    = "k_"
	// secretBytes of randomness in every token and key.
	secretBytes = 32
)

var secretLen = base64.RawURLEncoding.EncodedLen(secretBytes)

// randomToken returns prefix + base64url(32 random bytes).
func randomToken(prefix string) string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newSiteKey returns a public site key: "k_" + 24 url-safe characters.
func newSiteKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return siteKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// wellFormed reports whether tok is prefix + exactly the base64url length of
// a secret, so malformed input never reaches the database.
func wellFormed(tok, prefix string) bool {
	rest, ok := strings.CutPrefix(tok, prefix)
	return ok && len(rest) == secretLen && wireid.URLSafe(rest)
}

// hashToken is what the store keeps of a token or key. Tokens carry 256
// bits of randomness, so a fast unsalted hash is enough (no dictionary to
// attack) and keeps Authenticate a single indexed lookup.
func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// ---- passwords: argon2id, OWASP parameters (m=19 MiB, t=2, p=1) ----

const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	maxPasswordBytes = 256
)

// hasher bounds concurrent argon2 computations: each takes 19 MiB and a
// core for tens of milliseconds, so a flood of log-ins must queue rather
// than exhaust memory.
type hasher struct{ sem chan struct{} }

func newHasher(n int) *hasher {
	if n < 1 {
		n = 1
	}
	return &hasher{sem: make(chan struct{}, n)}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return status.Error(codes.Unavailable, "too busy checking passwords; try again")
	}
}

func (h *hasher) release() { <-h.sem }

func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hashPassword(pw)
}

func (h *hasher) verify(ctx context.Context, encoded, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return verifyPassword(encoded, pw)
}

// hashPassword returns the PHC string of pw.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword checks pw against a PHC string, in constant time. The
// parameters come from the string, so raising them later keeps old hashes
// valid; absurd parameters are refused rather than computed.
func verifyPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("accounts: password hash is not argon2id")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("accounts: unsupported argon2 version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("accounts: argon2 parameters: %w", err)
	}
	if m < 1024 || m > 1<<20 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false, errors.New("accounts: argon2 parameters out of range")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("accounts: argon2 salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 128 {
		return false, errors.New("accounts: argon2 key malformed")
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ---- log-in rate limits ----

// limiter is a set of token buckets keyed by account or IP, kept in memory
// and bounded in size.
type limiter struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	max   int
	m     map[string]*rate.Limiter
}

func newLimiter(perMinute float64, burst, max int) *limiter {
	return &limiter{every: rate.Limit(perMinute / 60), burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			l.pruneLocked(now)
		}
		b = rate.NewLimiter(l.every, l.burst)
		l.m[key] = b
	}
	return b.AllowN(now, 1)
}

func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
}

// pruneLocked drops full buckets (they hold no state). If an attack keeps
// the map full of partly drained buckets, it drops arbitrary ones: failing
// open for a few keys beats refusing every new one.
func (l *limiter) pruneLocked(now time.Time) {
	for k, b := range l.m {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.max*9/10 {
			break
		}
		delete(l.m, k)
	}
}

// ---- callers ----

// caller is who is calling, resolved from metadata.
type caller struct {
	store.Principal
	token string // the credential, for LogOut
}

func (c *caller) isAPIKey() bool { return c.APIKeyID != 0 }

// role returns the caller's role in org, or 0 if not a member.
func (c *caller) role(org int64) store.Role {
	for _, m := range c.Memberships {
		if m.OrganizationID == org {
			return m.Role
		}
	}
	return 0
}

// bearer returns the credential in metadata "authorization: Bearer x".
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// clientIP is the rightmost x-forwarded-for entry (the one the gateway
// added), else the peer address.
func clientIP(ctx context.Context) netip.Addr {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-forwarded-for"); len(v) > 0 {
		last := v[len(v)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
			return a.Unmap()
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// ipPrefix truncates an address for the audit log (IPv4 /24, IPv6 /48).
func ipPrefix(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// principal resolves a credential to a principal; every failure is the same
// Unauthenticated answer.
func (s *Service) principal(ctx context.Context, cred string) (store.Principal, error) {
	var (
		p   store.Principal
		err error
	)
	switch {
	case wellFormed(cred, sessionPrefix):
		p, err = s.store.PrincipalForSession(ctx, hashToken(cred), time.Now())
	case wellFormed(cred, apiKeyPrefix):
		p, err = s.store.PrincipalForAPIKey(ctx, hashToken(cred), time.Now())
	default:
		return p, status.Error(codes.Unauthenticated, "malformed credential: want a session token (sls_…) or an API key (slk_…)")
	}
	if errors.Is(err, store.ErrNotFound) {
		return p, status.Error(codes.Unauthenticated, "invalid, expired or revoked credential")
	}
	if err != nil {
		return p, s.internal(ctx, "authenticate", err)
	}
	return p, nil
}

// caller resolves the caller of an RPC from metadata.
func (s *Service) caller(ctx context.Context) (*caller, error) {
	tok := bearer(ctx)
	if tok == "" {
		return nil, status.Error(codes.Unauthenticated, "missing credential: send metadata authorization: Bearer <token>")
	}
	p, err := s.principal(ctx, tok)
	if err != nil {
		return nil, err
	}
	return &caller{Principal: p, token: tok}, nil
}

// roleNames for messages.
var roleNames = map[store.Role]string{store.RoleOwner: "owner", store.RoleAdmin: "admin", store.RoleMember: "member", store.RoleViewer: "viewer"}

// inOrg checks the caller belongs to org with at least min: NotFound when
// not a member (as for a missing organisation), PermissionDenied when the
// role is too weak.
func inOrg(c *caller, org int64, min store.Role) error {
	r := c.role(org)
	if r == 0 {
		return status.Errorf(codes.NotFound, "organization %d not found", org)
	}
	if !r.AtLeast(min) {
		return status.Errorf(codes.PermissionDenied, "this needs the %s role or higher in organization %d; you are %s", roleNames[min], org, roleNames[r])
	}
	return nil
}

// orgCaller resolves the caller and requires at least min in org.
func (s *Service) orgCaller(ctx context.Context, org int64, min store.Role) (*caller, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID("organization_id", org); err != nil {
		return nil, err
	}
	if err := inOrg(c, org, min); err != nil {
		return nil, err
	}
	return c, nil
}

// siteCaller resolves the caller and loads a site they may act on with at
// least min.
func (s *Service) siteCaller(ctx context.Context, id int64, min store.Role) (*caller, store.Site, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, store.Site{}, err
	}
	st, err := s.site(ctx, c, id, min)
	return c, st, err
}

// site loads a site the caller may act on with at least min.
func (s *Service) site(ctx context.Context, c *caller, id int64, min store.Role) (store.Site, error) {
	if err := checkID("site_id", id); err != nil {
		return store.Site{}, err
	}
	st, err := s.store.GetSite(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.role(st.OrganizationID) == 0) {
		return store.Site{}, status.Errorf(codes.NotFound, "site %d not found", id)
	}
	if err != nil {
		return store.Site{}, s.internal(ctx, "get site", err)
	}
	if err := inOrg(c, st.OrganizationID, min); err != nil {
		return store.Site{}, err
	}
	return st, nil
}

// userOnly refuses API-key callers for calls about a person.
func userOnly(c *caller, what string) error {
	if c.isAPIKey() {
		return status.Errorf(codes.PermissionDenied, "API keys cannot %s; log in as a user", what)
	}
	return nil
}
