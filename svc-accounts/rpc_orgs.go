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

// CreateOrganization creates an organisation owned by the caller.
func (s *Service) CreateOrganization(ctx context.Context, req *accountsv1.CreateOrganizationRequest) (*accountsv1.CreateOrganizationResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := userOnly(c, "create organizations"); err != nil {
		return nil, err
	}
	name, err := checkName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if len(c.Memberships) >= s.cfg.MaxOrganizationsPerUser {
		return nil, status.Errorf(codes.ResourceExhausted, "you already belong to %d organizations, the most allowed", len(c.Memberships))
	}
	o, err := s.store.CreateOrganization(ctx, name, c.UserID, s.cfg.plan())
	if err != nil {
		return nil, s.storeErr(ctx, "create organization", err)
	}
	s.audit(ctx, o.ID, c.UserID, "organization.create", target("organization", o.ID))
	return &accountsv1.CreateOrganizationResponse{Organization: orgPB(o)}, nil
}

// GetOrganization returns one of the caller's organisations.
func (s *Service) GetOrganization(ctx context.Context, req *accountsv1.GetOrganizationRequest) (*accountsv1.GetOrganizationResponse, error) {
	_, err := s.orgCaller(ctx, req.GetOrganizationId(), store.RoleViewer)
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrganization(ctx, req.GetOrganizationId())
	if err != nil {
		return nil, s.storeErr(ctx, "get organization", err)
	}
	return &accountsv1.GetOrganizationResponse{Organization: orgPB(o)}, nil
}

// ListOrganizations lists the caller's organisations (an API key: its own).
func (s *Service) ListOrganizations(ctx context.Context, req *accountsv1.ListOrganizationsRequest) (*accountsv1.ListOrganizationsResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	orgs, next, err := listPage(ctx, s, req, "list organizations", func(p pager) ([]store.Organization, error) {
		if !c.isAPIKey() {
			return s.store.ListOrganizations(ctx, c.UserID, p.after())
		}
		org := c.Memberships[0].OrganizationID
		if p.cursor >= org {
			return nil, nil
		}
		o, err := s.store.GetOrganization(ctx, org)
		if err != nil {
			return nil, s.storeErr(ctx, "get organization", err)
		}
		return []store.Organization{o}, nil
	}, func(o store.Organization) int64 { return o.ID }, orgPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListOrganizationsResponse{Organizations: orgs, NextPageToken: next}, nil
}

// UpdateOrganization renames an organisation (admin or owner).
func (s *Service) UpdateOrganization(ctx context.Context, req *accountsv1.UpdateOrganizationRequest) (*accountsv1.UpdateOrganizationResponse, error) {
	c, err := s.orgCaller(ctx, req.GetOrganizationId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	name, err := checkName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	o, err := s.store.RenameOrganization(ctx, req.GetOrganizationId(), name)
	if err != nil {
		return nil, s.storeErr(ctx, "update organization", err)
	}
	s.audit(ctx, o.ID, c.UserID, "organization.update", target("organization", o.ID))
	return &accountsv1.UpdateOrganizationResponse{Organization: orgPB(o)}, nil
}

// ListMembers lists an organisation's members.
func (s *Service) ListMembers(ctx context.Context, req *accountsv1.ListMembersRequest) (*accountsv1.ListMembersResponse, error) {
	ms, next, err := listOrgPage(ctx, s, req, store.RoleViewer, "list members", func(org int64, p pager) ([]store.Member, error) {
		return s.store.ListMembers(ctx, org, p.after())
	}, func(m store.Member) int64 { return m.User.ID }, memberPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListMembersResponse{Members: ms, NextPageToken: next}, nil
}

func checkRole(r accountsv1.Role) (store.Role, error) {
	sr := store.Role(r)
	if !sr.Valid() {
		return 0, invalid("role must be ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER")
	}
	return sr, nil
}

// grantable checks r is a role c may hand out in org: a valid one no
// higher than c's own there; refusal is the PermissionDenied message, given
// c's role name.
func grantable(c *caller, org int64, r accountsv1.Role, refusal string) (store.Role, error) {
	role, err := checkRole(r)
	if err != nil {
		return 0, err
	}
	if !c.role(org).AtLeast(role) {
		return 0, status.Errorf(codes.PermissionDenied, refusal, roleNames[c.role(org)])
	}
	return role, nil
}

// UpdateMemberRole changes a member's role (admin or owner; only owners
// grant or take away the owner role).
func (s *Service) UpdateMemberRole(ctx context.Context, req *accountsv1.UpdateMemberRoleRequest) (*accountsv1.UpdateMemberRoleResponse, error) {
	org := req.GetOrganizationId()
	c, err := s.orgCaller(ctx, org, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	role, err := checkRole(req.GetRole())
	if err != nil {
		return nil, err
	}
	cur, err := s.store.GetMember(ctx, org, req.GetUserId())
	if err != nil {
		return nil, s.storeErr(ctx, "get member", err)
	}
	if (role == store.RoleOwner || cur.Role == store.RoleOwner) && c.role(org) != store.RoleOwner {
		return nil, status.Error(codes.PermissionDenied, "only an owner can grant or take away the owner role")
	}
	m, err := s.store.UpdateMemberRole(ctx, org, req.GetUserId(), role)
	if err != nil {
		return nil, s.storeErr(ctx, "update member role", err)
	}
	s.audit(ctx, org, c.UserID, "member.role_change", fmt.Sprintf("user:%d role:%s->%s", m.User.ID, roleNames[cur.Role], roleNames[role]))
	return &accountsv1.UpdateMemberRoleResponse{Member: memberPB(m)}, nil
}

// RemoveMember removes a member; anyone may leave, admins remove others,
// only owners remove owners.
func (s *Service) RemoveMember(ctx context.Context, req *accountsv1.RemoveMemberRequest) (*accountsv1.RemoveMemberResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	org := req.GetOrganizationId()
	if err := checkID("organization_id", org); err != nil {
		return nil, err
	}
	self := req.GetUserId() == c.UserID && !c.isAPIKey()
	min := store.RoleAdmin
	if self {
		min = store.RoleViewer
	}
	if err := inOrg(c, org, min); err != nil {
		return nil, err
	}
	cur, err := s.store.GetMember(ctx, org, req.GetUserId())
	if err != nil {
		return nil, s.storeErr(ctx, "get member", err)
	}
	if cur.Role == store.RoleOwner && !self && c.role(org) != store.RoleOwner {
		return nil, status.Error(codes.PermissionDenied, "only an owner can remove an owner")
	}
	if err := s.store.RemoveMember(ctx, org, req.GetUserId()); err != nil {
		return nil, s.storeErr(ctx, "remove member", err)
	}
	s.audit(ctx, org, c.UserID, "member.remove", target("user", req.GetUserId()))
	return &accountsv1.RemoveMemberResponse{}, nil
}

// CreateInvitation invites an e-mail address with a role no higher than
// the inviter's.
func (s *Service) CreateInvitation(ctx context.Context, req *accountsv1.CreateInvitationRequest) (*accountsv1.CreateInvitationResponse, error) {
	org := req.GetOrganizationId()
	c, err := s.orgCaller(ctx, org, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(req.GetEmail())
	if err != nil {
		return nil, err
	}
	role, err := grantable(c, org, req.GetRole(), "you cannot invite with a role above your own (%s)")
	if err != nil {
		return nil, err
	}
	tok := randomToken(invitationPrefix)
	inv, err := s.store.CreateInvitation(ctx, store.Invitation{OrganizationID: org, Email: email, Role: role, TokenHash: hashToken(tok),
		CreatedBy: c.UserID, ExpireTime: time.Now().Add(s.cfg.InvitationTTL)})
	if err != nil {
		return nil, s.storeErr(ctx, "create invitation", err)
	}
	s.audit(ctx, org, c.UserID, "invitation.create", fmt.Sprintf("invitation:%d role:%s", inv.ID, roleNames[role]))
	s.sendInvitation(ctx, c, inv, tok)
	return &accountsv1.CreateInvitationResponse{Invitation: invitationPB(inv), Token: tok}, nil
}

// ListInvitations lists pending invitations (admin or owner).
func (s *Service) ListInvitations(ctx context.Context, req *accountsv1.ListInvitationsRequest) (*accountsv1.ListInvitationsResponse, error) {
	invs, next, err := listOrgPage(ctx, s, req, store.RoleAdmin, "list invitations", func(org int64, p pager) ([]store.Invitation, error) {
		return s.store.ListInvitations(ctx, org, time.Now(), p.after())
	}, func(i store.Invitation) int64 { return i.ID }, invitationPB)
	if err != nil {
		return nil, err
	}
	return &accountsv1.ListInvitationsResponse{Invitations: invs, NextPageToken: next}, nil
}

// RevokeInvitation cancels a pending invitation.
func (s *Service) RevokeInvitation(ctx context.Context, req *accountsv1.RevokeInvitationRequest) (*accountsv1.RevokeInvitationResponse, error) {
	c, err := s.orgCaller(ctx, req.GetOrganizationId(), store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := s.store.RevokeInvitation(ctx, req.GetOrganizationId(), req.GetInvitationId(), time.Now()); err != nil {
		return nil, s.storeErr(ctx, "revoke invitation", err)
	}
	s.audit(ctx, req.GetOrganizationId(), c.UserID, "invitation.revoke", target("invitation", req.GetInvitationId()))
	return &accountsv1.RevokeInvitationResponse{}, nil
}

// AcceptInvitation adds the caller to the inviting organisation; the
// invitation must be addressed to the caller's e-mail.
func (s *Service) AcceptInvitation(ctx context.Context, req *accountsv1.AcceptInvitationRequest) (*accountsv1.AcceptInvitationResponse, error) {
	c, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := userOnly(c, "accept invitations"); err != nil {
		return nil, err
	}
	if !wellFormed(req.GetToken(), invitationPrefix) {
		return nil, invalid("token is not an invitation token (sli_…)")
	}
	m, err := s.store.AcceptInvitation(ctx, hashToken(req.GetToken()), c.UserID, c.Email, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.NotFound, "invitation not found: it may have expired, been revoked or used, or be addressed to another e-mail")
	}
	if err != nil {
		return nil, s.storeErr(ctx, "accept invitation", err)
	}
	s.audit(ctx, m.OrganizationID, c.UserID, "member.join", fmt.Sprintf("user:%d role:%s", c.UserID, roleNames[m.Role]))
	return &accountsv1.AcceptInvitationResponse{Membership: membershipsPB([]store.Membership{m})[0]}, nil
}
