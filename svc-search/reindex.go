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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
)

// Reindex paging sizes: recordings' pages are re-cut into upsert batches no
// larger than the service's default max-upsert-batch.
const (
	reindexPageSize  = 500
	reindexBatchSize = 500
)

// Upserter is where Reindex sends what it reads: search's internal client
// (`sightline reindex`), or the service itself (refresh.go).
type Upserter interface {
	UpsertSessions(ctx context.Context, in *searchv1.UpsertSessionsRequest, opts ...grpc.CallOption) (*searchv1.UpsertSessionsResponse, error)
	UpsertAnswers(ctx context.Context, in *searchv1.UpsertAnswersRequest, opts ...grpc.CallOption) (*searchv1.UpsertAnswersResponse, error)
}

// Reindex rebuilds the index of one site (0: every site) from recordings:
// it pages ListSessionSummaries into UpsertSessions, then each site's
// ListAnswers into UpsertAnswers (for every site, the sites the summaries
// named: a site with answers but no recorded session needs -site). After
// each page it saves its position to cursorFile (atomically), so a run
// that is interrupted resumes where it stopped; the file is removed when
// the run completes. Re-sending a page is harmless: upserts are idempotent
// (and version-guarded for summaries). progress receives progress bars and
// a closing line.
func Reindex(ctx context.Context, src recordingsv1.RecordingsInternalServiceClient, dst Upserter,
	siteID int64, cursorFile string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	saved, err := readCursor(cursorFile)
	if err != nil {
		return err
	}
	pos, err := parseCursor(saved)
	if err != nil {
		return err
	}
	desc := fmt.Sprintf("reindex site %d", siteID)
	if siteID == 0 {
		desc = "reindex all sites"
	}
	if saved != "" {
		desc += " (resumed)"
	}
	start := time.Now()
	var total, stale int64
	if !pos.answers {
		sites := map[int64]bool{}
		if total, stale, err = reindexSessions(ctx, src, dst, siteID, pos.token, cursorFile, newBar(progress, desc, "sessions"), sites); err != nil {
			return err
		}
		pos = cursor{answers: true}
		if siteID != 0 {
			pos.sites = []int64{siteID}
		} else {
			for id := range sites {
				pos.sites = append(pos.sites, id)
			}
			slices.Sort(pos.sites)
		}
		if err := writeCursor(cursorFile, pos.String()); err != nil {
			return err
		}
		fmt.Fprintln(progress)
	}
	answers, note, err := reindexAnswers(ctx, src, dst, pos, cursorFile, newBar(progress, desc, "answers"))
	if err != nil {
		return err
	}
	if cursorFile != "" {
		if err := os.Remove(cursorFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reindex: remove cursor: %w", err)
		}
	}
	_, err = fmt.Fprintf(progress, "\nreindexed %d sessions (%d already newer in the index) and %d answers%s in %s\n",
		total, stale, answers, note, time.Since(start).Round(time.Millisecond))
	return err
}

func newBar(w io.Writer, desc, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc+": "+what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(what),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		// Render on progress only: no ticker goroutine outlives a failed run.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
}

// reindexSessions pages the summaries into search from token, noting the
// sites it sees.
func reindexSessions(ctx context.Context, src recordingsv1.RecordingsInternalServiceClient, dst Upserter,
	siteID int64, token, cursorFile string, bar *progressbar.ProgressBar, sites map[int64]bool) (total, stale int64, err error) {
	for {
		page, err := src.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{
			SiteId: siteID, PageSize: reindexPageSize, PageToken: token,
		})
		if err != nil {
			return total, stale, fmt.Errorf("reindex: list summaries after %d sessions (cursor saved, rerun to resume): %w", total, err)
		}
		ss := page.GetSessions()
		for _, s := range ss {
			sites[s.GetSiteId()] = true
		}
		for len(ss) > 0 {
			n := min(reindexBatchSize, len(ss))
			res, err := dst.UpsertSessions(ctx, &searchv1.UpsertSessionsRequest{Sessions: ss[:n]})
			if err != nil {
				return total, stale, fmt.Errorf("reindex: upsert after %d sessions (cursor saved, rerun to resume): %w", total, err)
			}
			total += int64(n)
			stale += int64(res.GetStale())
			_ = bar.Add(n)
			ss = ss[n:]
		}
		token = page.GetNextPageToken()
		if token == "" {
			_ = bar.Finish()
			return total, stale, nil
		}
		if err := writeCursor(cursorFile, token); err != nil {
			return total, stale, err
		}
	}
}

// reindexAnswers pages each remaining site's answers into search. A
// recordings service without answers (an older version) is noted, not an
// error.
func reindexAnswers(ctx context.Context, src recordingsv1.RecordingsInternalServiceClient, dst Upserter,
	pos cursor, cursorFile string, bar *progressbar.ProgressBar) (int64, string, error) {
	var total int64
	for len(pos.sites) > 0 {
		page, err := src.ListAnswers(ctx, &recordingsv1.ListAnswersRequest{SiteId: pos.sites[0], PageSize: reindexPageSize, PageToken: pos.token})
		if status.Code(err) == codes.Unimplemented {
			_ = bar.Finish()
			return total, " (recordings lists no answers: an older version)", nil
		}
		if err != nil {
			return total, "", fmt.Errorf("reindex: list answers of site %d after %d answers (cursor saved, rerun to resume): %w", pos.sites[0], total, err)
		}
		as := page.GetAnswers()
		for len(as) > 0 {
			n := min(reindexBatchSize, len(as))
			if _, err := dst.UpsertAnswers(ctx, &searchv1.UpsertAnswersRequest{Answers: as[:n]}); err != nil {
				return total, "", fmt.Errorf("reindex: upsert answers after %d answers (cursor saved, rerun to resume): %w", total, err)
			}
			total += int64(n)
			_ = bar.Add(n)
			as = as[n:]
		}
		pos.token = page.GetNextPageToken()
		if pos.token == "" {
			pos.sites = pos.sites[1:]
		}
		if len(pos.sites) > 0 {
			if err := writeCursor(cursorFile, pos.String()); err != nil {
				return total, "", err
			}
		}
	}
	_ = bar.Finish()
	return total, "", nil
}

// cursor is a reindex position: a summaries page token, or (answers) the
// sites whose answers remain, the first one from token. Saved as the bare
// token (the format of earlier versions) or as
//
//	answers
//	<token>
//	<site id> <site id> ...
type cursor struct {
	answers bool
	token   string
	sites   []int64
}

func (c cursor) String() string {
	if !c.answers {
		return c.token
	}
	ids := make([]string, len(c.sites))
	for i, id := range c.sites {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return "answers\n" + c.token + "\n" + strings.Join(ids, " ")
}

func parseCursor(s string) (cursor, error) {
	if s == "answers" { // no sites left (the file is read trimmed)
		return cursor{answers: true}, nil
	}
	head, rest, ok := strings.Cut(s, "\n")
	if !ok || head != "answers" {
		return cursor{token: s}, nil
	}
	token, list, _ := strings.Cut(rest, "\n")
	c := cursor{answers: true, token: token}
	for _, f := range strings.Fields(list) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return cursor{}, fmt.Errorf("reindex: cursor file names site %q: remove it to start over", f)
		}
		c.sites = append(c.sites, id)
	}
	return c, nil
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
