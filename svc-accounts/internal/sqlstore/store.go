package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// Telemetry instruments store calls (spans named accounts.store.<op> and a
// latency histogram); zero values disable it.
type Telemetry = sqldb.Telemetry

// Store implements store.Store over a DB.
type Store struct {
	db    sqldb.DB
	d     Dialect
	calls sqldb.Calls
}

// New returns a Store running on db.
func New(db sqldb.DB, d Dialect, tel Telemetry) *Store {
	return &Store{db: db, d: d, calls: sqldb.NewCalls("accounts.store.", d.Name, store.ErrNotFound, tel)}
}

var _ store.Store = (*Store)(nil)

// op starts a span and returns the function that ends it, recording the
// error and latency.
func (s *Store) op(ctx context.Context, name string) (context.Context, func(*error)) {
	return s.calls.Start(ctx, name)
}

// inTx runs fn in a transaction that serialises with other writers of the
// rows it locks (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED plus
// explicit row locks, see Dialect.ForUpdate).
func (s *Store) inTx(ctx context.Context, fn func(q sqldb.Querier) error) error {
	return s.db.InTx(ctx, func(_ context.Context, q sqldb.Querier, _ any) error { return fn(q) })
}

// notFound maps a no-rows error to store.ErrNotFound naming what.
func (s *Store) notFound(err error, what string, id any) error {
	return s.d.NotFound(err, store.ErrNotFound, what, id)
}

func limit(p store.Page) int {
	if p.Limit <= 0 || p.Limit > 1000 {
		return 1000
	}
	return p.Limit
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, end := s.op(ctx, "Ping")
	defer end(&err)
	return s.db.Ping(ctx)
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// ---- users and sessions ----

const userCols = `id, email, name, password_hash, operator, created_at, email_verified_at`

func scanUser(r sqldb.Row, u *store.User) error {
	return r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Operator, sqldb.Timestamp(&u.CreateTime), sqldb.Timestamp(&u.EmailVerifyTime))
}

// orgLimits are an organisation's effective limits over orgFrom (o: the
// organisation, i: the instance row): its own columns when an operator set
// them (limits_custom) or while the instance has no row yet (as before
// migration 6), else the instance's.
const orgLimits = `CASE WHEN o.limits_custom OR i.id IS NULL THEN o.plan_name ELSE i.plan_name END,
	CASE WHEN o.limits_custom OR i.id IS NULL THEN o.sessions_per_day ELSE i.sessions_per_day END,
	CASE WHEN o.limits_custom OR i.id IS NULL THEN o.max_retention_days ELSE i.max_retention_days END,
	CASE WHEN o.limits_custom OR i.id IS NULL THEN o.max_seats ELSE i.max_seats END,
	CASE WHEN o.limits_custom OR i.id IS NULL THEN o.max_sites ELSE i.max_sites END`

// orgFrom is the FROM clause orgCols and orgLimits read.
const orgFrom = `organizations o LEFT JOIN instance_limits i ON i.id = 1`

const orgCols = `o.id, o.name, ` + orgLimits + `, o.created_at, o.limits_custom`

func scanOrg(r sqldb.Row, o *store.Organization) error {
	return r.Scan(&o.ID, &o.Name, &o.Plan.Name, &o.Plan.SessionsPerDay, &o.Plan.MaxRetentionDays,
		&o.Plan.MaxSeats, &o.Plan.MaxSites, sqldb.Timestamp(&o.CreateTime), &o.CustomLimits)
}

func (s *Store) getOrg(ctx context.Context, q sqldb.Querier, id int64) (o store.Organization, err error) {
	if err := scanOrg(q.QueryRow(ctx, `SELECT `+orgCols+` FROM `+orgFrom+` WHERE o.id = $1`, id), &o); err != nil {
		return o, s.notFound(err, "organization", id)
	}
	return o, nil
}

func (s *Store) insertOrg(ctx context.Context, q sqldb.Querier, name string, owner int64, plan store.Plan, now time.Time) (store.Organization, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO organizations (name, plan_name, sessions_per_day, max_retention_days, max_seats, max_sites, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		name, plan.Name, plan.SessionsPerDay, plan.MaxRetentionDays, plan.MaxSeats, plan.MaxSites, s.d.Time(now)).Scan(&id)
	if err != nil {
		return store.Organization{}, fmt.Errorf("insert organization: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		id, owner, int32(store.RoleOwner), s.d.Time(now)); err != nil {
		return store.Organization{}, fmt.Errorf("insert owner membership: %w", err)
	}
	return s.getOrg(ctx, q, id)
}

// signUpLock is the PostgreSQL advisory lock key that serialises sign-ups
// (SignUp); goose keeps its own key for migrations.
const signUpLock int64 = 0x5349_474e_5550 // "SIGNUP"

// SignUp creates a user, their organisation and owner membership; the
// first user of the instance is made its operator.
func (s *Store) SignUp(ctx context.Context, u store.User, orgName string, plan store.Plan) (user store.User, org store.Organization, err error) {
	ctx, end := s.op(ctx, "SignUp")
	defer end(&err)
	now := time.Now()
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		if s.d.Name == "postgres" {
			// Two first sign-ups racing must not both find no user and both
			// become operators: sign-ups wait for each other here, so the
			// INSERT's own snapshot, taken after the lock, sees the other's
			// row. SQLite's write transactions (BEGIN IMMEDIATE) are serial
			// already.
			if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signUpLock); err != nil {
				return fmt.Errorf("lock sign-ups: %w", err)
			}
		}
		// The instance's first user is its operator: a fresh instance is
		// set up by signing up, not from the command line.
		err := scanUser(q.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, operator, created_at, email_verified_at)
			VALUES ($1, $2, $3, $4 OR NOT EXISTS (SELECT 1 FROM users), $5, $6) RETURNING `+userCols,
			u.Email, u.Name, u.PasswordHash, u.Operator, s.d.Time(now), s.d.Time(u.EmailVerifyTime)), &user)
		if err != nil {
			if s.d.IsUnique(err) {
				return fmt.Errorf("user %q: %w", u.Email, store.ErrConflict)
			}
			return fmt.Errorf("insert user: %w", err)
		}
		org, err = s.insertOrg(ctx, q, orgName, user.ID, plan, now)
		return err
	})
	return user, org, err
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, id int64) (u store.User, err error) {
	ctx, end := s.op(ctx, "GetUser")
	defer end(&err)
	if err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id), &u); err != nil {
		return u, s.notFound(err, "user", id)
	}
	return u, nil
}

// GetUserByEmail returns a user by e-mail.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (u store.User, err error) {
	ctx, end := s.op(ctx, "GetUserByEmail")
	defer end(&err)
	if err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, email), &u); err != nil {
		return u, s.notFound(err, "user", fmt.Sprintf("%q", email))
	}
	return u, nil
}

// CreateAuthSession stores a session.
func (s *Store) CreateAuthSession(ctx context.Context, a store.AuthSession) (out store.AuthSession, err error) {
	ctx, end := s.op(ctx, "CreateAuthSession")
	defer end(&err)
	now := time.Now()
	out = a
	out.CreateTime = now.UTC().Truncate(time.Microsecond)
	err = s.db.QueryRow(ctx, `INSERT INTO auth_sessions (user_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		a.UserID, a.TokenHash, s.d.Time(a.ExpireTime), s.d.Time(now)).Scan(&out.ID)
	if err != nil {
		return out, fmt.Errorf("insert auth session: %w", err)
	}
	return out, nil
}

// RevokeAuthSession revokes a session by token hash.
func (s *Store) RevokeAuthSession(ctx context.Context, hash []byte, now time.Time) (err error) {
	ctx, end := s.op(ctx, "RevokeAuthSession")
	defer end(&err)
	if _, err := s.db.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`,
		hash, s.d.Time(now)); err != nil {
		return fmt.Errorf("revoke auth session: %w", err)
	}
	return nil
}

// DeleteExpired deletes sessions and invitations expired before cutoff.
func (s *Store) DeleteExpired(ctx context.Context, cutoff time.Time) (n int64, err error) {
	ctx, end := s.op(ctx, "DeleteExpired")
	defer end(&err)
	for _, q := range []string{
		`DELETE FROM auth_sessions WHERE expires_at < $1`,
		`DELETE FROM invitations WHERE expires_at < $1`,
		`DELETE FROM user_tokens WHERE expires_at < $1`,
	} {
		m, err := s.db.Exec(ctx, q, s.d.Time(cutoff))
		if err != nil {
			return n, fmt.Errorf("delete expired: %w", err)
		}
		n += m
	}
	return n, nil
}

// ---- organisations and members ----

// CreateOrganization creates an organisation owned by owner.
func (s *Store) CreateOrganization(ctx context.Context, name string, owner int64, plan store.Plan) (o store.Organization, err error) {
	ctx, end := s.op(ctx, "CreateOrganization")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var err error
		o, err = s.insertOrg(ctx, q, name, owner, plan, time.Now())
		return err
	})
	return o, err
}

// GetOrganization returns an organisation.
func (s *Store) GetOrganization(ctx context.Context, id int64) (o store.Organization, err error) {
	ctx, end := s.op(ctx, "GetOrganization")
	defer end(&err)
	return s.getOrg(ctx, s.db, id)
}

// ListOrganizations lists user's organisations.
func (s *Store) ListOrganizations(ctx context.Context, user int64, p store.Page) (out []store.Organization, err error) {
	ctx, end := s.op(ctx, "ListOrganizations")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+orgCols+`
		FROM `+orgFrom+` JOIN memberships m ON m.organization_id = o.id
		WHERE m.user_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3`, user, p.After, limit(p))
	if out, err = sqldb.Collect(rows, err, scanOrg); err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return out, nil
}

// RenameOrganization renames an organisation.
func (s *Store) RenameOrganization(ctx context.Context, id int64, name string) (o store.Organization, err error) {
	ctx, end := s.op(ctx, "RenameOrganization")
	defer end(&err)
	n, err := s.db.Exec(ctx, `UPDATE organizations SET name = $2 WHERE id = $1`, id, name)
	if err != nil {
		return o, fmt.Errorf("rename organization: %w", err)
	}
	if n == 0 {
		return o, fmt.Errorf("organization %d: %w", id, store.ErrNotFound)
	}
	return s.getOrg(ctx, s.db, id)
}

// ListMemberships lists user's memberships.
func (s *Store) ListMemberships(ctx context.Context, user int64) (out []store.Membership, err error) {
	ctx, end := s.op(ctx, "ListMemberships")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT m.organization_id, o.name, m.role FROM memberships m
		JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1 ORDER BY m.organization_id`, user)
	out, err = sqldb.Collect(rows, err, func(r sqldb.Row, m *store.Membership) error {
		var role int32
		err := r.Scan(&m.OrganizationID, &m.OrganizationName, &role)
		m.Role = store.Role(role)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	return out, nil
}

const memberSelect = `SELECT u.id, u.email, u.name, u.operator, u.created_at, m.role, m.created_at
	FROM memberships m JOIN users u ON u.id = m.user_id `

func scanMember(r sqldb.Row, m *store.Member) error {
	var role int32
	err := r.Scan(&m.User.ID, &m.User.Email, &m.User.Name, &m.User.Operator, sqldb.Timestamp(&m.User.CreateTime), &role, sqldb.Timestamp(&m.JoinTime))
	m.Role = store.Role(role)
	return err
}

// ListMembers lists an organisation's members.
func (s *Store) ListMembers(ctx context.Context, org int64, p store.Page) (out []store.Member, err error) {
	ctx, end := s.op(ctx, "ListMembers")
	defer end(&err)
	rows, err := s.db.Query(ctx, memberSelect+`WHERE m.organization_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3`,
		org, p.After, limit(p))
	if out, err = sqldb.Collect(rows, err, scanMember); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return out, nil
}

// GetMember returns one member.
func (s *Store) GetMember(ctx context.Context, org, user int64) (m store.Member, err error) {
	ctx, end := s.op(ctx, "GetMember")
	defer end(&err)
	return s.getMember(ctx, s.db, org, user)
}

func (s *Store) getMember(ctx context.Context, q sqldb.Querier, org, user int64) (m store.Member, err error) {
	if err := scanMember(q.QueryRow(ctx, memberSelect+`WHERE m.organization_id = $1 AND m.user_id = $2`, org, user), &m); err != nil {
		return m, s.notFound(err, "member", user)
	}
	return m, nil
}

// lockOrg locks the organisation row for the rest of the transaction so
// checks of its members, sites and owners are not raced (PostgreSQL), and
// reports ErrNotFound for a missing organisation.
func (s *Store) lockOrg(ctx context.Context, q sqldb.Querier, org int64) error {
	var id int64
	if err := q.QueryRow(ctx, `SELECT id FROM organizations WHERE id = $1`+s.d.ForUpdate, org).Scan(&id); err != nil {
		return s.notFound(err, "organization", org)
	}
	return nil
}

func (s *Store) owners(ctx context.Context, q sqldb.Querier, org int64) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = $2`, org, int32(store.RoleOwner)).Scan(&n)
	return n, err
}

// UpdateMemberRole changes a member's role, keeping at least one owner.
func (s *Store) UpdateMemberRole(ctx context.Context, org, user int64, role store.Role) (m store.Member, err error) {
	ctx, end := s.op(ctx, "UpdateMemberRole")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		if err := s.lockOrg(ctx, q, org); err != nil {
			return err
		}
		cur, err := s.getMember(ctx, q, org, user)
		if err != nil {
			return err
		}
		if cur.Role == store.RoleOwner && role != store.RoleOwner {
			n, err := s.owners(ctx, q, org)
			if err != nil {
				return fmt.Errorf("count owners: %w", err)
			}
			if n <= 1 {
				return fmt.Errorf("organization %d would have no owner: %w", org, store.ErrPrecondition)
			}
		}
		if _, err := q.Exec(ctx, `UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2`, org, user, int32(role)); err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		m, err = s.getMember(ctx, q, org, user)
		return err
	})
	return m, err
}

// RemoveMember removes a member, keeping at least one owner.
func (s *Store) RemoveMember(ctx context.Context, org, user int64) (err error) {
	ctx, end := s.op(ctx, "RemoveMember")
	defer end(&err)
	return s.inTx(ctx, func(q sqldb.Querier) error {
		if err := s.lockOrg(ctx, q, org); err != nil {
			return err
		}
		cur, err := s.getMember(ctx, q, org, user)
		if err != nil {
			return err
		}
		if cur.Role == store.RoleOwner {
			n, err := s.owners(ctx, q, org)
			if err != nil {
				return fmt.Errorf("count owners: %w", err)
			}
			if n <= 1 {
				return fmt.Errorf("organization %d would have no owner: %w", org, store.ErrPrecondition)
			}
		}
		_, err = q.Exec(ctx, `DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, org, user)
		return err
	})
}

// ---- invitations ----

const invCols = `id, organization_id, email, role, token_hash, created_by, expires_at, created_at`

func scanInv(r sqldb.Row, i *store.Invitation) error {
	var role int32
	err := r.Scan(&i.ID, &i.OrganizationID, &i.Email, &role, &i.TokenHash, &i.CreatedBy, sqldb.Timestamp(&i.ExpireTime), sqldb.Timestamp(&i.CreateTime))
	i.Role = store.Role(role)
	return err
}

// CreateInvitation stores an invitation.
func (s *Store) CreateInvitation(ctx context.Context, inv store.Invitation) (out store.Invitation, err error) {
	ctx, end := s.op(ctx, "CreateInvitation")
	defer end(&err)
	err = scanInv(s.db.QueryRow(ctx, `INSERT INTO invitations (organization_id, email, role, token_hash, created_by, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+invCols,
		inv.OrganizationID, inv.Email, int32(inv.Role), inv.TokenHash, inv.CreatedBy, s.d.Time(inv.ExpireTime), s.d.Time(time.Now())), &out)
	if err != nil {
		return out, fmt.Errorf("insert invitation: %w", err)
	}
	return out, nil
}

// ListInvitations lists pending invitations.
func (s *Store) ListInvitations(ctx context.Context, org int64, now time.Time, p store.Page) (out []store.Invitation, err error) {
	ctx, end := s.op(ctx, "ListInvitations")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+invCols+` FROM invitations
		WHERE organization_id = $1 AND id > $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3
		ORDER BY id LIMIT $4`, org, p.After, s.d.Time(now), limit(p))
	if out, err = sqldb.Collect(rows, err, scanInv); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

// RevokeInvitation revokes a pending invitation.
func (s *Store) RevokeInvitation(ctx context.Context, org, id int64, now time.Time) (err error) {
	ctx, end := s.op(ctx, "RevokeInvitation")
	defer end(&err)
	n, err := s.db.Exec(ctx, `UPDATE invitations SET revoked_at = $3
		WHERE organization_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL`, org, id, s.d.Time(now))
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("invitation %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// AcceptInvitation consumes an invitation and adds the member.
func (s *Store) AcceptInvitation(ctx context.Context, hash []byte, user int64, email string, now time.Time) (m store.Membership, err error) {
	ctx, end := s.op(ctx, "AcceptInvitation")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var inv store.Invitation
		err := scanInv(q.QueryRow(ctx, `SELECT `+invCols+` FROM invitations
			WHERE token_hash = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3`+s.d.ForUpdate,
			hash, email, s.d.Time(now)), &inv)
		if err != nil {
			return s.notFound(err, "invitation", "")
		}
		if err := s.lockOrg(ctx, q, inv.OrganizationID); err != nil {
			return err
		}
		if _, err := s.getMember(ctx, q, inv.OrganizationID, user); err == nil {
			return fmt.Errorf("user %d is already a member of organization %d: %w", user, inv.OrganizationID, store.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var seats, max int64
		o, err := s.getOrg(ctx, q, inv.OrganizationID)
		if err != nil {
			return err
		}
		if err := q.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE organization_id = $1`, inv.OrganizationID).Scan(&seats); err != nil {
			return fmt.Errorf("count seats: %w", err)
		}
		// 0 seats means unlimited.
		if max = int64(o.Plan.MaxSeats); max > 0 && seats >= max {
			return fmt.Errorf("organization %d has all %d seats taken: %w", inv.OrganizationID, max, store.ErrLimit)
		}
		if _, err := q.Exec(ctx, `UPDATE invitations SET accepted_at = $2 WHERE id = $1`, inv.ID, s.d.Time(now)); err != nil {
			return fmt.Errorf("consume invitation: %w", err)
		}
		if _, err := q.Exec(ctx, `INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			inv.OrganizationID, user, int32(inv.Role), s.d.Time(now)); err != nil {
			return fmt.Errorf("insert membership: %w", err)
		}
		if err := q.QueryRow(ctx, `SELECT name FROM organizations WHERE id = $1`, inv.OrganizationID).Scan(&m.OrganizationName); err != nil {
			return fmt.Errorf("organization name: %w", err)
		}
		m.OrganizationID, m.Role = inv.OrganizationID, inv.Role
		return nil
	})
	return m, err
}

// ---- sites ----

const siteCols = `id, organization_id, name, site_key, settings, created_at, updated_at`

func scanSite(r sqldb.Row, st *store.Site) error {
	var settings []byte
	if err := r.Scan(&st.ID, &st.OrganizationID, &st.Name, &st.SiteKey, &settings, sqldb.Timestamp(&st.CreateTime), sqldb.Timestamp(&st.UpdateTime)); err != nil {
		return err
	}
	if err := json.Unmarshal(settings, &st.Settings); err != nil {
		return fmt.Errorf("decode settings of site %d: %w", st.ID, err)
	}
	return nil
}

// insertDomain adds domain to site, of organisation org. A domain is
// unique within an organisation (other organisations may list it: ingest
// finds a site by key first), so a refusal names the caller's own site.
func (s *Store) insertDomain(ctx context.Context, q sqldb.Querier, org, site int64, domain string, now time.Time) error {
	var name string
	err := q.QueryRow(ctx, `SELECT s.name FROM site_domains d JOIN sites s ON s.id = d.site_id
		WHERE d.organization_id = $1 AND d.domain = $2`, org, domain).Scan(&name)
	switch {
	case err == nil:
		return &store.DomainInUseError{Domain: domain, Site: name}
	case !s.d.IsNoRows(err):
		return fmt.Errorf("find domain %q: %w", domain, err)
	}
	_, err = q.Exec(ctx, `INSERT INTO site_domains (domain, site_id, organization_id, created_at) VALUES ($1, $2, $3, $4)`,
		domain, site, org, s.d.Time(now))
	if err != nil {
		if s.d.IsUnique(err) {
			// Another site of the organisation took it since the check.
			return &store.DomainInUseError{Domain: domain}
		}
		return fmt.Errorf("insert domain %q: %w", domain, err)
	}
	return nil
}

func (s *Store) getSite(ctx context.Context, q sqldb.Querier, id int64, lock bool) (st store.Site, err error) {
	if lock {
		var got int64
		if err := q.QueryRow(ctx, `SELECT id FROM sites WHERE id = $1`+s.d.ForUpdate, id).Scan(&got); err != nil {
			return st, s.notFound(err, "site", id)
		}
	}
	var domains []byte
	var settings []byte
	err = q.QueryRow(ctx, `SELECT `+siteCols+`, `+s.domainsJSON("sites.id")+` FROM sites WHERE id = $1`, id).
		Scan(&st.ID, &st.OrganizationID, &st.Name, &st.SiteKey, &settings, sqldb.Timestamp(&st.CreateTime), sqldb.Timestamp(&st.UpdateTime), &domains)
	if err != nil {
		return st, s.notFound(err, "site", id)
	}
	if err := decodeSite(&st, settings, domains); err != nil {
		return st, err
	}
	return st, nil
}

func decodeSite(st *store.Site, settings, domains []byte) error {
	if err := json.Unmarshal(settings, &st.Settings); err != nil {
		return fmt.Errorf("decode settings of site %d: %w", st.ID, err)
	}
	st.Domains = nil
	if err := json.Unmarshal(domains, &st.Domains); err != nil {
		return fmt.Errorf("decode domains of site %d: %w", st.ID, err)
	}
	if len(st.Domains) == 0 {
		st.Domains = nil
	}
	sort.Strings(st.Domains)
	return nil
}

// CreateSite creates a site with its domains.
func (s *Store) CreateSite(ctx context.Context, in store.Site, maxSites int32) (out store.Site, err error) {
	ctx, end := s.op(ctx, "CreateSite")
	defer end(&err)
	settings, err := json.Marshal(in.Settings)
	if err != nil {
		return out, fmt.Errorf("encode settings: %w", err)
	}
	now := time.Now()
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		if err := s.lockOrg(ctx, q, in.OrganizationID); err != nil {
			return err
		}
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM sites WHERE organization_id = $1`, in.OrganizationID).Scan(&n); err != nil {
			return fmt.Errorf("count sites: %w", err)
		}
		if maxSites > 0 && n >= int64(maxSites) {
			return fmt.Errorf("organization %d has its limit of %d sites: %w", in.OrganizationID, maxSites, store.ErrLimit)
		}
		var id int64
		err := q.QueryRow(ctx, `INSERT INTO sites (organization_id, name, site_key, settings, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`,
			in.OrganizationID, in.Name, in.SiteKey, string(settings), s.d.Time(now)).Scan(&id)
		if err != nil {
			if s.d.IsUnique(err) {
				return fmt.Errorf("site key: %w", store.ErrConflict)
			}
			return fmt.Errorf("insert site: %w", err)
		}
		for _, d := range in.Domains {
			if err := s.insertDomain(ctx, q, in.OrganizationID, id, d, now); err != nil {
				return err
			}
		}
		out, err = s.getSite(ctx, q, id, false)
		return err
	})
	return out, err
}

// GetSite returns a site.
func (s *Store) GetSite(ctx context.Context, id int64) (st store.Site, err error) {
	ctx, end := s.op(ctx, "GetSite")
	defer end(&err)
	return s.getSite(ctx, s.db, id, false)
}

// GetSiteConfig returns a site, its plan and effective flags by site key.
func (s *Store) GetSiteConfig(ctx context.Context, key string, now time.Time) (c store.SiteConfig, err error) {
	ctx, end := s.op(ctx, "GetSiteConfig")
	defer end(&err)
	var settings, domains, flags []byte
	st := &c.Site
	err = s.db.QueryRow(ctx, `SELECT s.id, s.organization_id, s.name, s.site_key, s.settings, s.created_at, s.updated_at,
			`+orgLimits+`, `+s.domainsJSON("s.id")+`,
			`+s.flagsJSON("s.organization_id", "s.id")+`
		FROM sites s JOIN organizations o ON o.id = s.organization_id LEFT JOIN instance_limits i ON i.id = 1
		WHERE s.site_key = $1`, key).
		Scan(&st.ID, &st.OrganizationID, &st.Name, &st.SiteKey, &settings, sqldb.Timestamp(&st.CreateTime), sqldb.Timestamp(&st.UpdateTime),
			&c.Plan.Name, &c.Plan.SessionsPerDay, &c.Plan.MaxRetentionDays, &c.Plan.MaxSeats, &c.Plan.MaxSites, &domains, &flags)
	if err != nil {
		return c, s.notFound(err, "site key", fmt.Sprintf("%q", key))
	}
	if err := decodeSite(st, settings, domains); err != nil {
		return c, err
	}
	if err := json.Unmarshal(flags, &c.Flags); err != nil {
		return c, fmt.Errorf("decode flags of site %d: %w", st.ID, err)
	}
	if len(c.Flags) == 0 {
		c.Flags = nil
	}
	sort.Strings(c.Flags)
	// A second round trip only for sites with surveys would need a join
	// that repeats the site row per survey; one indexed query is simpler.
	c.Surveys, err = s.querySurveys(ctx, s.db, `WHERE site_id = $1 AND status = $2 AND (end_at IS NULL OR end_at > $3)`,
		st.ID, store.SurveyActive, s.d.Time(now))
	if err != nil {
		return c, fmt.Errorf("surveys of site %d: %w", st.ID, err)
	}
	return c, nil
}

// domainsJSON is a scalar subquery: the site's domains as a JSON array.
func (s *Store) domainsJSON(site string) string {
	return `(SELECT ` + fmt.Sprintf(s.d.JSONAgg, "d.domain") + ` FROM site_domains d WHERE d.site_id = ` + site + `)`
}

// flagsJSON is a scalar subquery: the names of the flags enabled for a site
// once global, organisation and site values are merged (the narrowest
// scope that sets a flag wins), as a JSON array.
func (s *Store) flagsJSON(org, site string) string {
	match := func(a string) string {
		return `((` + a + `.scope = 1 AND ` + a + `.scope_id = 0) OR (` + a + `.scope = 2 AND ` + a + `.scope_id = ` + org +
			`) OR (` + a + `.scope = 3 AND ` + a + `.scope_id = ` + site + `))`
	}
	return `(SELECT ` + fmt.Sprintf(s.d.JSONAgg, "f.name") + ` FROM feature_flags f WHERE ` + match("f") + ` AND f.enabled
		AND NOT EXISTS (SELECT 1 FROM feature_flags g WHERE g.name = f.name AND ` + match("g") + ` AND g.scope > f.scope))`
}

// ListSites lists an organisation's sites.
func (s *Store) ListSites(ctx context.Context, org int64, p store.Page) (out []store.Site, err error) {
	ctx, end := s.op(ctx, "ListSites")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+siteCols+` FROM sites WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		org, p.After, limit(p))
	if out, err = sqldb.Collect(rows, err, scanSite); err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// One query for all the page's domains.
	idx := make(map[int64]int, len(out))
	for i := range out {
		idx[out[i].ID] = i
	}
	drows, err := s.db.Query(ctx, `SELECT d.site_id, d.domain FROM site_domains d JOIN sites s ON s.id = d.site_id
		WHERE s.organization_id = $1 AND s.id >= $2 AND s.id <= $3 ORDER BY d.domain`, org, out[0].ID, out[len(out)-1].ID)
	if err != nil {
		return nil, fmt.Errorf("list site domains: %w", err)
	}
	defer drows.Close()
	for drows.Next() {
		var id int64
		var d string
		if err := drows.Scan(&id, &d); err != nil {
			return nil, fmt.Errorf("list site domains: %w", err)
		}
		if i, ok := idx[id]; ok {
			out[i].Domains = append(out[i].Domains, d)
		}
	}
	return out, drows.Err()
}

// RenameSite renames a site.
func (s *Store) RenameSite(ctx context.Context, id int64, name string) (st store.Site, err error) {
	ctx, end := s.op(ctx, "RenameSite")
	defer end(&err)
	n, err := s.db.Exec(ctx, `UPDATE sites SET name = $2, updated_at = $3 WHERE id = $1`, id, name, s.d.Time(time.Now()))
	if err != nil {
		return st, fmt.Errorf("rename site: %w", err)
	}
	if n == 0 {
		return st, fmt.Errorf("site %d: %w", id, store.ErrNotFound)
	}
	return s.getSite(ctx, s.db, id, false)
}

// DeleteSite deletes a site and what hangs off it.
func (s *Store) DeleteSite(ctx context.Context, id int64) (err error) {
	ctx, end := s.op(ctx, "DeleteSite")
	defer end(&err)
	return s.inTx(ctx, func(q sqldb.Querier) error {
		for _, stmt := range []string{
			`DELETE FROM site_domains WHERE site_id = $1`,
			`DELETE FROM session_quota WHERE site_id = $1`,
			`DELETE FROM surveys WHERE site_id = $1`,
			`DELETE FROM funnels WHERE site_id = $1`,
			`DELETE FROM feature_flags WHERE scope = 3 AND scope_id = $1`,
		} {
			if _, err := q.Exec(ctx, stmt, id); err != nil {
				return fmt.Errorf("delete site %d: %w", id, err)
			}
		}
		n, err := q.Exec(ctx, `DELETE FROM sites WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete site %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("site %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) touchSite(ctx context.Context, q sqldb.Querier, id int64, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE sites SET updated_at = $2 WHERE id = $1`, id, s.d.Time(now))
	return err
}

// AddSiteDomain adds a domain to a site.
func (s *Store) AddSiteDomain(ctx context.Context, site int64, domain string, maxDomains int) (st store.Site, err error) {
	ctx, end := s.op(ctx, "AddSiteDomain")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		cur, err := s.getSite(ctx, q, site, true)
		if err != nil {
			return err
		}
		if len(cur.Domains) >= maxDomains {
			return fmt.Errorf("site %d has %d domains, the most allowed: %w", site, maxDomains, store.ErrLimit)
		}
		now := time.Now()
		if err := s.insertDomain(ctx, q, cur.OrganizationID, site, domain, now); err != nil {
			return err
		}
		if err := s.touchSite(ctx, q, site, now); err != nil {
			return err
		}
		st, err = s.getSite(ctx, q, site, false)
		return err
	})
	return st, err
}

// RemoveSiteDomain removes a domain from a site.
func (s *Store) RemoveSiteDomain(ctx context.Context, site int64, domain string) (st store.Site, err error) {
	ctx, end := s.op(ctx, "RemoveSiteDomain")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		n, err := q.Exec(ctx, `DELETE FROM site_domains WHERE site_id = $1 AND domain = $2`, site, domain)
		if err != nil {
			return fmt.Errorf("remove domain: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %q of site %d: %w", domain, site, store.ErrNotFound)
		}
		if err := s.touchSite(ctx, q, site, time.Now()); err != nil {
			return err
		}
		st, err = s.getSite(ctx, q, site, false)
		return err
	})
	return st, err
}

// UpdateSiteSettings replaces a site's settings.
func (s *Store) UpdateSiteSettings(ctx context.Context, site int64, set store.SiteSettings) (st store.Site, err error) {
	ctx, end := s.op(ctx, "UpdateSiteSettings")
	defer end(&err)
	b, err := json.Marshal(set)
	if err != nil {
		return st, fmt.Errorf("encode settings: %w", err)
	}
	n, err := s.db.Exec(ctx, `UPDATE sites SET settings = $2, updated_at = $3 WHERE id = $1`, site, string(b), s.d.Time(time.Now()))
	if err != nil {
		return st, fmt.Errorf("update settings: %w", err)
	}
	if n == 0 {
		return st, fmt.Errorf("site %d: %w", site, store.ErrNotFound)
	}
	return s.getSite(ctx, s.db, site, false)
}

// ---- surveys ----

const surveyCols = `id, site_id, status, end_at, definition, created_at, updated_at`

func scanSurvey(r sqldb.Row, sv *store.Survey) error {
	var def string
	if err := r.Scan(&sv.ID, &sv.SiteID, &sv.Status, sqldb.Timestamp(&sv.EndTime), &def, sqldb.Timestamp(&sv.CreateTime), sqldb.Timestamp(&sv.UpdateTime)); err != nil {
		return err
	}
	sv.Definition = []byte(def)
	return nil
}

// querySurveys lists surveys matching where, newest first.
func (s *Store) querySurveys(ctx context.Context, q sqldb.Querier, where string, args ...any) ([]store.Survey, error) {
	rows, err := q.Query(ctx, `SELECT `+surveyCols+` FROM surveys `+where+` ORDER BY id DESC`, args...)
	return sqldb.Collect(rows, err, scanSurvey)
}

// CreateSurvey stores a survey, keeping the per-site limit under the site's
// row lock.
func (s *Store) CreateSurvey(ctx context.Context, sv store.Survey, maxPerSite int) (out store.Survey, err error) {
	ctx, end := s.op(ctx, "CreateSurvey")
	defer end(&err)
	now := time.Now()
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var got int64
		if err := q.QueryRow(ctx, `SELECT id FROM sites WHERE id = $1`+s.d.ForUpdate, sv.SiteID).Scan(&got); err != nil {
			return s.notFound(err, "site", sv.SiteID)
		}
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM surveys WHERE site_id = $1`, sv.SiteID).Scan(&n); err != nil {
			return fmt.Errorf("count surveys: %w", err)
		}
		if n >= int64(maxPerSite) {
			return fmt.Errorf("site %d has %d surveys, the most allowed: %w", sv.SiteID, maxPerSite, store.ErrLimit)
		}
		err := q.QueryRow(ctx, `INSERT INTO surveys (site_id, status, end_at, definition, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+surveyCols,
			sv.SiteID, sv.Status, s.d.Time(sv.EndTime), string(sv.Definition), s.d.Time(now)).Scan(
			&out.ID, &out.SiteID, &out.Status, sqldb.Timestamp(&out.EndTime), new(string), sqldb.Timestamp(&out.CreateTime), sqldb.Timestamp(&out.UpdateTime))
		if err != nil {
			return fmt.Errorf("insert survey: %w", err)
		}
		out.Definition = sv.Definition
		return nil
	})
	return out, err
}

// GetSurvey returns a survey of a site.
func (s *Store) GetSurvey(ctx context.Context, site, id int64) (sv store.Survey, err error) {
	ctx, end := s.op(ctx, "GetSurvey")
	defer end(&err)
	err = scanSurvey(s.db.QueryRow(ctx, `SELECT `+surveyCols+` FROM surveys WHERE id = $1 AND site_id = $2`, id, site), &sv)
	if err != nil {
		return sv, s.notFound(err, "survey", id)
	}
	return sv, nil
}

// ListSurveys lists a site's surveys, newest first.
func (s *Store) ListSurveys(ctx context.Context, site int64) (out []store.Survey, err error) {
	ctx, end := s.op(ctx, "ListSurveys")
	defer end(&err)
	out, err = s.querySurveys(ctx, s.db, `WHERE site_id = $1`, site)
	if err != nil {
		return nil, fmt.Errorf("list surveys of site %d: %w", site, err)
	}
	return out, nil
}

// UpdateSurvey replaces a survey's status, end time and definition.
func (s *Store) UpdateSurvey(ctx context.Context, sv store.Survey) (out store.Survey, err error) {
	ctx, end := s.op(ctx, "UpdateSurvey")
	defer end(&err)
	now := time.Now()
	if !sv.UpdateTime.IsZero() && !now.After(sv.UpdateTime) {
		now = sv.UpdateTime.Add(time.Microsecond) // a clock step back must not repeat a version
	}
	q := `UPDATE surveys SET status = $3, end_at = $4, definition = $5, updated_at = $6 WHERE id = $1 AND site_id = $2`
	args := []any{sv.ID, sv.SiteID, sv.Status, s.d.Time(sv.EndTime), string(sv.Definition), s.d.Time(now)}
	if !sv.UpdateTime.IsZero() {
		q += ` AND updated_at = $7`
		args = append(args, s.d.Time(sv.UpdateTime))
	}
	// RETURNING, not a second SELECT: another writer may replace the row
	// between the two, and this caller would answer with its survey.
	err = scanSurvey(s.db.QueryRow(ctx, q+` RETURNING `+surveyCols, args...), &out)
	if err == nil {
		return out, nil
	}
	if !s.d.IsNoRows(err) {
		return out, fmt.Errorf("update survey %d: %w", sv.ID, err)
	}
	var one int
	err = s.db.QueryRow(ctx, `SELECT 1 FROM surveys WHERE id = $1 AND site_id = $2`, sv.ID, sv.SiteID).Scan(&one)
	if err == nil {
		return out, fmt.Errorf("survey %d changed since it was read: %w", sv.ID, store.ErrPrecondition)
	}
	return out, s.notFound(err, "survey", sv.ID)
}

// DeleteSurvey deletes a survey of a site.
func (s *Store) DeleteSurvey(ctx context.Context, site, id int64) (err error) {
	ctx, end := s.op(ctx, "DeleteSurvey")
	defer end(&err)
	n, err := s.db.Exec(ctx, `DELETE FROM surveys WHERE id = $1 AND site_id = $2`, id, site)
	if err != nil {
		return fmt.Errorf("delete survey %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("survey %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// ---- funnels ----

const funnelCols = `id, site_id, name, steps, created_at, updated_at`

func scanFunnel(r sqldb.Row, f *store.Funnel) error {
	var steps string
	if err := r.Scan(&f.ID, &f.SiteID, &f.Name, &steps, sqldb.Timestamp(&f.CreateTime), sqldb.Timestamp(&f.UpdateTime)); err != nil {
		return err
	}
	f.Steps = []byte(steps)
	return nil
}

// CreateFunnel stores a funnel, keeping the per-site limit under the site's
// row lock (SQLite: the write transaction itself).
func (s *Store) CreateFunnel(ctx context.Context, f store.Funnel, maxPerSite int) (out store.Funnel, err error) {
	ctx, end := s.op(ctx, "CreateFunnel")
	defer end(&err)
	now := time.Now()
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var got int64
		if err := q.QueryRow(ctx, `SELECT id FROM sites WHERE id = $1`+s.d.ForUpdate, f.SiteID).Scan(&got); err != nil {
			return s.notFound(err, "site", f.SiteID)
		}
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM funnels WHERE site_id = $1`, f.SiteID).Scan(&n); err != nil {
			return fmt.Errorf("count funnels: %w", err)
		}
		if n >= int64(maxPerSite) {
			return fmt.Errorf("site %d has %d funnels, the most allowed: %w", f.SiteID, maxPerSite, store.ErrLimit)
		}
		err := scanFunnel(q.QueryRow(ctx, `INSERT INTO funnels (site_id, name, steps, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) RETURNING `+funnelCols,
			f.SiteID, f.Name, string(f.Steps), s.d.Time(now)), &out)
		if err != nil {
			return fmt.Errorf("insert funnel: %w", err)
		}
		return nil
	})
	return out, err
}

// GetFunnel returns a funnel of a site.
func (s *Store) GetFunnel(ctx context.Context, site, id int64) (f store.Funnel, err error) {
	ctx, end := s.op(ctx, "GetFunnel")
	defer end(&err)
	err = scanFunnel(s.db.QueryRow(ctx, `SELECT `+funnelCols+` FROM funnels WHERE id = $1 AND site_id = $2`, id, site), &f)
	if err != nil {
		return f, s.notFound(err, "funnel", id)
	}
	return f, nil
}

// ListFunnels lists a site's funnels, newest first.
func (s *Store) ListFunnels(ctx context.Context, site int64) (out []store.Funnel, err error) {
	ctx, end := s.op(ctx, "ListFunnels")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+funnelCols+` FROM funnels WHERE site_id = $1 ORDER BY id DESC`, site)
	if out, err = sqldb.Collect(rows, err, scanFunnel); err != nil {
		return nil, fmt.Errorf("list funnels of site %d: %w", site, err)
	}
	return out, nil
}

// UpdateFunnel replaces a funnel's name and steps.
func (s *Store) UpdateFunnel(ctx context.Context, f store.Funnel) (out store.Funnel, err error) {
	ctx, end := s.op(ctx, "UpdateFunnel")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var prev store.Funnel
		err := scanFunnel(q.QueryRow(ctx, `SELECT `+funnelCols+` FROM funnels WHERE id = $1 AND site_id = $2`+s.d.ForUpdate, f.ID, f.SiteID), &prev)
		if err != nil {
			return s.notFound(err, "funnel", f.ID)
		}
		// Stored times have microseconds: truncate first, so "later" holds
		// after storing too.
		now := time.Now().Truncate(time.Microsecond)
		if !now.After(prev.UpdateTime) {
			now = prev.UpdateTime.Add(time.Microsecond) // a clock step back must not repeat a version
		}
		err = scanFunnel(q.QueryRow(ctx, `UPDATE funnels SET name = $3, steps = $4, updated_at = $5
			WHERE id = $1 AND site_id = $2 RETURNING `+funnelCols,
			f.ID, f.SiteID, f.Name, string(f.Steps), s.d.Time(now)), &out)
		if err != nil {
			return fmt.Errorf("update funnel %d: %w", f.ID, err)
		}
		return nil
	})
	return out, err
}

// DeleteFunnel deletes a funnel of a site.
func (s *Store) DeleteFunnel(ctx context.Context, site, id int64) (err error) {
	ctx, end := s.op(ctx, "DeleteFunnel")
	defer end(&err)
	n, err := s.db.Exec(ctx, `DELETE FROM funnels WHERE id = $1 AND site_id = $2`, id, site)
	if err != nil {
		return fmt.Errorf("delete funnel %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("funnel %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// ---- API keys ----

const keyCols = `id, organization_id, name, prefix, key_hash, role, created_by, created_at, last_used_at, revoked_at`

func scanKey(r sqldb.Row, k *store.APIKey) error {
	var role int32
	err := r.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Prefix, &k.Hash, &role, &k.CreatedBy,
		sqldb.Timestamp(&k.CreateTime), sqldb.Timestamp(&k.LastUseTime), sqldb.Timestamp(&k.RevokeTime))
	k.Role = store.Role(role)
	return err
}

// CreateAPIKey stores a key.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) (out store.APIKey, err error) {
	ctx, end := s.op(ctx, "CreateAPIKey")
	defer end(&err)
	err = scanKey(s.db.QueryRow(ctx, `INSERT INTO api_keys (organization_id, name, prefix, key_hash, role, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+keyCols,
		k.OrganizationID, k.Name, k.Prefix, k.Hash, int32(k.Role), k.CreatedBy, s.d.Time(time.Now())), &out)
	if err != nil {
		return out, fmt.Errorf("insert api key: %w", err)
	}
	return out, nil
}

// ListAPIKeys lists an organisation's keys.
func (s *Store) ListAPIKeys(ctx context.Context, org int64, p store.Page) (out []store.APIKey, err error) {
	ctx, end := s.op(ctx, "ListAPIKeys")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+keyCols+` FROM api_keys WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		org, p.After, limit(p))
	if out, err = sqldb.Collect(rows, err, scanKey); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey revokes a key.
func (s *Store) RevokeAPIKey(ctx context.Context, org, id int64, now time.Time) (k store.APIKey, err error) {
	ctx, end := s.op(ctx, "RevokeAPIKey")
	defer end(&err)
	err = scanKey(s.db.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
		WHERE organization_id = $1 AND id = $2 RETURNING `+keyCols, org, id, s.d.Time(now)), &k)
	if err != nil {
		return k, s.notFound(err, "api key", id)
	}
	return k, nil
}

// ---- flags, maintenance, audit ----

// SetFeatureFlag upserts a flag.
func (s *Store) SetFeatureFlag(ctx context.Context, f store.FeatureFlag) (out store.FeatureFlag, err error) {
	ctx, end := s.op(ctx, "SetFeatureFlag")
	defer end(&err)
	_, err = s.db.Exec(ctx, `INSERT INTO feature_flags (name, scope, scope_id, enabled, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (scope, scope_id, name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at`,
		f.Name, int32(f.Scope), f.ScopeID, f.Enabled, s.d.Time(time.Now()))
	if err != nil {
		return out, fmt.Errorf("set feature flag %q: %w", f.Name, err)
	}
	return f, nil
}

// ListFeatureFlags lists flags set at a scope.
func (s *Store) ListFeatureFlags(ctx context.Context, scope store.FlagScope, scopeID int64) (out []store.FeatureFlag, err error) {
	ctx, end := s.op(ctx, "ListFeatureFlags")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT name, enabled FROM feature_flags WHERE scope = $1 AND scope_id = $2 ORDER BY name`,
		int32(scope), scopeID)
	out, err = sqldb.Collect(rows, err, func(r sqldb.Row, f *store.FeatureFlag) error {
		f.Scope, f.ScopeID = scope, scopeID
		return r.Scan(&f.Name, &f.Enabled)
	})
	if err != nil {
		return nil, fmt.Errorf("list feature flags: %w", err)
	}
	return out, nil
}

// GetMaintenance returns the switch.
func (s *Store) GetMaintenance(ctx context.Context) (m store.Maintenance, err error) {
	ctx, end := s.op(ctx, "GetMaintenance")
	defer end(&err)
	err = s.db.QueryRow(ctx, `SELECT enabled, message, updated_at FROM maintenance WHERE id = 1`).Scan(&m.Enabled, &m.Message, sqldb.Timestamp(&m.UpdateTime))
	if err != nil && s.d.IsNoRows(err) {
		return store.Maintenance{}, nil
	}
	if err != nil {
		return m, fmt.Errorf("get maintenance: %w", err)
	}
	return m, nil
}

// SetMaintenance sets the switch.
func (s *Store) SetMaintenance(ctx context.Context, m store.Maintenance) (out store.Maintenance, err error) {
	ctx, end := s.op(ctx, "SetMaintenance")
	defer end(&err)
	if m.UpdateTime.IsZero() {
		m.UpdateTime = time.Now()
	}
	m.UpdateTime = m.UpdateTime.UTC().Truncate(time.Microsecond)
	_, err = s.db.Exec(ctx, `INSERT INTO maintenance (id, enabled, message, updated_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, message = excluded.message, updated_at = excluded.updated_at`,
		m.Enabled, m.Message, s.d.Time(m.UpdateTime))
	if err != nil {
		return out, fmt.Errorf("set maintenance: %w", err)
	}
	return m, nil
}

// AppendAudit appends an audit event.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (err error) {
	ctx, end := s.op(ctx, "AppendAudit")
	defer end(&err)
	var org any
	if e.OrganizationID != 0 {
		org = e.OrganizationID
	}
	if e.CreateTime.IsZero() {
		e.CreateTime = time.Now()
	}
	_, err = s.db.Exec(ctx, `INSERT INTO audit_events (organization_id, actor_user_id, action, target, ip_prefix, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, org, e.ActorUserID, e.Action, e.Target, e.IPPrefix, s.d.Time(e.CreateTime))
	if err != nil {
		return fmt.Errorf("append audit event %q: %w", e.Action, err)
	}
	return nil
}

// ListAuditEvents lists events newest first.
func (s *Store) ListAuditEvents(ctx context.Context, org int64, p store.Page) (out []store.AuditEvent, err error) {
	ctx, end := s.op(ctx, "ListAuditEvents")
	defer end(&err)
	before := p.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	// Organisation 0 is the instance's own events (stored without one).
	where := `organization_id = $1`
	if org == 0 {
		where = `organization_id IS NULL AND $1 = 0`
	}
	rows, err := s.db.Query(ctx, `SELECT id, COALESCE(organization_id, 0), actor_user_id, action, target, ip_prefix, created_at
		FROM audit_events WHERE `+where+` AND id < $2 ORDER BY id DESC LIMIT $3`, org, before, limit(p))
	out, err = sqldb.Collect(rows, err, func(r sqldb.Row, e *store.AuditEvent) error {
		return r.Scan(&e.ID, &e.OrganizationID, &e.ActorUserID, &e.Action, &e.Target, &e.IPPrefix, sqldb.Timestamp(&e.CreateTime))
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// ---- quota ----

// LeaseSessionQuota grants part of a site's daily quota in one atomic
// upsert: the row's lock (PostgreSQL) or the single writer (SQLite)
// serialises concurrent leases, so leased never exceeds limit.
func (s *Store) LeaseSessionQuota(ctx context.Context, site int64, day string, requested, lim int64) (l store.Lease, err error) {
	ctx, end := s.op(ctx, "LeaseSessionQuota")
	defer end(&err)
	if requested < 0 || lim < 0 {
		return l, fmt.Errorf("lease: negative requested %d or limit %d", requested, lim)
	}
	const grant = `CASE WHEN CAST($4 AS BIGINT) - session_quota.leased <= 0 THEN 0
		WHEN CAST($3 AS BIGINT) < CAST($4 AS BIGINT) - session_quota.leased THEN CAST($3 AS BIGINT)
		ELSE CAST($4 AS BIGINT) - session_quota.leased END`
	var leased int64
	err = s.db.QueryRow(ctx, `INSERT INTO session_quota (site_id, day, leased, last_granted)
		VALUES ($1, $2, CASE WHEN CAST($3 AS BIGINT) < CAST($4 AS BIGINT) THEN CAST($3 AS BIGINT) ELSE CAST($4 AS BIGINT) END,
		        CASE WHEN CAST($3 AS BIGINT) < CAST($4 AS BIGINT) THEN CAST($3 AS BIGINT) ELSE CAST($4 AS BIGINT) END)
		ON CONFLICT (site_id, day) DO UPDATE SET last_granted = `+grant+`, leased = session_quota.leased + `+grant+`
		RETURNING leased, last_granted`, site, day, requested, lim).Scan(&leased, &l.Granted)
	if err != nil {
		return l, fmt.Errorf("lease quota of site %d for %s: %w", site, day, err)
	}
	l.Limit = lim
	l.Remaining = lim - leased
	if l.Remaining < 0 {
		l.Remaining = 0
	}
	return l, nil
}
