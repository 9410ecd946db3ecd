package storetest

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// domainRow is one row of site_domains.
type domainRow struct {
	Domain    string
	Site, Org int64
}

// DomainsUpgrade checks migration 5 (a domain unique within an
// organisation, not the instance) on a database db holding domains written
// at version 4: every row survives with its site's organisation, a second
// organisation may then add a domain another already has, and the Down
// refuses while two organisations share a domain and restores version 4's
// rows once they no longer do. now is a created_at value in the dialect's
// time type; open opens the store on the same database (migrating it).
func DomainsUpgrade(t *testing.T, db *sql.DB, dialect goose.Dialect, migrations fs.FS, now any, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	pr, err := goose.NewProvider(dialect, db, migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pr.Close() })
	if _, err := pr.UpTo(ctx, 4); err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}
	org := func(name string) int64 {
		var id int64
		if err := db.QueryRowContext(ctx, `INSERT INTO organizations (name, plan_name, sessions_per_day, max_retention_days, max_seats, max_sites, created_at)
			VALUES ($1, 'test', 1000, 30, 3, 3, $2) RETURNING id`, name, now).Scan(&id); err != nil {
			t.Fatalf("insert organization: %v", err)
		}
		return id
	}
	site := func(org int64, name string, domains ...string) int64 {
		var id int64
		if err := db.QueryRowContext(ctx, `INSERT INTO sites (organization_id, name, site_key, settings, created_at, updated_at)
			VALUES ($1, $2, $3, '{}', $4, $4) RETURNING id`, org, name, "k_up_"+name, now).Scan(&id); err != nil {
			t.Fatalf("insert site: %v", err)
		}
		for _, d := range domains {
			if _, err := db.ExecContext(ctx, `INSERT INTO site_domains (domain, site_id, created_at) VALUES ($1, $2, $3)`, d, id, now); err != nil {
				t.Fatalf("insert domain at version 4: %v", err)
			}
		}
		return id
	}
	oa, ob := org("A"), org("B")
	a1, a2, b1 := site(oa, "Shop", "a.example.com", "*.a.example.org"), site(oa, "Blog", "b.example.com"), site(ob, "Other", "c.example.com")
	before := []domainRow{{"*.a.example.org", a1, oa}, {"a.example.com", a1, oa}, {"b.example.com", a2, oa}, {"c.example.com", b1, ob}}
	if got := domainRows(ctx, t, db, false); !slices.Equal(got, before) {
		t.Fatalf("rows at version 4 = %v, want %v", got, before)
	}

	s := open(t)
	if got := domainRows(ctx, t, db, true); !slices.Equal(got, before) {
		t.Fatalf("rows after migration 5 = %v, want %v", got, before)
	}
	if g := must(s.GetSite(ctx, a1)).get(t); !slices.Equal(g.Domains, []string{"*.a.example.org", "a.example.com"}) || g.OrganizationID != oa {
		t.Fatalf("migrated site = %+v", g)
	}
	// Organisation A may now list B's domain; within A it stays unique.
	must(s.AddSiteDomain(ctx, a2, "c.example.com", 3)).get(t)
	_, err = s.AddSiteDomain(ctx, a2, "a.example.com", 3)
	wantInUse(t, err, "a.example.com", "Shop")

	// Step back over the later migrations first: this is about 5's Down.
	if _, err := pr.DownTo(ctx, 5); err != nil {
		t.Fatalf("down to 5: %v", err)
	}
	// Down refuses while A and B share c.example.com, and changes nothing.
	if _, err := pr.Down(ctx); err == nil {
		t.Fatal("down with a domain in two organisations succeeded")
	}
	if v, err := pr.GetDBVersion(ctx); err != nil || v != 5 {
		t.Fatalf("version after a refused down = %d, %v; want 5", v, err)
	}
	if got := domainRows(ctx, t, db, true); len(got) != len(before)+1 {
		t.Fatalf("rows after a refused down = %v", got)
	}
	must(s.RemoveSiteDomain(ctx, a2, "c.example.com")).get(t)
	if _, err := pr.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	if got := domainRows(ctx, t, db, false); !slices.Equal(got, before) {
		t.Fatalf("rows after down = %v, want %v", got, before)
	}
	// Version 4's rule is back: one site per domain in the instance.
	if _, err := db.ExecContext(ctx, `INSERT INTO site_domains (domain, site_id, created_at) VALUES ('c.example.com', $1, $2)`, a2, now); err == nil {
		t.Fatal("after down, a domain of another organisation was accepted")
	}
}

// domainRows reads site_domains sorted by domain (in Go: PostgreSQL's
// collation may order "*." differently); withOrg reads the row's
// organization_id (version 5) instead of the site's.
func domainRows(ctx context.Context, t *testing.T, db *sql.DB, withOrg bool) []domainRow {
	t.Helper()
	q := `SELECT d.domain, d.site_id, s.organization_id FROM site_domains d JOIN sites s ON s.id = d.site_id`
	if withOrg {
		q = `SELECT domain, site_id, organization_id FROM site_domains`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("read site_domains: %v", err)
	}
	defer rows.Close()
	var out []domainRow
	for rows.Next() {
		var r domainRow
		if err := rows.Scan(&r.Domain, &r.Site, &r.Org); err != nil {
			t.Fatalf("read site_domains: %v", err)
		}
		out = append(out, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatalf("read site_domains: %v", err)
	}
	slices.SortFunc(out, func(a, b domainRow) int { return cmp.Compare(a.Domain, b.Domain) })
	return out
}
