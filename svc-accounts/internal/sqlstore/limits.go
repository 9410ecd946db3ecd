package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// overviewCols are orgCols with the counts an operator sees.
const overviewCols = orgCols + `, (SELECT count(*) FROM sites WHERE organization_id = o.id),
	(SELECT count(*) FROM memberships WHERE organization_id = o.id)`

func scanOverview(r sqldb.Row, v *store.OrganizationOverview) error {
	o := &v.Organization
	return r.Scan(&o.ID, &o.Name, &o.Plan.Name, &o.Plan.SessionsPerDay, &o.Plan.MaxRetentionDays,
		&o.Plan.MaxSeats, &o.Plan.MaxSites, sqldb.Timestamp(&o.CreateTime), &o.CustomLimits, &v.Sites, &v.Members)
}

// ListAllOrganizations lists every organisation with its counts.
func (s *Store) ListAllOrganizations(ctx context.Context, p store.Page) (out []store.OrganizationOverview, err error) {
	ctx, end := s.op(ctx, "ListAllOrganizations")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT `+overviewCols+` FROM `+orgFrom+` WHERE o.id > $1 ORDER BY o.id LIMIT $2`, p.After, limit(p))
	if out, err = sqldb.Collect(rows, err, scanOverview); err != nil {
		return nil, fmt.Errorf("list all organizations: %w", err)
	}
	return out, nil
}

// SetOrganizationLimits sets or clears an organisation's own limits.
func (s *Store) SetOrganizationLimits(ctx context.Context, org int64, limits *store.Plan) (v store.OrganizationOverview, err error) {
	ctx, end := s.op(ctx, "SetOrganizationLimits")
	defer end(&err)
	var n int64
	if limits == nil {
		n, err = s.db.Exec(ctx, `UPDATE organizations SET limits_custom = $2 WHERE id = $1`, org, false)
	} else {
		n, err = s.db.Exec(ctx, `UPDATE organizations SET limits_custom = $2, plan_name = $3, sessions_per_day = $4,
			max_retention_days = $5, max_seats = $6, max_sites = $7 WHERE id = $1`,
			org, true, limits.Name, limits.SessionsPerDay, limits.MaxRetentionDays, limits.MaxSeats, limits.MaxSites)
	}
	if err != nil {
		return v, fmt.Errorf("set limits of organization %d: %w", org, err)
	}
	if n == 0 {
		return v, fmt.Errorf("organization %d: %w", org, store.ErrNotFound)
	}
	if err := scanOverview(s.db.QueryRow(ctx, `SELECT `+overviewCols+` FROM `+orgFrom+` WHERE o.id = $1`, org), &v); err != nil {
		return v, s.notFound(err, "organization", org)
	}
	return v, nil
}

// GetInstanceLimits returns the instance row.
func (s *Store) GetInstanceLimits(ctx context.Context) (l store.InstanceLimits, err error) {
	ctx, end := s.op(ctx, "GetInstanceLimits")
	defer end(&err)
	return s.getInstanceLimits(ctx, s.db)
}

func (s *Store) getInstanceLimits(ctx context.Context, q sqldb.Querier) (l store.InstanceLimits, err error) {
	p := &l.Plan
	err = q.QueryRow(ctx, `SELECT plan_name, sessions_per_day, max_retention_days, max_seats, max_sites, set_by_operator, updated_at
		FROM instance_limits WHERE id = 1`).Scan(&p.Name, &p.SessionsPerDay, &p.MaxRetentionDays, &p.MaxSeats, &p.MaxSites,
		&l.SetByOperator, sqldb.Timestamp(&l.UpdateTime))
	if err != nil {
		return l, s.notFound(err, "instance limits", 1)
	}
	return l, nil
}

// PutInstanceLimits writes the instance row: an operator's always, the
// configured defaults only until an operator has written.
func (s *Store) PutInstanceLimits(ctx context.Context, p store.Plan, byOperator bool, now time.Time) (l store.InstanceLimits, err error) {
	ctx, end := s.op(ctx, "PutInstanceLimits")
	defer end(&err)
	err = s.inTx(ctx, func(q sqldb.Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO instance_limits (id, plan_name, sessions_per_day, max_retention_days, max_seats, max_sites, set_by_operator, updated_at)
			VALUES (1, $1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET plan_name = excluded.plan_name, sessions_per_day = excluded.sessions_per_day,
				max_retention_days = excluded.max_retention_days, max_seats = excluded.max_seats, max_sites = excluded.max_sites,
				set_by_operator = excluded.set_by_operator, updated_at = excluded.updated_at
			WHERE excluded.set_by_operator OR NOT instance_limits.set_by_operator`,
			p.Name, p.SessionsPerDay, p.MaxRetentionDays, p.MaxSeats, p.MaxSites, byOperator, s.d.Time(now)); err != nil {
			return fmt.Errorf("put instance limits: %w", err)
		}
		l, err = s.getInstanceLimits(ctx, q)
		return err
	})
	return l, err
}
