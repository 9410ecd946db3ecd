package search

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/testproc"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/bleve"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// upgradedIndex leaves in dataDir what an earlier version left: the index
// of docs as they were stored then (no rage- or dead-clicked elements,
// which recordings did not send yet) under schema 6.
func upgradedIndex(t *testing.T, dataDir string, docs []*sessionsv1.SessionSummary) {
	t.Helper()
	ix, err := bleve.Open(filepath.Join(dataDir, "search"))
	if err != nil {
		t.Fatal(err)
	}
	old := make([]*sessionsv1.SessionSummary, len(docs))
	for i, d := range docs {
		old[i] = proto.CloneOf(d)
		old[i].RageClickedElements, old[i].DeadClickedElements = nil, nil
	}
	if _, err := ix.Upsert(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "search", "SCHEMA"), []byte("6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mostRaged is the rage-clicked element most of docs name.
func mostRaged(docs []*sessionsv1.SessionSummary) string {
	n := map[string]int{}
	best := ""
	for _, d := range docs {
		for _, e := range d.GetRageClickedElements() {
			if n[e]++; n[e] > n[best] {
				best = e
			}
		}
	}
	return best
}

// TestRefreshAfterUpgrade: an index rebuilt from summaries stored before
// the rage- and dead-clicked elements existed is refreshed from recordings
// by the running service — through a recordings failure, resumed from its
// cursor — and the old sessions are then found by the new filters; without
// a recordings connection the log names the command that does it.
func TestRefreshAfterUpgrade(t *testing.T) {
	docs := indextest.Generate(21, siteA, "up", 700)
	elem := mostRaged(docs)
	filter := &searchv1.SessionFilter{RageClickedElement: elem}
	want := len(indextest.Sorted(docs, filter, searchv1.SortField_SORT_FIELD_START_TIME, false))
	if elem == "" || want < 5 {
		t.Fatalf("the generated sessions rage-click %q in %d: choose a seed that tells", elem, want)
	}

	t.Run("with recordings", func(t *testing.T) {
		dataDir := t.TempDir()
		upgradedIndex(t, dataDir, docs)
		// Recordings fails once, on the second page of summaries.
		src := &summarySource{sessions: docs, failAt: 1}
		var logs testproc.LogBuffer
		c, svc := serve(t, testConfig(t), Deps{
			Authorizer: siteaccesstest.AllowAll{}, DataDir: dataDir,
			Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			Recordings: serveSource(t, src),
		})
		count := func() int64 {
			r, err := c.CountSessions(t.Context(), &searchv1.CountSessionsRequest{SiteId: siteA, Filter: filter})
			if err != nil {
				t.Fatal(err)
			}
			return r.Count
		}
		if n := count(); n != 0 {
			t.Fatalf("%d sessions rage-clicked %q before the refresh: the old summaries hold none", n, elem)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = svc.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })

		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logs.String(), "refreshed the index from recordings") {
			if time.Now().After(deadline) {
				t.Fatalf("no refresh within 30 s; log:\n%s", logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := count(); n != int64(want) {
			t.Fatalf("%d sessions rage-clicked %q after the refresh, want %d", n, elem, want)
		}
		for _, gone := range []string{"REFRESH", "refresh.cursor"} {
			if _, err := os.Stat(filepath.Join(dataDir, "search", gone)); !os.IsNotExist(err) {
				t.Fatalf("%s left after the refresh: %v", gone, err)
			}
		}
		if !strings.Contains(logs.String(), "index refresh from recordings failed; resumed from its cursor") {
			t.Fatalf("the failure was not logged:\n%s", logs.String())
		}
		src.mu.Lock()
		tokens := slices.Clone(src.tokens)
		src.mu.Unlock()
		// First attempt: "", then the failing "500"; the second resumes at "500".
		if !slices.Equal(tokens, []string{"", "500", "500"}) {
			t.Fatalf("summary pages asked %q, want the retry to resume at the failed page", tokens)
		}
	})

	t.Run("without recordings", func(t *testing.T) {
		dataDir := t.TempDir()
		upgradedIndex(t, dataDir, docs)
		var logs testproc.LogBuffer
		_, svc := serve(t, testConfig(t), Deps{
			Authorizer: siteaccesstest.AllowAll{}, DataDir: dataDir,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = svc.Run(ctx); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "run `sightline reindex`") {
			if time.Now().After(deadline) {
				t.Fatalf("no word of `sightline reindex` within 10 s; log:\n%s", logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		if _, err := os.Stat(filepath.Join(dataDir, "search", "REFRESH")); err != nil {
			t.Fatalf("the refresh mark is gone although nothing re-sent the summaries: %v", err)
		}
	})

	// What the notice asks for: `sightline reindex` (every site) against
	// the search service, then its FinishReindex; the mark is gone, so the
	// notice does not come back at the next start.
	t.Run("sightline reindex", func(t *testing.T) {
		dataDir := t.TempDir()
		upgradedIndex(t, dataDir, docs)
		// A refresh of the process's own, cut off, left its cursor.
		if err := os.WriteFile(filepath.Join(dataDir, "search", "refresh.cursor"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}, DataDir: dataDir})
		finish := func() bool {
			t.Helper()
			r, err := c.FinishReindex(t.Context(), &searchv1.FinishReindexRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return r.GetRefreshed()
		}
		if err := Reindex(t.Context(), serveSource(t, &summarySource{sessions: docs}), c, 0, filepath.Join(t.TempDir(), "cursor"), io.Discard); err != nil {
			t.Fatal(err)
		}
		if !finish() {
			t.Fatal("FinishReindex after the reindex: refreshed false, want true (the mark was due)")
		}
		for _, gone := range []string{"REFRESH", "refresh.cursor"} {
			if _, err := os.Stat(filepath.Join(dataDir, "search", gone)); !os.IsNotExist(err) {
				t.Fatalf("%s left after FinishReindex: %v", gone, err)
			}
		}
		r, err := c.CountSessions(t.Context(), &searchv1.CountSessionsRequest{SiteId: siteA, Filter: filter})
		if err != nil || r.Count != int64(want) {
			t.Fatalf("%d sessions rage-clicked %q after the reindex (%v), want %d", r.GetCount(), elem, err, want)
		}
		if finish() {
			t.Fatal("a second FinishReindex: refreshed true, want false (nothing was due)")
		}
	})
}
