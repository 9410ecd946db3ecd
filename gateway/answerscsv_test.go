package gateway_test

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/gateway"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// pagedSearch is a real gRPC SearchService that serves SearchAnswers from
// fixed pages (search's answer index is built by another part; this pins
// the export's paging, columns and escaping). It records the requests.
type pagedSearch struct {
	searchv1.UnimplementedSearchServiceServer
	pages func(site int64, page int) (*searchv1.SearchAnswersResponse, error)
	mu    sync.Mutex
	reqs  []*searchv1.SearchAnswersRequest
}

func (p *pagedSearch) SearchAnswers(_ context.Context, req *searchv1.SearchAnswersRequest) (*searchv1.SearchAnswersResponse, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, proto.Clone(req).(*searchv1.SearchAnswersRequest))
	p.mu.Unlock()
	n := 0
	if req.GetPageToken() != "" {
		var err error
		if n, err = strconv.Atoi(strings.TrimPrefix(req.GetPageToken(), "page-")); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad token")
		}
	}
	return p.pages(req.GetSiteId(), n)
}

func (p *pagedSearch) requests() []*searchv1.SearchAnswersRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// csvGateway is a second gateway in front of the server's real accounts
// and recordings, with search replaced by fake.
func csvGateway(t *testing.T, s *server, fake *pagedSearch) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	searchv1.RegisterSearchServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	fakeConn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fakeConn.Close() })
	meshConn := s.internalConn(t) // accounts' Authenticate is internal
	t.Cleanup(func() { meshConn.Close() })
	var cfg gateway.Config
	cfg.RegisterFlags(flag.NewFlagSet("gw", flag.ContinueOnError))
	g, err := gateway.New(context.Background(), cfg, gateway.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Accounts: meshConn, Recordings: meshConn, Search: fakeConn,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.RegisterHTTP(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

func parseCSV(t *testing.T, body []byte) ([][]string, string) {
	t.Helper()
	text := string(body)
	var last string
	if i := strings.LastIndex(strings.TrimSuffix(text, "\r\n"), "\n"); i >= 0 && strings.HasPrefix(text[i+1:], "#") {
		last, text = strings.TrimSpace(text[i+1:]), text[:i+1]
	}
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	return recs, last
}

func TestAnswersCSV(t *testing.T) {
	s := startServer(t, nil)
	a, b := newTenant(t, s), newTenant(t, s)
	siteA, _ := strconv.ParseInt(a.siteID, 10, 64)
	surveyA, _ := strconv.ParseInt(a.surveyID, 10, 64)
	// The survey as accounts numbered it: questions 1 (NPS), 2 (choices 1
	// "Search", 2 "=HYPERLINK…"), 3 (text).
	given := a.sessionStart.Add(42*time.Second + 300*time.Millisecond)
	answer := func(id string, recorded bool) *sessionsv1.Answer {
		return &sessionsv1.Answer{Id: id, SiteId: siteA, Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, SurveyId: surveyA,
			SessionId: a.sessionID, VisitorId: "v_visitor0000000000000000", Recorded: recorded, Url: "https://shop.example.com/cart?x=1,2",
			ClientTime: timestamppb.New(given), Nps: proto.Int32(9), Rating: 4,
			Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, Browser: "Chrome", Os: "Android", Country: "DE"},
			Answers: []*sessionsv1.QuestionAnswer{
				{QuestionId: 1, Score: proto.Int32(9)},
				{QuestionId: 2, ChoiceIds: []int32{2, 1, 7}},
				{QuestionId: 3, Text: "-1 \"great\", but\nslow"},
			}}
	}
	fake := &pagedSearch{pages: func(site int64, n int) (*searchv1.SearchAnswersResponse, error) {
		switch n {
		case 0:
			return &searchv1.SearchAnswersResponse{Answers: []*sessionsv1.Answer{answer("a_first000000000000000000", true)}, NextPageToken: "page-1", Total: 3}, nil
		case 1:
			fb := &sessionsv1.Answer{Id: "a_feedback000000000000000", SiteId: siteA, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK,
				SessionId: a.sessionID, Rating: 2, Comment: "@SUM(A1) =cmd|' /C calc'!A0", ClientTime: timestamppb.New(given.Add(time.Minute)),
				Url: "https://shop.example.com/", Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}}
			return &searchv1.SearchAnswersResponse{Answers: []*sessionsv1.Answer{answer("a_second00000000000000000", false), fb}, Total: 3}, nil
		}
		return nil, status.Error(codes.Internal, "no such page")
	}}
	base := csvGateway(t, s, fake)
	ca := &client{t: t, s: &server{base: base}, http: &http.Client{Timeout: 30 * time.Second}, bearer: apiKeyClient(t, s, a).bearer}

	q := "?survey=" + a.surveyID + "&from=2026-01-01T00:00:00Z&to=2099-01-01T00:00:00%2B02:00&kind=survey&nps=promoter&nps=passive" +
		"&rating_min=2&rating_max=5&page_op=prefix&page=/cart&device=mobile&device=tablet&has_text=true"
	r := ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv"+q, nil)
	if r.code != http.StatusOK {
		t.Fatalf("export = %d %s", r.code, r.body)
	}
	if ct := r.hdr.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.hdr.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="answers-site-`+a.siteID+"-") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	// The filter reached search as given, paging with the returned token.
	reqs := fake.requests()
	if len(reqs) != 2 || reqs[0].GetPageSize() != 1000 || reqs[0].GetSiteId() != siteA || reqs[1].GetPageToken() != "page-1" {
		t.Fatalf("search requests = %v", reqs)
	}
	tt := true
	want := &searchv1.AnswerFilter{
		Time:      &searchv1.TimeRange{Start: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), End: timestamppb.New(time.Date(2098, 12, 31, 22, 0, 0, 0, time.UTC))},
		Kind:      sessionsv1.AnswerKind_ANSWER_KIND_SURVEY,
		SurveyIds: []int64{surveyA}, Rating: &searchv1.IntRange{Min: 2, Max: 5},
		NpsGroups:   []searchv1.NpsGroup{searchv1.NpsGroup_NPS_GROUP_PROMOTER, searchv1.NpsGroup_NPS_GROUP_PASSIVE},
		Page:        &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/cart"},
		DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET},
		HasText:     &tt,
	}
	if !proto.Equal(reqs[0].GetFilter(), want) {
		t.Fatalf("filter = %v\nwant %v", reqs[0].GetFilter(), want)
	}

	recs, last := parseCSV(t, r.body)
	if last != "" {
		t.Fatalf("unexpected trailing line %q", last)
	}
	wantHeader := []string{"time", "kind", "survey_id", "survey", "rating", "nps", "comment",
		"How likely are you to recommend us?", "What did you use?", "Anything else?",
		"page", "device", "browser", "os", "country", "session_id", "recording", "answer_id"}
	if strings.Join(recs[0], "|") != strings.Join(wantHeader, "|") {
		t.Fatalf("header = %q\nwant %q", recs[0], wantHeader)
	}
	if len(recs) != 4 {
		t.Fatalf("%d rows, want header + 3: %q", len(recs), recs)
	}
	col := func(row []string, name string) string {
		for i, h := range wantHeader {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %q", name)
		return ""
	}
	first := recs[1]
	link := base + "/o/" + a.orgID + "/sites/" + a.siteID + "/recordings/" + a.sessionID + "?at=" + strconv.FormatInt(given.UnixMilli(), 10)
	for name, v := range map[string]string{
		"time": given.UTC().Format("2006-01-02T15:04:05.000Z"), "kind": "survey", "survey_id": a.surveyID, "survey": "NPS",
		"rating": "4", "nps": "9", "How likely are you to recommend us?": "9",
		// Labels resolved; a formula label is defused; an unknown choice id shown as such.
		"What did you use?": `'=HYPERLINK("http://evil"); Search; #7`,
		// A leading '-' is defused; quotes, comma and newline survive quoting.
		"Anything else?": "'-1 \"great\", but\nslow",
		"page":           "https://shop.example.com/cart?x=1,2", "device": "mobile", "browser": "Chrome", "os": "Android", "country": "DE",
		"session_id": a.sessionID, "recording": link, "answer_id": "a_first000000000000000000",
	} {
		if got := col(first, name); got != v {
			t.Errorf("first row %s = %q, want %q", name, got, v)
		}
	}
	if got := col(recs[2], "recording"); got != "" {
		t.Errorf("an answer from an unrecorded session links to %q", got)
	}
	fb := recs[3]
	if col(fb, "kind") != "feedback" || col(fb, "rating") != "2" || col(fb, "nps") != "" || col(fb, "survey_id") != "" ||
		col(fb, "comment") != "'@SUM(A1) =cmd|' /C calc'!A0" || col(fb, "How likely are you to recommend us?") != "" {
		t.Errorf("feedback row = %q", fb)
	}
	// Any other filter: one answers column of "question: answer" lines.
	r = ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil)
	if r.code != http.StatusOK {
		t.Fatalf("unfiltered export = %d %s", r.code, r.body)
	}
	recs, _ = parseCSV(t, r.body)
	if len(recs[0]) != 16 || recs[0][7] != "answers" {
		t.Fatalf("unfiltered header = %q", recs[0])
	}
	if got, want := recs[1][7], "How likely are you to recommend us?: 9\nWhat did you use?: =HYPERLINK(\"http://evil\"); Search; #7\nAnything else?: -1 \"great\", but\nslow"; got != want {
		t.Fatalf("answers column = %q\nwant %q", got, want)
	}

	// Another organisation's site: 404, and search is never asked.
	before := len(fake.requests())
	cb := &client{t: t, s: &server{base: base}, http: &http.Client{Timeout: 10 * time.Second}, bearer: apiKeyClient(t, s, b).bearer}
	if r := cb.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil); r.code != http.StatusNotFound {
		t.Fatalf("B exports A's answers: %d %s", r.code, r.body)
	}
	if len(fake.requests()) != before {
		t.Fatal("search was asked for another organisation's answers")
	}
	// No credential: 401.
	anon := &client{t: t, s: &server{base: base}, http: &http.Client{Timeout: 10 * time.Second}}
	if r := anon.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("anonymous export = %d", r.code)
	}
	// Bad parameters: 400 naming the parameter.
	for _, bad := range []string{"from=yesterday", "to=2026-13-01T00:00:00Z", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
		"kind=poll", "survey=abc", "survey=-3", "rating_min=0", "rating_max=6", "rating_min=4&rating_max=2", "nps=fan",
		"page_op=regex&page=x", "page_op=prefix", "device=fridge", "has_text=maybe", "surveys=1", "kind=survey&kind=feedback",
		strings.Repeat("survey=1&", 101)} {
		r := ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv?"+bad, nil)
		if r.code != http.StatusBadRequest {
			t.Errorf("?%.40s = %d %s, want 400", bad, r.code, r.body)
			continue
		}
		checkErrorBody(t, bad, r)
	}
	if r := ca.do("GET", "/api/v1/sites/0/answers.csv", nil); r.code != http.StatusBadRequest {
		t.Errorf("site 0 = %d", r.code)
	}
}

// TestAnswersCSVCapAndFailure: an export stops at 100,000 rows with a
// closing line saying so, and a search failure mid-way is written at the
// end of the file (the status line is long gone).
func TestAnswersCSVCapAndFailure(t *testing.T) {
	s := startServer(t, nil)
	a := newTenant(t, s)
	siteA, _ := strconv.ParseInt(a.siteID, 10, 64)
	failAt := -1
	page := func(n int) []*sessionsv1.Answer {
		out := make([]*sessionsv1.Answer, 1000)
		for i := range out {
			out[i] = &sessionsv1.Answer{Id: fmt.Sprintf("a_%d_%d", n, i), SiteId: siteA, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK, Rating: 5}
		}
		return out
	}
	fake := &pagedSearch{pages: func(_ int64, n int) (*searchv1.SearchAnswersResponse, error) {
		if n == failAt {
			return nil, status.Error(codes.Unavailable, "index, shard 3, is down")
		}
		return &searchv1.SearchAnswersResponse{Answers: page(n), NextPageToken: fmt.Sprintf("page-%d", n+1), Total: 250_000}, nil
	}}
	base := csvGateway(t, s, fake)
	ca := &client{t: t, s: &server{base: base}, http: &http.Client{Timeout: time.Minute}, bearer: apiKeyClient(t, s, a).bearer}
	r := ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil)
	if r.code != http.StatusOK {
		t.Fatalf("export = %d %.200s", r.code, r.body)
	}
	recs, last := parseCSV(t, r.body)
	if len(recs) != 100_001 || recs[100_000][len(recs[0])-1] != "a_99_999" {
		t.Fatalf("%d rows (last %q), want header + 100000", len(recs), recs[len(recs)-1])
	}
	if last != "# cut at 100000 rows of 250000 matching: narrow the filter (e.g. by date) to export the rest" {
		t.Fatalf("closing line = %q", last)
	}
	if n := len(fake.requests()); n != 101 {
		t.Fatalf("%d pages asked, want 101 (the 101st shows there is more)", n)
	}

	failAt = 2
	r = ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil)
	recs, last = parseCSV(t, r.body)
	if len(recs) != 2001 || !strings.HasPrefix(last, "# export failed after 2000 rows: ") || !strings.Contains(last, "shard 3") {
		t.Fatalf("failed export: %d rows, closing line %q", len(recs), last)
	}
	// A failure on the first page is an error response, not a file.
	failAt = 0
	if r := ca.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv", nil); r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("first page failing = %d %s", r.code, r.body)
	}
}

// TestAnswersCSVFromTheIndex: the whole path in one process — answers
// indexed by the real search service (its internal UpsertAnswers), exported
// through the server's own gateway with filters, another organisation's
// answers never in the file.
func TestAnswersCSVFromTheIndex(t *testing.T) {
	s := startServer(t, nil)
	a, b := newTenant(t, s), newTenant(t, s)
	siteA, _ := strconv.ParseInt(a.siteID, 10, 64)
	siteB, _ := strconv.ParseInt(b.siteID, 10, 64)
	orgA, _ := strconv.ParseInt(a.orgID, 10, 64)
	orgB, _ := strconv.ParseInt(b.orgID, 10, 64)
	surveyA, _ := strconv.ParseInt(a.surveyID, 10, 64)
	t0 := a.sessionStart.Truncate(time.Millisecond)
	survey := func(id string, at time.Duration, nps int32, device sessionsv1.DeviceType, text string) *sessionsv1.Answer {
		return &sessionsv1.Answer{Id: id, SiteId: siteA, OrganizationId: orgA, Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, SurveyId: surveyA,
			SessionId: a.sessionID, VisitorId: "v_visitor0000000000000000", Recorded: true, Url: "https://shop.example.com/cart",
			ClientTime: timestamppb.New(t0.Add(at)), ServerTime: timestamppb.New(t0.Add(at)), Nps: proto.Int32(nps),
			Client:  &sessionsv1.Client{DeviceType: device, Browser: "Firefox", Os: "Linux", Country: "FR"},
			Answers: []*sessionsv1.QuestionAnswer{{QuestionId: 1, Score: proto.Int32(nps)}, {QuestionId: 2, ChoiceIds: []int32{1}}, {QuestionId: 3, Text: text}}}
	}
	answers := []*sessionsv1.Answer{
		survey("a_promoter0000000000000000", 10*time.Second, 9, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, "love it"),
		survey("a_detractor000000000000000", 20*time.Second, 3, sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, "too slow"),
		{Id: "a_feedback000000000000000x", SiteId: siteA, OrganizationId: orgA, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK,
			SessionId: a.sessionID, Recorded: true, Url: "https://shop.example.com/", Rating: 2, Comment: "=1+1 broken button",
			ClientTime: timestamppb.New(t0.Add(30 * time.Second)), Client: &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}},
		{Id: "a_otherorg000000000000000x", SiteId: siteB, OrganizationId: orgB, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK,
			SessionId: b.sessionID, Rating: 1, Comment: "B's secret", ClientTime: timestamppb.New(t0.Add(40 * time.Second))},
	}
	conn := s.internalConn(t)
	defer conn.Close()
	if _, err := searchv1.NewSearchInternalServiceClient(conn).UpsertAnswers(context.Background(), &searchv1.UpsertAnswersRequest{Answers: answers}); err != nil {
		t.Fatalf("index answers: %v", err)
	}
	waited := false
	export := func(query string) [][]string {
		t.Helper()
		var r response
		// The index may make writes visible shortly after they return: the
		// first export waits for them.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r = a.c.do("GET", "/api/v1/sites/"+a.siteID+"/answers.csv"+query, nil)
			if r.code != http.StatusOK {
				t.Fatalf("export %s = %d %s", query, r.code, r.body)
			}
			if waited || strings.Count(string(r.body), "\n") > 1 || time.Now().After(deadline) {
				waited = true
				break
			}
		}
		recs, last := parseCSV(t, r.body)
		if last != "" {
			t.Fatalf("export %s ends with %q", query, last)
		}
		return recs
	}
	all := export("")
	if len(all) != 4 {
		t.Fatalf("unfiltered export: %d rows, want header + 3: %q", len(all), all)
	}
	ids := []string{all[1][15], all[2][15], all[3][15]}
	if strings.Join(ids, " ") != "a_feedback000000000000000x a_detractor000000000000000 a_promoter0000000000000000" {
		t.Fatalf("answer ids (newest first) = %v", ids)
	}
	if all[1][6] != "'=1+1 broken button" || all[1][4] != "2" || all[1][14] != base(a, s)+"?at="+strconv.FormatInt(t0.Add(30*time.Second).UnixMilli(), 10) {
		t.Fatalf("feedback row = %q", all[1])
	}
	one := export("?survey=" + a.surveyID + "&nps=promoter&device=mobile&has_text=true")
	if len(one) != 2 || one[1][len(one[1])-1] != "a_promoter0000000000000000" {
		t.Fatalf("filtered export = %q", one)
	}
	if got := strings.Join(one[1][7:10], "|"); got != "9|Search|love it" {
		t.Fatalf("question columns = %q", got)
	}
	if low := export("?kind=feedback&rating_max=2"); len(low) != 2 || low[1][len(low[1])-1] != "a_feedback000000000000000x" {
		t.Fatalf("rating ≤ 2 export = %q", low)
	}
	if none := export("?from=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339))); len(none) != 1 {
		t.Fatalf("export after the last answer = %q", none)
	}
	// B's own export holds only B's answer; A's holds none of B's.
	rb := b.c.do("GET", "/api/v1/sites/"+b.siteID+"/answers.csv", nil)
	if rb.code != http.StatusOK || !strings.Contains(string(rb.body), "B's secret") {
		t.Fatalf("B's export = %d %s", rb.code, rb.body)
	}
	for _, row := range all {
		if strings.Contains(strings.Join(row, ","), "B's secret") {
			t.Fatal("A's export holds B's answer")
		}
	}
}

// base is the dashboard replay URL of a's session on s.
func base(a *tenant, s *server) string {
	return s.base + "/o/" + a.orgID + "/sites/" + a.siteID + "/recordings/" + a.sessionID
}
