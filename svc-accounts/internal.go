package accounts

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// maxRecipientUsers caps ListSiteRecipients' user_ids.
const maxRecipientUsers = 10_000

// internal serves AccountsInternalService (the other services' calls; the
// gateway routes none of them).
type internal struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	s *Service
}

// Internal returns the AccountsInternalService server.
func (s *Service) Internal() accountsv1.AccountsInternalServiceServer { return &internal{s: s} }

// ListSiteRecipients answers who may receive a site's e-mails: verified
// members of its organisation, named or at least min_role.
func (i *internal) ListSiteRecipients(ctx context.Context, req *accountsv1.ListSiteRecipientsRequest) (*accountsv1.ListSiteRecipientsResponse, error) {
	s := i.s
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id must be positive")
	}
	if len(req.GetUserIds()) > maxRecipientUsers {
		return nil, invalid("user_ids holds %d ids; at most %d", len(req.GetUserIds()), maxRecipientUsers)
	}
	minRole := store.Role(req.GetMinRole())
	if req.GetMinRole() != accountsv1.Role_ROLE_UNSPECIFIED && !minRole.Valid() {
		return nil, invalid("min_role %d is not a role", req.GetMinRole())
	}
	site, err := s.store.GetSite(ctx, req.GetSiteId())
	if err != nil {
		return nil, s.storeErr(ctx, "list site recipients", err)
	}
	rs, err := s.store.ListSiteRecipients(ctx, site.ID, req.GetUserIds(), minRole)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.storeErr(ctx, "list site recipients", err) // deleted meanwhile
	}
	if err != nil {
		return nil, s.internal(ctx, "list site recipients", err)
	}
	tz := site.Settings.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	resp := &accountsv1.ListSiteRecipientsResponse{SiteName: site.Name, TimeZone: tz, OrganizationId: site.OrganizationID}
	for _, r := range rs {
		resp.Recipients = append(resp.Recipients, &accountsv1.Recipient{UserId: r.UserID, Email: r.Email, Name: r.Name, Role: accountsv1.Role(r.Role)})
	}
	return resp, nil
}

// Authenticate, GetSiteConfig and LeaseSessionQuota keep their
// implementations beside the user and site code they share; the internal
// contract exposes them.

func (i *internal) Authenticate(ctx context.Context, req *accountsv1.AuthenticateRequest) (*accountsv1.AuthenticateResponse, error) {
	return i.s.Authenticate(ctx, req)
}

func (i *internal) GetSiteConfig(ctx context.Context, req *accountsv1.GetSiteConfigRequest) (*accountsv1.GetSiteConfigResponse, error) {
	return i.s.GetSiteConfig(ctx, req)
}

func (i *internal) LeaseSessionQuota(ctx context.Context, req *accountsv1.LeaseSessionQuotaRequest) (*accountsv1.LeaseSessionQuotaResponse, error) {
	return i.s.LeaseSessionQuota(ctx, req)
}

// AuthorizeSite resolves a dashboard credential, the site's organisation,
// the caller's role in it and the maintenance switch with one store query,
// so a service checking a site-scoped call asks accounts once.
func (i *internal) AuthorizeSite(ctx context.Context, req *accountsv1.AuthorizeSiteRequest) (*accountsv1.AuthorizeSiteResponse, error) {
	s := i.s
	var (
		kind   store.CredentialKind
		cred   string
		prefix string
	)
	switch c := req.GetCredential().(type) {
	case *accountsv1.AuthorizeSiteRequest_SessionToken:
		kind, cred, prefix = store.CredentialSession, c.SessionToken, sessionPrefix
	case *accountsv1.AuthorizeSiteRequest_ApiKey:
		kind, cred, prefix = store.CredentialAPIKey, c.ApiKey, apiKeyPrefix
	default:
		return nil, invalid("credential is required: set session_token or api_key")
	}
	if req.GetSiteId() <= 0 {
		return nil, invalid("site_id must be a positive id")
	}
	if !wellFormed(cred, prefix) {
		return nil, status.Errorf(codes.Unauthenticated, "malformed credential: want %s…", prefix)
	}
	a, err := s.store.AuthorizeSite(ctx, kind, hashToken(cred), req.GetSiteId(), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.Unauthenticated, "invalid, expired or revoked credential")
	}
	if err != nil {
		return nil, s.internal(ctx, "authorize site", err)
	}
	c := caller{Principal: a.Principal}
	// No organisation has id 0, so a missing site has no role either; an
	// API key's only membership is its own organisation.
	role := c.role(a.SiteOrganizationID)
	if role == 0 {
		return nil, status.Errorf(codes.NotFound, "site %d not found", req.GetSiteId())
	}
	return &accountsv1.AuthorizeSiteResponse{
		Principal:      principalPB(a.Principal),
		ExpireTime:     tspb(a.ExpireTime),
		OrganizationId: a.SiteOrganizationID,
		Role:           accountsv1.Role(role),
		Maintenance:    maintenancePB(a.Maintenance),
	}, nil
}
