// Package siteaccess lets services that hold site-scoped data (recordings,
// search) check the dashboard caller themselves rather than trusting the
// gateway: the caller's credential, forwarded as gRPC metadata, is shown to
// accounts, which answers NotFound for a site of another organisation.
package siteaccess

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
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

// Authorizer answers AuthorizeSite for recordings' and search's Deps.
type Authorizer struct {
	accounts accountsv1.AccountsServiceClient
	now      func() time.Time

	mu    sync.Mutex
	cache map[key]decision
}

type key struct {
	credential [sha256.Size]byte
	site       int64
}

type decision struct {
	role    accountsv1.Role
	fetched time.Time
}

// New returns an Authorizer asking accounts.
func New(accounts accountsv1.AccountsServiceClient) *Authorizer {
	return &Authorizer{accounts: accounts, now: time.Now, cache: map[key]decision{}}
}

// AuthorizeSite returns nil when the caller in ctx may read the site (and,
// with write, change its data); otherwise a gRPC status: Unauthenticated
// without a credential, NotFound for a site the caller cannot see,
// PermissionDenied for a viewer's write.
func (a *Authorizer) AuthorizeSite(ctx context.Context, siteID int64, write bool) error {
	auth := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(auth) != 1 || auth[0] == "" {
		return status.Error(codes.Unauthenticated, "no credential")
	}
	k := key{credential: sha256.Sum256([]byte(auth[0])), site: siteID}
	role, err := a.role(ctx, k, auth[0])
	if err != nil {
		return err
	}
	if write && role == accountsv1.Role_ROLE_VIEWER {
		return status.Error(codes.PermissionDenied, "viewers cannot change recordings")
	}
	return nil
}

func (a *Authorizer) role(ctx context.Context, k key, auth string) (accountsv1.Role, error) {
	now := a.now()
	a.mu.Lock()
	d, ok := a.cache[k]
	a.mu.Unlock()
	if ok && now.Sub(d.fetched) < ttl {
		return d.role, nil
	}
	role, err := a.ask(ctx, k, auth)
	if err != nil {
		if !unreachable(err) {
			// A refusal ends the decision: it must not come back as a
			// stale answer in a later outage.
			a.mu.Lock()
			delete(a.cache, k)
			a.mu.Unlock()
		} else if ok && now.Sub(d.fetched) < staleTTL {
			return d.role, nil
		}
		return 0, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxEntries {
		clear(a.cache)
	}
	a.cache[k] = decision{role: role, fetched: now}
	a.mu.Unlock()
	return role, nil
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

// ask asks accounts for the caller's role in the site's organisation.
func (a *Authorizer) ask(ctx context.Context, k key, auth string) (accountsv1.Role, error) {
	out := metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", auth))
	site, err := a.accounts.GetSite(out, &accountsv1.GetSiteRequest{SiteId: k.site})
	if err != nil {
		return 0, err
	}
	me, err := a.accounts.GetCurrentUser(out, &accountsv1.GetCurrentUserRequest{})
	if err != nil {
		return 0, err
	}
	role := accountsv1.Role_ROLE_UNSPECIFIED
	for _, m := range me.GetMemberships() {
		if m.GetOrganizationId() == site.GetSite().GetOrganizationId() {
			role = m.GetRole()
		}
	}
	if role == accountsv1.Role_ROLE_UNSPECIFIED {
		// Accounts showed the site but lists no membership: treat as foreign.
		return 0, status.Error(codes.NotFound, "site not found")
	}
	return role, nil
}
