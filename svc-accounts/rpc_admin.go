package accounts

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// CreateApiKey creates an API key with a role no higher than the
// creator's; the secret is returned only here.
func (s *Service) CreateApiKey(ctx context.Context, req *accountsv1.CreateApiKeyRequest) (*accountsv1.CreateApiKeyResponse, error) {
	org := req.GetOrganizationId()
	c, err := s.orgCaller(ctx, org, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := userOnly(c, "create API keys"); err != nil {
		return nil, err
	}
	name, err := checkName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	role, err := grantable(c, org, req.GetRole(), "an API key cannot have a role above yours (%s)")
	if err != nil {
		return nil, err
	}
	secret := randomToken(apiKeyPrefix)
	k, err := s.store.CreateAPIKey(ctx, store.APIKey{OrganizationID: org, Name: name, Prefix: secret[:len(apiKeyPrefix)+6],
		Hash: hashToken(secret), Role: role, CreatedBy: c.UserID})
	if err != nil {
		return nil, s.storeErr(ctx, "create api key", err)
	}
	s.audit(ctx, org, c.UserID, "api_key.create", fmt.Sprintf("api_key:%d role:%s", k.ID, roleNames[role]))
	return &accountsv1.CreateApiKeyResponse{ApiKey: apiKeyPB(k), Secret: secret}, nil
}

// ListApiKeys lists an organisation's API keys (admin or owner).
func (s *Service) ListApiKeys(ctx context.Context, req *accountsv1.ListApiKeysRequest) (*accountsv1.ListApiKeysResponse, error) {
	keys, next, err := listOrgPage(ctx, s, req, store.RoleAdmin, "list api keys", func(org int64, p pager) ([]store.APIKey, error) {
		return s.store.ListAPIKeys(ctx, org, p.after())
	}, func(k store.APIKey) int64 { return k.ID }, apiKeyPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListApiKeysResponse{ApiKeys: keys, NextPageToken: next}, nil
}

// RevokeApiKey revokes an API key (admin or owner).
func (s *Service) RevokeApiKey(ctx context.Context, req *accountsv1.RevokeApiKeyRequest) (*accountsv1.RevokeApiKeyResponse, error) {
	c, err := s.orgCaller(ctx, req.GetOrganizationId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	k, err := s.store.RevokeAPIKey(ctx, req.GetOrganizationId(), req.GetApiKeyId(), time.Now())
	if err != nil {
		return nil, s.storeErr(ctx, "revoke api key", err)
	}
	s.audit(ctx, k.OrganizationID, c.UserID, "api_key.revoke", target("api_key", k.ID))
	return &accountsv1.RevokeApiKeyResponse{ApiKey: apiKeyPB(k)}, nil
}

// flagScope checks the caller may act on a flag scope with min, and
// returns the organisation the scope belongs to (0 for global).
func (s *Service) flagScope(ctx context.Context, c *caller, scope accountsv1.FeatureFlagScope, id int64, min store.Role, write bool) (int64, error) {
	switch scope {
	case accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_GLOBAL:
		if id != 0 {
			return 0, invalid("scope_id must be 0 for the global scope")
		}
		if write && !c.Operator {
			return 0, status.Error(codes.PermissionDenied, "only operators can set global feature flags")
		}
		return 0, nil
	case accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_ORGANIZATION:
		if err := checkID("organization_id", id); err != nil {
			return 0, invalid("scope_id must be the organization's id")
		}
		return id, inOrg(c, id, min)
	case accountsv1.FeatureFlagScope_FEATURE_FLAG_SCOPE_SITE:
		st, err := s.site(ctx, c, id, min)
		return st.OrganizationID, err
	default:
		return 0, invalid("scope must be FEATURE_FLAG_SCOPE_GLOBAL, _ORGANIZATION or _SITE")
	}
}

// ListFeatureFlags lists flags set at a scope.
func (s *Service) ListFeatureFlags(ctx context.Context, req *accountsv1.ListFeatureFlagsRequest) (*accountsv1.ListFeatureFlagsResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.flagScope(ctx, c, req.GetScope(), req.GetScopeId(), store.RoleViewer, false); err != nil {
		return nil, err
	}
	flags, err := s.store.ListFeatureFlags(ctx, store.FlagScope(req.GetScope()), req.GetScopeId())
	if err != nil {
		return nil, s.storeErr(ctx, "list feature flags", err)
	}
	resp := &accountsv1.ListFeatureFlagsResponse{}
	for _, f := range flags {
		resp.Flags = append(resp.Flags, flagPB(f))
	}
	return resp, nil
}

// SetFeatureFlag sets a flag: global scope operators only, organisation
// and site scopes admins and owners.
func (s *Service) SetFeatureFlag(ctx context.Context, req *accountsv1.SetFeatureFlagRequest) (*accountsv1.SetFeatureFlagResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	f := req.GetFlag()
	if f == nil {
		return nil, invalid("flag is required")
	}
	org, err := s.flagScope(ctx, c, f.GetScope(), f.GetScopeId(), store.RoleAdmin, true)
	if err != nil {
		return nil, err
	}
	if !flagName.MatchString(f.GetName()) {
		return nil, invalid("flag name %q must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter", trunc(f.GetName()))
	}
	got, err := s.store.SetFeatureFlag(ctx, store.FeatureFlag{Name: f.GetName(), Scope: store.FlagScope(f.GetScope()), ScopeID: f.GetScopeId(), Enabled: f.GetEnabled()})
	if err != nil {
		return nil, s.storeErr(ctx, "set feature flag", err)
	}
	s.audit(ctx, org, c.UserID, "feature_flag.set", fmt.Sprintf("flag:%s scope:%d:%d enabled:%t", got.Name, got.Scope, got.ScopeID, got.Enabled))
	return &accountsv1.SetFeatureFlagResponse{Flag: flagPB(got)}, nil
}

// GetMaintenance returns the global maintenance switch.
func (s *Service) GetMaintenance(ctx context.Context, _ *accountsv1.GetMaintenanceRequest) (*accountsv1.GetMaintenanceResponse, error) {
	if _, err := s.caller(ctx); err != nil {
		return nil, err
	}
	m, err := s.store.GetMaintenance(ctx)
	if err != nil {
		return nil, s.storeErr(ctx, "get maintenance", err)
	}
	return &accountsv1.GetMaintenanceResponse{Maintenance: maintenancePB(m)}, nil
}

// SetMaintenance turns maintenance mode on or off (operators only).
func (s *Service) SetMaintenance(ctx context.Context, req *accountsv1.SetMaintenanceRequest) (*accountsv1.SetMaintenanceResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if !c.Operator || c.isAPIKey() {
		return nil, status.Error(codes.PermissionDenied, "only operators can switch maintenance mode")
	}
	if len(req.GetMessage()) > maxMaintenanceMessage {
		return nil, invalid("message is longer than %d bytes", maxMaintenanceMessage)
	}
	m, err := s.store.SetMaintenance(ctx, store.Maintenance{Enabled: req.GetEnabled(), Message: req.GetMessage()})
	if err != nil {
		return nil, s.storeErr(ctx, "set maintenance", err)
	}
	s.audit(ctx, 0, c.UserID, "maintenance.set", fmt.Sprintf("maintenance:%t", m.Enabled))
	s.log.InfoContext(ctx, "maintenance switched", "enabled", m.Enabled, "user_id", c.UserID)
	return &accountsv1.SetMaintenanceResponse{Maintenance: maintenancePB(m)}, nil
}

// ListAuditEvents lists an organisation's audit log, newest first (admin
// or owner).
func (s *Service) ListAuditEvents(ctx context.Context, req *accountsv1.ListAuditEventsRequest) (*accountsv1.ListAuditEventsResponse, error) {
	evs, next, err := listOrgPage(ctx, s, req, store.RoleAdmin, "list audit events", func(org int64, p pager) ([]store.AuditEvent, error) {
		return s.store.ListAuditEvents(ctx, org, p.before())
	}, func(e store.AuditEvent) int64 { return e.ID }, auditPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListAuditEventsResponse{Events: evs, NextPageToken: next}, nil
}

// GetPublicConfig returns what the dashboard needs before log-in.
func (s *Service) GetPublicConfig(ctx context.Context, _ *accountsv1.GetPublicConfigRequest) (*accountsv1.GetPublicConfigResponse, error) {
	m, err := s.store.GetMaintenance(ctx)
	if err != nil {
		return nil, s.storeErr(ctx, "get maintenance", err)
	}
	flags, err := s.store.ListFeatureFlags(ctx, store.ScopeGlobal, 0)
	if err != nil {
		return nil, s.storeErr(ctx, "list feature flags", err)
	}
	firstRun, err := s.firstRun(ctx)
	if err != nil {
		return nil, err
	}
	limits, err := s.instanceLimits(ctx)
	if err != nil {
		return nil, s.storeErr(ctx, "get instance limits", err)
	}
	resp := &accountsv1.GetPublicConfigResponse{
		Version:         s.deps.Version,
		Maintenance:     maintenancePB(m),
		DefaultPlan:     planPB(limits.Plan),
		SignupEnabled:   s.cfg.SignupEnabled,
		MaxPageSize:     int32(s.cfg.MaxPageSize),
		FirstRun:        firstRun,
		PublicIngestUrl: s.cfg.PublicIngestURL,
	}
	for _, f := range flags {
		if f.Enabled {
			resp.FeatureFlags = append(resp.FeatureFlags, f.Name)
		}
	}
	return resp, nil
}

// firstRun reports an instance without users. Once one exists the answer
// is kept: users come and go, but an instance that had one is past its
// first run (and the store still makes the next sign-up operator if every
// user was deleted).
func (s *Service) firstRun(ctx context.Context) (bool, error) {
	if s.hasUsers.Load() {
		return false, nil
	}
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return false, s.storeErr(ctx, "count users", err)
	}
	if n > 0 {
		s.hasUsers.Store(true)
	}
	return n == 0, nil
}
