package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sightlinehq/sightline/svc-search/index"
	sessionsindex "github.com/sightlinehq/sightline/svc-search/index/elastic"
)

// DeleteBodies are the two delete-by-query bodies of a selector: the
// sessions with a page view (counted) and the documents without one
// (marks and hits still waiting for their page view; not counted). A
// visitor is found by any hit's visitor id, a start only on sessions.
func DeleteBodies(siteID int64, sel index.Selector) (counted, rest map[string]any, err error) {
	if err := sel.Validate(); err != nil {
		return nil, nil, err
	}
	filters := []any{term(fSite, routing(siteID))}
	switch {
	case len(sel.SessionIDs) > 0:
		filters = append(filters, map[string]any{"terms": map[string]any{fSession: sel.SessionIDs}})
	case sel.VisitorID != "":
		filters = append(filters, term(fVisitors, sel.VisitorID))
	case !sel.StartedBefore.IsZero():
		filters = append(filters, rangeQ(fStart, map[string]any{"lt": ts(sel.StartedBefore)}))
	}
	counted = map[string]any{"query": map[string]any{"bool": map[string]any{
		"filter": append(append([]any{}, filters...), hasPageView()),
	}}}
	rest = map[string]any{"query": map[string]any{"bool": map[string]any{
		"filter": filters, "must_not": []any{hasPageView()},
	}}}
	return counted, rest, nil
}

// Delete implements traffic.Store with delete-by-query under the site's
// routing, refreshed so the next read no longer sees them.
func (s *Store) Delete(ctx context.Context, siteID int64, sel index.Selector) (int64, error) {
	counted, rest, err := DeleteBodies(siteID, sel)
	if err != nil {
		return 0, err
	}
	n, err := s.deleteByQuery(ctx, []string{routing(siteID)}, counted, "traffic delete")
	if err != nil {
		return 0, err
	}
	if !sel.StartedBefore.IsZero() {
		return n, nil // documents without a page view have no start
	}
	if _, err := s.deleteByQuery(ctx, []string{routing(siteID)}, rest, "traffic delete"); err != nil {
		return 0, err
	}
	return n, nil
}

// SweepBodies are the delete-by-query bodies of a sweep over every site:
// sessions whose latest hit plus retention (their own, or the default) is
// before now (counted), and documents without a page view whose latest
// hit or mark is older than the default retention (not counted).
func SweepBodies(now time.Time, defaultRetention time.Duration) (counted, rest map[string]any) {
	old := ts(now.Add(-defaultRetention))
	expired := []any{
		rangeQ(fExpires, map[string]any{"lt": ts(now)}),
		map[string]any{"bool": map[string]any{
			"must_not": []any{map[string]any{"exists": map[string]any{"field": fExpires}}},
			"filter":   []any{rangeQ(fLastHit, map[string]any{"lt": old})},
		}},
	}
	counted = map[string]any{"query": map[string]any{"bool": map[string]any{
		"filter": []any{hasPageView(), map[string]any{"bool": map[string]any{"should": expired, "minimum_should_match": 1}}},
	}}}
	stale := append(append([]any{}, expired...), map[string]any{"bool": map[string]any{
		"must_not": []any{map[string]any{"exists": map[string]any{"field": fLastHit}}},
		"filter":   []any{rangeQ(fMarkedAt, map[string]any{"lt": old})},
	}})
	rest = map[string]any{"query": map[string]any{"bool": map[string]any{
		"must_not": []any{hasPageView()},
		"filter":   []any{map[string]any{"bool": map[string]any{"should": stale, "minimum_should_match": 1}}},
	}}}
	return counted, rest
}

// Sweep implements traffic.Store (every site: no routing).
func (s *Store) Sweep(ctx context.Context, now time.Time, defaultRetention time.Duration) (int64, error) {
	counted, rest := SweepBodies(now, defaultRetention)
	n, err := s.deleteByQuery(ctx, nil, counted, "traffic sweep")
	if err != nil {
		return 0, err
	}
	if _, err := s.deleteByQuery(ctx, nil, rest, "traffic sweep"); err != nil {
		return 0, err
	}
	return n, nil
}

// deleteByQuery runs a delete-by-query, refreshed for read-your-writes.
// A document written while it ran is skipped by Elasticsearch (a version
// conflict), so the query runs again until none conflicts: a delete must
// not leave a session behind because a hit arrived at that moment.
func (s *Store) deleteByQuery(ctx context.Context, routes []string, body map[string]any, what string) (int64, error) {
	raw, _ := json.Marshal(body)
	refresh := s.cfg.Refresh != "false"
	var total int64
	for attempt := 0; ; attempt++ {
		res, err := esapi.DeleteByQueryRequest{
			Index: []string{s.alias}, Body: bytes.NewReader(raw), Routing: routes,
			Refresh: &refresh, Conflicts: "proceed",
		}.Do(ctx, s.es)
		var out struct {
			Deleted          int64             `json:"deleted"`
			VersionConflicts int64             `json:"version_conflicts"`
			Failures         []json.RawMessage `json:"failures"`
		}
		if err := sessionsindex.Decode(res, err, what, &out); err != nil {
			return 0, err
		}
		total += out.Deleted
		if len(out.Failures) > 0 {
			return total, fmt.Errorf("elasticsearch: %s: %d failures: %s", what, len(out.Failures), out.Failures[0])
		}
		if out.VersionConflicts == 0 {
			return total, nil
		}
		if attempt == maxAttempts {
			return total, fmt.Errorf("elasticsearch: %s: %d documents still changing after %d attempts", what, out.VersionConflicts, maxAttempts)
		}
	}
}
