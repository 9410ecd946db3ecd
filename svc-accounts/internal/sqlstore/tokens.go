package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (n int64, err error) {
	ctx, end := s.op(ctx, "CountUsers")
	defer end(&err)
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

const tokenCols = `id, user_id, kind, token_hash, expires_at, used_at, created_at`

func scanToken(r sqldb.Row, t *store.UserToken) error {
	var kind string
	if err := r.Scan(&t.ID, &t.UserID, &kind, &t.TokenHash, sqldb.Timestamp(&t.ExpireTime), sqldb.Timestamp(&t.UseTime), sqldb.Timestamp(&t.CreateTime)); err != nil {
		return err
	}
	t.Kind = store.TokenKind(kind)
	return nil
}

// CreateUserToken stores an e-mailed token.
func (s *Store) CreateUserToken(ctx context.Context, t store.UserToken) (out store.UserToken, err error) {
	ctx, end := s.op(ctx, "CreateUserToken")
	defer end(&err)
	if t.Kind != store.TokenVerify && t.Kind != store.TokenReset {
		return out, fmt.Errorf("user token kind %q is not verify or reset", t.Kind)
	}
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, t.UserID).Scan(&one); err != nil {
			return s.notFound(err, "user", t.UserID)
		}
		return scanToken(q.QueryRow(ctx, `INSERT INTO user_tokens (user_id, kind, token_hash, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+tokenCols,
			t.UserID, string(t.Kind), t.TokenHash, s.d.Time(t.ExpireTime), s.d.Time(time.Now())), &out)
	})
	if err != nil {
		return out, fmt.Errorf("create user token: %w", err)
	}
	return out, nil
}

// consume marks the usable token of kind with hash used, in q, and returns
// its user id. A single conditional UPDATE: of two concurrent consumers the
// second finds used_at set (PostgreSQL re-checks the row after the first
// commits; SQLite's writers are serial) and gets ErrNotFound.
func (s *Store) consume(ctx context.Context, q sqldb.Querier, kind store.TokenKind, hash []byte, now time.Time) (int64, error) {
	var user int64
	err := q.QueryRow(ctx, `UPDATE user_tokens SET used_at = $3
		WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3 RETURNING user_id`,
		hash, string(kind), s.d.Time(now)).Scan(&user)
	if err != nil {
		return 0, s.notFound(err, "usable "+string(kind)+" token", "")
	}
	return user, nil
}

// VerifyEmail consumes a verify token and marks the address verified.
func (s *Store) VerifyEmail(ctx context.Context, hash []byte, now time.Time) (u store.User, err error) {
	ctx, end := s.op(ctx, "VerifyEmail")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		id, err := s.consume(ctx, q, store.TokenVerify, hash, now)
		if err != nil {
			return err
		}
		return scanUser(q.QueryRow(ctx, `UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2)
			WHERE id = $1 RETURNING `+userCols, id, s.d.Time(now)), &u)
	})
	return u, err
}

// ResetPassword consumes a reset token, sets the password and revokes the
// user's sessions.
func (s *Store) ResetPassword(ctx context.Context, hash []byte, passwordHash string, now time.Time) (u store.User, err error) {
	ctx, end := s.op(ctx, "ResetPassword")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		id, err := s.consume(ctx, q, store.TokenReset, hash, now)
		if err != nil {
			return err
		}
		if err := scanUser(q.QueryRow(ctx, `UPDATE users SET password_hash = $2, email_verified_at = COALESCE(email_verified_at, $3)
			WHERE id = $1 RETURNING `+userCols, id, passwordHash, s.d.Time(now)), &u); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if _, err := q.Exec(ctx, `UPDATE auth_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
			id, s.d.Time(now)); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		return nil
	})
	return u, err
}

// GetUserToken returns a usable token without consuming it.
func (s *Store) GetUserToken(ctx context.Context, kind store.TokenKind, hash []byte, now time.Time) (t store.UserToken, err error) {
	ctx, end := s.op(ctx, "GetUserToken")
	defer end(&err)
	if err := scanToken(s.db.QueryRow(ctx, `SELECT `+tokenCols+` FROM user_tokens
		WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3`, hash, string(kind), s.d.Time(now)), &t); err != nil {
		return t, s.notFound(err, "usable "+string(kind)+" token", "")
	}
	return t, nil
}

// LatestUserToken returns the newest token of user of kind.
func (s *Store) LatestUserToken(ctx context.Context, user int64, kind store.TokenKind) (t store.UserToken, err error) {
	ctx, end := s.op(ctx, "LatestUserToken")
	defer end(&err)
	if err := scanToken(s.db.QueryRow(ctx, `SELECT `+tokenCols+` FROM user_tokens
		WHERE user_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1`, user, string(kind)), &t); err != nil {
		return t, s.notFound(err, string(kind)+" token of user", user)
	}
	return t, nil
}

// RecordUserDevice records a device use and says whether it is new.
func (s *Store) RecordUserDevice(ctx context.Context, user int64, hash []byte, now time.Time) (d store.Device, err error) {
	ctx, end := s.op(ctx, "RecordUserDevice")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		// Lock the user row so two concurrent first log-ins of one user
		// agree on which was first.
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`+s.d.ForUpdate, user).Scan(&one); err != nil {
			return s.notFound(err, "user", user)
		}
		n, err := q.Exec(ctx, `UPDATE user_devices SET last_seen_at = $3 WHERE user_id = $1 AND device_hash = $2`,
			user, hash, s.d.Time(now))
		if err != nil {
			return fmt.Errorf("touch device: %w", err)
		}
		if n > 0 {
			return nil
		}
		d.New = true
		var others int64
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM user_devices WHERE user_id = $1`, user).Scan(&others); err != nil {
			return fmt.Errorf("count devices: %w", err)
		}
		d.First = others == 0
		if _, err := q.Exec(ctx, `INSERT INTO user_devices (user_id, device_hash, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3)`,
			user, hash, s.d.Time(now)); err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		return nil
	})
	return d, err
}

// ListSiteRecipients lists verified members of the site's organisation.
func (s *Store) ListSiteRecipients(ctx context.Context, site int64, users []int64, minRole store.Role) (out []store.Recipient, err error) {
	ctx, end := s.op(ctx, "ListSiteRecipients")
	defer end(&err)
	var org int64
	if err := s.db.QueryRow(ctx, `SELECT organization_id FROM sites WHERE id = $1`, site).Scan(&org); err != nil {
		return nil, s.notFound(err, "site", site)
	}
	if !minRole.Valid() {
		minRole = store.RoleViewer
	}
	rows, err := s.db.Query(ctx, `SELECT u.id, u.email, u.name, m.role FROM memberships m
		JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND u.email_verified_at IS NOT NULL
		ORDER BY u.id`, org)
	if err != nil {
		return nil, fmt.Errorf("list site recipients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r store.Recipient
		var role int32
		if err := rows.Scan(&r.UserID, &r.Email, &r.Name, &role); err != nil {
			return nil, fmt.Errorf("list site recipients: %w", err)
		}
		r.Role = store.Role(role)
		// Filtering here keeps one statement for both dialects (no array
		// parameters in SQLite); an organisation's members are few.
		if len(users) > 0 {
			if !slices.Contains(users, r.UserID) {
				continue
			}
		} else if !r.Role.AtLeast(minRole) {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
