package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

func (s *search) UpsertAnswers(ctx context.Context, req *searchv1.UpsertAnswersRequest) (*searchv1.UpsertAnswersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	var ids []string
	for _, a := range req.GetAnswers() {
		if a.GetId() == s.reject {
			return nil, status.Error(codes.InvalidArgument, "bad answer")
		}
		ids = append(ids, a.GetId())
	}
	s.log = append(s.log, "upsert "+strings.Join(ids, " "))
	return &searchv1.UpsertAnswersResponse{Upserted: int32(len(ids))}, nil
}

func (s *search) DeleteAnswers(ctx context.Context, req *searchv1.DeleteAnswersRequest) (*searchv1.DeleteAnswersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	s.log = append(s.log, fmt.Sprintf("delete visitor=%s session=%s ids=%v", req.GetVisitorId(), req.GetSessionId(), req.GetAnswerIds().GetIds()))
	return &searchv1.DeleteAnswersResponse{}, nil
}

// TestRelayAnswers: the answers' outbox reaches search in order (upserts
// of a site in one call, read from the store; a deletion in its place),
// is kept while search is down, and one answer search refuses does not
// block the others.
func TestRelayAnswers(t *testing.T) {
	st := openStore(t)
	sr := &search{down: true, reject: "a_poison00000000000000000"}
	client := serveSearch(t, sr)
	ctx := context.Background()
	const site = int64(3_000_000_001)
	now := time.Now().UnixMilli()
	add := func(session, visitor, id string) {
		t.Helper()
		if _, err := st.AppendAnswers(ctx, []store.Answer{storetest.Answer(site, session, visitor, id, 0, 3, 0, now)}); err != nil {
			t.Fatal(err)
		}
	}
	add("s_one0000000000000000000", "v_gone000000000000000000", "a_one000000000000000000000")
	add("s_two0000000000000000000", "v_kept000000000000000000", "a_poison00000000000000000")
	add("s_two0000000000000000000", "v_kept000000000000000000", "a_two000000000000000000000")
	if _, err := st.DeleteVisitorAnswers(ctx, site, "v_gone000000000000000000"); err != nil {
		t.Fatal(err)
	}
	add("s_three00000000000000000", "v_kept000000000000000000", "a_three0000000000000000000")

	r := New(st, client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := r.OnceAnswers(ctx); status.Code(err) != codes.Unavailable {
		t.Fatalf("delivery to a down search: %v", err)
	}
	if es, _ := st.AnswerOutboxPending(ctx, 100); len(es) != 5 {
		t.Fatalf("failed delivery changed the outbox: %d entries, want 5", len(es))
	}
	sr.mu.Lock()
	sr.down = false
	sr.mu.Unlock()
	n, err := r.OnceAnswers(ctx)
	if err != nil || n != 5 {
		t.Fatalf("OnceAnswers: %d, %v", n, err)
	}
	// a_one was deleted before delivery: it is read from the store, so
	// only its deletion goes; the poisoned answer alone is dropped.
	want := []string{
		"upsert a_two000000000000000000000",
		"delete visitor=v_gone000000000000000000 session= ids=[]",
		"upsert a_three0000000000000000000",
	}
	sr.mu.Lock()
	got := slices.Clone(sr.log)
	sr.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("search saw %q, want %q", got, want)
	}
	if es, _ := st.AnswerOutboxPending(ctx, 100); len(es) != 0 {
		t.Fatalf("outbox after delivery: %d entries", len(es))
	}
	if n, err := r.OnceAnswers(ctx); n != 0 || err != nil {
		t.Fatalf("empty outbox: %d %v", n, err)
	}
}

// TestRelayAnswersInCalls: a site's answers go in calls of at most
// CallSize, in order (search refuses more than its max-upsert-batch).
func TestRelayAnswersInCalls(t *testing.T) {
	st := openStore(t)
	sr := &search{}
	ctx := context.Background()
	now := time.Now().UnixMilli()
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("a_%024d", i)
		if _, err := st.AppendAnswers(ctx, []store.Answer{storetest.Answer(3_000_000_001, "s_one0000000000000000000", "v_one0000000000000000000", id, 0, 3, 0, now)}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			want = append(want, "upsert "+id)
		} else {
			want[len(want)-1] += " " + id
		}
	}
	r := New(st, serveSearch(t, sr), slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.CallSize = 2
	if n, err := r.OnceAnswers(ctx); err != nil || n != 5 {
		t.Fatalf("OnceAnswers: %d, %v", n, err)
	}
	if fmt.Sprint(sr.log) != fmt.Sprint(want) {
		t.Fatalf("search saw %q, want %q", sr.log, want)
	}
}
