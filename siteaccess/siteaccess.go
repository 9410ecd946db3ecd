// Package siteaccess lets services that hold site-scoped data (recordings,
// search, notify) check the dashboard caller themselves rather than
// trusting the gateway: the caller's credential, forwarded as gRPC
// metadata, is shown to accounts' AuthorizeSite (one call per cache miss),
// which answers NotFound for a site of another organisation.
package siteaccess

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// ttl bounds how long a decision is reused: a revoked key or removed member
// keeps access to recordings and search for at most this long.
const ttl = 5 * time.Second

// staleTTL bounds how long a decision is reused while accounts is
// unreachable (Unavailable, DeadlineExceeded), so a database outage of
// minutes does not stop a signed-in user from reading recordings. Nothing
// can be revoked while accounts' database is down, so this widens the
// revocation delay only for a change made in the ttl before the outage.
// It matches the gateway's stale credential cache.
const staleTTL = 15 * time.Minute

// maxEntries bounds the decision cache.
const maxEntries = 10000

// Dashboard credentials are told apart by prefix, as accounts issues
// them: a log-in's session token or an API key.
const (
	SessionPrefix = "sls_"
	APIKeyPrefix  = "slk_"
)

// errUnknownCredential refuses a token of neither kind without asking
// accounts.
var errUnknownCredential = status.Error(codes.Unauthenticated, "malformed credential: want a session token (sls_…) or an API key (slk_…)")

// AuthenticateRequest is accounts' Authenticate request for a bare token.
func AuthenticateRequest(token string) (*accountsv1.AuthenticateRequest, error) {
	switch {
	case strings.HasPrefix(token, SessionPrefix):
		return &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: token}}, nil
	case strings.HasPrefix(token, APIKeyPrefix):
		return &accountsv1.AuthenticateRequest{Credential: &accountsv1.AuthenticateRequest_ApiKey{ApiKey: token}}, nil
	}
	return nil, errUnknownCredential
}

// Authorizer answers AuthorizeSite for recordings', search's and notify's
// Deps.
type Authorizer struct {
	accounts accountsv1.AccountsInternalServiceClient
	now      func() time.Time

	mu    sync.Mutex
	cache map[key]decision
}

type key struct {
	credential [sha256.Size]byte
	site       int64
}

type decision struct {
	access  Access
	fetched time.Time
}

// Access is the caller's standing in a site, as accounts last answered.
type Access struct {
	// OrganizationID owns the site; Role is the caller's role in it (an
	// API key's own role).
	OrganizationID int64
	Role           accountsv1.Role
	// UserID is the user (for an API key, its creator); APIKeyID is set
	// when the credential is an API key.
	UserID, APIKeyID int64
}

// New returns an Authorizer asking accounts' internal service (the
// connection carries the service credential).
func New(accounts accountsv1.AccountsInternalServiceClient) *Authorizer {
	return &Authorizer{accounts: accounts, now: time.Now, cache: map[key]decision{}}
}

// AuthorizeSite returns nil when the caller in ctx may read the site (and,
// with write, change its data); otherwise a gRPC status: Unauthenticated
// without a credential, NotFound for a site the caller cannot see,
// PermissionDenied for a viewer's write.
func (a *Authorizer) AuthorizeSite(ctx context.Context, siteID int64, write bool) error {
	acc, err := a.Site(ctx, siteID)
	if err != nil {
		return err
	}
	if write && acc.Role == accountsv1.Role_ROLE_VIEWER {
		return status.Error(codes.PermissionDenied, "viewers cannot change recordings")
	}
	return nil
}

// Site returns the standing of the caller in ctx in the site, from a
// decision at most ttl old (staleTTL while accounts is unreachable), with
// the errors of AuthorizeSite.
func (a *Authorizer) Site(ctx context.Context, siteID int64) (Access, error) {
	auth := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(auth) != 1 || auth[0] == "" {
		return Access{}, status.Error(codes.Unauthenticated, "no credential")
	}
	req, err := request(auth[0], siteID)
	if err != nil {
		return Access{}, err
	}
	k := key{credential: sha256.Sum256([]byte(auth[0])), site: siteID}
	now := a.now()
	a.mu.Lock()
	d, ok := a.cache[k]
	a.mu.Unlock()
	if ok && now.Sub(d.fetched) < ttl {
		return d.access, nil
	}
	acc, err := a.ask(ctx, req)
	if err != nil {
		if !unreachable(err) {
			// A refusal ends the decision: it must not come back as a
			// stale answer in a later outage.
			a.mu.Lock()
			delete(a.cache, k)
			a.mu.Unlock()
		} else if ok && now.Sub(d.fetched) < staleTTL {
			return d.access, nil
		}
		return Access{}, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxEntries {
		clear(a.cache)
	}
	a.cache[k] = decision{access: acc, fetched: now}
	a.mu.Unlock()
	return acc, nil
}

// request turns "Bearer <token>" metadata into an AuthorizeSite request;
// anything else is refused without asking accounts.
func request(auth string, siteID int64) (*accountsv1.AuthorizeSiteRequest, error) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "malformed authorization metadata: want Bearer <token>")
	}
	a, err := AuthenticateRequest(tok)
	if err != nil {
		return nil, err
	}
	req := &accountsv1.AuthorizeSiteRequest{SiteId: siteID}
	if a.GetApiKey() != "" {
		req.Credential = &accountsv1.AuthorizeSiteRequest_ApiKey{ApiKey: tok}
	} else {
		req.Credential = &accountsv1.AuthorizeSiteRequest_SessionToken{SessionToken: tok}
	}
	return req, nil
}

// unreachable tells an accounts outage from a refusal: only an outage may
// be answered from a stale decision.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// ask asks accounts for the caller's standing in the site's organisation.
func (a *Authorizer) ask(ctx context.Context, req *accountsv1.AuthorizeSiteRequest) (Access, error) {
	resp, err := a.accounts.AuthorizeSite(ctx, req)
	if rpc.ServiceCredentialRefused(err) {
		// This process's secret differs from accounts': the deployment's
		// fault, not the caller's — never an Unauthenticated that would
		// sign the dashboard user out.
		return Access{}, status.Error(codes.Internal, "accounts refused this service's credential: every process must read the same server.service-secret-file")
	}
	if err != nil {
		return Access{}, err
	}
	if resp.GetRole() == accountsv1.Role_ROLE_UNSPECIFIED || resp.GetOrganizationId() == 0 {
		// Accounts names a role whenever it grants access: treat a blank
		// answer as a refusal rather than as access.
		return Access{}, status.Error(codes.NotFound, "site not found")
	}
	p := resp.GetPrincipal()
	return Access{OrganizationID: resp.GetOrganizationId(), Role: resp.GetRole(), UserID: p.GetUserId(), APIKeyID: p.GetApiKeyId()}, nil
}
