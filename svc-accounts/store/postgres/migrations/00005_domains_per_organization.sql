-- +goose Up
-- A domain is unique within an organisation, no longer across the instance:
-- two organisations may each list example.com (ingest finds a site by its
-- key and only then checks the origin against that site's domains, so their
-- data never mixes), while one organisation cannot put it on two of its own
-- sites by mistake. organization_id is copied from the site; the composite
-- foreign key keeps it equal to the site's.
CREATE UNIQUE INDEX sites_id_org ON sites (id, organization_id);
ALTER TABLE site_domains ADD COLUMN organization_id bigint;
UPDATE site_domains d SET organization_id = s.organization_id FROM sites s WHERE s.id = d.site_id;
ALTER TABLE site_domains ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE site_domains DROP CONSTRAINT site_domains_site_id_fkey;
ALTER TABLE site_domains ADD CONSTRAINT site_domains_site_org_fkey
    FOREIGN KEY (site_id, organization_id) REFERENCES sites (id, organization_id) ON DELETE CASCADE;
ALTER TABLE site_domains DROP CONSTRAINT site_domains_pkey;
ALTER TABLE site_domains ADD PRIMARY KEY (organization_id, domain);

-- +goose Down
-- Back to one site per domain in the whole instance: fails (could not
-- create unique index "site_domains_pkey") while two organisations share a
-- domain; remove it from one of them first.
ALTER TABLE site_domains DROP CONSTRAINT site_domains_pkey;
ALTER TABLE site_domains ADD PRIMARY KEY (domain);
ALTER TABLE site_domains DROP CONSTRAINT site_domains_site_org_fkey;
ALTER TABLE site_domains ADD CONSTRAINT site_domains_site_id_fkey
    FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE;
ALTER TABLE site_domains DROP COLUMN organization_id;
DROP INDEX sites_id_org;
