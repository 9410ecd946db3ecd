package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// Telemetry instruments store calls (spans named notify.store.<op> and a
// latency histogram); zero values disable it.
type Telemetry = sqldb.Telemetry

// Store implements store.Store over a DB, but for Handle (the backend's).
type Store struct {
	db    sqldb.DB
	d     Dialect
	calls sqldb.Calls
}

// New returns a Store running on db.
func New(db sqldb.DB, d Dialect, tel Telemetry) *Store {
	return &Store{db: db, d: d, calls: sqldb.NewCalls("notify.store.", d.Name, store.ErrNotFound, tel)}
}

// Bounds on what the store keeps, whatever the caller sends.
const (
	maxResponse = 1024 // Delivery.LastResponse: "at most 1 KiB"
	maxKey      = 512  // idempotency keys, period keys, event ids
	pruneBatch  = 1000
)

// op starts a span and returns the function that ends it, recording the
// error and latency.
func (s *Store) op(ctx context.Context, name string) (context.Context, func(*error)) {
	return s.calls.Start(ctx, name)
}

// notFound maps a no-rows error to store.ErrNotFound naming what.
func (s *Store) notFound(err error, what string, id any) error {
	return s.d.NotFound(err, store.ErrNotFound, what, id)
}

// now is the current time at the precision stored.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func limit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

func checkKey(what, k string) error {
	if len(k) > maxKey {
		return fmt.Errorf("%s is %d bytes, at most %d", what, len(k), maxKey)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, end := s.op(ctx, "Ping")
	defer end(&err)
	return s.db.Ping(ctx)
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// InTx runs fn in one transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	ctx, end := s.op(ctx, "InTx")
	defer end(&err)
	return s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, raw any) error {
		return fn(ctx, &tx{s: s, q: q, raw: raw})
	})
}

// ---- webhooks ----

const webhookCols = `id, site_id, url, events, description, enabled, disabled_reason, secret, previous_secret,
	previous_secret_expire_at, consecutive_failures, failing_since, created_at, updated_at`

func scanWebhook(r sqldb.Row, w *store.Webhook) error {
	var events string
	if err := r.Scan(&w.ID, &w.SiteID, &w.URL, &events, &w.Description, &w.Enabled, &w.DisabledReason,
		&w.Secret, &w.PreviousSecret, sqldb.Timestamp(&w.PreviousSecretExpire), &w.ConsecutiveFailures, sqldb.Timestamp(&w.FailingSince),
		sqldb.Timestamp(&w.CreateTime), sqldb.Timestamp(&w.UpdateTime)); err != nil {
		return err
	}
	w.Events = nil
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return fmt.Errorf("webhook %d: events: %w", w.ID, err)
	}
	return nil
}

// encodeEvents stores events sorted and unique, as the contract returns
// them.
func encodeEvents(events []string) string {
	e := slices.Clone(events)
	slices.Sort(e)
	e = slices.Compact(e)
	if e == nil {
		e = []string{}
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func (s *Store) scanWebhooks(rows sqldb.Rows, err error) ([]store.Webhook, error) {
	return sqldb.Collect(rows, err, scanWebhook)
}

// CreateWebhook stores a webhook; ErrLimit at maxPerSite.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook, maxPerSite int) (out store.Webhook, err error) {
	ctx, end := s.op(ctx, "CreateWebhook")
	defer end(&err)
	t := now()
	err = s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		if err := s.lock(ctx, q, "webhooks", w.SiteID); err != nil {
			return err
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM notify_webhooks WHERE site_id = $1`, w.SiteID).Scan(&n); err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		if n >= maxPerSite {
			return fmt.Errorf("site %d has %d webhooks, at most %d: %w", w.SiteID, n, maxPerSite, store.ErrLimit)
		}
		err := scanWebhook(q.QueryRow(ctx, `INSERT INTO notify_webhooks (site_id, url, events, description, enabled,
				disabled_reason, secret, previous_secret, previous_secret_expire_at, consecutive_failures, failing_since,
				created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING `+webhookCols,
			w.SiteID, w.URL, encodeEvents(w.Events), w.Description, w.Enabled, w.DisabledReason, w.Secret,
			w.PreviousSecret, s.d.Time(w.PreviousSecretExpire), w.ConsecutiveFailures, s.d.Time(w.FailingSince),
			s.d.Time(t)), &out)
		if err != nil {
			return fmt.Errorf("insert webhook: %w", err)
		}
		return nil
	})
	return out, err
}

// lock serialises limit checks of one (what, site) key.
func (s *Store) lock(ctx context.Context, q sqldb.Querier, what string, id int64) error {
	if s.d.Lock == nil {
		return nil
	}
	if err := s.d.Lock(ctx, q, what+":"+strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("lock %s of %d: %w", what, id, err)
	}
	return nil
}

// GetWebhook returns a site's webhook.
func (s *Store) GetWebhook(ctx context.Context, siteID, id int64) (w store.Webhook, err error) {
	ctx, end := s.op(ctx, "GetWebhook")
	defer end(&err)
	if err := scanWebhook(s.db.QueryRow(ctx, `SELECT `+webhookCols+` FROM notify_webhooks WHERE id = $1 AND site_id = $2`,
		id, siteID), &w); err != nil {
		return w, s.notFound(err, "webhook", id)
	}
	return w, nil
}

// ListWebhooks lists a site's webhooks by id.
func (s *Store) ListWebhooks(ctx context.Context, siteID int64) (out []store.Webhook, err error) {
	ctx, end := s.op(ctx, "ListWebhooks")
	defer end(&err)
	out, err = s.scanWebhooks(s.db.Query(ctx, `SELECT `+webhookCols+` FROM notify_webhooks WHERE site_id = $1 ORDER BY id`, siteID))
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

// ListSubscribedWebhooks lists a site's enabled webhooks taking eventType.
// A site has few webhooks (a per-site limit), so the event filter runs here
// rather than on an encoded column.
func (s *Store) ListSubscribedWebhooks(ctx context.Context, siteID int64, eventType string) (out []store.Webhook, err error) {
	ctx, end := s.op(ctx, "ListSubscribedWebhooks")
	defer end(&err)
	all, err := s.scanWebhooks(s.db.Query(ctx, `SELECT `+webhookCols+` FROM notify_webhooks WHERE site_id = $1 AND `+
		s.d.Enabled+` ORDER BY id`, siteID))
	if err != nil {
		return nil, fmt.Errorf("list subscribed webhooks: %w", err)
	}
	for _, w := range all {
		if w.Subscribes(eventType) {
			out = append(out, w)
		}
	}
	return out, nil
}

// ListWebhookSites lists the sites with an enabled webhook taking
// eventType. Events are a JSON array of names, so the quoted name is
// looked for in it ('_' in a name matches itself and, as a LIKE wildcard,
// only names that cannot exist), and each hit is checked again in Go.
func (s *Store) ListWebhookSites(ctx context.Context, eventType string, afterSite int64, limit int) (out []int64, err error) {
	ctx, end := s.op(ctx, "ListWebhookSites")
	defer end(&err)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	quoted, _ := json.Marshal(eventType)
	hooks, err := s.scanWebhooks(s.db.Query(ctx, `SELECT `+webhookCols+` FROM notify_webhooks WHERE site_id > $1 AND `+
		s.d.Enabled+` AND events LIKE $2 ORDER BY site_id, id`, afterSite, "%"+string(quoted)+"%"))
	if err != nil {
		return nil, fmt.Errorf("list webhook sites: %w", err)
	}
	for _, w := range hooks {
		if w.Subscribes(eventType) && (len(out) == 0 || out[len(out)-1] != w.SiteID) {
			if len(out) == limit {
				break
			}
			out = append(out, w.SiteID)
		}
	}
	return out, nil
}

// UpdateWebhook replaces the mutable fields.
func (s *Store) UpdateWebhook(ctx context.Context, w store.Webhook) (out store.Webhook, err error) {
	ctx, end := s.op(ctx, "UpdateWebhook")
	defer end(&err)
	err = scanWebhook(s.db.QueryRow(ctx, `UPDATE notify_webhooks SET url = $3, events = $4, description = $5, enabled = $6,
			disabled_reason = $7, secret = $8, previous_secret = $9, previous_secret_expire_at = $10,
			consecutive_failures = $11, failing_since = $12, updated_at = $13
		WHERE id = $1 AND site_id = $2 RETURNING `+webhookCols,
		w.ID, w.SiteID, w.URL, encodeEvents(w.Events), w.Description, w.Enabled, w.DisabledReason, w.Secret,
		w.PreviousSecret, s.d.Time(w.PreviousSecretExpire), w.ConsecutiveFailures, s.d.Time(w.FailingSince),
		s.d.Time(now())), &out)
	if err != nil {
		return out, s.notFound(err, "webhook", w.ID)
	}
	return out, nil
}

// DeleteWebhook removes a webhook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, siteID, id int64) (err error) {
	ctx, end := s.op(ctx, "DeleteWebhook")
	defer end(&err)
	return s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		if _, err := q.Exec(ctx, `DELETE FROM notify_deliveries WHERE webhook_id = $1 AND site_id = $2`, id, siteID); err != nil {
			return fmt.Errorf("delete deliveries of webhook %d: %w", id, err)
		}
		n, err := q.Exec(ctx, `DELETE FROM notify_webhooks WHERE id = $1 AND site_id = $2`, id, siteID)
		if err != nil {
			return fmt.Errorf("delete webhook %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("webhook %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// webhookExists answers ErrNotFound unless the site has the webhook.
func (s *Store) webhookExists(ctx context.Context, q sqldb.Querier, siteID, id int64) error {
	var one int
	if err := q.QueryRow(ctx, `SELECT 1 FROM notify_webhooks WHERE id = $1 AND site_id = $2`, id, siteID).Scan(&one); err != nil {
		return s.notFound(err, "webhook", id)
	}
	return nil
}

// ---- deliveries ----

const deliveryCols = `id, webhook_id, site_id, COALESCE(idem_key, ''), message_id, event_type, payload, state, attempts,
	last_status_code, last_error, last_response, last_duration_ns, created_at, last_attempt_at, next_attempt_at`

func scanDelivery(r sqldb.Row, d *store.Delivery) error {
	var dur int64
	var state int32
	if err := r.Scan(&d.ID, &d.WebhookID, &d.SiteID, &d.Key, &d.MessageID, &d.EventType, &d.Payload, &state,
		&d.Attempts, &d.LastStatusCode, &d.LastError, &d.LastResponse, &dur, sqldb.Timestamp(&d.CreateTime),
		sqldb.Timestamp(&d.LastAttemptTime), sqldb.Timestamp(&d.NextAttemptTime)); err != nil {
		return err
	}
	d.State = store.DeliveryState(state)
	d.LastDuration = time.Duration(dur)
	return nil
}

// RecordAttempt applies an attempt to a delivery and its webhook.
func (s *Store) RecordAttempt(ctx context.Context, siteID, deliveryID int64, a store.Attempt) (d store.Delivery, w store.Webhook, err error) {
	ctx, end := s.op(ctx, "RecordAttempt")
	defer end(&err)
	failed := false
	switch a.State {
	case store.DeliverySucceeded:
	case store.DeliveryRetrying, store.DeliveryFailed:
		failed = true
	default:
		return d, w, fmt.Errorf("attempt state %d: want succeeded, retrying or failed", a.State)
	}
	at := a.Time
	if at.IsZero() {
		at = now()
	}
	next := a.NextTime
	if a.State != store.DeliveryRetrying {
		next = time.Time{}
	}
	err = s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		err := scanDelivery(q.QueryRow(ctx, `UPDATE notify_deliveries SET state = $3, attempts = attempts + 1,
				last_status_code = $4, last_error = $5, last_response = $6, last_duration_ns = $7,
				last_attempt_at = $8, next_attempt_at = $9
			WHERE id = $1 AND site_id = $2 RETURNING `+deliveryCols,
			deliveryID, siteID, int32(a.State), a.StatusCode, a.Error, truncate(a.Response, maxResponse),
			int64(a.Duration), s.d.Time(at), s.d.Time(next)), &d)
		if err != nil {
			return s.notFound(err, "delivery", deliveryID)
		}
		upd, args := `UPDATE notify_webhooks SET consecutive_failures = 0, failing_since = NULL
			WHERE id = $1 AND site_id = $2 RETURNING `+webhookCols, []any{d.WebhookID, siteID}
		if failed {
			upd = `UPDATE notify_webhooks SET consecutive_failures = consecutive_failures + 1,
				failing_since = COALESCE(failing_since, $3) WHERE id = $1 AND site_id = $2 RETURNING ` + webhookCols
			args = append(args, s.d.Time(at))
		}
		if err := scanWebhook(q.QueryRow(ctx, upd, args...), &w); err != nil {
			return s.notFound(err, "webhook", d.WebhookID)
		}
		return nil
	})
	return d, w, err
}

// GetDelivery returns a site's delivery.
func (s *Store) GetDelivery(ctx context.Context, siteID, id int64) (d store.Delivery, err error) {
	ctx, end := s.op(ctx, "GetDelivery")
	defer end(&err)
	if err := scanDelivery(s.db.QueryRow(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE id = $1 AND site_id = $2`,
		id, siteID), &d); err != nil {
		return d, s.notFound(err, "delivery", id)
	}
	return d, nil
}

// newestFirst builds the id condition, order and limit of a newest-first
// list: before Before (descending), or, given only After, the page just
// above After (the previous page), still returned newest first.
func newestFirst(p store.Page, next int) (cond, order string, args []any, reverse bool) {
	var conds []string
	if p.Before > 0 {
		conds = append(conds, "id < $"+strconv.Itoa(next))
		args = append(args, p.Before)
		next++
	}
	if p.After > 0 {
		conds = append(conds, "id > $"+strconv.Itoa(next))
		args = append(args, p.After)
	}
	cond = strings.Join(conds, " AND ")
	if cond != "" {
		cond = " AND " + cond
	}
	if p.After > 0 && p.Before == 0 {
		return cond, " ORDER BY id ASC", args, true
	}
	return cond, " ORDER BY id DESC", args, false
}

// ListDeliveries lists a webhook's deliveries newest first.
func (s *Store) ListDeliveries(ctx context.Context, siteID, webhookID int64, p store.Page) (out []store.Delivery, err error) {
	ctx, end := s.op(ctx, "ListDeliveries")
	defer end(&err)
	if err := s.webhookExists(ctx, s.db, siteID, webhookID); err != nil {
		return nil, err
	}
	cond, order, args, reverse := newestFirst(p, 3)
	rows, err := s.db.Query(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE site_id = $1 AND webhook_id = $2`+
		cond+order+` LIMIT `+strconv.Itoa(limit(p.Limit)), append([]any{siteID, webhookID}, args...)...)
	if out, err = sqldb.Collect(rows, err, scanDelivery); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	if reverse {
		slices.Reverse(out)
	}
	return out, nil
}

// FailPendingDeliveries marks a webhook's pending and retrying deliveries
// failed with reason.
func (s *Store) FailPendingDeliveries(ctx context.Context, siteID, webhookID int64, reason string) (n int64, err error) {
	ctx, end := s.op(ctx, "FailPendingDeliveries")
	defer end(&err)
	err = s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		if err := s.webhookExists(ctx, q, siteID, webhookID); err != nil {
			return err
		}
		// Pending 1, retrying 2; notify_deliveries_list finds the webhook's.
		n, err = q.Exec(ctx, `UPDATE notify_deliveries SET state = $3, last_error = $4, next_attempt_at = NULL
			WHERE site_id = $1 AND webhook_id = $2 AND state IN (1, 2)`,
			siteID, webhookID, int32(store.DeliveryFailed), reason)
		if err != nil {
			return fmt.Errorf("fail pending deliveries of webhook %d: %w", webhookID, err)
		}
		return nil
	})
	return n, err
}

// ---- alert rules and alerts ----

const ruleCols = `id, site_id, user_id, enabled, kind, params, created_at, last_fired_at`

func scanRule(r sqldb.Row, a *store.AlertRule) error {
	return r.Scan(&a.ID, &a.SiteID, &a.UserID, &a.Enabled, &a.Kind, &a.Params, sqldb.Timestamp(&a.CreateTime), sqldb.Timestamp(&a.LastFireTime))
}

func (s *Store) scanRules(rows sqldb.Rows, err error) ([]store.AlertRule, error) {
	return sqldb.Collect(rows, err, scanRule)
}

// CreateAlertRule stores a rule; ErrLimit at maxPerUserSite.
func (s *Store) CreateAlertRule(ctx context.Context, r store.AlertRule, maxPerUserSite int) (out store.AlertRule, err error) {
	ctx, end := s.op(ctx, "CreateAlertRule")
	defer end(&err)
	err = s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		// One lock per site rather than per (site, user): rules are created
		// by hand, rarely.
		if err := s.lock(ctx, q, "alert_rules", r.SiteID); err != nil {
			return err
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT count(*) FROM notify_alert_rules WHERE site_id = $1 AND user_id = $2`,
			r.SiteID, r.UserID).Scan(&n); err != nil {
			return fmt.Errorf("count alert rules: %w", err)
		}
		if n >= maxPerUserSite {
			return fmt.Errorf("user %d has %d alert rules on site %d, at most %d: %w", r.UserID, n, r.SiteID, maxPerUserSite, store.ErrLimit)
		}
		if err := scanRule(q.QueryRow(ctx, `INSERT INTO notify_alert_rules (site_id, user_id, enabled, kind, params, created_at, last_fired_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+ruleCols,
			r.SiteID, r.UserID, r.Enabled, r.Kind, nonNil(r.Params), s.d.Time(now()), s.d.Time(r.LastFireTime)), &out); err != nil {
			return fmt.Errorf("insert alert rule: %w", err)
		}
		return nil
	})
	return out, err
}

// GetAlertRule returns one of the user's rules of the site.
func (s *Store) GetAlertRule(ctx context.Context, siteID, userID, id int64) (r store.AlertRule, err error) {
	ctx, end := s.op(ctx, "GetAlertRule")
	defer end(&err)
	if err := scanRule(s.db.QueryRow(ctx, `SELECT `+ruleCols+` FROM notify_alert_rules WHERE id = $1 AND site_id = $2 AND user_id = $3`,
		id, siteID, userID), &r); err != nil {
		return r, s.notFound(err, "alert rule", id)
	}
	return r, nil
}

// UpdateAlertRule replaces Enabled, Kind and Params of the user's rule.
func (s *Store) UpdateAlertRule(ctx context.Context, r store.AlertRule) (out store.AlertRule, err error) {
	ctx, end := s.op(ctx, "UpdateAlertRule")
	defer end(&err)
	if err := scanRule(s.db.QueryRow(ctx, `UPDATE notify_alert_rules SET enabled = $4, kind = $5, params = $6
		WHERE id = $1 AND site_id = $2 AND user_id = $3 RETURNING `+ruleCols,
		r.ID, r.SiteID, r.UserID, r.Enabled, r.Kind, nonNil(r.Params)), &out); err != nil {
		return out, s.notFound(err, "alert rule", r.ID)
	}
	return out, nil
}

// DeleteAlertRule removes the user's rule (its fired alerts stay, as the
// site's history).
func (s *Store) DeleteAlertRule(ctx context.Context, siteID, userID, id int64) (err error) {
	ctx, end := s.op(ctx, "DeleteAlertRule")
	defer end(&err)
	n, err := s.db.Exec(ctx, `DELETE FROM notify_alert_rules WHERE id = $1 AND site_id = $2 AND user_id = $3`, id, siteID, userID)
	if err != nil {
		return fmt.Errorf("delete alert rule %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("alert rule %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListAlertRules lists a user's rules of a site by id.
func (s *Store) ListAlertRules(ctx context.Context, siteID, userID int64) (out []store.AlertRule, err error) {
	ctx, end := s.op(ctx, "ListAlertRules")
	defer end(&err)
	out, err = s.scanRules(s.db.Query(ctx, `SELECT `+ruleCols+` FROM notify_alert_rules WHERE site_id = $1 AND user_id = $2 ORDER BY id`,
		siteID, userID))
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	return out, nil
}

// ListEnabledAlertRules lists enabled rules of the kinds given (none: no
// rules), of every site, by id after p.After.
func (s *Store) ListEnabledAlertRules(ctx context.Context, kinds []string, p store.Page) (out []store.AlertRule, err error) {
	ctx, end := s.op(ctx, "ListEnabledAlertRules")
	defer end(&err)
	if len(kinds) == 0 {
		return nil, nil
	}
	args := []any{p.After}
	ph := make([]string, len(kinds))
	for i, k := range kinds {
		args = append(args, k)
		ph[i] = "$" + strconv.Itoa(i+2)
	}
	out, err = s.scanRules(s.db.Query(ctx, `SELECT `+ruleCols+` FROM notify_alert_rules WHERE `+s.d.Enabled+
		` AND kind IN (`+strings.Join(ph, ", ")+`) AND id > $1 ORDER BY id LIMIT `+strconv.Itoa(limit(p.Limit)), args...))
	if err != nil {
		return nil, fmt.Errorf("list enabled alert rules: %w", err)
	}
	return out, nil
}

// ListSiteAlertRules lists a site's enabled rules of a kind.
func (s *Store) ListSiteAlertRules(ctx context.Context, siteID int64, kind string) (out []store.AlertRule, err error) {
	ctx, end := s.op(ctx, "ListSiteAlertRules")
	defer end(&err)
	out, err = s.scanRules(s.db.Query(ctx, `SELECT `+ruleCols+` FROM notify_alert_rules WHERE site_id = $1 AND kind = $2 AND `+
		s.d.Enabled+` ORDER BY id`, siteID, kind))
	if err != nil {
		return nil, fmt.Errorf("list site alert rules: %w", err)
	}
	return out, nil
}

const alertCols = `id, site_id, rule_id, user_id, kind, period_key, fired_at, summary, link`

func scanAlert(r sqldb.Row, a *store.Alert) error {
	return r.Scan(&a.ID, &a.SiteID, &a.RuleID, &a.UserID, &a.Kind, &a.PeriodKey, sqldb.Timestamp(&a.FireTime), &a.Summary, &a.Link)
}

// ListAlerts lists a site's alerts newest first.
func (s *Store) ListAlerts(ctx context.Context, siteID int64, p store.Page) (out []store.Alert, err error) {
	ctx, end := s.op(ctx, "ListAlerts")
	defer end(&err)
	cond, order, args, reverse := newestFirst(p, 2)
	rows, err := s.db.Query(ctx, `SELECT `+alertCols+` FROM notify_alerts WHERE site_id = $1`+cond+order+
		` LIMIT `+strconv.Itoa(limit(p.Limit)), append([]any{siteID}, args...)...)
	if out, err = sqldb.Collect(rows, err, scanAlert); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	if reverse {
		slices.Reverse(out)
	}
	return out, nil
}

// ---- digests ----

func scanSub(r sqldb.Row, d *store.DigestSubscription) error {
	var f int32
	if err := r.Scan(&d.UserID, &d.SiteID, &f, sqldb.Timestamp(&d.UpdateTime)); err != nil {
		return err
	}
	d.Frequency = store.Frequency(f)
	return nil
}

func checkFrequency(f store.Frequency) error {
	if f < store.FrequencyOff || f > store.FrequencyWeekly {
		return fmt.Errorf("digest frequency %d: want off, daily or weekly", f)
	}
	return nil
}

// SetDigestSubscription stores a user's frequency for a site.
func (s *Store) SetDigestSubscription(ctx context.Context, d store.DigestSubscription) (out store.DigestSubscription, err error) {
	ctx, end := s.op(ctx, "SetDigestSubscription")
	defer end(&err)
	if err := checkFrequency(d.Frequency); err != nil {
		return out, err
	}
	if err := scanSub(s.db.QueryRow(ctx, `INSERT INTO notify_digest_subscriptions (user_id, site_id, frequency, updated_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, site_id) DO UPDATE SET frequency = excluded.frequency, updated_at = excluded.updated_at
		RETURNING user_id, site_id, frequency, updated_at`,
		d.UserID, d.SiteID, int32(d.Frequency), s.d.Time(now())), &out); err != nil {
		return out, fmt.Errorf("set digest subscription: %w", err)
	}
	return out, nil
}

// GetDigestSubscription answers ErrNotFound when never set.
func (s *Store) GetDigestSubscription(ctx context.Context, userID, siteID int64) (out store.DigestSubscription, err error) {
	ctx, end := s.op(ctx, "GetDigestSubscription")
	defer end(&err)
	if err := scanSub(s.db.QueryRow(ctx, `SELECT user_id, site_id, frequency, updated_at FROM notify_digest_subscriptions
		WHERE user_id = $1 AND site_id = $2`, userID, siteID), &out); err != nil {
		return out, s.notFound(err, "digest subscription of site", siteID)
	}
	return out, nil
}

// ListDigestSubscriptions lists the subscriptions with frequency f by
// (site, user) after (afterSite, afterUser).
func (s *Store) ListDigestSubscriptions(ctx context.Context, f store.Frequency, afterSite, afterUser int64, n int) (out []store.DigestSubscription, err error) {
	ctx, end := s.op(ctx, "ListDigestSubscriptions")
	defer end(&err)
	rows, err := s.db.Query(ctx, `SELECT user_id, site_id, frequency, updated_at FROM notify_digest_subscriptions
		WHERE frequency = $1 AND (site_id, user_id) > ($2, $3) ORDER BY site_id, user_id LIMIT `+strconv.Itoa(limit(n)),
		int32(f), afterSite, afterUser)
	if out, err = sqldb.Collect(rows, err, scanSub); err != nil {
		return nil, fmt.Errorf("list digest subscriptions: %w", err)
	}
	return out, nil
}

// ---- deletion and pruning ----

// DeleteSite removes every row of a site.
func (s *Store) DeleteSite(ctx context.Context, siteID int64) (err error) {
	ctx, end := s.op(ctx, "DeleteSite")
	defer end(&err)
	return s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		for _, t := range []string{"notify_deliveries", "notify_webhooks", "notify_alerts", "notify_alert_rules",
			"notify_digest_subscriptions", "notify_digest_ledger"} {
			if _, err := q.Exec(ctx, `DELETE FROM `+t+` WHERE site_id = $1`, siteID); err != nil {
				return fmt.Errorf("delete site %d from %s: %w", siteID, t, err)
			}
		}
		return nil
	})
}

// DeleteUserSite removes a user's rules and subscription of a site.
func (s *Store) DeleteUserSite(ctx context.Context, userID, siteID int64) (err error) {
	ctx, end := s.op(ctx, "DeleteUserSite")
	defer end(&err)
	return s.db.InTx(ctx, func(ctx context.Context, q sqldb.Querier, _ any) error {
		for _, t := range []string{"notify_alert_rules", "notify_digest_subscriptions"} {
			if _, err := q.Exec(ctx, `DELETE FROM `+t+` WHERE user_id = $1 AND site_id = $2`, userID, siteID); err != nil {
				return fmt.Errorf("delete user %d of site %d from %s: %w", userID, siteID, t, err)
			}
		}
		return nil
	})
}

// Prune removes finished deliveries, alerts and ledger rows older than
// before, a batch per statement so no transaction holds the database long.
// Pending and retrying deliveries stay: a job still owns them.
func (s *Store) Prune(ctx context.Context, before time.Time) (n int64, err error) {
	ctx, end := s.op(ctx, "Prune")
	defer end(&err)
	b := strconv.Itoa(pruneBatch)
	for _, q := range []string{
		`DELETE FROM notify_deliveries WHERE id IN (SELECT id FROM notify_deliveries WHERE created_at < $1 AND state IN (` +
			strconv.Itoa(int(store.DeliverySucceeded)) + `, ` + strconv.Itoa(int(store.DeliveryFailed)) + `) LIMIT ` + b + `)`,
		`DELETE FROM notify_alerts WHERE id IN (SELECT id FROM notify_alerts WHERE fired_at < $1 LIMIT ` + b + `)`,
		`DELETE FROM notify_digest_ledger WHERE (user_id, site_id, period) IN
			(SELECT user_id, site_id, period FROM notify_digest_ledger WHERE created_at < $1 LIMIT ` + b + `)`,
		`DELETE FROM notify_event_ledger WHERE event_id IN (SELECT event_id FROM notify_event_ledger WHERE created_at < $1 LIMIT ` + b + `)`,
	} {
		for {
			m, err := s.db.Exec(ctx, q, s.d.Time(before))
			if err != nil {
				return n, fmt.Errorf("prune: %w", err)
			}
			n += m
			if m < pruneBatch {
				break
			}
		}
	}
	return n, nil
}

// ---- the transaction ----

type tx struct {
	s   *Store
	q   sqldb.Querier
	raw any
}

var _ store.Tx = (*tx)(nil)

func (t *tx) Raw() any { return t.raw }

// CreateDelivery stores a delivery unless the webhook has one with its key.
// An empty key is stored as NULL: such a delivery is never a duplicate.
func (t *tx) CreateDelivery(ctx context.Context, d store.Delivery) (out store.Delivery, created bool, err error) {
	s := t.s
	ctx, end := s.op(ctx, "CreateDelivery")
	defer end(&err)
	if err := checkKey("delivery key", d.Key); err != nil {
		return out, false, err
	}
	var key any
	if d.Key != "" {
		key = d.Key
	}
	// The webhook's site never changes, so checking it first is enough; one
	// deleted meanwhile fails the insert on the foreign key.
	if err := s.webhookExists(ctx, t.q, d.SiteID, d.WebhookID); err != nil {
		return out, false, err
	}
	err = scanDelivery(t.q.QueryRow(ctx, `INSERT INTO notify_deliveries (webhook_id, site_id, idem_key, message_id, event_type,
			payload, state, attempts, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)
		ON CONFLICT (webhook_id, idem_key) DO NOTHING RETURNING `+deliveryCols,
		d.WebhookID, d.SiteID, key, d.MessageID, d.EventType, nonNil(d.Payload), int32(store.DeliveryPending),
		s.d.Time(now()), s.d.Time(d.NextAttemptTime)), &out)
	if err == nil {
		return out, true, nil
	}
	if !s.d.IsNoRows(err) || key == nil {
		return out, false, fmt.Errorf("insert delivery: %w", err)
	}
	err = scanDelivery(t.q.QueryRow(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE webhook_id = $1 AND idem_key = $2 AND site_id = $3`,
		d.WebhookID, d.Key, d.SiteID), &out)
	if err != nil {
		return out, false, fmt.Errorf("delivery %q of webhook %d: %w", d.Key, d.WebhookID, err)
	}
	return out, false, nil
}

// RecordAlert stores an alert unless (RuleID, PeriodKey) exists.
func (t *tx) RecordAlert(ctx context.Context, a store.Alert) (out store.Alert, created bool, err error) {
	s := t.s
	ctx, end := s.op(ctx, "RecordAlert")
	defer end(&err)
	if err := checkKey("alert period key", a.PeriodKey); err != nil {
		return out, false, err
	}
	fired := a.FireTime
	if fired.IsZero() {
		fired = now()
	}
	var one int
	if err := t.q.QueryRow(ctx, `SELECT 1 FROM notify_alert_rules WHERE id = $1 AND site_id = $2`, a.RuleID, a.SiteID).Scan(&one); err != nil {
		return out, false, s.notFound(err, "alert rule", a.RuleID)
	}
	err = scanAlert(t.q.QueryRow(ctx, `INSERT INTO notify_alerts (site_id, rule_id, user_id, kind, period_key, fired_at, summary, link)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (rule_id, period_key) DO NOTHING RETURNING `+alertCols,
		a.SiteID, a.RuleID, a.UserID, a.Kind, a.PeriodKey, s.d.Time(fired), a.Summary, a.Link), &out)
	switch {
	case err == nil:
		if _, err := t.q.Exec(ctx, `UPDATE notify_alert_rules SET last_fired_at = $2 WHERE id = $1`, a.RuleID, s.d.Time(fired)); err != nil {
			return out, false, fmt.Errorf("set last fire time of rule %d: %w", a.RuleID, err)
		}
		return out, true, nil
	case !s.d.IsNoRows(err):
		return out, false, fmt.Errorf("insert alert: %w", err)
	}
	err = scanAlert(t.q.QueryRow(ctx, `SELECT `+alertCols+` FROM notify_alerts WHERE rule_id = $1 AND period_key = $2 AND site_id = $3`,
		a.RuleID, a.PeriodKey, a.SiteID), &out)
	if err != nil {
		return out, false, fmt.Errorf("alert %q of rule %d: %w", a.PeriodKey, a.RuleID, err)
	}
	return out, false, nil
}

// ClaimDigest records the digest of (user, site) for period as sent.
func (t *tx) ClaimDigest(ctx context.Context, userID, siteID int64, period string) (ok bool, err error) {
	s := t.s
	ctx, end := s.op(ctx, "ClaimDigest")
	defer end(&err)
	if err := checkKey("digest period", period); err != nil {
		return false, err
	}
	n, err := t.q.Exec(ctx, `INSERT INTO notify_digest_ledger (user_id, site_id, period, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, site_id, period) DO NOTHING`, userID, siteID, period, s.d.Time(now()))
	if err != nil {
		return false, fmt.Errorf("claim digest %s of user %d, site %d: %w", period, userID, siteID, err)
	}
	return n == 1, nil
}

// ClaimEvent records an event id as handled.
func (t *tx) ClaimEvent(ctx context.Context, eventID string) (ok bool, err error) {
	s := t.s
	ctx, end := s.op(ctx, "ClaimEvent")
	defer end(&err)
	if eventID == "" {
		return false, errors.New("claim event: empty event id")
	}
	if err := checkKey("event id", eventID); err != nil {
		return false, err
	}
	n, err := t.q.Exec(ctx, `INSERT INTO notify_event_ledger (event_id, created_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`,
		eventID, s.d.Time(now()))
	if err != nil {
		return false, fmt.Errorf("claim event %q: %w", eventID, err)
	}
	return n == 1, nil
}
