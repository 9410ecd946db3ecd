-- +goose Up
-- Saved funnels of a site. steps is the service's encoding of the steps;
-- the store never looks inside.
CREATE TABLE funnels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id    bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    steps      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX funnels_site ON funnels (site_id, id);

-- +goose Down
DROP TABLE funnels;
