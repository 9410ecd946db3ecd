package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
)

// Reindex paging sizes: recordings' pages are re-cut into upsert batches no
// larger than the service's default max-upsert-batch.
const (
	reindexPageSize  = 500
	reindexBatchSize = 500
)

// Reindex rebuilds the index of one site (0: every site) from recordings'
// summaries: it pages ListSessionSummaries into UpsertSessions. After each
// page it saves the page token to cursorFile (atomically), so a run that is
// interrupted resumes where it stopped; the file is removed when the run
// completes. Re-sending a page is harmless: upserts are idempotent and
// version-guarded. progress receives a progress bar and a closing line.
func Reindex(ctx context.Context, src recordingsv1.RecordingsServiceClient, dst searchv1.SearchServiceClient,
	siteID int64, cursorFile string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	token, err := readCursor(cursorFile)
	if err != nil {
		return err
	}
	desc := fmt.Sprintf("reindex site %d", siteID)
	if siteID == 0 {
		desc = "reindex all sites"
	}
	if token != "" {
		desc += " (resumed)"
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("sessions"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		// Render on progress only: no ticker goroutine outlives a failed run.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
	start := time.Now()
	var total, stale int64
	for {
		page, err := src.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{
			SiteId: siteID, PageSize: reindexPageSize, PageToken: token,
		})
		if err != nil {
			return fmt.Errorf("reindex: list summaries after %d sessions (cursor saved, rerun to resume): %w", total, err)
		}
		ss := page.GetSessions()
		for len(ss) > 0 {
			n := min(reindexBatchSize, len(ss))
			res, err := dst.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: ss[:n]})
			if err != nil {
				return fmt.Errorf("reindex: upsert after %d sessions (cursor saved, rerun to resume): %w", total, err)
			}
			total += int64(n)
			stale += int64(res.GetStale())
			_ = bar.Add(n)
			ss = ss[n:]
		}
		token = page.GetNextPageToken()
		if token == "" {
			break
		}
		if err := writeCursor(cursorFile, token); err != nil {
			return err
		}
	}
	_ = bar.Finish()
	if cursorFile != "" {
		if err := os.Remove(cursorFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reindex: remove cursor: %w", err)
		}
	}
	_, err = fmt.Fprintf(progress, "\nreindexed %d sessions (%d already newer in the index) in %s\n",
		total, stale, time.Since(start).Round(time.Millisecond))
	return err
}

func readCursor(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reindex: read cursor: %w", err)
	}
	return string(bytes.TrimSpace(raw)), nil
}

// writeCursor replaces the cursor file atomically and durably.
func writeCursor(path, token string) error {
	if path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".reindex-cursor-*")
	if err != nil {
		return fmt.Errorf("reindex: save cursor: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("reindex: save cursor: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("reindex: save cursor: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("reindex: save cursor: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("reindex: save cursor: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
