package bleve_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/bleve"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// Bleve starts one process-wide analysis worker pool on first use and never
// stops it; everything else must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Index {
		ix, err := bleve.Open(filepath.Join(t.TempDir(), "search"))
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

// TestReopen checks the index is on disk: documents and the version guard
// survive a close and reopen.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "search")
	ix, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs := indextest.Generate(1, indextest.SiteA, "r", 50)
	if _, err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	n, err := ix.Count(ctx, indextest.SiteA, nil)
	if err != nil || n != 50 {
		t.Fatalf("after reopen count = %d, %v; want 50", n, err)
	}
	stale := proto.Clone(docs[0]).(*sessionsv1.SessionSummary)
	stale.Version = 0
	res, err := ix.Upsert(ctx, []*sessionsv1.SessionSummary{stale})
	if err != nil || res.Stale != 1 {
		t.Fatalf("stale upsert after reopen: %+v, %v", res, err)
	}
}
