-- +goose Up
-- Accounts schema. SQLite: ids are 64-bit INTEGER rowids; times are INTEGER
-- microseconds since the epoch. Tests start ids above 2^31.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    operator      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE organizations (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               text NOT NULL,
    plan_name          text NOT NULL,
    sessions_per_day   bigint NOT NULL,
    max_retention_days integer NOT NULL,
    max_seats          integer NOT NULL,
    max_sites          integer NOT NULL,
    created_at         INTEGER NOT NULL
);

CREATE TABLE memberships (
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            smallint NOT NULL CHECK (role BETWEEN 1 AND 4),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            smallint NOT NULL CHECK (role BETWEEN 1 AND 4),
    token_hash      BLOB NOT NULL UNIQUE,
    created_by      bigint NOT NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    accepted_at     INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX invitations_org ON invitations (organization_id, id);

CREATE TABLE auth_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE sites (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    site_key        text NOT NULL UNIQUE,
    settings        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX sites_org ON sites (organization_id, id);

-- A domain pattern belongs to at most one site.
CREATE TABLE site_domains (
    domain     text PRIMARY KEY,
    site_id    bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX site_domains_site ON site_domains (site_id);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    prefix          text NOT NULL,
    key_hash        BLOB NOT NULL UNIQUE,
    role            smallint NOT NULL CHECK (role BETWEEN 1 AND 4),
    created_by      bigint NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX api_keys_org ON api_keys (organization_id, id);

-- scope: 1 global (scope_id 0), 2 organisation, 3 site.
CREATE TABLE feature_flags (
    name       text NOT NULL,
    scope      smallint NOT NULL CHECK (scope BETWEEN 1 AND 3),
    scope_id   bigint NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_id, name)
);

CREATE TABLE maintenance (
    id         smallint PRIMARY KEY CHECK (id = 1),
    enabled    INTEGER NOT NULL,
    message    text NOT NULL,
    updated_at INTEGER NOT NULL
);

-- No foreign key: the audit trail outlives what it talks about.
CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id bigint,
    actor_user_id   bigint NOT NULL,
    action          text NOT NULL,
    target          text NOT NULL,
    ip_prefix       text NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);

-- One row per site and UTC day; leases are atomic upserts on it.
CREATE TABLE session_quota (
    site_id      bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day          text NOT NULL,
    leased       bigint NOT NULL,
    last_granted bigint NOT NULL,
    PRIMARY KEY (site_id, day)
);

-- +goose Down
DROP TABLE session_quota;
DROP TABLE audit_events;
DROP TABLE maintenance;
DROP TABLE feature_flags;
DROP TABLE api_keys;
DROP TABLE site_domains;
DROP TABLE sites;
DROP TABLE auth_sessions;
DROP TABLE invitations;
DROP TABLE memberships;
DROP TABLE organizations;
DROP TABLE users;
