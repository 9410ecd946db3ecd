package estest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGolden: an equal body passes whatever its key order and spacing; a
// different one fails.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "b.json"), []byte(`{"b": [1, 2], "a": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	Golden(t, "b", map[string]any{"a": "x", "b": []int{1, 2}})

	for name, v := range map[string]any{
		"other value": map[string]any{"a": "y", "b": []int{1, 2}},
		"other order": map[string]any{"a": "x", "b": []int{2, 1}},
		"missing key": map[string]any{"a": "x"},
	} {
		ft := &testing.T{}
		done := make(chan struct{})
		// Fatal ends the goroutine it runs on: run the check on its own.
		go func() {
			defer close(done)
			Golden(ft, "b", v)
		}()
		<-done
		if !ft.Failed() {
			t.Errorf("%s: Golden passed a body that differs", name)
		}
	}
}

// TestSiteFirst: passes a site-first bool filter, fails another first
// clause, another site, no filter and a top-level should.
func TestSiteFirst(t *testing.T) {
	site := map[string]any{"term": map[string]any{"site_id": "7"}}
	SiteFirst(t, "ok", map[string]any{"bool": map[string]any{"filter": []any{site, map[string]any{"term": map[string]any{"x": "y"}}}}}, 7)
	for name, q := range map[string]any{
		"site second": map[string]any{"bool": map[string]any{"filter": []any{map[string]any{"term": map[string]any{"x": "y"}}, site}}},
		"other site":  map[string]any{"bool": map[string]any{"filter": []any{site}}, "x": 1},
		"no filter":   map[string]any{"bool": map[string]any{}},
		"widening":    map[string]any{"bool": map[string]any{"filter": []any{site}, "should": []any{map[string]any{"match_all": map[string]any{}}}}},
	} {
		siteID := int64(7)
		if name == "other site" {
			siteID = 8
		}
		ft := &testing.T{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			SiteFirst(ft, name, q, siteID)
		}()
		<-done
		if !ft.Failed() {
			t.Errorf("%s: SiteFirst passed", name)
		}
	}
}
