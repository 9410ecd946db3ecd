-- +goose Up
-- A domain is unique within an organisation, no longer across the instance:
-- two organisations may each list example.com (ingest finds a site by its
-- key and only then checks the origin against that site's domains, so their
-- data never mixes), while one organisation cannot put it on two of its own
-- sites by mistake. organization_id is copied from the site; the composite
-- foreign key keeps it equal to the site's. SQLite cannot drop a primary
-- key, so the table is rebuilt (nothing references it).
CREATE UNIQUE INDEX sites_id_org ON sites (id, organization_id);
CREATE TABLE site_domains_new (
    domain          text NOT NULL,
    site_id         bigint NOT NULL,
    organization_id bigint NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, domain),
    FOREIGN KEY (site_id, organization_id) REFERENCES sites (id, organization_id) ON DELETE CASCADE
);
INSERT INTO site_domains_new (domain, site_id, organization_id, created_at)
    SELECT d.domain, d.site_id, s.organization_id, d.created_at FROM site_domains d JOIN sites s ON s.id = d.site_id;
DROP TABLE site_domains;
ALTER TABLE site_domains_new RENAME TO site_domains;
CREATE INDEX site_domains_site ON site_domains (site_id);

-- +goose Down
-- Back to one site per domain in the whole instance: fails (UNIQUE
-- constraint failed: site_domains_old.domain) while two organisations
-- share a domain; remove it from one of them first.
CREATE TABLE site_domains_old (
    domain     text PRIMARY KEY,
    site_id    bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
INSERT INTO site_domains_old (domain, site_id, created_at) SELECT domain, site_id, created_at FROM site_domains;
DROP TABLE site_domains;
ALTER TABLE site_domains_old RENAME TO site_domains;
CREATE INDEX site_domains_site ON site_domains (site_id);
DROP INDEX sites_id_org;
