package accounts

import (
	"context"
	"fmt"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// A site object is something saved per site and named by a kind ("funnel",
// "survey"): its RPCs authorise, read, decode, write and audit in the same
// steps, with the same codes and messages, whatever the kind.

// siteObjectTarget names a site object in the audit log.
func siteObjectTarget(site int64, kind string, id int64) string {
	return fmt.Sprintf("site:%d %s:%d", site, kind, id)
}

// siteObjectCaller is siteCaller for a call about one object of the site:
// it checks the object's id too (field "<kind>_id").
func (s *Service) siteObjectCaller(ctx context.Context, site int64, min store.Role, kind string, id int64) (*caller, store.Site, error) {
	c, st, err := s.siteCaller(ctx, site, min)
	if err != nil {
		return nil, store.Site{}, err
	}
	if err := checkID(kind+"_id", id); err != nil {
		return nil, store.Site{}, err
	}
	return c, st, nil
}

// listSiteObjects reads a site's objects through list (viewer or above)
// and decodes them.
func listSiteObjects[T, P any](ctx context.Context, s *Service, site int64, kind string, list func(site int64) ([]T, error), decode func(T) (P, error)) ([]P, error) {
	op := "list " + kind + "s"
	_, st, err := s.siteCaller(ctx, site, store.RoleViewer)
	if err != nil {
		return nil, err
	}
	rows, err := list(st.ID)
	if err != nil {
		return nil, s.storeErr(ctx, op, err)
	}
	out := make([]P, 0, len(rows))
	for _, r := range rows {
		p, err := decode(r)
		if err != nil {
			return nil, s.internal(ctx, op, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// getSiteObject reads one object of a site through get (viewer or above)
// and decodes it.
func getSiteObject[T, P any](ctx context.Context, s *Service, site int64, kind string, id int64, get func(site, id int64) (T, error), decode func(T) (P, error)) (P, error) {
	var none P
	op := "get " + kind
	_, st, err := s.siteObjectCaller(ctx, site, store.RoleViewer, kind, id)
	if err != nil {
		return none, err
	}
	row, err := get(st.ID, id)
	if err != nil {
		return none, s.storeErr(ctx, op, err)
	}
	p, err := decode(row)
	if err != nil {
		return none, s.internal(ctx, op, err)
	}
	return p, nil
}

// savedSiteObject decodes the row c has just written on st with id and
// audits "<kind>.<verb>".
func savedSiteObject[T, P any](ctx context.Context, s *Service, c *caller, st store.Site, kind, verb string, row T, id int64, decode func(T) (P, error)) (P, error) {
	p, err := decode(row)
	if err != nil {
		var none P
		return none, s.internal(ctx, verb+" "+kind, err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, kind+"."+verb, siteObjectTarget(st.ID, kind, id))
	return p, nil
}

// deleteSiteObject deletes one object of a site through del (admin or
// owner) and audits "<kind>.delete".
func (s *Service) deleteSiteObject(ctx context.Context, site int64, kind string, id int64, del func(site, id int64) error) error {
	c, st, err := s.siteObjectCaller(ctx, site, store.RoleAdmin, kind, id)
	if err != nil {
		return err
	}
	if err := del(st.ID, id); err != nil {
		return s.storeErr(ctx, "delete "+kind, err)
	}
	s.audit(ctx, st.OrganizationID, c.UserID, kind+".delete", siteObjectTarget(st.ID, kind, id))
	return nil
}
