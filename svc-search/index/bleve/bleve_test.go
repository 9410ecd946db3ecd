package bleve_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/platform/storeformat"
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

// BenchmarkUpsert measures version-checked bulk upserts of 1000 summaries.
func BenchmarkUpsert(b *testing.B) {
	ix, err := bleve.Open(filepath.Join(b.TempDir(), "search"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	docs := indextest.Generate(1, indextest.SiteA, "bench", 1000*b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, err := ix.Upsert(b.Context(), docs[i*1000:(i+1)*1000]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// emptyIndex makes an empty index and answers its directory.
func emptyIndex(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "search")
	ix, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSchemaMismatch: an index built with another mapping is refused with
// instructions, not silently half-matched.
func TestSchemaMismatch(t *testing.T) {
	dir := emptyIndex(t)
	if err := os.WriteFile(filepath.Join(dir, "SCHEMA"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bleve.Open(dir); err == nil || !strings.Contains(err.Error(), "reindex") {
		t.Fatalf("old schema opened: %v", err)
	}
	requireNewerRefused(t, dir, func() error {
		ix, err := bleve.Open(dir)
		if err == nil {
			ix.Close()
		}
		return err
	})
}

// requireNewerRefused checks that the index in dir, marked with a schema
// above this build's, is refused as written by a newer Sightline (a
// reindex would only take back what that release built).
func requireNewerRefused(t *testing.T, dir string, open func() error) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "SCHEMA"), []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := open()
	var tooNew *storeformat.TooNewError
	if !errors.As(err, &tooNew) || tooNew.Stored != 1000 || strings.Contains(err.Error(), "reindex") {
		t.Fatalf("an index of schema 1000 opened or refused otherwise: %v", err)
	}
}

func TestAnswersConformance(t *testing.T) {
	indextest.RunAnswers(t, func(t *testing.T) index.AnswerIndex {
		ix, err := bleve.OpenAnswers(filepath.Join(t.TempDir(), "search", "answers"))
		if err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

// TestAnswersReopen: answers survive a close and reopen; an answers index
// of another schema is refused with instructions.
func TestAnswersReopen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "search", "answers")
	ix, err := bleve.OpenAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	as := indextest.GenerateAnswers(1, indextest.SiteA, "r", 50)
	if n, err := ix.UpsertAnswers(ctx, as); err != nil || n != 50 {
		t.Fatalf("upsert: %d, %v", n, err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = bleve.OpenAnswers(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.SearchAnswers(ctx, index.AnswerQuery{SiteID: indextest.SiteA, Limit: 100})
	if err != nil || res.Total != 50 || !proto.Equal(res.Answers[0], indextest.SortedAnswers(as, nil, false)[0]) {
		t.Fatalf("after reopen: %v, %v", res, err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "SCHEMA"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bleve.OpenAnswers(dir); err == nil || !strings.Contains(err.Error(), "reindex") {
		t.Fatalf("old answers schema opened: %v", err)
	}
	requireNewerRefused(t, dir, func() error {
		ix, err := bleve.OpenAnswers(dir)
		if err == nil {
			ix.Close()
		}
		return err
	})
}

// TestCorruptIndex: an index Bleve cannot open is an error, not a store
// without an index.
func TestCorruptIndex(t *testing.T) {
	dir := emptyIndex(t)
	if err := os.WriteFile(filepath.Join(dir, "index", "index_meta.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := bleve.Open(dir)
	if err == nil {
		ix.Close()
		t.Fatal("corrupt index opened")
	}
	// The bbolt file was closed again: a fixed index opens.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	ix, err = bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
}
