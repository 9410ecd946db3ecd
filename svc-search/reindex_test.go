package search

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/siteaccess/siteaccesstest"
	"github.com/sightlinehq/sightline/svc-search/index/indextest"
)

// summarySource serves ListSessionSummaries from memory with offset page
// tokens (recordings' own implementation is tested in svc-recordings); it
// fails once with Unavailable when asked for page failAt.
type summarySource struct {
	recordingsv1.UnimplementedRecordingsInternalServiceServer
	sessions []*sessionsv1.SessionSummary
	mu       sync.Mutex
	failAt   int
	tokens   []string
	// answers by site; answersFailAt fails the answers page at that
	// offset once.
	answers       map[int64][]*sessionsv1.Answer
	answersFailAt int
	answerTokens  []string
}

func (s *summarySource) ListAnswers(_ context.Context, req *recordingsv1.ListAnswersRequest) (*recordingsv1.ListAnswersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.SiteId <= 0 {
		return nil, status.Error(codes.InvalidArgument, "site_id: must be positive")
	}
	s.answerTokens = append(s.answerTokens, fmt.Sprint(req.SiteId, ":", req.PageToken))
	off := 0
	if req.PageToken != "" {
		var err error
		if off, err = strconv.Atoi(req.PageToken); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad token")
		}
	}
	if s.answersFailAt > 0 && off == s.answersFailAt {
		s.answersFailAt = 0
		return nil, status.Error(codes.Unavailable, "recordings restarting")
	}
	all := s.answers[req.SiteId]
	end := min(len(all), off+int(req.PageSize))
	res := &recordingsv1.ListAnswersResponse{Answers: all[off:end]}
	if end < len(all) {
		res.NextPageToken = strconv.Itoa(end)
	}
	return res, nil
}

func (s *summarySource) ListSessionSummaries(_ context.Context, req *recordingsv1.ListSessionSummariesRequest) (*recordingsv1.ListSessionSummariesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, req.PageToken)
	off := 0
	if req.PageToken != "" {
		var err error
		if off, err = strconv.Atoi(req.PageToken); err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad token")
		}
	}
	if s.failAt > 0 && off/int(req.PageSize) == s.failAt {
		s.failAt = 0
		return nil, status.Error(codes.Unavailable, "recordings restarting")
	}
	var page []*sessionsv1.SessionSummary
	for _, x := range s.sessions[off:] {
		if req.SiteId != 0 && x.SiteId != req.SiteId {
			off++
			continue
		}
		if len(page) == int(req.PageSize) {
			break
		}
		page = append(page, x)
		off++
	}
	res := &recordingsv1.ListSessionSummariesResponse{Sessions: page}
	if off < len(s.sessions) {
		res.NextPageToken = strconv.Itoa(off)
	}
	return res, nil
}

// serveSource serves src as recordings' internal service on a real socket
// for the test, and answers a client of it.
func serveSource(t *testing.T, src *summarySource) recordingsv1.RecordingsInternalServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	recordingsv1.RegisterRecordingsInternalServiceServer(srv, src)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return recordingsv1.NewRecordingsInternalServiceClient(conn)
}

func TestReindexResumes(t *testing.T) {
	dst, _ := serve(t, testConfig(t), Deps{Authorizer: siteaccesstest.AllowAll{}})
	src := &summarySource{sessions: indextest.Generate(8, siteA, "r", 1700), failAt: 2,
		answers:       map[int64][]*sessionsv1.Answer{siteA: indextest.GenerateAnswers(8, siteA, "r", 1200), siteB: indextest.GenerateAnswers(9, siteB, "r", 10)},
		answersFailAt: 1000}
	rec := serveSource(t, src)
	cursor := filepath.Join(t.TempDir(), "reindex.cursor")
	var out bytes.Buffer

	// The first run fails on the third page, leaving the cursor after page 2.
	err := Reindex(t.Context(), rec, dst, siteA, cursor, &out)
	if status.Code(errorsCause(err)) != codes.Unavailable {
		t.Fatalf("first run: %v, want the Unavailable failure", err)
	}
	saved, err := os.ReadFile(cursor)
	if err != nil || strings.TrimSpace(string(saved)) != "1000" {
		t.Fatalf("cursor after failure %q, %v; want 1000", saved, err)
	}
	count := func() int64 {
		r, err := dst.CountSessions(t.Context(), &searchv1.CountSessionsRequest{SiteId: siteA})
		if err != nil {
			t.Fatal(err)
		}
		return r.Count
	}
	if n := count(); n != 1000 {
		t.Fatalf("%d indexed after the failed run, want 1000", n)
	}

	// The second run resumes from the cursor, finishes the sessions and
	// fails in the answers, after two pages of them.
	out.Reset()
	err = Reindex(t.Context(), rec, dst, siteA, cursor, &out)
	if status.Code(errorsCause(err)) != codes.Unavailable {
		t.Fatalf("second run: %v, want the Unavailable failure", err)
	}
	if n := count(); n != 1700 {
		t.Fatalf("%d indexed after the resumed run, want 1700", n)
	}
	answers := func(site int64) int64 {
		r, err := dst.SearchAnswers(t.Context(), &searchv1.SearchAnswersRequest{SiteId: site, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		return r.Total
	}
	if n := answers(siteA); n != 1000 {
		t.Fatalf("%d answers indexed after the failure, want 1000", n)
	}
	saved, _ = os.ReadFile(cursor)
	if got := strings.TrimSpace(string(saved)); got != "answers\n1000\n"+strconv.FormatInt(siteA, 10) {
		t.Fatalf("answers cursor %q", got)
	}

	// The third run resumes in the answers, finishes and removes the cursor.
	out.Reset()
	if err := Reindex(t.Context(), rec, dst, siteA, cursor, &out); err != nil {
		t.Fatal(err)
	}
	if n := answers(siteA); n != 1200 {
		t.Fatalf("%d answers after the resumed run, want 1200", n)
	}
	if n := answers(siteB); n != 0 {
		t.Fatalf("reindexing site A indexed %d answers of site B", n)
	}
	if _, err := os.Stat(cursor); !os.IsNotExist(err) {
		t.Fatalf("cursor file left after completion: %v", err)
	}
	if got := src.tokens[len(src.tokens)-2]; got != "1000" {
		t.Fatalf("resumed run started at token %q, want 1000 (tokens %v)", got, src.tokens)
	}
	if got := src.answerTokens[len(src.answerTokens)-1]; got != fmt.Sprint(siteA, ":1000") {
		t.Fatalf("resumed answers at %q, want site A from 1000 (tokens %v)", got, src.answerTokens)
	}
	if !strings.Contains(out.String(), "reindexed 0 sessions") || !strings.Contains(out.String(), "and 200 answers") || !strings.Contains(out.String(), "(resumed)") {
		t.Fatalf("progress output %q", out.String())
	}
	// A full rerun is idempotent.
	if err := Reindex(t.Context(), rec, dst, siteA, cursor, &out); err != nil || count() != 1700 || answers(siteA) != 1200 {
		t.Fatalf("rerun: %v, %d", err, count())
	}
	// Every site: the answers of the sites the summaries name (site B has
	// answers but no recorded session, so it needs -site).
	out.Reset()
	if err := Reindex(t.Context(), rec, dst, 0, cursor, &out); err != nil || !strings.Contains(out.String(), "reindexed 1700 sessions") || !strings.Contains(out.String(), "and 1200 answers") {
		t.Fatalf("all sites: %v, %q", err, out.String())
	}
	if err := Reindex(t.Context(), rec, dst, siteB, cursor, &out); err != nil || answers(siteB) != 10 {
		t.Fatalf("site B: %v, %d answers", err, answers(siteB))
	}
}

// errorsCause unwraps to the gRPC status error.
func errorsCause(err error) error {
	for err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return err
}
