package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// PrincipalForSession resolves a session in one indexed query.
func (s *Store) PrincipalForSession(ctx context.Context, hash []byte, now time.Time) (p store.Principal, err error) {
	ctx, end := s.op(ctx, "PrincipalForSession")
	defer end(&err)
	a, err := s.sessionAccess(ctx, hash, now, 0)
	return a.Principal, err
}

// PrincipalForAPIKey resolves an API key and records its use.
func (s *Store) PrincipalForAPIKey(ctx context.Context, hash []byte, now time.Time) (p store.Principal, err error) {
	ctx, end := s.op(ctx, "PrincipalForAPIKey")
	defer end(&err)
	a, err := s.apiKeyAccess(ctx, hash, now, 0)
	return a.Principal, err
}

// AuthorizeSite resolves a credential, its site's organisation and the
// maintenance switch in one query.
func (s *Store) AuthorizeSite(ctx context.Context, kind store.CredentialKind, hash []byte, site int64, now time.Time) (a store.SiteAccess, err error) {
	ctx, end := s.op(ctx, "AuthorizeSite")
	defer end(&err)
	switch kind {
	case store.CredentialSession:
		return s.sessionAccess(ctx, hash, now, site)
	case store.CredentialAPIKey:
		return s.apiKeyAccess(ctx, hash, now, site)
	}
	return a, fmt.Errorf("authorize site: credential kind %d is neither a session nor an API key", kind)
}

// accessCols and accessJoins add the site asked about (none for id 0) and
// the maintenance switch to a credential's row: both are looked up by
// primary key, so the principal queries carry them at no measurable cost.
const accessCols = `COALESCE(st.organization_id, 0), mt.enabled IS TRUE, COALESCE(mt.message, ''), mt.updated_at`

// accessJoins joins the site whose id is the statement argument param.
func accessJoins(param string) string {
	return ` LEFT JOIN sites st ON st.id = ` + param + ` LEFT JOIN maintenance mt ON mt.id = 1 `
}

func accessDest(a *store.SiteAccess) []any {
	return []any{&a.SiteOrganizationID, &a.Maintenance.Enabled, &a.Maintenance.Message, sqldb.Timestamp(&a.Maintenance.UpdateTime)}
}

// sessionAccess resolves a session token hash (one row per membership).
func (s *Store) sessionAccess(ctx context.Context, hash []byte, now time.Time, site int64) (a store.SiteAccess, err error) {
	rows, err := s.db.Query(ctx, `SELECT u.id, u.email, u.operator, s.expires_at,
			COALESCE(m.organization_id, 0), COALESCE(o.name, ''), COALESCE(m.role, 0), `+accessCols+`
		FROM auth_sessions s
		JOIN users u ON u.id = s.user_id
		LEFT JOIN memberships m ON m.user_id = u.id
		LEFT JOIN organizations o ON o.id = m.organization_id`+accessJoins("$3")+`
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
		ORDER BY m.organization_id`, hash, s.d.Time(now), site)
	if err != nil {
		return a, fmt.Errorf("principal for session: %w", err)
	}
	defer rows.Close()
	p := &a.Principal
	found := false
	for rows.Next() {
		var m store.Membership
		var role int32
		dest := append([]any{&p.UserID, &p.Email, &p.Operator, sqldb.Timestamp(&p.ExpireTime), &m.OrganizationID, &m.OrganizationName, &role}, accessDest(&a)...)
		if err := rows.Scan(dest...); err != nil {
			return a, fmt.Errorf("principal for session: %w", err)
		}
		found = true
		if m.OrganizationID != 0 {
			m.Role = store.Role(role)
			p.Memberships = append(p.Memberships, m)
		}
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("principal for session: %w", err)
	}
	if !found {
		return store.SiteAccess{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return a, nil
}

// apiKeyAccess resolves an API key hash and records the key's use.
func (s *Store) apiKeyAccess(ctx context.Context, hash []byte, now time.Time, site int64) (a store.SiteAccess, err error) {
	var m store.Membership
	var role int32
	p := &a.Principal
	dest := append([]any{&p.APIKeyID, &m.OrganizationID, &m.OrganizationName, &role, &p.UserID, &p.Email, sqldb.Timestamp(&p.LastUseTime)}, accessDest(&a)...)
	err = s.db.QueryRow(ctx, `SELECT k.id, k.organization_id, o.name, k.role, k.created_by, COALESCE(u.email, ''), k.last_used_at, `+accessCols+`
		FROM api_keys k
		JOIN organizations o ON o.id = k.organization_id
		LEFT JOIN users u ON u.id = k.created_by`+accessJoins("$2")+`
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, hash, site).Scan(dest...)
	if err != nil {
		return store.SiteAccess{}, s.notFound(err, "api key", "")
	}
	m.Role = store.Role(role)
	p.Memberships = []store.Membership{m}
	if p.LastUseTime.IsZero() || now.Sub(p.LastUseTime) > time.Minute {
		if _, err := s.db.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, p.APIKeyID, s.d.Time(now)); err != nil {
			return store.SiteAccess{}, fmt.Errorf("record api key use: %w", err)
		}
	}
	return a, nil
}
