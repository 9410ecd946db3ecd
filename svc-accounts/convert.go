package accounts

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

func tspb(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func userPB(u store.User) *accountsv1.User {
	return &accountsv1.User{Id: u.ID, Email: u.Email, Name: u.Name, CreateTime: tspb(u.CreateTime), Operator: u.Operator,
		EmailVerifyTime: tspb(u.EmailVerifyTime)}
}

func planPB(p store.Plan) *accountsv1.Plan {
	return &accountsv1.Plan{Name: p.Name, SessionsPerDay: p.SessionsPerDay, MaxRetentionDays: p.MaxRetentionDays, MaxSeats: p.MaxSeats, MaxSites: p.MaxSites}
}

func orgPB(o store.Organization) *accountsv1.Organization {
	return &accountsv1.Organization{Id: o.ID, Name: o.Name, Plan: planPB(o.Plan), CreateTime: tspb(o.CreateTime), CustomLimits: o.CustomLimits}
}

func overviewPB(v store.OrganizationOverview) *accountsv1.OrganizationOverview {
	return &accountsv1.OrganizationOverview{Organization: orgPB(v.Organization), SiteCount: v.Sites, MemberCount: v.Members}
}

func membershipsPB(ms []store.Membership) []*accountsv1.Membership {
	out := make([]*accountsv1.Membership, len(ms))
	for i, m := range ms {
		out[i] = &accountsv1.Membership{OrganizationId: m.OrganizationID, OrganizationName: m.OrganizationName, Role: accountsv1.Role(m.Role)}
	}
	return out
}

func memberPB(m store.Member) *accountsv1.Member {
	return &accountsv1.Member{User: userPB(m.User), Role: accountsv1.Role(m.Role), JoinTime: tspb(m.JoinTime)}
}

func invitationPB(i store.Invitation) *accountsv1.Invitation {
	return &accountsv1.Invitation{Id: i.ID, OrganizationId: i.OrganizationID, Email: i.Email, Role: accountsv1.Role(i.Role),
		ExpireTime: tspb(i.ExpireTime), CreateTime: tspb(i.CreateTime)}
}

func settingsPB(s store.SiteSettings) *accountsv1.SiteSettings {
	return &accountsv1.SiteSettings{
		RecordingEnabled: s.RecordingEnabled, SampleRate: s.SampleRate, MaskAllText: s.MaskAllText,
		MaskSelectors: s.MaskSelectors, BlockSelectors: s.BlockSelectors, UnmaskSelectors: s.UnmaskSelectors,
		RetentionDays: s.RetentionDays, RespectDoNotTrack: s.RespectDoNotTrack, RequireConsent: s.RequireConsent,
		CaptureAssets: s.CaptureAssets, RecordCanvas: s.RecordCanvas, Feedback: feedbackPB(s.Feedback),
		TimeZone: s.TimeZone, ColdAfterDays: s.ColdAfterDays,
	}
}

func feedbackPB(w *store.FeedbackWidget) *accountsv1.FeedbackWidget {
	if w == nil {
		return nil
	}
	out := &accountsv1.FeedbackWidget{Enabled: w.Enabled, Position: accountsv1.FeedbackWidget_Position(w.Position), Color: w.Color,
		Language: w.Language, TabLabel: w.TabLabel, Title: w.Title, CommentPrompt: w.CommentPrompt, Thanks: w.Thanks,
		AllowElement: w.AllowElement}
	for _, p := range w.Pages {
		out.Pages = append(out.Pages, &searchv1.UrlMatch{Operator: searchv1.UrlMatch_Operator(p.Op), Value: p.Value})
	}
	return out
}

func feedbackFromPB(p *accountsv1.FeedbackWidget) *store.FeedbackWidget {
	if p == nil {
		return nil
	}
	out := &store.FeedbackWidget{Enabled: p.GetEnabled(), Position: int32(p.GetPosition()), Color: p.GetColor(),
		Language: p.GetLanguage(), TabLabel: p.GetTabLabel(), Title: p.GetTitle(), CommentPrompt: p.GetCommentPrompt(),
		Thanks: p.GetThanks(), AllowElement: p.GetAllowElement()}
	for _, m := range p.GetPages() {
		out.Pages = append(out.Pages, store.PageRule{Op: int32(m.GetOperator()), Value: m.GetValue()})
	}
	return out
}

func settingsFromPB(p *accountsv1.SiteSettings) store.SiteSettings {
	return store.SiteSettings{
		RecordingEnabled: p.GetRecordingEnabled(), SampleRate: p.GetSampleRate(), MaskAllText: p.GetMaskAllText(),
		MaskSelectors: p.GetMaskSelectors(), BlockSelectors: p.GetBlockSelectors(), UnmaskSelectors: p.GetUnmaskSelectors(),
		RetentionDays: p.GetRetentionDays(), RespectDoNotTrack: p.GetRespectDoNotTrack(), RequireConsent: p.GetRequireConsent(),
		CaptureAssets: p.CaptureAssets, RecordCanvas: p.GetRecordCanvas(), Feedback: feedbackFromPB(p.GetFeedback()),
		TimeZone: p.GetTimeZone(), ColdAfterDays: p.GetColdAfterDays(),
	}
}

func sitePB(s store.Site) *accountsv1.Site {
	return &accountsv1.Site{Id: s.ID, OrganizationId: s.OrganizationID, Name: s.Name, SiteKey: s.SiteKey,
		Domains: s.Domains, Settings: settingsPB(s.Settings), CreateTime: tspb(s.CreateTime)}
}

func apiKeyPB(k store.APIKey) *accountsv1.ApiKey {
	return &accountsv1.ApiKey{Id: k.ID, OrganizationId: k.OrganizationID, Name: k.Name, Prefix: k.Prefix, Role: accountsv1.Role(k.Role),
		CreateTime: tspb(k.CreateTime), LastUseTime: tspb(k.LastUseTime), RevokeTime: tspb(k.RevokeTime)}
}

func flagPB(f store.FeatureFlag) *accountsv1.FeatureFlag {
	return &accountsv1.FeatureFlag{Name: f.Name, Scope: accountsv1.FeatureFlagScope(f.Scope), ScopeId: f.ScopeID, Enabled: f.Enabled}
}

func maintenancePB(m store.Maintenance) *accountsv1.Maintenance {
	return &accountsv1.Maintenance{Enabled: m.Enabled, Message: m.Message, UpdateTime: tspb(m.UpdateTime)}
}

func auditPB(e store.AuditEvent) *accountsv1.AuditEvent {
	return &accountsv1.AuditEvent{Id: e.ID, OrganizationId: e.OrganizationID, ActorUserId: e.ActorUserID, Action: e.Action,
		Target: e.Target, CreateTime: tspb(e.CreateTime), IpPrefix: e.IPPrefix}
}

func principalPB(p store.Principal) *accountsv1.Principal {
	return &accountsv1.Principal{UserId: p.UserID, ApiKeyId: p.APIKeyID, Memberships: membershipsPB(p.Memberships), Operator: p.Operator}
}
