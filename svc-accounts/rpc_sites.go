package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/sitedomain"
	"github.com/sightlinehq/sightline/svc-accounts/store"
	"github.com/sightlinehq/sightline/wireid"
)

func (s *Service) checkDomains(in []string) ([]string, error) {
	if len(in) > s.cfg.MaxDomainsPerSite {
		return nil, invalid("a site may have at most %d domains; got %d", s.cfg.MaxDomainsPerSite, len(in))
	}
	out := make([]string, 0, len(in))
	for i, d := range in {
		n, err := sitedomain.Normalize(d)
		if err != nil {
			return nil, invalid("domains[%d]: %v", i, err)
		}
		if slices.Contains(out, n) {
			return nil, invalid("domains[%d]: %q is listed twice", i, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// CreateSite creates a site with a random public site key.
func (s *Service) CreateSite(ctx context.Context, req *accountsv1.CreateSiteRequest) (*accountsv1.CreateSiteResponse, error) {
	org := req.GetOrganizationId()
	c, err := s.orgCaller(ctx, org, store.RoleMember)
	if err != nil {
		return nil, err
	}
	name, err := checkName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	domains, err := s.checkDomains(req.GetDomains())
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrganization(ctx, org)
	if err != nil {
		return nil, s.storeErr(ctx, "get organization", err)
	}
	st, err := s.store.CreateSite(ctx, store.Site{OrganizationID: org, Name: name, SiteKey: newSiteKey(), Domains: domains,
		Settings: defaultSettings(o.Plan)}, o.Plan.MaxSites)
	if err != nil {
		return nil, s.storeErr(ctx, "create site", err)
	}
	s.audit(ctx, org, c.UserID, "site.create", target("site", st.ID))
	return &accountsv1.CreateSiteResponse{Site: sitePB(st)}, nil
}

// GetSite returns one site. Other services call it with the dashboard
// caller's metadata to check access to a site: it costs the caller lookup
// plus one site read.
func (s *Service) GetSite(ctx context.Context, req *accountsv1.GetSiteRequest) (*accountsv1.GetSiteResponse, error) {
	_, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleViewer)
	if err != nil {
		return nil, err
	}
	return &accountsv1.GetSiteResponse{Site: sitePB(st)}, nil
}

// ListSites lists an organisation's sites.
func (s *Service) ListSites(ctx context.Context, req *accountsv1.ListSitesRequest) (*accountsv1.ListSitesResponse, error) {
	sites, next, err := listOrgPage(ctx, s, req, store.RoleViewer, "list sites", func(org int64, p pager) ([]store.Site, error) {
		return s.store.ListSites(ctx, org, p.after())
	}, func(s store.Site) int64 { return s.ID }, sitePB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListSitesResponse{Sites: sites, NextPageToken: next}, nil
}

// UpdateSite renames a site (member or above).
func (s *Service) UpdateSite(ctx context.Context, req *accountsv1.UpdateSiteRequest) (*accountsv1.UpdateSiteResponse, error) {
	c, cur, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleMember)
	if err != nil {
		return nil, err
	}
	name, err := checkName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	st, err := s.store.RenameSite(ctx, cur.ID, name)
	if err != nil {
		return nil, s.storeErr(ctx, "update site", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "site.update", target("site", st.ID))
	return &accountsv1.UpdateSiteResponse{Site: sitePB(st)}, nil
}

// DeleteSite deletes a site (admin or owner).
func (s *Service) DeleteSite(ctx context.Context, req *accountsv1.DeleteSiteRequest) (*accountsv1.DeleteSiteResponse, error) {
	c, cur, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteSite(ctx, cur.ID); err != nil {
		return nil, s.storeErr(ctx, "delete site", err)
	}
	s.audit(ctx, cur.OrganizationID, c.UserID, "site.delete", target("site", cur.ID))
	return &accountsv1.DeleteSiteResponse{}, nil
}

// AddSiteDomain allows a host or wildcard; a domain is on at most one site
// of an organisation (other organisations may list it too).
func (s *Service) AddSiteDomain(ctx context.Context, req *accountsv1.AddSiteDomainRequest) (*accountsv1.AddSiteDomainResponse, error) {
	st, err := s.editDomain(ctx, req, "add", func(id int64, d string) (store.Site, error) {
		return s.store.AddSiteDomain(ctx, id, d, s.cfg.MaxDomainsPerSite)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.AddSiteDomainResponse{Site: st}, nil
}

// domainRequest names a site and one of its domains.
type domainRequest interface {
	GetSiteId() int64
	GetDomain() string
}

// editDomain adds or removes (verb) the request's domain, normalised, on
// a site the caller may edit, through edit; it audits "site.domain_<verb>".
func (s *Service) editDomain(ctx context.Context, req domainRequest, verb string, edit func(site int64, d string) (store.Site, error)) (*accountsv1.Site, error) {
	c, cur, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleMember)
	if err != nil {
		return nil, err
	}
	d, err := sitedomain.Normalize(req.GetDomain())
	if err != nil {
		return nil, invalid("domain: %v", err)
	}
	st, err := edit(cur.ID, d)
	if err != nil {
		return nil, s.storeErr(ctx, verb+" domain", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "site.domain_"+verb, fmt.Sprintf("site:%d domain:%s", st.ID, d))
	return sitePB(st), nil
}

// RemoveSiteDomain removes an allowed domain.
func (s *Service) RemoveSiteDomain(ctx context.Context, req *accountsv1.RemoveSiteDomainRequest) (*accountsv1.RemoveSiteDomainResponse, error) {
	st, err := s.editDomain(ctx, req, "remove", func(id int64, d string) (store.Site, error) {
		return s.store.RemoveSiteDomain(ctx, id, d)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.RemoveSiteDomainResponse{Site: st}, nil
}

// GetSiteSettings returns how a site is recorded.
func (s *Service) GetSiteSettings(ctx context.Context, req *accountsv1.GetSiteSettingsRequest) (*accountsv1.GetSiteSettingsResponse, error) {
	_, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleViewer)
	if err != nil {
		return nil, err
	}
	return &accountsv1.GetSiteSettingsResponse{Settings: settingsPB(st.Settings)}, nil
}

var settingsPaths = []string{"recording_enabled", "sample_rate", "mask_all_text", "mask_selectors", "block_selectors",
	"unmask_selectors", "retention_days", "respect_do_not_track", "require_consent",
	"capture_assets", "record_canvas", "feedback", "time_zone", "cold_after_days"}

// UpdateSiteSettings changes the fields named in the update mask (all when
// it is empty).
func (s *Service) UpdateSiteSettings(ctx context.Context, req *accountsv1.UpdateSiteSettingsRequest) (*accountsv1.UpdateSiteSettingsResponse, error) {
	c, cur, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleMember)
	if err != nil {
		return nil, err
	}
	if req.GetSettings() == nil {
		return nil, invalid("settings is required")
	}
	in := settingsFromPB(req.GetSettings())
	next := cur.Settings
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		next = in
	}
	for _, p := range paths {
		switch p {
		case "recording_enabled":
			next.RecordingEnabled = in.RecordingEnabled
		case "sample_rate":
			next.SampleRate = in.SampleRate
		case "mask_all_text":
			next.MaskAllText = in.MaskAllText
		case "mask_selectors":
			next.MaskSelectors = in.MaskSelectors
		case "block_selectors":
			next.BlockSelectors = in.BlockSelectors
		case "unmask_selectors":
			next.UnmaskSelectors = in.UnmaskSelectors
		case "retention_days":
			next.RetentionDays = in.RetentionDays
		case "respect_do_not_track":
			next.RespectDoNotTrack = in.RespectDoNotTrack
		case "require_consent":
			next.RequireConsent = in.RequireConsent
		case "capture_assets":
			next.CaptureAssets = in.CaptureAssets
		case "record_canvas":
			next.RecordCanvas = in.RecordCanvas
		case "feedback":
			next.Feedback = in.Feedback
		case "time_zone":
			next.TimeZone = in.TimeZone
		case "cold_after_days":
			next.ColdAfterDays = in.ColdAfterDays
		default:
			return nil, invalid("update_mask: unknown field %q (want one of %s)", p, strings.Join(settingsPaths, ", "))
		}
	}
	o, err := s.store.GetOrganization(ctx, cur.OrganizationID)
	if err != nil {
		return nil, s.storeErr(ctx, "get organization", err)
	}
	if next, err = checkSettings(next, o.Plan); err != nil {
		return nil, err
	}
	st, err := s.store.UpdateSiteSettings(ctx, cur.ID, next)
	if err != nil {
		return nil, s.storeErr(ctx, "update settings", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "site.settings_update", target("site", st.ID))
	return &accountsv1.UpdateSiteSettingsResponse{Settings: settingsPB(st.Settings)}, nil
}

func checkSiteKey(k string) error {
	if k == "" {
		return invalid("site_key is required")
	}
	if len(k) > maxSiteKeyBytes || !strings.HasPrefix(k, siteKeyPrefix) || !wireid.URLSafe(k) {
		return invalid("site_key is malformed: want k_ followed by letters, digits, '-' or '_'")
	}
	return nil
}

// GetSiteConfig returns what ingest needs about a site. Internal: ingest
// calls it without a user (the gateway has no route to it).
func (s *Service) GetSiteConfig(ctx context.Context, req *accountsv1.GetSiteConfigRequest) (*accountsv1.GetSiteConfigResponse, error) {
	if err := checkSiteKey(req.GetSiteKey()); err != nil {
		return nil, err
	}
	now := time.Now()
	c, err := s.store.GetSiteConfig(ctx, req.GetSiteKey(), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no site has key %q", req.GetSiteKey())
	}
	if err != nil {
		return nil, s.internal(ctx, "get site config", err)
	}
	surveys, err := activeSurveys(c.Surveys, now)
	if err != nil {
		return nil, s.internal(ctx, "get site config", err)
	}
	// The etag below hashes the whole response, surveys and the widget
	// included, so any change to them changes it.
	resp := &accountsv1.GetSiteConfigResponse{
		Surveys:        surveys,
		SiteId:         c.Site.ID,
		OrganizationId: c.Site.OrganizationID,
		SiteKey:        c.Site.SiteKey,
		Domains:        c.Site.Domains,
		Settings:       settingsPB(c.Site.Settings),
		Plan:           planPB(c.Plan),
		FeatureFlags:   c.Flags,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
	if err != nil {
		return nil, s.internal(ctx, "etag", err)
	}
	sum := sha256.Sum256(b)
	resp.Etag = hex.EncodeToString(sum[:12])
	return resp, nil
}

// LeaseSessionQuota grants up to `requested` sessions of a site's daily
// quota. Internal: ingest calls it without a user.
//
// The day's row is updated atomically (one upsert), so the total granted
// across all ingest processes never exceeds the plan's sessions_per_day:
// accounts itself never overshoots. Ingest admits a session only against a
// lease it holds, so the bound on sessions recorded is the limit; what a
// process holds unused when it dies is lost for the day (undershoot at most
// the sum of outstanding leases). Overshoot can only come from ingest
// admitting sessions while accounts is unreachable, if it chooses to fail
// open; that is bounded by ingest, not here.
func (s *Service) LeaseSessionQuota(ctx context.Context, req *accountsv1.LeaseSessionQuotaRequest) (*accountsv1.LeaseSessionQuotaResponse, error) {
	if err := checkID("site_id", req.GetSiteId()); err != nil {
		return nil, err
	}
	if req.GetRequested() <= 0 {
		return nil, invalid("requested must be positive")
	}
	if len(req.GetHolder()) > 128 {
		return nil, invalid("holder is longer than 128 bytes")
	}
	day, err := time.Parse(time.DateOnly, req.GetDay())
	if err != nil {
		return nil, invalid("day must be a UTC date YYYY-MM-DD; got %q", req.GetDay())
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if d := day.Sub(today); d < -24*time.Hour || d > 24*time.Hour {
		return nil, invalid("day %s is not within a day of today (%s UTC)", req.GetDay(), today.Format(time.DateOnly))
	}
	st, err := s.store.GetSite(ctx, req.GetSiteId())
	if err != nil {
		return nil, s.storeErr(ctx, "get site", err)
	}
	o, err := s.store.GetOrganization(ctx, st.OrganizationID)
	if err != nil {
		return nil, s.storeErr(ctx, "get organization", err)
	}
	if o.Plan.SessionsPerDay <= 0 {
		// Unlimited: nothing to share out, so nothing to write.
		return &accountsv1.LeaseSessionQuotaResponse{Granted: min(req.GetRequested(), s.cfg.MaxLease)}, nil
	}
	l, err := s.store.LeaseSessionQuota(ctx, st.ID, day.Format(time.DateOnly), min(req.GetRequested(), s.cfg.MaxLease), o.Plan.SessionsPerDay)
	if err != nil {
		return nil, s.storeErr(ctx, "lease quota", err)
	}
	s.m.quotaGranted.Add(ctx, l.Granted, metric.WithAttributes(attribute.Bool("exhausted", l.Remaining == 0)))
	if l.Granted < req.GetRequested() {
		s.log.InfoContext(ctx, "session quota short", "site_id", st.ID, "day", req.GetDay(), "holder", req.GetHolder(),
			"requested", req.GetRequested(), "granted", l.Granted, "limit", l.Limit)
	}
	return &accountsv1.LeaseSessionQuotaResponse{Granted: l.Granted, Remaining: l.Remaining, Limit: l.Limit}, nil
}
