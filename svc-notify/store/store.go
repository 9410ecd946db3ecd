// Package store is svc-notify's persistence: webhooks and their delivery
// log, alert rules and fired alerts, digest subscriptions and the ledgers
// that make scheduled sends once per period. The Store interface and its
// contract (the doc comments below, checked by package storetest) live
// here; backends in store/sqlite (embedded) and store/postgres (pgx v5).
//
// The job queue (River) runs in the same database: Tx.Raw exposes the
// transaction so a job is inserted atomically with the row that makes it
// happen once (a digest's ledger row, an alert, a delivery).
//
// General contract, for every method:
//   - Ids are int64 and may exceed 2^31; backends use 64-bit columns.
//   - A missing object yields an error matching ErrNotFound; a uniqueness
//     violation ErrConflict; a per-site limit ErrLimit. Every read and write
//     of a site's rows is scoped by site id: a webhook, delivery or rule of
//     another site is ErrNotFound.
//   - The store does not authorise: the service checks the caller first.
//   - Times are stored with at least millisecond precision and returned in
//     UTC; zero times mean unset and are stored as NULL.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend wraps (test with errors.Is).
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrLimit    = errors.New("limit reached")
)

// Webhook is a site's webhook. Secrets are kept in clear (they sign every
// delivery); they never leave the service except once, when made.
type Webhook struct {
	ID, SiteID  int64
	URL         string
	Events      []string // sorted, unique
	Description string
	Enabled     bool
	// DisabledReason is "" or "failing" (disabled by the service).
	DisabledReason string
	Secret         string
	// PreviousSecret signs too until PreviousSecretExpire (after a rotation).
	PreviousSecret       string
	PreviousSecretExpire time.Time
	ConsecutiveFailures  int32
	FailingSince         time.Time
	CreateTime           time.Time
	UpdateTime           time.Time
}

// Subscribes reports whether w takes events of type t.
func (w Webhook) Subscribes(t string) bool {
	for _, e := range w.Events {
		if e == t {
			return true
		}
	}
	return false
}

// DeliveryState mirrors notifyv1.DeliveryState.
type DeliveryState int32

// Delivery states.
const (
	DeliveryPending   DeliveryState = 1
	DeliveryRetrying  DeliveryState = 2
	DeliverySucceeded DeliveryState = 3
	DeliveryFailed    DeliveryState = 4
)

// Delivery is one event sent to one webhook.
type Delivery struct {
	ID, WebhookID, SiteID int64
	// Key makes creation idempotent: CreateDelivery with a Key already
	// stored for the webhook returns the stored delivery. An empty Key is
	// never a duplicate.
	Key string
	// MessageID is the webhook-id header (same for redeliveries).
	MessageID string
	EventType string
	Payload   []byte
	State     DeliveryState
	Attempts  int32
	// Of the last attempt.
	LastStatusCode  int32
	LastError       string
	LastResponse    string // at most 1 KiB
	LastDuration    time.Duration
	CreateTime      time.Time
	LastAttemptTime time.Time
	NextAttemptTime time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	Time       time.Time
	StatusCode int32
	Error      string
	Response   string
	Duration   time.Duration
	// State after the attempt: Succeeded, Retrying (with NextTime) or
	// Failed.
	State    DeliveryState
	NextTime time.Time
}

// AlertRule is one user's alert on one site. Kind is "no_data",
// "rage_clicks", "js_errors" or "answer"; Params is the condition, encoded
// by the service (opaque to the store).
type AlertRule struct {
	ID, SiteID, UserID int64
	Enabled            bool
	Kind               string
	Params             []byte
	CreateTime         time.Time
	LastFireTime       time.Time
}

// Alert is one firing of a rule. (RuleID, PeriodKey) is unique: a rule
// fires at most once per period key (e.g. "2026-11-30T07" for an hourly
// check, or an answer id).
type Alert struct {
	ID, SiteID, RuleID, UserID int64
	Kind                       string
	PeriodKey                  string
	FireTime                   time.Time
	Summary                    string
	Link                       string
}

// Frequency mirrors notifyv1.DigestFrequency.
type Frequency int32

// Digest frequencies.
const (
	FrequencyOff    Frequency = 1
	FrequencyDaily  Frequency = 2
	FrequencyWeekly Frequency = 3
)

// DigestSubscription is one user's digest of one site.
type DigestSubscription struct {
	UserID, SiteID int64
	Frequency      Frequency
	UpdateTime     time.Time
}

// Page selects rows after a cursor: ascending ids after After, or, for the
// newest-first lists (deliveries, alerts), descending ids before Before
// (0: from the newest). Limit is at most 1000.
type Page struct {
	After, Before int64
	Limit         int
}

// Tx is the writes that must be atomic with inserting a job.
type Tx interface {
	// CreateDelivery stores a delivery (ID, CreateTime and State Pending
	// assigned) unless one with the same WebhookID and Key exists, which it
	// returns with created false.
	CreateDelivery(ctx context.Context, d Delivery) (stored Delivery, created bool, err error)
	// RecordAlert stores an alert unless (RuleID, PeriodKey) exists; it
	// sets the rule's LastFireTime to the alert's FireTime when created.
	RecordAlert(ctx context.Context, a Alert) (stored Alert, created bool, err error)
	// ClaimDigest records that the digest of (user, site) for period (e.g.
	// "daily:2026-11-29") is sent; false when it already was.
	ClaimDigest(ctx context.Context, userID, siteID int64, period string) (bool, error)
	// ClaimEvent records an event id as handled; false when it already was.
	ClaimEvent(ctx context.Context, eventID string) (bool, error)
	// Raw is the backend's transaction for River's InsertTx: pgx.Tx
	// (postgres) or *sql.Tx (sqlite).
	Raw() any
}

// Store is svc-notify's persistence.
type Store interface {
	// CreateWebhook stores a webhook (ID and times assigned); ErrLimit when
	// the site already has maxPerSite.
	CreateWebhook(ctx context.Context, w Webhook, maxPerSite int) (Webhook, error)
	GetWebhook(ctx context.Context, siteID, id int64) (Webhook, error)
	// ListWebhooks lists a site's webhooks by id.
	ListWebhooks(ctx context.Context, siteID int64) ([]Webhook, error)
	// ListSubscribedWebhooks lists a site's enabled webhooks taking events
	// of type eventType.
	ListSubscribedWebhooks(ctx context.Context, siteID int64, eventType string) ([]Webhook, error)
	// ListWebhookSites lists, ascending after afterSite, the ids of the
	// sites with at least one enabled webhook taking eventType (the no-data
	// check walks them), at most limit.
	ListWebhookSites(ctx context.Context, eventType string, afterSite int64, limit int) ([]int64, error)
	// UpdateWebhook replaces URL, Events, Description, Enabled,
	// DisabledReason, the secrets and the failure fields; UpdateTime is
	// set. Enabling (Enabled true) is the caller's to reset failures.
	UpdateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// DeleteWebhook removes a webhook and its deliveries.
	DeleteWebhook(ctx context.Context, siteID, id int64) error
	// RecordAttempt applies an attempt's outcome to a delivery and to its
	// webhook's failure fields atomically: a success resets
	// ConsecutiveFailures and FailingSince; a failure increments the count
	// and sets FailingSince if unset. It returns both as stored.
	RecordAttempt(ctx context.Context, siteID, deliveryID int64, a Attempt) (Delivery, Webhook, error)
	GetDelivery(ctx context.Context, siteID, id int64) (Delivery, error)
	// ListDeliveries lists a webhook's deliveries newest first (Page.Before).
	ListDeliveries(ctx context.Context, siteID, webhookID int64, p Page) ([]Delivery, error)
	// FailPendingDeliveries marks a webhook's Pending and Retrying
	// deliveries Failed with reason (webhook disabled or deleted).
	FailPendingDeliveries(ctx context.Context, siteID, webhookID int64, reason string) (int64, error)

	// CreateAlertRule stores a rule; ErrLimit when the user already has
	// maxPerUserSite rules on the site.
	CreateAlertRule(ctx context.Context, r AlertRule, maxPerUserSite int) (AlertRule, error)
	// GetAlertRule, UpdateAlertRule and DeleteAlertRule see only the
	// user's own rules of the site (others: ErrNotFound). Update replaces
	// Enabled, Kind and Params.
	GetAlertRule(ctx context.Context, siteID, userID, id int64) (AlertRule, error)
	UpdateAlertRule(ctx context.Context, r AlertRule) (AlertRule, error)
	DeleteAlertRule(ctx context.Context, siteID, userID, id int64) error
	// ListAlertRules lists a user's rules of a site by id.
	ListAlertRules(ctx context.Context, siteID, userID int64) ([]AlertRule, error)
	// ListEnabledAlertRules lists every enabled rule of the kinds given, of
	// every site, by id after Page.After (the periodic checks page through).
	ListEnabledAlertRules(ctx context.Context, kinds []string, p Page) ([]AlertRule, error)
	// ListSiteAlertRules lists a site's enabled rules of a kind (answers).
	ListSiteAlertRules(ctx context.Context, siteID int64, kind string) ([]AlertRule, error)
	// ListAlerts lists a site's alerts newest first (Page.Before).
	ListAlerts(ctx context.Context, siteID int64, p Page) ([]Alert, error)

	// SetDigestSubscription stores a user's frequency for a site (Off
	// included: it is an explicit choice).
	SetDigestSubscription(ctx context.Context, s DigestSubscription) (DigestSubscription, error)
	// GetDigestSubscription answers ErrNotFound when never set.
	GetDigestSubscription(ctx context.Context, userID, siteID int64) (DigestSubscription, error)
	// ListDigestSubscriptions lists the subscriptions with a frequency by
	// (site, user) after the cursor (afterSite, afterUser), at most limit.
	ListDigestSubscriptions(ctx context.Context, f Frequency, afterSite, afterUser int64, limit int) ([]DigestSubscription, error)

	// DeleteSite removes every row of a site (the site was deleted).
	DeleteSite(ctx context.Context, siteID int64) error
	// DeleteUserSite removes a user's rules and subscription of a site (the
	// user left the organisation).
	DeleteUserSite(ctx context.Context, userID, siteID int64) error

	// InTx runs fn in one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Pruning: finished (succeeded or failed) deliveries and alerts older
	// than before, and ledger rows (digests, events) older than before, in
	// batches; returns rows removed. Pending and retrying deliveries stay:
	// a job still owns them.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Handle is the pool River runs on: *pgxpool.Pool or *sql.DB.
	Handle() any
	Ping(ctx context.Context) error
	Close() error
}
