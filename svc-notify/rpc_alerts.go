package notify

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// rulePB decodes a stored rule; a rule that does not decode is a bug or a
// damaged row, logged and answered Internal.
func (s *Service) rulePB(ctx context.Context, r store.AlertRule) (*notifyv1.AlertRule, error) {
	pb, err := DecodeRule(r)
	if err != nil {
		return nil, s.internal(ctx, "decode alert rule", err)
	}
	return pb, nil
}

// ruleFromRequest checks a rule's condition and encodes it for the store.
func ruleFromRequest(r *notifyv1.AlertRule) (kind string, params []byte, err error) {
	kind, cond, err := checkCondition(r)
	if err != nil {
		return "", nil, err
	}
	params, err = encodeCondition(cond)
	if err != nil {
		return "", nil, status.Errorf(codes.InvalidArgument, "rule: %v", err)
	}
	return kind, params, nil
}

// ListAlertRules implements notifyv1.NotifyServiceServer: the caller's
// rules on the site.
func (s *Service) ListAlertRules(ctx context.Context, req *notifyv1.ListAlertRulesRequest) (*notifyv1.ListAlertRulesResponse, error) {
	c, err := s.admit(ctx, req.GetSiteId(), needUser, req)
	if err != nil {
		return nil, err
	}
	rs, err := s.store.ListAlertRules(ctx, req.GetSiteId(), c.userID)
	if err != nil {
		return nil, s.storeErr(ctx, "list alert rules", "site", err)
	}
	out := &notifyv1.ListAlertRulesResponse{Rules: make([]*notifyv1.AlertRule, 0, len(rs))}
	for _, r := range rs {
		pb, err := s.rulePB(ctx, r)
		if err != nil {
			return nil, err
		}
		out.Rules = append(out.Rules, pb)
	}
	return out, nil
}

// admitRule admits the user of a request carrying a rule on the rule's
// site.
func (s *Service) admitRule(ctx context.Context, rule *notifyv1.AlertRule, req proto.Message) (siteCaller, error) {
	if rule == nil {
		return siteCaller{}, invalidf("rule is required")
	}
	return s.admit(ctx, rule.GetSiteId(), needUser, req)
}

// CreateAlertRule implements notifyv1.NotifyServiceServer: a rule for the
// caller (id, user and times in the request are ignored).
func (s *Service) CreateAlertRule(ctx context.Context, req *notifyv1.CreateAlertRuleRequest) (*notifyv1.CreateAlertRuleResponse, error) {
	c, err := s.admitRule(ctx, req.GetRule(), req)
	if err != nil {
		return nil, err
	}
	kind, params, err := ruleFromRequest(req.GetRule())
	if err != nil {
		return nil, err
	}
	r, err := s.store.CreateAlertRule(ctx, store.AlertRule{
		SiteID: req.GetRule().GetSiteId(), UserID: c.userID, Enabled: req.GetRule().GetEnabled(), Kind: kind, Params: params,
	}, s.cfg.Alerts.MaxRulesPerUserSite)
	if errors.Is(err, store.ErrLimit) {
		return nil, status.Errorf(codes.ResourceExhausted, "you already have %d alert rules on this site, the most allowed (notify.alerts.max-rules-per-user-site); delete one first", s.cfg.Alerts.MaxRulesPerUserSite)
	}
	if err != nil {
		return nil, s.storeErr(ctx, "create alert rule", "site", err)
	}
	pb, err := s.rulePB(ctx, r)
	if err != nil {
		return nil, err
	}
	return &notifyv1.CreateAlertRuleResponse{Rule: pb}, nil
}

// UpdateAlertRule implements notifyv1.NotifyServiceServer: replaces the
// condition and enabled state of one of the caller's rules.
func (s *Service) UpdateAlertRule(ctx context.Context, req *notifyv1.UpdateAlertRuleRequest) (*notifyv1.UpdateAlertRuleResponse, error) {
	c, err := s.admitRule(ctx, req.GetRule(), req)
	if err != nil {
		return nil, err
	}
	id := req.GetRule().GetId()
	if err := checkID("rule.id", id); err != nil {
		return nil, err
	}
	kind, params, err := ruleFromRequest(req.GetRule())
	if err != nil {
		return nil, err
	}
	r, err := s.store.GetAlertRule(ctx, req.GetRule().GetSiteId(), c.userID, id)
	if err != nil {
		return nil, s.storeErr(ctx, "get alert rule", "alert rule "+strconv.FormatInt(id, 10), err)
	}
	r.Enabled, r.Kind, r.Params = req.GetRule().GetEnabled(), kind, params
	if r, err = s.store.UpdateAlertRule(ctx, r); err != nil {
		return nil, s.storeErr(ctx, "update alert rule", "alert rule "+strconv.FormatInt(id, 10), err)
	}
	pb, err := s.rulePB(ctx, r)
	if err != nil {
		return nil, err
	}
	return &notifyv1.UpdateAlertRuleResponse{Rule: pb}, nil
}

// DeleteAlertRule implements notifyv1.NotifyServiceServer.
func (s *Service) DeleteAlertRule(ctx context.Context, req *notifyv1.DeleteAlertRuleRequest) (*notifyv1.DeleteAlertRuleResponse, error) {
	c, err := s.admit(ctx, req.GetSiteId(), needUser, req)
	if err != nil {
		return nil, err
	}
	if err := checkID("rule_id", req.GetRuleId()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteAlertRule(ctx, req.GetSiteId(), c.userID, req.GetRuleId()); err != nil {
		return nil, s.storeErr(ctx, "delete alert rule", "alert rule "+strconv.FormatInt(req.GetRuleId(), 10), err)
	}
	return &notifyv1.DeleteAlertRuleResponse{}, nil
}

// ListAlerts implements notifyv1.NotifyServiceServer: every alert fired on
// the site, newest first (member).
func (s *Service) ListAlerts(ctx context.Context, req *notifyv1.ListAlertsRequest) (*notifyv1.ListAlertsResponse, error) {
	if _, err := s.admit(ctx, req.GetSiteId(), needMember, req); err != nil {
		return nil, err
	}
	as, next, err := readPage(ctx, s, req, "list alerts", "site", func(p store.Page) ([]store.Alert, error) {
		return s.store.ListAlerts(ctx, req.GetSiteId(), p)
	}, func(a store.Alert) int64 { return a.ID }, alertPB)
	if err != nil {
		return nil, err
	}
	return &notifyv1.ListAlertsResponse{Alerts: as, NextPageToken: next}, nil
}

// GetDigestSubscription implements notifyv1.NotifyServiceServer: the
// caller's frequency, OFF when never set.
func (s *Service) GetDigestSubscription(ctx context.Context, req *notifyv1.GetDigestSubscriptionRequest) (*notifyv1.GetDigestSubscriptionResponse, error) {
	c, err := s.admit(ctx, req.GetSiteId(), needUser, req)
	if err != nil {
		return nil, err
	}
	sub, err := s.store.GetDigestSubscription(ctx, c.userID, req.GetSiteId())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &notifyv1.GetDigestSubscriptionResponse{Frequency: notifyv1.DigestFrequency_DIGEST_FREQUENCY_OFF}, nil
	case err != nil:
		return nil, s.storeErr(ctx, "get digest subscription", "digest subscription", err)
	}
	return &notifyv1.GetDigestSubscriptionResponse{Frequency: notifyv1.DigestFrequency(sub.Frequency)}, nil
}

// UpdateDigestSubscription implements notifyv1.NotifyServiceServer.
func (s *Service) UpdateDigestSubscription(ctx context.Context, req *notifyv1.UpdateDigestSubscriptionRequest) (*notifyv1.UpdateDigestSubscriptionResponse, error) {
	c, err := s.admit(ctx, req.GetSiteId(), needUser, req)
	if err != nil {
		return nil, err
	}
	f := req.GetFrequency()
	switch f {
	case notifyv1.DigestFrequency_DIGEST_FREQUENCY_OFF, notifyv1.DigestFrequency_DIGEST_FREQUENCY_DAILY, notifyv1.DigestFrequency_DIGEST_FREQUENCY_WEEKLY:
	default:
		return nil, invalidf("frequency must be DIGEST_FREQUENCY_OFF, DIGEST_FREQUENCY_DAILY or DIGEST_FREQUENCY_WEEKLY, got %v", f)
	}
	sub, err := s.store.SetDigestSubscription(ctx, store.DigestSubscription{UserID: c.userID, SiteID: req.GetSiteId(), Frequency: store.Frequency(f)})
	if err != nil {
		return nil, s.storeErr(ctx, "set digest subscription", "site", err)
	}
	return &notifyv1.UpdateDigestSubscriptionResponse{Frequency: notifyv1.DigestFrequency(sub.Frequency)}, nil
}

// Unsubscribe implements notifyv1.NotifyServiceServer. The token is the
// credential; it only ever turns something off, so a repeated click (or a
// rule deleted since) answers as the first did.
func (s *Service) Unsubscribe(ctx context.Context, req *notifyv1.UnsubscribeRequest) (*notifyv1.UnsubscribeResponse, error) {
	if err := checkNoUnknown("request", req.ProtoReflect()); err != nil {
		return nil, err
	}
	tok := req.GetToken()
	if tok == "" {
		return nil, invalidf("token is required: open the link from the e-mail")
	}
	if len(tok) > maxUnsubscribeTokenBytes {
		return nil, status.Error(codes.InvalidArgument, "this unsubscribe link is not valid")
	}
	u, err := s.parseUnsubscribeToken(tok)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "this unsubscribe link is not valid")
	}
	switch u.Kind {
	case UnsubscribeDigest:
		_, err = s.store.SetDigestSubscription(ctx, store.DigestSubscription{UserID: u.UserID, SiteID: u.SiteID, Frequency: store.FrequencyOff})
	case UnsubscribeAlert:
		var r store.AlertRule
		r, err = s.store.GetAlertRule(ctx, u.SiteID, u.UserID, u.RuleID)
		if err == nil && r.Enabled {
			r.Enabled = false
			_, err = s.store.UpdateAlertRule(ctx, r)
		}
		if errors.Is(err, store.ErrNotFound) {
			err = nil // deleted since the e-mail: nothing left to turn off
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "this unsubscribe link is not valid")
	}
	if err != nil {
		return nil, s.storeErr(ctx, "unsubscribe", u.Kind, err)
	}
	return &notifyv1.UnsubscribeResponse{Kind: u.Kind, SiteId: u.SiteID, SiteName: s.siteName(ctx, u.SiteID, u.UserID)}, nil
}

// siteName asks accounts for a site's name for the unsubscribe page; the
// page does without it when accounts cannot say (the unsubscribe is done).
func (s *Service) siteName(ctx context.Context, siteID, userID int64) string {
	if s.deps.AccountsInternal == nil {
		return ""
	}
	resp, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{SiteId: siteID, UserIds: []int64{userID}})
	if err != nil {
		s.log.WarnContext(ctx, "notify: unsubscribe: site name", "site", siteID, "err", err)
		return ""
	}
	return resp.GetSiteName()
}
