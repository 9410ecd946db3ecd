// Package store is svc-accounts' persistence: the Store interface, its
// contract (the doc comments below, checked by package storetest) and the
// types it speaks. Backends live in store/sqlite and store/postgres.
//
// General contract, for every method:
//   - Ids are int64 and may exceed 2^31; backends use 64-bit columns.
//   - A missing object yields an error matching ErrNotFound; a uniqueness
//     violation ErrConflict; a plan limit ErrLimit; a change that would
//     break an invariant (the last owner leaving) ErrPrecondition. The
//     error text names the object (e.g. the duplicate domain).
//   - The store does not authorise: the service checks the caller before
//     calling it. The store does keep invariants that need atomicity
//     (limits, uniqueness, last owner, quota) inside one transaction.
//   - Times are stored with at least millisecond precision and returned in
//     UTC.
//   - List methods take a Page and return rows in ascending id order after
//     Page.After (audit events: descending, before Page.Before), at most
//     Page.Limit rows.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors every backend wraps (test with errors.Is).
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("already exists")
	ErrLimit        = errors.New("limit reached")
	ErrPrecondition = errors.New("failed precondition")
)

// DomainInUseError is the ErrConflict of a domain already on a site of the
// same organisation. Its text is written for that organisation's members:
// it names their own site (Site, "" when the store lost a race and does not
// know which), never another organisation's.
type DomainInUseError struct {
	Domain string
	Site   string
}

func (e *DomainInUseError) Error() string {
	if e.Site == "" {
		return e.Domain + " is already on one of your sites"
	}
	return fmt.Sprintf("%s is already on your site %q", e.Domain, e.Site)
}

// Is makes a DomainInUseError match ErrConflict.
func (e *DomainInUseError) Is(target error) bool { return target == ErrConflict }

// Role of a member, most powerful first; the numbers match the proto enum.
type Role int32

// Roles.
const (
	RoleOwner  Role = 1
	RoleAdmin  Role = 2
	RoleMember Role = 3
	RoleViewer Role = 4
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r >= RoleOwner && r <= RoleViewer }

// AtLeast reports whether r is as powerful as min or more.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r <= min }

// Plan holds limits; 0 means unlimited (retention: up to the service's
// hard ceiling). Name is an optional label an operator may give. An
// organisation follows the instance's limits (InstanceLimits) unless an
// operator gave it its own (Organization.CustomLimits, stored on its row).
type Plan struct {
	Name             string
	SessionsPerDay   int64
	MaxRetentionDays int32
	MaxSeats         int32
	MaxSites         int32
}

// User is a dashboard user.
type User struct {
	ID           int64
	Email        string // normalised by the service; unique
	Name         string
	PasswordHash string // PHC string (argon2id)
	Operator     bool
	CreateTime   time.Time
	// EmailVerifyTime is when the address was confirmed; zero until then.
	EmailVerifyTime time.Time
}

// TokenKind says what an e-mailed user token is for.
type TokenKind string

// Token kinds.
const (
	TokenVerify TokenKind = "verify"
	TokenReset  TokenKind = "reset"
)

// UserToken is a single-use token e-mailed to a user; only its hash is
// stored.
type UserToken struct {
	ID         int64
	UserID     int64
	Kind       TokenKind
	TokenHash  []byte
	ExpireTime time.Time
	UseTime    time.Time // zero until consumed
	CreateTime time.Time
}

// Device is what RecordUserDevice learnt about a device key.
type Device struct {
	// New is true when the user had not used this device before.
	New bool
	// First is true when the user had no device recorded at all.
	First bool
}

// Recipient is a verified member of a site's organisation.
type Recipient struct {
	UserID int64
	Email  string
	Name   string
	Role   Role
}

// Organization owns sites, members and API keys.
type Organization struct {
	ID   int64
	Name string
	// Plan is the effective limits: the organisation's own when
	// CustomLimits, else the instance's. Before any instance limits are
	// stored it is the plan the organisation was created with.
	Plan         Plan
	CreateTime   time.Time
	CustomLimits bool
}

// OrganizationOverview is an organisation with its counts, for operators.
type OrganizationOverview struct {
	Organization
	Sites   int64
	Members int64
}

// InstanceLimits are the limits organisations without their own follow.
type InstanceLimits struct {
	Plan Plan
	// SetByOperator is false while they are the configured defaults
	// (written at every start) and true once an operator stored them.
	SetByOperator bool
	UpdateTime    time.Time
}

// Membership is a user's role in an organisation.
type Membership struct {
	OrganizationID   int64
	OrganizationName string
	Role             Role
}

// Member is a user as seen from an organisation.
type Member struct {
	User     User // PasswordHash is left empty
	Role     Role
	JoinTime time.Time
}

// Invitation to join an organisation; the token is stored only as a hash.
type Invitation struct {
	ID             int64
	OrganizationID int64
	Email          string
	Role           Role
	TokenHash      []byte
	CreatedBy      int64
	ExpireTime     time.Time
	CreateTime     time.Time
}

// SiteSettings say how a site is recorded.
type SiteSettings struct {
	RecordingEnabled  bool     `json:"recording_enabled"`
	SampleRate        float64  `json:"sample_rate"`
	MaskAllText       bool     `json:"mask_all_text"`
	MaskSelectors     []string `json:"mask_selectors,omitempty"`
	BlockSelectors    []string `json:"block_selectors,omitempty"`
	UnmaskSelectors   []string `json:"unmask_selectors,omitempty"`
	RetentionDays     int32    `json:"retention_days"`
	RespectDoNotTrack bool     `json:"respect_do_not_track"`
	RequireConsent    bool     `json:"require_consent"`
	// CaptureAssets is nil for "on" (sites made before the switch existed
	// and sites that never set it).
	CaptureAssets *bool `json:"capture_assets,omitempty"`
	RecordCanvas  bool  `json:"record_canvas,omitempty"`
	// Feedback is the on-page feedback tab; nil when never configured.
	Feedback *FeedbackWidget `json:"feedback,omitempty"`
	// TimeZone is the IANA zone whose midnights start the site's days in
	// traffic numbers; "" is UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// ColdAfterDays is the age after which recordings move to object
	// storage; 0: never.
	ColdAfterDays int32 `json:"cold_after_days,omitempty"`
}

// FeedbackWidget is the feedback tab's look and wording (stored inside the
// settings document, so it travels with them).
type FeedbackWidget struct {
	Enabled bool `json:"enabled"`
	// Position has the numbers of accounts.v1.FeedbackWidget.Position.
	Position      int32      `json:"position,omitempty"`
	Color         string     `json:"color,omitempty"`
	Language      string     `json:"language,omitempty"`
	TabLabel      string     `json:"tab_label,omitempty"`
	Title         string     `json:"title,omitempty"`
	CommentPrompt string     `json:"comment_prompt,omitempty"`
	Thanks        string     `json:"thanks,omitempty"`
	AllowElement  bool       `json:"allow_element,omitempty"`
	Pages         []PageRule `json:"pages,omitempty"`
}

// PageRule picks pages (package pagerule; Op has search.v1.UrlMatch's
// numbers).
type PageRule struct {
	Op    int32  `json:"op"`
	Value string `json:"value"`
}

// SurveyActive is the status (accounts.v1.SurveyStatus's number) of a
// survey shown to visitors.
const SurveyActive int32 = 2

// Survey is a site's survey. The store reads only Status and EndTime (to
// pick the active ones); Definition is the service's encoding of the rest.
type Survey struct {
	ID      int64
	SiteID  int64
	Status  int32
	EndTime time.Time // zero: open-ended
	// Definition is opaque to the store and returned byte for byte.
	Definition []byte
	CreateTime time.Time
	UpdateTime time.Time
}

// Funnel is a site's saved funnel. The store reads none of Steps; it is
// the service's encoding of the steps, returned byte for byte.
type Funnel struct {
	ID         int64
	SiteID     int64
	Name       string
	Steps      []byte
	CreateTime time.Time
	UpdateTime time.Time
}

// Site is one tracked website.
type Site struct {
	ID             int64
	OrganizationID int64
	Name           string
	SiteKey        string
	Domains        []string // sorted
	Settings       SiteSettings
	CreateTime     time.Time
	UpdateTime     time.Time
}

// SiteConfig is what ingest needs about a site, read in one go.
type SiteConfig struct {
	Site Site
	Plan Plan
	// Flags are the enabled flag names after merging global, organisation
	// and site scope (narrowest wins), sorted.
	Flags []string
	// Surveys are the site's surveys with status SurveyActive whose end
	// time (if any) is after now, newest first.
	Surveys []Survey
}

// APIKey is an organisation-scoped key; only its hash is stored.
type APIKey struct {
	ID             int64
	OrganizationID int64
	Name           string
	Prefix         string
	Hash           []byte
	Role           Role
	CreatedBy      int64
	CreateTime     time.Time
	LastUseTime    time.Time // zero if never used
	RevokeTime     time.Time // zero if active
}

// AuthSession is a logged-in session; only the token's hash is stored.
type AuthSession struct {
	ID         int64
	UserID     int64
	TokenHash  []byte
	ExpireTime time.Time
	CreateTime time.Time
}

// Principal is who a credential belongs to, resolved in one lookup.
type Principal struct {
	UserID   int64
	Email    string
	Operator bool
	// APIKeyID is set when the credential is an API key; Memberships then
	// holds exactly the key's organisation with the key's role.
	APIKeyID    int64
	Memberships []Membership
	// ExpireTime of the session (zero for API keys).
	ExpireTime time.Time
	// LastUseTime of the API key before this lookup (zero for sessions).
	LastUseTime time.Time
}

// CredentialKind tells a session token's hash from an API key's.
type CredentialKind int32

// Credential kinds.
const (
	CredentialSession CredentialKind = 1
	CredentialAPIKey  CredentialKind = 2
)

// SiteAccess is a credential's principal with what deciding on a site
// needs, read in the same round trip.
type SiteAccess struct {
	Principal
	// SiteOrganizationID owns the site asked about; 0 when there is none.
	SiteOrganizationID int64
	Maintenance        Maintenance
}

// FlagScope of a feature flag; numbers match the proto enum.
type FlagScope int32

// Scopes.
const (
	ScopeGlobal       FlagScope = 1
	ScopeOrganization FlagScope = 2
	ScopeSite         FlagScope = 3
)

// FeatureFlag is a named boolean at a scope (ScopeID 0 for global).
type FeatureFlag struct {
	Name    string
	Scope   FlagScope
	ScopeID int64
	Enabled bool
}

// Maintenance is the global switch.
type Maintenance struct {
	Enabled    bool
	Message    string
	UpdateTime time.Time // zero if never set
}

// AuditEvent records a security-relevant change. OrganizationID 0 means
// the event belongs to no organisation (e.g. a failed log-in for an unknown
// e-mail).
type AuditEvent struct {
	ID             int64
	OrganizationID int64
	ActorUserID    int64
	Action         string
	Target         string
	IPPrefix       string
	CreateTime     time.Time
}

// Page selects a slice of a list.
type Page struct {
	After  int64 // ascending lists: ids greater than this
	Before int64 // descending lists: ids smaller than this (0: from the newest)
	Limit  int
}

// Lease is the result of LeaseSessionQuota.
type Lease struct {
	Granted   int64
	Remaining int64 // quota left unleased after this grant
	Limit     int64
}

// Store is svc-accounts' persistence. Implementations are safe for
// concurrent use.
type Store interface {
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	// SignUp creates u, an organisation named orgName with plan (its own
	// limits, used only once custom or while no instance limits exist), and an
	// owner membership, atomically. A taken e-mail is ErrConflict.
	// u.EmailVerifyTime is stored as given (zero: unverified).
	// The instance's first user is made an operator whatever u.Operator
	// says, decided inside the transaction: racing first sign-ups make one.
	SignUp(ctx context.Context, u User, orgName string, plan Plan) (User, Organization, error)
	// CountUsers returns how many users exist (0 on a new instance).
	CountUsers(ctx context.Context) (int64, error)

	// CreateUserToken stores a token of t.UserID (ErrNotFound when the user
	// does not exist).
	CreateUserToken(ctx context.Context, t UserToken) (UserToken, error)
	// VerifyEmail atomically consumes the unused TokenVerify token whose
	// hash is hash and that has not expired at now, and marks its user's
	// address verified (keeping an earlier verify time). ErrNotFound when
	// there is no such token: unknown, used, expired or of another kind; of
	// two concurrent calls with one token exactly one succeeds.
	VerifyEmail(ctx context.Context, hash []byte, now time.Time) (User, error)
	// ResetPassword atomically consumes the unused, unexpired TokenReset
	// token whose hash is hash, sets the user's password hash, marks the
	// address verified (the user proved they read its mail) and revokes
	// every session of the user. ErrNotFound as for VerifyEmail.
	ResetPassword(ctx context.Context, hash []byte, passwordHash string, now time.Time) (User, error)
	// GetUserToken returns the unused TokenKind kind token whose hash is
	// hash if it has not expired at now, without consuming it (ErrNotFound
	// otherwise).
	GetUserToken(ctx context.Context, kind TokenKind, hash []byte, now time.Time) (UserToken, error)
	// LatestUserToken returns the newest token of user of kind, used or
	// not (ErrNotFound when there is none): the service rate-limits
	// e-mails by its create time across replicas.
	LatestUserToken(ctx context.Context, user int64, kind TokenKind) (UserToken, error)

	// RecordUserDevice records that user used the device whose key hashes
	// to hash at now (first and last seen), and says whether it is new.
	RecordUserDevice(ctx context.Context, user int64, hash []byte, now time.Time) (Device, error)

	// ListSiteRecipients lists the members of site's organisation whose
	// address is verified, by ascending user id: those in users, or with
	// users empty those at least minRole (0: any role). ErrNotFound when
	// the site does not exist.
	ListSiteRecipients(ctx context.Context, site int64, users []int64, minRole Role) ([]Recipient, error)
	// GetUser returns a user by id.
	GetUser(ctx context.Context, id int64) (User, error)
	// GetUserByEmail returns a user (with its password hash) by e-mail,
	// matched exactly (the service normalises).
	GetUserByEmail(ctx context.Context, email string) (User, error)

	// CreateAuthSession stores a session.
	CreateAuthSession(ctx context.Context, s AuthSession) (AuthSession, error)
	// RevokeAuthSession revokes the session whose token hashes to hash;
	// revoking an unknown or revoked session is not an error.
	RevokeAuthSession(ctx context.Context, hash []byte, now time.Time) error
	// DeleteExpired deletes sessions, invitations and user tokens that
	// expired before cutoff and returns how many rows went.
	DeleteExpired(ctx context.Context, cutoff time.Time) (int64, error)
	// PrincipalForSession resolves a session token hash: ErrNotFound when
	// unknown, revoked or expired at now. Memberships are sorted by
	// organisation id and reflect role changes immediately.
	PrincipalForSession(ctx context.Context, hash []byte, now time.Time) (Principal, error)
	// PrincipalForAPIKey resolves an API key hash: ErrNotFound when unknown
	// or revoked. It records now as the key's last use when the stored one
	// is older than a minute (so a busy key costs few writes).
	PrincipalForAPIKey(ctx context.Context, hash []byte, now time.Time) (Principal, error)
	// AuthorizeSite resolves a credential hash of kind exactly as
	// PrincipalForSession or PrincipalForAPIKey do (same errors, an API
	// key's use recorded), and in the same round trip reads the
	// organisation owning site (0 when there is no such site) and the
	// maintenance switch.
	AuthorizeSite(ctx context.Context, kind CredentialKind, hash []byte, site int64, now time.Time) (SiteAccess, error)

	// CreateOrganization creates an organisation with owner as its owner.
	CreateOrganization(ctx context.Context, name string, owner int64, plan Plan) (Organization, error)
	// GetOrganization returns an organisation.
	GetOrganization(ctx context.Context, id int64) (Organization, error)
	// ListOrganizations lists the organisations user belongs to.
	ListOrganizations(ctx context.Context, user int64, p Page) ([]Organization, error)
	// RenameOrganization renames an organisation.
	RenameOrganization(ctx context.Context, id int64, name string) (Organization, error)
	// ListAllOrganizations lists every organisation of the instance with
	// its site and member counts, by ascending id after p.After.
	ListAllOrganizations(ctx context.Context, p Page) ([]OrganizationOverview, error)
	// SetOrganizationLimits gives org its own limits, or with limits nil
	// puts it back on the instance's (its stored columns are then ignored).
	// ErrNotFound when org does not exist.
	SetOrganizationLimits(ctx context.Context, org int64, limits *Plan) (OrganizationOverview, error)

	// GetInstanceLimits returns the instance limits; ErrNotFound before
	// any were put.
	GetInstanceLimits(ctx context.Context) (InstanceLimits, error)
	// PutInstanceLimits stores p as the instance limits at now. byOperator
	// false (the configured defaults, at start) writes only while no
	// operator has stored limits; true stores them for good. It returns the
	// limits in force afterwards.
	PutInstanceLimits(ctx context.Context, p Plan, byOperator bool, now time.Time) (InstanceLimits, error)

	// ListMemberships lists user's memberships sorted by organisation id.
	ListMemberships(ctx context.Context, user int64) ([]Membership, error)
	// ListMembers lists an organisation's members by ascending user id.
	ListMembers(ctx context.Context, org int64, p Page) ([]Member, error)
	// GetMember returns one member; ErrNotFound if user is not a member.
	GetMember(ctx context.Context, org, user int64) (Member, error)
	// UpdateMemberRole changes a member's role; demoting the last owner is
	// ErrPrecondition.
	UpdateMemberRole(ctx context.Context, org, user int64, role Role) (Member, error)
	// RemoveMember removes a member; removing the last owner is
	// ErrPrecondition.
	RemoveMember(ctx context.Context, org, user int64) error

	// CreateInvitation stores a pending invitation.
	CreateInvitation(ctx context.Context, inv Invitation) (Invitation, error)
	// ListInvitations lists invitations neither accepted, revoked nor
	// expired at now.
	ListInvitations(ctx context.Context, org int64, now time.Time, p Page) ([]Invitation, error)
	// RevokeInvitation revokes a pending invitation of org; ErrNotFound if
	// there is none with that id in org.
	RevokeInvitation(ctx context.Context, org, id int64, now time.Time) error
	// AcceptInvitation atomically consumes the pending, unexpired invitation
	// whose token hashes to hash and whose e-mail equals email, and makes
	// user a member with its role. ErrNotFound when there is no such
	// invitation; ErrConflict when user is already a member; ErrLimit when
	// the organisation has no free seat.
	AcceptInvitation(ctx context.Context, hash []byte, user int64, email string, now time.Time) (Membership, error)

	// CreateSite creates a site with its domains, atomically: a domain
	// already on a site of the same organisation is a *DomainInUseError
	// (other organisations may list the same domain); an organisation
	// already holding maxSites sites is ErrLimit.
	CreateSite(ctx context.Context, s Site, maxSites int32) (Site, error)
	// GetSite returns a site with its domains and settings.
	GetSite(ctx context.Context, id int64) (Site, error)
	// GetSiteConfig returns what ingest needs about the site with that key;
	// surveys are filtered by end time against now.
	GetSiteConfig(ctx context.Context, siteKey string, now time.Time) (SiteConfig, error)
	// ListSites lists an organisation's sites.
	ListSites(ctx context.Context, org int64, p Page) ([]Site, error)
	// RenameSite renames a site.
	RenameSite(ctx context.Context, id int64, name string) (Site, error)
	// DeleteSite deletes a site with its domains, flags, surveys, funnels
	// and quota rows.
	DeleteSite(ctx context.Context, id int64) error
	// AddSiteDomain adds a domain pattern: a *DomainInUseError when a site
	// of the same organisation (this one included) has it; ErrLimit past
	// maxDomains.
	AddSiteDomain(ctx context.Context, site int64, domain string, maxDomains int) (Site, error)
	// RemoveSiteDomain removes a domain pattern; ErrNotFound if the site
	// does not have it.
	RemoveSiteDomain(ctx context.Context, site int64, domain string) (Site, error)
	// UpdateSiteSettings replaces a site's settings.
	UpdateSiteSettings(ctx context.Context, site int64, s SiteSettings) (Site, error)

	// CreateSurvey stores a new survey of sv.SiteID: ErrNotFound when the
	// site does not exist, ErrLimit when it already has maxPerSite surveys
	// (checked atomically). The id is generated.
	CreateSurvey(ctx context.Context, sv Survey, maxPerSite int) (Survey, error)
	// GetSurvey returns a survey of site; ErrNotFound when site has no
	// survey with that id.
	GetSurvey(ctx context.Context, site, id int64) (Survey, error)
	// ListSurveys lists every survey of site, newest (highest id) first.
	ListSurveys(ctx context.Context, site int64) ([]Survey, error)
	// UpdateSurvey replaces Status, EndTime and Definition of the survey
	// sv.ID of sv.SiteID; ErrNotFound when that site has no such survey.
	// When sv.UpdateTime is set it is a condition: a stored update time
	// other than it (a concurrent update) is ErrPrecondition and changes
	// nothing. The new update time is later than the previous one.
	UpdateSurvey(ctx context.Context, sv Survey) (Survey, error)
	// DeleteSurvey deletes a survey of site; ErrNotFound when there is none.
	DeleteSurvey(ctx context.Context, site, id int64) error

	// CreateFunnel stores a new funnel of f.SiteID: ErrNotFound when the
	// site does not exist, ErrLimit when it already has maxPerSite funnels
	// (checked atomically, whatever the number of concurrent callers). The
	// id is generated.
	CreateFunnel(ctx context.Context, f Funnel, maxPerSite int) (Funnel, error)
	// GetFunnel returns a funnel of site; ErrNotFound when site has no
	// funnel with that id.
	GetFunnel(ctx context.Context, site, id int64) (Funnel, error)
	// ListFunnels lists every funnel of site, newest (highest id) first.
	ListFunnels(ctx context.Context, site int64) ([]Funnel, error)
	// UpdateFunnel replaces Name and Steps of the funnel f.ID of f.SiteID;
	// ErrNotFound when that site has no such funnel. The new update time is
	// later than the previous one.
	UpdateFunnel(ctx context.Context, f Funnel) (Funnel, error)
	// DeleteFunnel deletes a funnel of site; ErrNotFound when there is none.
	DeleteFunnel(ctx context.Context, site, id int64) error

	// CreateAPIKey stores a key.
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// ListAPIKeys lists an organisation's keys, revoked ones included.
	ListAPIKeys(ctx context.Context, org int64, p Page) ([]APIKey, error)
	// RevokeAPIKey revokes a key of org (idempotent: the first revoke time
	// stays); ErrNotFound when org has no key with that id.
	RevokeAPIKey(ctx context.Context, org, id int64, now time.Time) (APIKey, error)

	// SetFeatureFlag creates or replaces the flag at its scope.
	SetFeatureFlag(ctx context.Context, f FeatureFlag) (FeatureFlag, error)
	// ListFeatureFlags lists the flags set exactly at scope/scopeID, by name.
	ListFeatureFlags(ctx context.Context, scope FlagScope, scopeID int64) ([]FeatureFlag, error)

	// GetMaintenance returns the switch (disabled if never set).
	GetMaintenance(ctx context.Context) (Maintenance, error)
	// SetMaintenance sets the switch.
	SetMaintenance(ctx context.Context, m Maintenance) (Maintenance, error)

	// AppendAudit appends an event.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAuditEvents lists an organisation's events, newest first; org 0
	// lists the events of no organisation (the instance's).
	ListAuditEvents(ctx context.Context, org int64, p Page) ([]AuditEvent, error)

	// LeaseSessionQuota atomically grants min(requested, limit-leased) of
	// site's quota for day ("YYYY-MM-DD"), never letting the day's leased
	// total exceed limit, whatever the number of concurrent callers.
	LeaseSessionQuota(ctx context.Context, site int64, day string, requested, limit int64) (Lease, error)
}
