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

func checkFunnelID(id int64) error {
	if id <= 0 {
		return invalid("funnel_id must be a positive id")
	}
	return nil
}

func funnelTarget(site, id int64) string { return fmt.Sprintf("site:%d funnel:%d", site, id) }

// ListFunnels lists a site's funnels, newest first (viewer or above).
func (s *Service) ListFunnels(ctx context.Context, req *accountsv1.ListFunnelsRequest) (*accountsv1.ListFunnelsResponse, error) {
	_, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleViewer)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListFunnels(ctx, st.ID)
	if err != nil {
		return nil, s.storeErr(ctx, "list funnels", err)
	}
	resp := &accountsv1.ListFunnelsResponse{Funnels: make([]*accountsv1.Funnel, 0, len(rows))}
	for _, r := range rows {
		p, err := decodeFunnel(r)
		if err != nil {
			return nil, s.internal(ctx, "list funnels", err)
		}
		resp.Funnels = append(resp.Funnels, p)
	}
	return resp, nil
}

// GetFunnel returns one funnel (viewer or above).
func (s *Service) GetFunnel(ctx context.Context, req *accountsv1.GetFunnelRequest) (*accountsv1.GetFunnelResponse, error) {
	_, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleViewer)
	if err != nil {
		return nil, err
	}
	if err := checkFunnelID(req.GetFunnelId()); err != nil {
		return nil, err
	}
	row, err := s.store.GetFunnel(ctx, st.ID, req.GetFunnelId())
	if err != nil {
		return nil, s.storeErr(ctx, "get funnel", err)
	}
	p, err := decodeFunnel(row)
	if err != nil {
		return nil, s.internal(ctx, "get funnel", err)
	}
	return &accountsv1.GetFunnelResponse{Funnel: p}, nil
}

// CreateFunnel saves a funnel (admin or owner).
func (s *Service) CreateFunnel(ctx context.Context, req *accountsv1.CreateFunnelRequest) (*accountsv1.CreateFunnelResponse, error) {
	c, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	f, err := checkFunnel(req.GetFunnel())
	if err != nil {
		return nil, err
	}
	steps, err := encodeSteps(f)
	if err != nil {
		return nil, s.internal(ctx, "create funnel", err)
	}
	row, err := s.store.CreateFunnel(ctx, store.Funnel{SiteID: st.ID, Name: f.GetName(), Steps: steps}, maxFunnelsPerSite)
	if err != nil {
		return nil, s.storeErr(ctx, "create funnel", err)
	}
	out, err := decodeFunnel(row)
	if err != nil {
		return nil, s.internal(ctx, "create funnel", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "funnel.create", funnelTarget(st.ID, row.ID))
	return &accountsv1.CreateFunnelResponse{Funnel: out}, nil
}

// UpdateFunnel replaces a funnel's name and steps (admin or owner).
func (s *Service) UpdateFunnel(ctx context.Context, req *accountsv1.UpdateFunnelRequest) (*accountsv1.UpdateFunnelResponse, error) {
	c, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := checkFunnelID(req.GetFunnelId()); err != nil {
		return nil, err
	}
	f, err := checkFunnel(req.GetFunnel())
	if err != nil {
		return nil, err
	}
	steps, err := encodeSteps(f)
	if err != nil {
		return nil, s.internal(ctx, "update funnel", err)
	}
	row, err := s.store.UpdateFunnel(ctx, store.Funnel{ID: req.GetFunnelId(), SiteID: st.ID, Name: f.GetName(), Steps: steps})
	if err != nil {
		return nil, s.storeErr(ctx, "update funnel", err)
	}
	out, err := decodeFunnel(row)
	if err != nil {
		return nil, s.internal(ctx, "update funnel", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "funnel.update", funnelTarget(st.ID, row.ID))
	return &accountsv1.UpdateFunnelResponse{Funnel: out}, nil
}

// DeleteFunnel deletes a saved funnel (admin or owner); the traffic it was
// computed from stays.
func (s *Service) DeleteFunnel(ctx context.Context, req *accountsv1.DeleteFunnelRequest) (*accountsv1.DeleteFunnelResponse, error) {
	c, st, err := s.siteCaller(ctx, req.GetSiteId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := checkFunnelID(req.GetFunnelId()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteFunnel(ctx, st.ID, req.GetFunnelId()); err != nil {
		return nil, s.storeErr(ctx, "delete funnel", err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, "funnel.delete", funnelTarget(st.ID, req.GetFunnelId()))
	return &accountsv1.DeleteFunnelResponse{}, nil
}
