package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
)

// The contract wants the exact lower median of session durations; the
// percentiles aggregation (t-digest) is only close. nth pins the k-th
// smallest duration (0-based) exactly in one more request as a rule: it
// counts the durations up to the estimate and reads a window of them
// around it, largest first; only when the estimate is off by more than
// the window does it walk the sorted durations with search_after.

// nthWindow is how many durations next to the estimate one request reads.
const nthWindow = 256

// walkPage is the page size of the fallback walk.
const walkPage = 5000

// NthBody reads the durations of the sessions of fq on one side of the
// estimate: up to it (inclusive) largest first, or above it smallest
// first, with the number of such sessions; after continues a walk.
func NthBody(fq map[string]any, estimate float64, below bool, size int, after []any) map[string]any {
	side, order := map[string]any{"gt": estimate}, "asc"
	if below {
		side, order = map[string]any{"lte": estimate}, "desc"
	}
	b := fq["bool"].(map[string]any)
	filters := append(append([]any{}, b["filter"].([]any)...), rangeQ(fDuration, side))
	nb := map[string]any{}
	for k, v := range b {
		nb[k] = v
	}
	nb["filter"] = filters
	body := map[string]any{
		"size": size, "_source": false, "track_total_hits": after == nil,
		"query": map[string]any{"bool": nb},
		"sort": []any{
			map[string]any{fDuration: map[string]any{"order": order}},
			map[string]any{fSession: map[string]any{"order": order}},
		},
	}
	if after != nil {
		body["search_after"] = after
	}
	return body
}

type sortedHits struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			Sort []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}

// durationAt is hit i's duration (its first sort value).
func (h sortedHits) durationAt(i int) (int64, error) {
	s := h.Hits.Hits[i].Sort
	if len(s) == 0 {
		return 0, fmt.Errorf("hit %d has no sort values", i)
	}
	var v int64
	if err := json.Unmarshal(s[0], &v); err != nil {
		return 0, fmt.Errorf("hit %d duration %s: %w", i, s[0], err)
	}
	return v, nil
}

// nth answers the k-th smallest duration_ms (0-based) of the sessions fq
// selects, given an estimate of it.
func (s *Store) nth(ctx context.Context, siteID int64, fq map[string]any, k int64, estimate float64) (int64, error) {
	if math.IsNaN(estimate) || math.IsInf(estimate, 0) {
		estimate = 0
	}
	var out sortedHits
	if err := s.search(ctx, siteID, NthBody(fq, estimate, true, nthWindow, nil), "traffic median", &out); err != nil {
		return 0, err
	}
	// c durations are ≤ the estimate; the k-th is among them when c > k,
	// at position c-1-k from the largest.
	c := out.Hits.Total.Value
	below := c > k
	idx := k - c
	if below {
		idx = c - 1 - k
	}
	if below && idx < int64(len(out.Hits.Hits)) {
		v, err := out.durationAt(int(idx))
		if err != nil {
			return 0, fmt.Errorf("elasticsearch: traffic median: %w", err)
		}
		return v, nil
	}
	if below {
		// Continue the walk after the window already read.
		return s.walk(ctx, siteID, fq, estimate, true, idx, out)
	}
	return s.walk(ctx, siteID, fq, estimate, false, idx, sortedHits{})
}

// walk pages through one side's durations from the estimate outwards,
// after the hits of page (none: from the start), and answers the one idx
// from the start.
func (s *Store) walk(ctx context.Context, siteID int64, fq map[string]any, estimate float64, below bool, idx int64, page sortedHits) (int64, error) {
	for {
		n := int64(len(page.Hits.Hits))
		if idx < n {
			v, err := page.durationAt(int(idx))
			if err != nil {
				return 0, fmt.Errorf("elasticsearch: traffic median: %w", err)
			}
			return v, nil
		}
		idx -= n
		var after []any
		if n > 0 {
			for _, v := range page.Hits.Hits[n-1].Sort {
				after = append(after, v)
			}
		}
		body := NthBody(fq, estimate, below, int(min(idx+1, walkPage)), after)
		body["track_total_hits"] = false
		page = sortedHits{}
		if err := s.search(ctx, siteID, body, "traffic median", &page); err != nil {
			return 0, err
		}
		if len(page.Hits.Hits) == 0 {
			return 0, fmt.Errorf("elasticsearch: traffic median: ran out of sessions %d short", idx+1)
		}
	}
}
