-- +goose Up
-- Surveys of a site. definition is the service's encoding of the survey;
-- status and end_at are columns so the active ones are picked in SQL.
CREATE TABLE surveys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id    bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    status     smallint NOT NULL,
    end_at     INTEGER,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX surveys_site ON surveys (site_id, status, id);

-- +goose Down
DROP TABLE surveys;
