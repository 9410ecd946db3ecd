-- +goose Up
-- E-mail verification, single-use e-mailed tokens and known devices.
-- Users who existed before verification was introduced count as verified
-- (they could already log in; locking them out helps nobody).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
UPDATE users SET email_verified_at = created_at;

-- Tokens e-mailed to a user (verify the address, reset the password); only
-- a SHA-256 of the token is stored, and each is consumed at most once.
CREATE TABLE user_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('verify', 'reset')),
    token_hash BLOB NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, kind);
CREATE INDEX user_tokens_expires ON user_tokens (expires_at);

-- Devices a user logged in from (a hash of browser and OS family), so a
-- log-in from a new one can be told to the user.
CREATE TABLE user_devices (
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   BLOB NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);

-- +goose Down
DROP TABLE user_devices;
DROP TABLE user_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
