package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// Bounds of a limit; 0 always means unlimited.
const (
	maxRetentionCeiling = 3650 // days: recordings' own ceiling when unlimited
	maxSessionsPerDay   = 1_000_000_000
	maxSeatsOrSites     = 1 << 20
	maxPlanName         = 64
)

// retentionCeiling is the longest retention p allows.
func retentionCeiling(p store.Plan) int32 {
	if p.MaxRetentionDays <= 0 {
		return maxRetentionCeiling
	}
	return p.MaxRetentionDays
}

// checkLimits validates limits sent by an operator.
func checkLimits(field string, p *accountsv1.Plan) (store.Plan, error) {
	if p == nil {
		return store.Plan{}, invalid("%s is required", field)
	}
	name, err := checkString(field+".name", p.GetName(), maxPlanName, false, false)
	if err != nil {
		return store.Plan{}, err
	}
	out := store.Plan{Name: name, SessionsPerDay: p.GetSessionsPerDay(), MaxRetentionDays: p.GetMaxRetentionDays(),
		MaxSeats: p.GetMaxSeats(), MaxSites: p.GetMaxSites()}
	switch {
	case out.SessionsPerDay < 0 || out.SessionsPerDay > maxSessionsPerDay:
		return out, invalid("%s.sessions_per_day must be between 0 (unlimited) and %d", field, maxSessionsPerDay)
	case out.MaxRetentionDays < 0 || out.MaxRetentionDays > maxRetentionCeiling:
		return out, invalid("%s.max_retention_days must be between 0 (up to %d) and %d", field, maxRetentionCeiling, maxRetentionCeiling)
	case out.MaxSeats < 0 || out.MaxSeats > maxSeatsOrSites:
		return out, invalid("%s.max_seats must be between 0 (unlimited) and %d", field, maxSeatsOrSites)
	case out.MaxSites < 0 || out.MaxSites > maxSeatsOrSites:
		return out, invalid("%s.max_sites must be between 0 (unlimited) and %d", field, maxSeatsOrSites)
	}
	return out, nil
}

// describeLimits is an audit target's text for p.
func describeLimits(p store.Plan) string {
	return fmt.Sprintf("name:%q sessions_per_day:%d max_retention_days:%d max_seats:%d max_sites:%d",
		p.Name, p.SessionsPerDay, p.MaxRetentionDays, p.MaxSeats, p.MaxSites)
}

// operator returns the caller if it is an operator's log-in (not an API
// key), else PermissionDenied saying what it may not do.
func (s *Service) operator(ctx context.Context, what string) (*caller, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if !c.Operator || c.isAPIKey() {
		return nil, status.Error(codes.PermissionDenied, "only operators can "+what)
	}
	return c, nil
}

// applyConfiguredLimits writes the accounts.default-plan.* flags as the
// instance limits unless an operator has stored limits, which win: the
// flags are where an instance starts, the Operator page where it goes on.
func (s *Service) applyConfiguredLimits(ctx context.Context) error {
	l, err := s.store.PutInstanceLimits(ctx, s.cfg.plan(), false, time.Now())
	if err != nil {
		return fmt.Errorf("accounts: instance limits: %w", err)
	}
	if l.SetByOperator && l.Plan != s.cfg.plan() {
		s.log.InfoContext(ctx, "accounts: instance limits were set by an operator; the accounts.default-plan.* flags no longer apply",
			"limits", describeLimits(l.Plan))
	}
	return nil
}

// instanceLimits returns the stored instance limits, or the configured
// ones before any were stored.
func (s *Service) instanceLimits(ctx context.Context) (store.InstanceLimits, error) {
	l, err := s.store.GetInstanceLimits(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.InstanceLimits{Plan: s.cfg.plan()}, nil
	}
	return l, err
}

// GetInstanceLimits returns the instance's default limits (operators only).
func (s *Service) GetInstanceLimits(ctx context.Context, _ *accountsv1.GetInstanceLimitsRequest) (*accountsv1.GetInstanceLimitsResponse, error) {
	if _, err := s.operator(ctx, "see the instance limits"); err != nil {
		return nil, err
	}
	l, err := s.instanceLimits(ctx)
	if err != nil {
		return nil, s.storeErr(ctx, "get instance limits", err)
	}
	resp := &accountsv1.GetInstanceLimitsResponse{Limits: planPB(l.Plan), SetByOperator: l.SetByOperator}
	if l.SetByOperator {
		resp.UpdateTime = tspb(l.UpdateTime)
	}
	return resp, nil
}

// UpdateInstanceLimits stores the instance's default limits (operators
// only); every organisation without its own follows them at once.
func (s *Service) UpdateInstanceLimits(ctx context.Context, req *accountsv1.UpdateInstanceLimitsRequest) (*accountsv1.UpdateInstanceLimitsResponse, error) {
	c, err := s.operator(ctx, "change the instance limits")
	if err != nil {
		return nil, err
	}
	p, err := checkLimits("limits", req.GetLimits())
	if err != nil {
		return nil, err
	}
	l, err := s.store.PutInstanceLimits(ctx, p, true, time.Now())
	if err != nil {
		return nil, s.storeErr(ctx, "update instance limits", err)
	}
	s.audit(ctx, 0, c.UserID, "limits.instance.update", describeLimits(l.Plan))
	return &accountsv1.UpdateInstanceLimitsResponse{Limits: planPB(l.Plan)}, nil
}

// ListOrganizationsForOperator lists every organisation (operators only).
func (s *Service) ListOrganizationsForOperator(ctx context.Context, req *accountsv1.ListOrganizationsForOperatorRequest) (*accountsv1.ListOrganizationsForOperatorResponse, error) {
	if _, err := s.operator(ctx, "list every organisation"); err != nil {
		return nil, err
	}
	orgs, next, err := listPage(ctx, s, req, "list all organizations", func(p pager) ([]store.OrganizationOverview, error) {
		return s.store.ListAllOrganizations(ctx, p.after())
	}, func(o store.OrganizationOverview) int64 { return o.ID }, overviewPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListOrganizationsForOperatorResponse{Organizations: orgs, NextPageToken: next}, nil
}

// UpdateOrganizationLimits gives an organisation its own limits or puts it
// back on the instance's (operators only).
func (s *Service) UpdateOrganizationLimits(ctx context.Context, req *accountsv1.UpdateOrganizationLimitsRequest) (*accountsv1.UpdateOrganizationLimitsResponse, error) {
	c, err := s.operator(ctx, "change an organisation's limits")
	if err != nil {
		return nil, err
	}
	if err := checkID("organization_id", req.GetOrganizationId()); err != nil {
		return nil, err
	}
	var own *store.Plan
	if !req.GetUseDefaults() {
		p, err := checkLimits("limits", req.GetLimits())
		if err != nil {
			return nil, err
		}
		own = &p
	}
	v, err := s.store.SetOrganizationLimits(ctx, req.GetOrganizationId(), own)
	if err != nil {
		return nil, s.storeErr(ctx, "update organization limits", err)
	}
	tgt := target("organization", v.ID) + " defaults"
	if own != nil {
		tgt = target("organization", v.ID) + " " + describeLimits(*own)
	}
	s.audit(ctx, v.ID, c.UserID, "limits.organization.update", tgt)
	return &accountsv1.UpdateOrganizationLimitsResponse{Organization: overviewPB(v)}, nil
}
