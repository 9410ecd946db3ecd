package accounts

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// maxFunnelsPerSite bounds a site's saved funnels (each is computed on
// demand, so the bound is for the list, not for storage).
const maxFunnelsPerSite = 100

// Steps are stored as the protojson of a Funnel holding only its steps,
// like surveys' definitions: readable in a database console or a backup
// without the proto descriptors, and read with DiscardUnknown so rows a
// newer release wrote stay readable by an older one during a rollout.
func encodeSteps(f *accountsv1.Funnel) ([]byte, error) {
	b, err := protojson.Marshal(&accountsv1.Funnel{Steps: f.GetSteps()})
	if err != nil {
		return nil, fmt.Errorf("encode funnel steps: %w", err)
	}
	return b, nil
}

// decodeFunnel turns a stored funnel into its proto.
func decodeFunnel(f store.Funnel) (*accountsv1.Funnel, error) {
	p := &accountsv1.Funnel{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(f.Steps, p); err != nil {
		return nil, fmt.Errorf("decode funnel %d: %w", f.ID, err)
	}
	p.Id, p.SiteId, p.Name = f.ID, f.SiteID, f.Name
	p.CreateTime, p.UpdateTime = tspb(f.CreateTime), tspb(f.UpdateTime)
	return p, nil
}

// ListFunnels lists a site's funnels, newest first (viewer or above).
func (s *Service) ListFunnels(ctx context.Context, req *accountsv1.ListFunnelsRequest) (*accountsv1.ListFunnelsResponse, error) {
	fs, err := listSiteObjects(ctx, s, req.GetSiteId(), "funnel", func(site int64) ([]store.Funnel, error) {
		return s.store.ListFunnels(ctx, site)
	}, decodeFunnel)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListFunnelsResponse{Funnels: fs}, nil
}

// GetFunnel returns one funnel (viewer or above).
func (s *Service) GetFunnel(ctx context.Context, req *accountsv1.GetFunnelRequest) (*accountsv1.GetFunnelResponse, error) {
	f, err := getSiteObject(ctx, s, req.GetSiteId(), "funnel", req.GetFunnelId(), func(site, id int64) (store.Funnel, error) {
		return s.store.GetFunnel(ctx, site, id)
	}, decodeFunnel)
	if err != nil {
		return nil, err
	}
	return &accountsv1.GetFunnelResponse{Funnel: f}, nil
}

// CreateFunnel saves a funnel (admin or owner).
func (s *Service) CreateFunnel(ctx context.Context, req *accountsv1.CreateFunnelRequest) (*accountsv1.CreateFunnelResponse, error) {
	c, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	out, err := s.saveFunnel(ctx, c, st, "create", req.GetFunnel(), func(f store.Funnel) (store.Funnel, error) {
		return s.store.CreateFunnel(ctx, f, maxFunnelsPerSite)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.CreateFunnelResponse{Funnel: out}, nil
}

// UpdateFunnel replaces a funnel's name and steps (admin or owner).
func (s *Service) UpdateFunnel(ctx context.Context, req *accountsv1.UpdateFunnelRequest) (*accountsv1.UpdateFunnelResponse, error) {
	c, st, err := s.siteObjectCaller(ctx, req.GetSiteId(), store.RoleAdmin, "funnel", req.GetFunnelId())
	if err != nil {
		return nil, err
	}
	out, err := s.saveFunnel(ctx, c, st, "update", req.GetFunnel(), func(f store.Funnel) (store.Funnel, error) {
		f.ID = req.GetFunnelId()
		return s.store.UpdateFunnel(ctx, f)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.UpdateFunnelResponse{Funnel: out}, nil
}

// saveFunnel checks the funnel in, saves it on st through save and audits
// "funnel.<verb>"; "<verb> funnel" names the call in errors.
func (s *Service) saveFunnel(ctx context.Context, c *caller, st store.Site, verb string, in *accountsv1.Funnel, save func(store.Funnel) (store.Funnel, error)) (*accountsv1.Funnel, error) {
	op := verb + " funnel"
	f, err := checkFunnel(in)
	if err != nil {
		return nil, err
	}
	steps, err := encodeSteps(f)
	if err != nil {
		return nil, s.internal(ctx, op, err)
	}
	row, err := save(store.Funnel{SiteID: st.ID, Name: f.GetName(), Steps: steps})
	if err != nil {
		return nil, s.storeErr(ctx, op, err)
	}
	return savedSiteObject(ctx, s, c, st, "funnel", verb, row, row.ID, decodeFunnel)
}

// DeleteFunnel deletes a saved funnel (admin or owner); the traffic it was
// computed from stays.
func (s *Service) DeleteFunnel(ctx context.Context, req *accountsv1.DeleteFunnelRequest) (*accountsv1.DeleteFunnelResponse, error) {
	err := s.deleteSiteObject(ctx, req.GetSiteId(), "funnel", req.GetFunnelId(), func(site, id int64) error {
		return s.store.DeleteFunnel(ctx, site, id)
	})
	if err != nil {
		return nil, err
	}
	return &accountsv1.DeleteFunnelResponse{}, nil
}
