package indextest

import (
	"testing"
)

// pageAll pages through a list query to its end and returns every hit,
// checking the page invariants both lists share: the total is the same on
// every page, no page exceeds limit, every hit is siteID's, only the last
// page is short, and the hits add up to the total. search runs the query
// after a cursor, first from after; what names the query and noun its hits
// in failures, id a hit.
func pageAll[H interface{ GetSiteId() int64 }, C any](t *testing.T, what, noun string, siteID int64, limit int, after *C,
	search func(after *C) (hits []H, total int64, next *C, err error), id func(H) string) []H {
	t.Helper()
	var out []H
	var total int64 = -1
	for range 10000 {
		hits, n, next, err := search(after)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if total >= 0 && n != total {
			t.Fatalf("total changed between pages without writes: %d then %d", total, n)
		}
		total = n
		if len(hits) > limit {
			t.Fatalf("page of %d exceeds limit %d", len(hits), limit)
		}
		for _, h := range hits {
			if h.GetSiteId() != siteID {
				t.Fatalf("query for site %d returned site %d's %s %s", siteID, h.GetSiteId(), noun, id(h))
			}
		}
		out = append(out, hits...)
		if next == nil {
			if int64(len(out)) != total {
				t.Fatalf("paged %d %ss but total is %d", len(out), noun, total)
			}
			return out
		}
		if len(hits) != limit {
			t.Fatalf("short page of %d (limit %d) with a next cursor", len(hits), limit)
		}
		after = next
	}
	t.Fatal("paging did not end")
	return nil
}
