package bleve_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/internal/busy"
	"github.com/sightlinehq/sightline/svc-search/index/bleve"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// TestBackupWhileUpserting: a copy taken while upserts go on opens as an
// index with every document upserted before it began and whole upsert
// batches after that, never half of one (writers wait while it copies);
// the answers index copies the same way.
func TestBackupWhileUpserting(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	ix, err := bleve.Open(filepath.Join(root, "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ax, err := bleve.OpenAnswers(filepath.Join(root, "search", "answers"))
	if err != nil {
		t.Fatal(err)
	}
	defer ax.Close()
	const before, batch = 200, 25
	if _, err := ix.Upsert(ctx, indextest.Generate(1, indextest.SiteA, "b", before)); err != nil {
		t.Fatal(err)
	}
	if _, err := ax.UpsertAnswers(ctx, indextest.GenerateAnswers(1, indextest.SiteA, "b", 30)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "search")
	busy.During(t, func(i int) error {
		_, err := ix.Upsert(ctx, indextest.Generate(uint64(i+2), indextest.SiteA, fmt.Sprintf("w%d_", i), batch))
		return err
	}, func() error { return ix.Backup(ctx, dir) })
	if err := ax.Backup(ctx, filepath.Join(dir, "answers")); err != nil {
		t.Fatal(err)
	}

	b, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, err := b.Count(ctx, indextest.SiteA, nil)
	if err != nil || n < before || (n-before)%batch != 0 {
		t.Errorf("backup counts %d sessions, %v; want the %d upserted before it plus whole batches of %d", n, err, before, batch)
	}
	docs, err := b.DocCount()
	if err != nil || int64(docs) != n {
		t.Errorf("backup index holds %d documents, %v; the count says %d", docs, err, n)
	}
	ba, err := bleve.OpenAnswers(filepath.Join(dir, "answers"))
	if err != nil {
		t.Fatal(err)
	}
	defer ba.Close()
	if docs, err := ba.DocCount(); err != nil || docs != 30 {
		t.Errorf("backup answers index holds %d answers, %v; want 30", docs, err)
	}
}
