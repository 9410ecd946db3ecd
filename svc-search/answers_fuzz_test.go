package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// FuzzAnswersRequest feeds arbitrary request bytes to SearchAnswers and
// GetAnswerStats on a small real index: every input is answered with a
// result or InvalidArgument, never a panic or an internal error.
func FuzzAnswersRequest(f *testing.F) {
	for _, r := range []*searchv1.GetAnswerStatsRequest{
		{SiteId: siteA},
		{SiteId: siteA, Interval: 2, TimeZone: "Europe/Berlin", Filter: &searchv1.AnswerFilter{Rating: &searchv1.IntRange{Max: 2}, DeviceTypes: []sessionsv1.DeviceType{2}}},
		{SiteId: siteA, Interval: 1, Filter: &searchv1.AnswerFilter{Kind: 2, SurveyIds: indextest.SurveyIDs[:1], NpsGroups: []searchv1.NpsGroup{1, 3}}},
		{SiteId: siteA, Filter: &searchv1.AnswerFilter{Page: &searchv1.UrlMatch{Operator: 4, Value: "*/pri*?ref=*"}, VisitorId: "a-v001"}},
	} {
		raw, _ := proto.Marshal(r)
		f.Add(raw)
	}
	svc := newLocal(f, defaultConfig())
	if _, err := svc.UpsertAnswers(f.Context(), &searchv1.UpsertAnswersRequest{Answers: indextest.GenerateAnswers(1, siteA, "a", 80)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &searchv1.GetAnswerStatsRequest{}
		if proto.Unmarshal(raw, req) != nil {
			return
		}
		st, err := svc.GetAnswerStats(t.Context(), req)
		switch status.Code(err) {
		case codes.OK:
			if len(st.Series) > index.MaxBuckets || len(st.Total.RatingCounts) != 5 {
				t.Fatalf("stats %v", st)
			}
		case codes.InvalidArgument:
		default:
			t.Fatalf("stats %v: %v", req, err)
		}
		res, err := svc.SearchAnswers(t.Context(), &searchv1.SearchAnswersRequest{SiteId: req.SiteId, Filter: req.Filter, PageSize: 7})
		switch status.Code(err) {
		case codes.OK:
			for _, a := range res.Answers {
				if a.SiteId != req.SiteId {
					t.Fatalf("site %d query returned site %d", req.SiteId, a.SiteId)
				}
			}
		case codes.InvalidArgument:
		default:
			t.Fatalf("search %v: %v", req.Filter, err)
		}
	})
}

func FuzzDecodeAnswerToken(f *testing.F) {
	f.Add("")
	f.Add(encodeAnswerToken(answerToken{queryHash: 42, cursor: index.AnswerCursor{Time: 1234, ID: "a_1"}}))
	f.Add(encodeAnswerToken(answerToken{ascending: true, cursor: index.AnswerCursor{Time: 0, ID: "x"}}))
	f.Add(encodeToken(pageToken{sort: 1, queryHash: 42, cursor: indexCursor(1234, "s-1")}))
	f.Add(strings.Repeat("/", 2000))
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := decodeAnswerToken(s)
		if err != nil {
			return
		}
		if tok.cursor.ID == "" || len(tok.cursor.ID) > maxStringBytes || !utf8.ValidString(tok.cursor.ID) || tok.cursor.Time < 0 {
			t.Fatalf("decoded an invalid cursor %+v", tok.cursor)
		}
		again, err := decodeAnswerToken(encodeAnswerToken(tok))
		if err != nil || again != tok {
			t.Fatalf("re-encoding %q: %+v vs %+v, %v", s, again, tok, err)
		}
	})
}
