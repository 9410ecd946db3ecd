package bleve_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
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

// TestSchemaUpgrade: an index of an older schema is rebuilt from its
// summaries when opened, whatever state a crash in an earlier rebuild left
// the directory in; one of a newer schema is refused.
func TestSchemaUpgrade(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "search")
	ix, err := bleve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs := indextest.Generate(3, indextest.SiteA, "up", 300)
	if _, err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile(filepath.Join(dir, "SCHEMA"))
	if err != nil {
		t.Fatal(err)
	}
	// A range filter on each trie (start, durations, page count): what the rebuild remade.
	mid := docs[150].GetStartTime().AsTime()
	filter := &searchv1.SessionFilter{
		StartTime:      &searchv1.TimeRange{Start: timestamppb.New(mid.Add(-10 * 24 * time.Hour)), End: timestamppb.New(mid.Add(10 * 24 * time.Hour))},
		Duration:       &searchv1.DurationRange{Min: durationpb.New(30 * time.Second)},
		ActiveDuration: &searchv1.DurationRange{Max: durationpb.New(10 * time.Minute)},
		PageCount:      &searchv1.IntRange{Min: 2},
	}
	want := indextest.Sorted(docs, filter, searchv1.SortField_SORT_FIELD_START_TIME, false)
	if len(want) < 20 || len(want) > 280 {
		t.Fatalf("the filter matches %d of 300 summaries: choose one that tells", len(want))
	}
	for _, crash := range []struct {
		name  string
		state func(t *testing.T) // what a crash in a rebuild left
	}{
		{"clean", func(t *testing.T) {}},
		{"half-built index", func(t *testing.T) { mkdir(t, filepath.Join(dir, "index.rebuild", "junk")) }},
		{"old index aside, new not in place", func(t *testing.T) {
			if err := os.Rename(filepath.Join(dir, "index"), filepath.Join(dir, "index.old")); err != nil {
				t.Fatal(err)
			}
			mkdir(t, filepath.Join(dir, "index.rebuild"))
		}},
		{"new index in place, schema not written", func(t *testing.T) { mkdir(t, filepath.Join(dir, "index.old", "junk")) }},
	} {
		t.Run(crash.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "SCHEMA"), []byte("4\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			crash.state(t)
			ix, err := bleve.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			res, err := ix.Search(ctx, index.Query{SiteID: indextest.SiteA, Filter: filter, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Sessions) != len(want) || res.Total != int64(len(want)) {
				t.Fatalf("after the rebuild %d sessions (total %d), want %d", len(res.Sessions), res.Total, len(want))
			}
			for i := range want {
				if !proto.Equal(res.Sessions[i], want[i]) {
					t.Fatalf("session %d after the rebuild is %s, want %s", i, res.Sessions[i].GetSessionId(), want[i].GetSessionId())
				}
			}
			if got, err := os.ReadFile(filepath.Join(dir, "SCHEMA")); err != nil || string(got) != string(schema) {
				t.Fatalf("schema after the rebuild %q, %v; want %q", got, err, schema)
			}
			for _, left := range []string{"index.rebuild", "index.old"} {
				if _, err := os.Stat(filepath.Join(dir, left)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s left after the rebuild: %v", left, err)
				}
			}
			// Summaries stored under schema 4 predate the rage- and
			// dead-clicked elements: recordings must re-send them.
			if !ix.RefreshDue() {
				t.Fatal("a rebuild from schema 4 did not mark a refresh from recordings due")
			}
			if err := ix.RefreshDone(); err != nil {
				t.Fatal(err)
			}
			if ix.RefreshDue() {
				t.Fatal("a refresh is still due after RefreshDone")
			}
		})
	}
	// Reopened at its own schema: nothing to rebuild, nothing due.
	if ix, err := bleve.Open(dir); err != nil {
		t.Fatal(err)
	} else if due := ix.RefreshDue(); ix.Close() != nil || due {
		t.Fatal("an index opened at its own schema asks for a refresh")
	}
	requireNewerRefused(t, dir, func() error {
		ix, err := bleve.Open(dir)
		if err == nil {
			ix.Close()
		}
		return err
	})
}

// TestSchemaUpgradeRefusesUndecodable: a summary the rebuild cannot read
// stops it with the summary named, and leaves the old index in place.
func TestSchemaUpgradeRefusesUndecodable(t *testing.T) {
	dir := emptyIndex(t)
	db, err := bolt.Open(filepath.Join(dir, "summaries.db"), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("summaries")).Put([]byte("1/s_bad"), []byte("short"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "SCHEMA"), []byte("4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ix, err := bleve.Open(dir); err == nil || !strings.Contains(err.Error(), "s_bad") {
		if err == nil {
			ix.Close()
		}
		t.Fatalf("a rebuild over an undecodable summary: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index", "index_meta.json")); err != nil {
		t.Fatalf("the old index is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.rebuild")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the half-built index was left: %v", err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
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

// TestTimesBeyondNanoseconds: times before 1678 or after 2262 (outside
// int64 nanoseconds) bound ranges as the earliest and latest instants, and
// a delete before the earliest deletes nothing.
func TestTimesBeyondNanoseconds(t *testing.T) {
	ctx := t.Context()
	ix, err := bleve.Open(filepath.Join(t.TempDir(), "search"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.Upsert(ctx, indextest.Generate(5, indextest.SiteA, "far", 40)); err != nil {
		t.Fatal(err)
	}
	early, late := timestamppb.New(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		tr   *searchv1.TimeRange
		want int64
	}{{&searchv1.TimeRange{End: early}, 0}, {&searchv1.TimeRange{Start: early}, 40}, {&searchv1.TimeRange{Start: early, End: late}, 40}, {&searchv1.TimeRange{Start: late}, 0}} {
		if n, err := ix.Count(ctx, indextest.SiteA, &searchv1.SessionFilter{StartTime: c.tr}); err != nil || n != c.want {
			t.Errorf("count in %v = %d, %v; want %d", c.tr, n, err, c.want)
		}
	}
	if n, err := ix.Delete(ctx, indextest.SiteA, index.Selector{StartedBefore: early.AsTime()}); err != nil || n != 0 {
		t.Fatalf("delete before the year 1000 = %d, %v; want none", n, err)
	}
	if n, err := ix.Count(ctx, indextest.SiteA, nil); err != nil || n != 40 {
		t.Fatalf("after that delete %d sessions, %v; want 40", n, err)
	}
}
