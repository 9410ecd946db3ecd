-- +goose Up
-- Notify schema. Tables are prefixed notify_ so River's own tables
-- (river_job, river_leader, ...), migrated into the same database, never
-- clash. SQLite: ids are 64-bit INTEGER rowids (AUTOINCREMENT, so an id is
-- never reused as a cursor; tests start them above 2^31); times are INTEGER
-- microseconds since the epoch; booleans 0/1.
CREATE TABLE notify_webhooks (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id                   bigint NOT NULL,
    url                       text NOT NULL,
    events                    text NOT NULL, -- JSON array, sorted and unique
    description               text NOT NULL DEFAULT '',
    enabled                   INTEGER NOT NULL,
    disabled_reason           text NOT NULL DEFAULT '',
    secret                    text NOT NULL,
    previous_secret           text NOT NULL DEFAULT '',
    previous_secret_expire_at INTEGER,
    consecutive_failures      integer NOT NULL DEFAULT 0,
    failing_since             INTEGER,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
);
CREATE INDEX notify_webhooks_site ON notify_webhooks (site_id, id);

CREATE TABLE notify_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       bigint NOT NULL REFERENCES notify_webhooks (id) ON DELETE CASCADE,
    site_id          bigint NOT NULL,
    idem_key         text, -- NULL: not idempotent
    message_id       text NOT NULL,
    event_type       text NOT NULL,
    payload          BLOB NOT NULL,
    state            smallint NOT NULL CHECK (state BETWEEN 1 AND 4),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    last_response    text NOT NULL DEFAULT '',
    last_duration_ns bigint NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    next_attempt_at  INTEGER
);
CREATE UNIQUE INDEX notify_deliveries_key ON notify_deliveries (webhook_id, idem_key);
CREATE INDEX notify_deliveries_list ON notify_deliveries (site_id, webhook_id, id DESC);
CREATE INDEX notify_deliveries_created ON notify_deliveries (created_at);

CREATE TABLE notify_alert_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id       bigint NOT NULL,
    user_id       bigint NOT NULL,
    enabled       INTEGER NOT NULL,
    kind          text NOT NULL,
    params        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_fired_at INTEGER
);
CREATE INDEX notify_alert_rules_user ON notify_alert_rules (site_id, user_id, id);
CREATE INDEX notify_alert_rules_enabled ON notify_alert_rules (kind, id) WHERE enabled = 1;
CREATE INDEX notify_alert_rules_site_kind ON notify_alert_rules (site_id, kind, id) WHERE enabled = 1;

CREATE TABLE notify_alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id    bigint NOT NULL,
    rule_id    bigint NOT NULL,
    user_id    bigint NOT NULL,
    kind       text NOT NULL,
    period_key text NOT NULL,
    fired_at   INTEGER NOT NULL,
    summary    text NOT NULL DEFAULT '',
    link       text NOT NULL DEFAULT '',
    UNIQUE (rule_id, period_key)
);
CREATE INDEX notify_alerts_site ON notify_alerts (site_id, id DESC);
CREATE INDEX notify_alerts_fired ON notify_alerts (fired_at);

CREATE TABLE notify_digest_subscriptions (
    user_id    bigint NOT NULL,
    site_id    bigint NOT NULL,
    frequency  smallint NOT NULL CHECK (frequency BETWEEN 1 AND 3),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, site_id)
);
CREATE INDEX notify_digest_subscriptions_frequency ON notify_digest_subscriptions (frequency, site_id, user_id);
CREATE INDEX notify_digest_subscriptions_site ON notify_digest_subscriptions (site_id);

-- Once-per-period ledgers: a row is written in the same transaction as the
-- job it stands for.
CREATE TABLE notify_digest_ledger (
    user_id    bigint NOT NULL,
    site_id    bigint NOT NULL,
    period     text NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, site_id, period)
);
CREATE INDEX notify_digest_ledger_created ON notify_digest_ledger (created_at);
CREATE INDEX notify_digest_ledger_site ON notify_digest_ledger (site_id);

CREATE TABLE notify_event_ledger (
    event_id   text PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE INDEX notify_event_ledger_created ON notify_event_ledger (created_at);

-- +goose Down
DROP TABLE notify_event_ledger;
DROP TABLE notify_digest_ledger;
DROP TABLE notify_digest_subscriptions;
DROP TABLE notify_alerts;
DROP TABLE notify_alert_rules;
DROP TABLE notify_deliveries;
DROP TABLE notify_webhooks;
