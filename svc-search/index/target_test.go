package index

import (
	"testing"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
)

// TestURLMatchTarget: which field, value and operator each kind of match
// runs on.
func TestURLMatchTarget(t *testing.T) {
	fields := URLFields{Full: "full", Path: "path", Key: "key"}
	op := func(o searchv1.UrlMatch_Operator, v string) URLMatch {
		return URLMatch{Match: &searchv1.UrlMatch{Operator: o, Value: v}, Fields: fields}
	}
	for name, c := range map[string]struct {
		m            URLMatch
		field, value string
		op           searchv1.UrlMatch_Operator
		ok           bool
	}{
		"unset":             {m: URLMatch{Fields: fields}},
		"empty":             {m: op(searchv1.UrlMatch_OPERATOR_PREFIX, "")},
		"full equals":       {op(searchv1.UrlMatch_OPERATOR_EQUALS, "https://a.example/x?b=1&a=2"), "key", PageKey("https://a.example/x?b=1&a=2"), searchv1.UrlMatch_OPERATOR_EQUALS, true},
		"path unspecified":  {op(searchv1.UrlMatch_OPERATOR_UNSPECIFIED, "/pricing"), "path", "/pricing", searchv1.UrlMatch_OPERATOR_EQUALS, true},
		"path prefix":       {op(searchv1.UrlMatch_OPERATOR_PREFIX, "/blog"), "path", "/blog", searchv1.UrlMatch_OPERATOR_PREFIX, true},
		"contains is full":  {op(searchv1.UrlMatch_OPERATOR_CONTAINS, "/blog"), "full", "/blog", searchv1.UrlMatch_OPERATOR_CONTAINS, true},
		"full pattern":      {op(searchv1.UrlMatch_OPERATOR_PATTERN, "https://*.example/*"), "full", "https://*.example/*", searchv1.UrlMatch_OPERATOR_PATTERN, true},
		"path-form pattern": {op(searchv1.UrlMatch_OPERATOR_PATTERN, "/product/*"), "path", "/product/*", searchv1.UrlMatch_OPERATOR_PATTERN, true},
		"unknown passes on": {op(99, "x"), "full", "x", 99, true},
	} {
		field, value, o, ok := c.m.Target()
		if field != c.field || value != c.value || o != c.op || ok != c.ok {
			t.Errorf("%s: %q %q %v %v, want %q %q %v %v", name, field, value, o, ok, c.field, c.value, c.op, c.ok)
		}
	}
}

func TestSortAndFacetFields(t *testing.T) {
	s := SortFields{Start: "s", Duration: "d", Active: "a", PageCount: "p"}
	for f, want := range map[searchv1.SortField]string{
		searchv1.SortField_SORT_FIELD_UNSPECIFIED: "s", searchv1.SortField_SORT_FIELD_START_TIME: "s",
		searchv1.SortField_SORT_FIELD_DURATION: "d", searchv1.SortField_SORT_FIELD_ACTIVE_DURATION: "a",
		searchv1.SortField_SORT_FIELD_PAGE_COUNT: "p", 99: "s",
	} {
		if got := s.Of(f); got != want {
			t.Errorf("sort %v: %q, want %q", f, got, want)
		}
	}
	fc := FacetFields{Device: "dev", Browser: "br", OS: "os", Country: "co", Path: "pa"}
	for f, want := range map[searchv1.FacetField]string{
		searchv1.FacetField_FACET_FIELD_DEVICE_TYPE: "dev", searchv1.FacetField_FACET_FIELD_BROWSER: "br",
		searchv1.FacetField_FACET_FIELD_OS: "os", searchv1.FacetField_FACET_FIELD_COUNTRY: "co", searchv1.FacetField_FACET_FIELD_PAGE: "pa",
	} {
		if got, ok := fc.Of(f); got != want || !ok {
			t.Errorf("facet %v: %q %v, want %q", f, got, ok, want)
		}
	}
	for _, f := range []searchv1.FacetField{searchv1.FacetField_FACET_FIELD_UNSPECIFIED, 99} {
		if got, ok := fc.Of(f); ok || got != "" {
			t.Errorf("facet %v: %q %v, want none", f, got, ok)
		}
	}
}
