package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

func indexCursor(v int64, id string) index.Cursor { return index.Cursor{Value: v, SessionID: id} }

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []pageToken{
		{sort: searchv1.SortField_SORT_FIELD_START_TIME, queryHash: 1, cursor: indexCursor(1_772_000_000_123_456_789, "abc")},
		{sort: searchv1.SortField_SORT_FIELD_PAGE_COUNT, ascending: true, queryHash: ^uint64(0), cursor: indexCursor(-7, "é/ü")},
		{sort: searchv1.SortField_SORT_FIELD_DURATION, cursor: indexCursor(0, strings.Repeat("x", maxStringBytes))},
	} {
		got, err := decodeToken(encodeToken(tok))
		if err != nil || got != tok {
			t.Fatalf("round trip of %+v: %+v, %v", tok, got, err)
		}
	}
	over := encodeToken(pageToken{cursor: indexCursor(1, strings.Repeat("x", maxStringBytes+1))})
	if _, err := decodeToken(over); err == nil {
		t.Fatal("token with an oversized session id accepted")
	}
}

func FuzzDecodeToken(f *testing.F) {
	f.Add("")
	f.Add("AQ")
	f.Add(encodeToken(pageToken{sort: 1, queryHash: 42, cursor: indexCursor(1234, "s-1")}))
	f.Add(encodeToken(pageToken{sort: 4, ascending: true, cursor: indexCursor(-1, "x")}))
	f.Add(strings.Repeat("/", 2000))
	f.Add("AQEBAAAAAAAAAAD_____________AQ")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeToken(s)
		if err != nil {
			return
		}
		if tok.cursor.SessionID == "" || len(tok.cursor.SessionID) > maxStringBytes || !utf8.ValidString(tok.cursor.SessionID) {
			t.Fatalf("decoded an invalid session id %q", tok.cursor.SessionID)
		}
		if _, ok := searchv1.SortField_name[int32(tok.sort)]; !ok {
			t.Fatalf("decoded unknown sort %d", tok.sort)
		}
		again, err := decodeToken(encodeToken(tok))
		if err != nil || again != tok {
			t.Fatalf("re-encoding %q: %+v vs %+v, %v", s, again, tok, err)
		}
	})
}
