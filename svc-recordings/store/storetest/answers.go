package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/testseed"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// answerTests is the Answers section of the suite.
var answerTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"AnswersModel", testAnswersModel},
	{"AnswersSummary", testAnswersSummary},
	{"AnswersDelete", testAnswersDelete},
	{"AnswersRetention", testAnswersRetention},
	{"AnswersConcurrent", testAnswersConcurrent},
}

// Answer builds a stored answer: feedback when survey is 0 (rating 0–5),
// else a survey response answering one NPS question with score nps.
func Answer(site int64, session, visitor, id string, survey int64, rating, nps int32, atMs int64) store.Answer {
	a := &sessionsv1.Answer{
		Id: id, SiteId: site, OrganizationId: site + 1, SessionId: session, VisitorId: visitor,
		PageViewId: "p_answerpageview000000", Recorded: true, Url: "https://shop.example.com/p1",
		ClientTime: timestamppb.New(time.UnixMilli(atMs)), ServerTime: timestamppb.New(time.UnixMilli(atMs + 50)),
		Language: "en",
	}
	if survey == 0 {
		a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK
		a.Rating = rating
		a.Comment = fmt.Sprintf("comment of %s", id)
	} else {
		a.Kind = sessionsv1.AnswerKind_ANSWER_KIND_SURVEY
		a.SurveyId = survey
		a.Nps = proto.Int32(nps)
		a.Answers = []*sessionsv1.QuestionAnswer{{QuestionId: 1, Score: proto.Int32(nps)}, {QuestionId: 2, Text: "why " + id}}
	}
	return store.Answer{Answer: a}
}

func answerID(n int) string { return fmt.Sprintf("a_%022d", n) }

func appendAnswersOK(t testing.TB, s store.Store, as ...store.Answer) []store.AppendResult {
	t.Helper()
	res, err := s.AppendAnswers(context.Background(), as)
	return resultsOK(t, "AppendAnswers", "answers", len(as), res, err)
}

// listAnswers pages through a site's answers with pages of size limit.
func listAnswers(t testing.TB, s store.Store, site int64, limit int) []*sessionsv1.Answer {
	t.Helper()
	var out []*sessionsv1.Answer
	token := ""
	for range 10000 {
		p, err := s.ListAnswers(context.Background(), site, token, limit)
		if err != nil {
			t.Fatalf("ListAnswers: %v", err)
		}
		if len(p.Answers) > limit {
			t.Fatalf("page of %d answers, limit %d", len(p.Answers), limit)
		}
		out = append(out, p.Answers...)
		if p.Next == "" {
			return out
		}
		token = p.Next
	}
	t.Fatal("ListAnswers never ends")
	return nil
}

func answerTime(a *sessionsv1.Answer) int64 { return a.GetClientTime().AsTime().UnixMilli() }

// newestFirst is the listing order: client time descending, then id.
func newestFirst(a, b *sessionsv1.Answer) int {
	if c := cmp.Compare(answerTime(b), answerTime(a)); c != 0 {
		return c
	}
	return cmp.Compare(a.GetId(), b.GetId())
}

func wantAnswers(t testing.TB, got []*sessionsv1.Answer, model map[string]*sessionsv1.Answer) {
	t.Helper()
	want := make([]*sessionsv1.Answer, 0, len(model))
	for _, a := range model {
		want = append(want, a)
	}
	slices.SortFunc(want, newestFirst)
	if len(got) != len(want) {
		t.Fatalf("listed %d answers, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("answer %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

func wantCounts(t testing.TB, s store.Store, site int64, model map[string]*sessionsv1.Answer) {
	t.Helper()
	want := store.AnswerCounts{Surveys: map[int64]int64{}}
	for _, a := range model {
		if a.GetSurveyId() == 0 {
			want.Feedback++
		} else {
			want.Surveys[a.GetSurveyId()]++
		}
	}
	got, err := s.AnswerCounts(context.Background(), site)
	if err != nil {
		t.Fatal(err)
	}
	if got.Feedback != want.Feedback || len(got.Surveys) != len(want.Surveys) {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	for k, v := range want.Surveys {
		if got.Surveys[k] != v {
			t.Fatalf("counts %+v, want %+v", got, want)
		}
	}
}

// answerOutbox lists the answers' outbox.
func answerOutbox(t testing.TB, s store.Store) []store.OutboxEntry {
	t.Helper()
	es, err := s.AnswerOutboxPending(context.Background(), 1000000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// testAnswersModel: random answers, re-delivered with other contents and
// in other orders, against a model: the first write of an id wins; the
// listing (any page size) is newest first; counts and outbox agree.
func testAnswersModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	site, other := newSite(), newSite()
	rng := testseed.Rand(t, 14)
	model := map[string]*sessionsv1.Answer{}
	var all []store.Answer
	nowMs := time.Now().UnixMilli()
	for i := range 120 {
		n := rng.IntN(60) // repeats: the same id again, other contents
		var survey int64
		if rng.IntN(2) == 0 {
			survey = 1<<40 + int64(rng.IntN(3))
		}
		// Few distinct times: ties are ordered by id.
		a := Answer(site, fmt.Sprintf("s_%022d", rng.IntN(8)), fmt.Sprintf("v_%022d", rng.IntN(4)), answerID(n),
			survey, int32(1+rng.IntN(5)), int32(rng.IntN(11)), nowMs-int64(rng.IntN(20))*1000)
		all = append(all, a)
		_ = i
	}
	for len(all) > 0 {
		k := min(len(all), 1+rng.IntN(15))
		call := all[:k]
		all = all[k:]
		rng.Shuffle(len(call), func(i, j int) { call[i], call[j] = call[j], call[i] })
		res := appendAnswersOK(t, s, call...)
		callSeen := map[string]bool{}
		for i, a := range call {
			id := a.Answer.GetId()
			want := model[id] == nil && !callSeen[id]
			callSeen[id] = true
			if res[i].Refused != nil {
				t.Fatalf("answer %s refused: %v", id, res[i].Refused)
			}
			if res[i].Stored != want {
				t.Fatalf("answer %s: stored %v, want %v", id, res[i].Stored, want)
			}
			if want {
				model[id] = a.Answer
			}
		}
	}
	// The same id in another site is another answer.
	for _, a := range model {
		b := proto.Clone(a).(*sessionsv1.Answer)
		b.SiteId = other
		if res := appendAnswersOK(t, s, store.Answer{Answer: b}); !res[0].Stored {
			t.Fatalf("an id of another site is not another answer")
		}
		break
	}
	for _, limit := range []int{1, 3, 7, 1000} {
		wantAnswers(t, listAnswers(t, s, site, limit), model)
	}
	if n := len(listAnswers(t, s, other, 10)); n != 1 {
		t.Fatalf("other site lists %d answers, want 1", n)
	}
	if _, err := s.ListAnswers(ctx, site, "not a token", 10); !errors.Is(err, store.ErrBadToken) {
		t.Fatalf("ListAnswers with a bad token: %v, want ErrBadToken", err)
	}
	wantCounts(t, s, site, model)
	ids := []string{answerID(1000)} // never stored: left out
	for id := range model {
		ids = append(ids, id)
	}
	got, err := s.GetAnswers(ctx, site, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(model) {
		t.Fatalf("GetAnswers: %d answers, want %d", len(got), len(model))
	}
	for _, a := range got {
		if !proto.Equal(a, model[a.GetId()]) {
			t.Fatalf("GetAnswers: %v, want %v", a, model[a.GetId()])
		}
	}
	// Every stored answer is in the outbox, once.
	upserted := map[string]int{}
	for _, e := range answerOutbox(t, s) {
		if e.Kind == store.OutboxUpsertAnswers && e.SiteID == site {
			for _, id := range e.AnswerIDs {
				upserted[id]++
			}
		}
	}
	for id := range model {
		if upserted[id] != 1 {
			t.Fatalf("answer %s in the outbox %d times, want once", id, upserted[id])
		}
	}
	if len(upserted) != len(model) {
		t.Fatalf("outbox upserts %d answers, %d stored", len(upserted), len(model))
	}
}

// tallyOf is what a summary says of answers.
func tallyOf(sum *sessionsv1.SessionSummary) [3]int32 {
	return [3]int32{sum.GetFeedbackCount(), sum.GetMinFeedbackRating(), sum.GetSurveyResponseCount()}
}

// testAnswersSummary: a session's tally is right whatever comes first,
// chunks or answers, in order or not; answers alone make no session.
func testAnswersSummary(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	nowMs := time.Now().UnixMilli()
	answersOf := func(b *Builder, base int) []store.Answer {
		return []store.Answer{
			Answer(site, b.Session, b.Visitor, answerID(base), 0, 4, 0, nowMs),
			Answer(site, b.Session, b.Visitor, answerID(base+1), 0, 2, 0, nowMs+1),
			Answer(site, b.Session, b.Visitor, answerID(base+2), 1<<40, 0, 9, nowMs+2),
		}
	}
	want := [3]int32{2, 2, 1}

	// Answers first, then chunks out of order (a refold).
	first := newBuilder(site, 1)
	appendAnswersOK(t, s, answersOf(first, 100)...)
	if _, err := s.Session(ctx, site, first.Session); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session of answers alone: %v, want ErrNotFound", err)
	}
	page, err := s.ListSessions(ctx, site, "", 100)
	if err != nil || len(page.Sessions) != 0 {
		t.Fatalf("ListSessions lists %d sessions of answers alone (%v)", len(page.Sessions), err)
	}
	appendOK(t, s, first.Chunk(t, 2, 300))
	if got := tallyOf(session(t, s, site, first.Session)); got != want {
		t.Fatalf("new session after its answers: tally %v, want %v", got, want)
	}
	appendOK(t, s, first.Chunk(t, 0, 300), first.Chunk(t, 1, 300)) // out of order: refolds
	if got := tallyOf(session(t, s, site, first.Session)); got != want {
		t.Fatalf("refolded session: tally %v, want %v", got, want)
	}
	appendOK(t, s, first.Chunk(t, 3, 300)) // in order
	if got := tallyOf(session(t, s, site, first.Session)); got != want {
		t.Fatalf("session after an in-order chunk: tally %v, want %v", got, want)
	}

	// Chunks first, then answers: the summary changes, its version grows
	// and the change is in the outbox.
	second := newBuilder(site, 2)
	appendOK(t, s, second.Chunk(t, 0, 300), second.Chunk(t, 1, 300))
	before := session(t, s, site, second.Session)
	if got := tallyOf(before); got != [3]int32{} {
		t.Fatalf("session without answers: tally %v", got)
	}
	as := answersOf(second, 200)
	appendAnswersOK(t, s, as[0])
	appendAnswersOK(t, s, as[1:]...)
	appendAnswersOK(t, s, as...) // re-delivered: changes nothing
	after := session(t, s, site, second.Session)
	if got := tallyOf(after); got != want {
		t.Fatalf("session after its answers: tally %v, want %v", got, want)
	}
	if after.GetVersion() != before.GetVersion()+2 {
		t.Fatalf("version %d after two answer calls, was %d", after.GetVersion(), before.GetVersion())
	}
	if !outboxHas(t, s, func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxUpsert && e.Summary.GetSessionId() == second.Session && e.Summary.GetVersion() == after.GetVersion() &&
			tallyOf(e.Summary) == want
	}) {
		t.Fatalf("no outbox entry of the summary with its answers")
	}
	// Both orders end in the same summary, apart from the chunks.
	c := proto.Clone(after).(*sessionsv1.SessionSummary)
	if tallyOf(c) != tallyOf(session(t, s, site, first.Session)) {
		t.Fatalf("arrival order changed the tally")
	}
}

// testAnswersDelete: deleting a session's or a visitor's answers removes
// them from listing, counts and tallies, records the deletion, and keeps
// re-deliveries out.
func testAnswersDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	nowMs := time.Now().UnixMilli()
	model := map[string]*sessionsv1.Answer{}
	add := func(a store.Answer) store.Answer {
		if res := appendAnswersOK(t, s, a); !res[0].Stored {
			t.Fatalf("answer %s not stored", a.Answer.GetId())
		}
		model[a.Answer.GetId()] = a.Answer
		return a
	}
	rec := newBuilder(site, 7) // a recorded session
	appendOK(t, s, rec.Chunk(t, 0, 300))
	recA := add(Answer(site, rec.Session, rec.Visitor, answerID(1), 0, 3, 0, nowMs))
	add(Answer(site, rec.Session, rec.Visitor, answerID(2), 1<<40, 0, 5, nowMs))
	gone := "v_gonevisitor0000000000"
	goneA := add(Answer(site, "s_notrecorded000000000", gone, answerID(3), 0, 1, 0, nowMs))
	add(Answer(site, "s_notrecorded000000001", gone, answerID(4), 1<<40, 0, 10, nowMs))
	add(Answer(site, "s_keptsession000000000", "v_keptvisitor0000000000", answerID(5), 0, 5, 0, nowMs))
	// The visitor of another site keeps its answers.
	otherSite := newSite()
	appendAnswersOK(t, s, Answer(otherSite, "s_notrecorded000000000", gone, answerID(3), 0, 1, 0, nowMs))

	if got := tallyOf(session(t, s, site, rec.Session)); got != [3]int32{1, 3, 1} {
		t.Fatalf("tally %v before deletion", got)
	}
	n, err := s.DeleteSessionAnswers(ctx, site, rec.Session)
	if err != nil || n != 2 {
		t.Fatalf("DeleteSessionAnswers: %d, %v; want 2", n, err)
	}
	delete(model, answerID(1))
	delete(model, answerID(2))
	if got := tallyOf(session(t, s, site, rec.Session)); got != [3]int32{} {
		t.Fatalf("tally %v after the session's answers went", got)
	}
	n, err = s.DeleteVisitorAnswers(ctx, site, gone)
	if err != nil || n != 2 {
		t.Fatalf("DeleteVisitorAnswers: %d, %v; want 2", n, err)
	}
	delete(model, answerID(3))
	delete(model, answerID(4))
	wantAnswers(t, listAnswers(t, s, site, 2), model)
	wantCounts(t, s, site, model)
	if n := len(listAnswers(t, s, otherSite, 10)); n != 1 {
		t.Fatalf("other site's answers: %d, want 1", n)
	}
	// Re-deliveries stay out.
	for _, a := range []store.Answer{recA, goneA} {
		if res := appendAnswersOK(t, s, a); res[0].Stored || res[0].Refused != nil {
			t.Fatalf("re-delivered deleted answer %s: %+v", a.Answer.GetId(), res[0])
		}
	}
	wantAnswers(t, listAnswers(t, s, site, 10), model)
	if n, err := s.DeleteVisitorAnswers(ctx, site, gone); err != nil || n != 0 {
		t.Fatalf("second DeleteVisitorAnswers: %d, %v", n, err)
	}
	var bySession, byVisitor bool
	for _, e := range answerOutbox(t, s) {
		if e.Kind != store.OutboxDeleteAnswers || e.SiteID != site {
			continue
		}
		bySession = bySession || slices.Equal(e.SessionIDs, []string{rec.Session})
		byVisitor = byVisitor || e.VisitorID == gone
	}
	if !bySession || !byVisitor {
		t.Fatalf("outbox deletions: by session %v, by visitor %v", bySession, byVisitor)
	}
}

// testAnswersRetention: an answer expired on arrival is dropped; the sweep
// removes expired answers from listing, counts and tallies.
func testAnswersRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	nowMs := time.Now().UnixMilli()
	b := newBuilder(site, 3)
	appendOK(t, s, b.Chunk(t, 0, 300))
	expired := Answer(site, b.Session, b.Visitor, answerID(1), 0, 2, 0, nowMs)
	expired.ExpiresMs = nowMs - 1000
	if res := appendAnswersOK(t, s, expired); res[0].Stored || res[0].Refused != nil {
		t.Fatalf("expired answer: %+v, want dropped", res[0])
	}
	soon := Answer(site, b.Session, b.Visitor, answerID(2), 0, 1, 0, nowMs)
	soon.ExpiresMs = nowMs + int64(time.Hour/time.Millisecond)
	later := Answer(site, b.Session, b.Visitor, answerID(3), 0, 4, 0, nowMs)
	later.ExpiresMs = nowMs + int64(48*time.Hour/time.Millisecond)
	never := Answer(site, "s_other0000000000000000", b.Visitor, answerID(4), 1<<40, 0, 7, nowMs)
	appendAnswersOK(t, s, soon, later, never)
	if got := tallyOf(session(t, s, site, b.Session)); got != [3]int32{2, 1, 0} {
		t.Fatalf("tally %v", got)
	}
	n, err := s.SweepAnswers(ctx, time.UnixMilli(nowMs+int64(2*time.Hour/time.Millisecond)))
	if err != nil || n != 1 {
		t.Fatalf("SweepAnswers: %d, %v; want 1", n, err)
	}
	model := map[string]*sessionsv1.Answer{later.Answer.GetId(): later.Answer, never.Answer.GetId(): never.Answer}
	wantAnswers(t, listAnswers(t, s, site, 10), model)
	wantCounts(t, s, site, model)
	if got := tallyOf(session(t, s, site, b.Session)); got != [3]int32{1, 4, 0} {
		t.Fatalf("tally %v after the sweep", got)
	}
	if n, err := s.SweepAnswers(ctx, time.UnixMilli(nowMs+int64(2*time.Hour/time.Millisecond))); err != nil || n != 0 {
		t.Fatalf("second SweepAnswers: %d, %v", n, err)
	}
	if !slices.ContainsFunc(answerOutbox(t, s), func(e store.OutboxEntry) bool {
		return e.Kind == store.OutboxDeleteAnswers && e.SiteID == site && slices.Equal(e.AnswerIDs, []string{soon.Answer.GetId()})
	}) {
		t.Fatalf("no outbox deletion of the expired answer")
	}
}

// testAnswersConcurrent: chunks and answers of the same sessions written
// at once, from many goroutines, end in the right tallies, and the last
// summary in the outbox is the stored one.
func testAnswersConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	site := newSite()
	nowMs := time.Now().UnixMilli()
	const sessions, chunks, answers = 4, 6, 6
	var wg sync.WaitGroup
	errs := make(chan error, sessions*(chunks+answers))
	var bs []*Builder
	for i := range sessions {
		b := newBuilder(site, 300+i)
		bs = append(bs, b)
		for seq := range chunks {
			c := b.Chunk(t, int64(chunks-1-seq), 300) // backwards: refolds
			wg.Go(func() {
				if _, err := s.Append(ctx, []store.Chunk{c}); err != nil {
					errs <- err
				}
			})
		}
		for j := range answers {
			var survey int64
			if j%3 == 2 {
				survey = 1 << 40
			}
			a := Answer(site, b.Session, b.Visitor, answerID(1000*i+j), survey, int32(1+(i+j)%5), 8, nowMs+int64(j))
			wg.Go(func() {
				if _, err := s.AppendAnswers(ctx, []store.Answer{a}); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	latest := map[string]*sessionsv1.SessionSummary{}
	es, err := s.OutboxPending(ctx, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind == store.OutboxUpsert && e.SiteID == site {
			if old := latest[e.Summary.GetSessionId()]; old == nil || e.Summary.GetVersion() > old.GetVersion() {
				latest[e.Summary.GetSessionId()] = e.Summary
			}
		}
	}
	for i, b := range bs {
		minRating := int32(5)
		for j := range answers {
			if j%3 != 2 {
				minRating = min(minRating, int32(1+(i+j)%5))
			}
		}
		want := [3]int32{answers - answers/3, minRating, answers / 3}
		got := session(t, s, site, b.Session)
		if tallyOf(got) != want {
			t.Fatalf("session %d: tally %v, want %v", i, tallyOf(got), want)
		}
		if got.GetChunkCount() != chunks {
			t.Fatalf("session %d: %d chunks", i, got.GetChunkCount())
		}
		if !proto.Equal(latest[b.Session], got) {
			t.Fatalf("session %d: the outbox's latest summary is not the stored one:\n got %v\nwant %v", i, latest[b.Session], got)
		}
	}
}
