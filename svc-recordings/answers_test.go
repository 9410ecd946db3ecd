package recordings

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
)

// answerReceiver is a real SearchService on a socket that also keeps the
// answers it is sent and the answer deletions.
type answerReceiver struct {
	*searchReceiver
	amu      sync.Mutex
	answers  map[string]*sessionsv1.Answer
	adeletes []*searchv1.DeleteAnswersRequest
}

func (r *answerReceiver) UpsertAnswers(ctx context.Context, req *searchv1.UpsertAnswersRequest) (*searchv1.UpsertAnswersResponse, error) {
	r.amu.Lock()
	defer r.amu.Unlock()
	for _, a := range req.GetAnswers() {
		r.answers[fmt.Sprintf("%d/%s", a.GetSiteId(), a.GetId())] = a
	}
	return &searchv1.UpsertAnswersResponse{Upserted: int32(len(req.GetAnswers()))}, nil
}

func (r *answerReceiver) DeleteAnswers(ctx context.Context, req *searchv1.DeleteAnswersRequest) (*searchv1.DeleteAnswersResponse, error) {
	r.amu.Lock()
	defer r.amu.Unlock()
	r.adeletes = append(r.adeletes, req)
	var n int64
	for k, a := range r.answers {
		if a.GetSiteId() != req.GetSiteId() {
			continue
		}
		if (req.GetVisitorId() != "" && a.GetVisitorId() == req.GetVisitorId()) ||
			(req.GetSessionId() != "" && a.GetSessionId() == req.GetSessionId()) ||
			slices.Contains(req.GetAnswerIds().GetIds(), a.GetId()) {
			delete(r.answers, k)
			n++
		}
	}
	return &searchv1.DeleteAnswersResponse{Deleted: n}, nil
}

func (r *answerReceiver) answer(id string) *sessionsv1.Answer {
	r.amu.Lock()
	defer r.amu.Unlock()
	return r.answers[fmt.Sprintf("%d/%s", site, id)]
}

func serveAnswerSearch(t *testing.T) (*answerReceiver, string) {
	t.Helper()
	r := &answerReceiver{searchReceiver: &searchReceiver{latest: map[string]*sessionsv1.SessionSummary{}}, answers: map[string]*sessionsv1.Answer{}}
	return r, grpctest.Serve(t, func(s *grpc.Server) { searchv1.RegisterSearchInternalServiceServer(s, r) })
}

const answerSession = "s_answers000000000000000"

// answerChunk wraps an answer the way ingest's forwarder sends it.
func answerChunk(a *sessionsv1.Answer) *recordingsv1.Chunk {
	return &recordingsv1.Chunk{
		SiteId: a.GetSiteId(), OrganizationId: a.GetOrganizationId(), SessionId: a.GetSessionId(), VisitorId: a.GetVisitorId(),
		PageViewId: a.GetPageViewId(), ServerTime: a.GetServerTime(), RetentionDays: 30, Answer: a,
	}
}

func feedback(id string, rating int32, comment string) *sessionsv1.Answer {
	return &sessionsv1.Answer{
		Id: id, SiteId: site, OrganizationId: 4_000_000_001, Kind: sessionsv1.AnswerKind_ANSWER_KIND_FEEDBACK,
		SessionId: answerSession, VisitorId: visitor, PageViewId: pvA, Recorded: true, Url: "https://shop.example.com/cart",
		ClientTime: timestamppb.New(time.UnixMilli(t0 + 2000)), ServerTime: timestamppb.Now(), Rating: rating, Comment: comment,
		Selector: "body>main>button#buy", Language: "en", ViewportWidth: 1440, ViewportHeight: 900,
	}
}

func surveyAnswer(id string, survey int64, nps int32, text string) *sessionsv1.Answer {
	return &sessionsv1.Answer{
		Id: id, SiteId: site, OrganizationId: 4_000_000_001, Kind: sessionsv1.AnswerKind_ANSWER_KIND_SURVEY, SurveyId: survey,
		SessionId: answerSession, VisitorId: visitor, PageViewId: pvB, Recorded: true, Url: "https://shop.example.com/cart",
		ClientTime: timestamppb.New(time.UnixMilli(t0 + 9500)), ServerTime: timestamppb.Now(), Nps: proto.Int32(nps), Language: "en",
		Answers: []*sessionsv1.QuestionAnswer{{QuestionId: 1, Score: proto.Int32(nps)}, {QuestionId: 2, Text: text}},
	}
}

// TestAnswersEndToEnd: answers arrive before their session's chunks,
// hostile ones among them are refused one by one with reasons, text is
// scrubbed, the session's summary carries the tally, search receives the
// answers and the summary, the internal RPCs count and list them, and
// deleting the visitor removes them everywhere for good.
func TestAnswersEndToEnd(t *testing.T) {
	recv, searchAddr := serveAnswerSearch(t)
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	const survey = int64(5_000_000_017)
	fb := feedback("a_feedback000000000000000", 2, "slow checkout, write to jane.doe@example.com")
	sv := surveyAnswer("a_survey00000000000000000", survey, 6, "card 4111 1111 1111 1111 was refused")

	hostile := map[string]*recordingsv1.Chunk{}
	c := answerChunk(feedback("a_othersite000000000000000", 3, ""))
	c.SiteId = 3_000_000_999 // the envelope names another site
	hostile["site"] = c
	c = answerChunk(feedback("a_org00000000000000000000", 3, ""))
	c.OrganizationId = 4_000_000_999
	hostile["organization"] = c
	c = answerChunk(feedback("a_events000000000000000000", 3, ""))
	c.Events = []byte(`[]`)
	hostile["events"] = c
	hostile["rating"] = answerChunk(feedback("a_rating000000000000000000", 9, ""))
	hostile["id"] = answerChunk(feedback("not-an-answer-id", 3, ""))
	hostile["comment"] = answerChunk(feedback("a_comment00000000000000000", 3, strings.Repeat("x", 5000)))
	kindless := feedback("a_kindless0000000000000000", 3, "")
	kindless.Kind = sessionsv1.AnswerKind_ANSWER_KIND_UNSPECIFIED
	hostile["kind"] = answerChunk(kindless)
	surveyless := surveyAnswer("a_surveyless00000000000000", 0, 5, "")
	hostile["survey_id"] = answerChunk(surveyless)

	req := &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(fb)}}
	var names []string
	for name, c := range hostile {
		names = append(names, name)
		req.Chunks = append(req.Chunks, c)
	}
	req.Chunks = append(req.Chunks, answerChunk(sv))
	res, err := h.client.AppendChunks(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || res.Refused != int32(len(hostile)) {
		t.Fatalf("stored %d, refused %d; want 2 and %d: %v", res.Stored, res.Refused, len(hostile), res.Results)
	}
	for i, name := range names {
		r := res.Results[i+1]
		if r.GetOutcome() != recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED || !strings.Contains(r.GetReason(), fmt.Sprintf("chunks[%d]", i+1)) {
			t.Errorf("hostile answer (%s): %v", name, r)
		}
	}
	// Re-delivery: duplicates.
	res, err = h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(sv), answerChunk(fb)}})
	if err != nil || res.Duplicates != 2 {
		t.Fatalf("re-delivery: %v, %v", res, err)
	}
	// No session of answers alone.
	if _, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: answerSession}); status.Code(err) != codes.NotFound {
		t.Fatalf("a session of answers alone: %v", err)
	}
	if _, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: scriptedSession(t, answerSession)}); err != nil {
		t.Fatal(err)
	}
	got, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: answerSession})
	if err != nil {
		t.Fatal(err)
	}
	s := got.GetSession()
	if s.GetFeedbackCount() != 1 || s.GetMinFeedbackRating() != 2 || s.GetSurveyResponseCount() != 1 {
		t.Fatalf("summary feedback %d, min rating %d, survey responses %d; want 1, 2, 1", s.GetFeedbackCount(), s.GetMinFeedbackRating(), s.GetSurveyResponseCount())
	}
	// Search gets the answers, scrubbed, and the summary with its tally.
	waitFor(t, func() bool {
		sum := recv.get(site, answerSession)
		return recv.answer(fb.Id) != nil && recv.answer(sv.Id) != nil && sum != nil && sum.GetFeedbackCount() == 1
	})
	if c := recv.answer(fb.Id).GetComment(); strings.Contains(c, "jane.doe@example.com") || !strings.HasPrefix(c, "slow checkout") {
		t.Fatalf("comment reached search as %q", c)
	}
	if txt := recv.answer(sv.Id).GetAnswers()[1].GetText(); strings.Contains(txt, "4111") {
		t.Fatalf("text answer reached search as %q", txt)
	}
	if recv.answer(sv.Id).GetNps() != 6 || recv.answer(fb.Id).GetSelector() != fb.Selector {
		t.Fatalf("answers in search: %v, %v", recv.answer(sv.Id), recv.answer(fb.Id))
	}

	counts, err := h.client.GetAnswerCounts(ctx, &recordingsv1.GetAnswerCountsRequest{SiteId: site})
	if err != nil || counts.GetFeedback() != 1 || len(counts.GetSurveyResponses()) != 1 || counts.GetSurveyResponses()[survey] != 1 {
		t.Fatalf("GetAnswerCounts: %v, %v", counts, err)
	}
	p1, err := h.client.ListAnswers(ctx, &recordingsv1.ListAnswersRequest{SiteId: site, PageSize: 1})
	if err != nil || len(p1.GetAnswers()) != 1 || p1.GetAnswers()[0].GetId() != sv.Id || p1.GetNextPageToken() == "" {
		t.Fatalf("ListAnswers page 1 (newest first): %v, %v", p1, err)
	}
	p2, err := h.client.ListAnswers(ctx, &recordingsv1.ListAnswersRequest{SiteId: site, PageSize: 1, PageToken: p1.GetNextPageToken()})
	if err != nil || len(p2.GetAnswers()) != 1 || p2.GetAnswers()[0].GetId() != fb.Id {
		t.Fatalf("ListAnswers page 2: %v, %v", p2, err)
	}
	for name, r := range map[string]*recordingsv1.ListAnswersRequest{
		"bad token":  {SiteId: site, PageToken: "zz"},
		"long token": {SiteId: site, PageToken: strings.Repeat("a", maxTokenSize+1)},
		"page size":  {SiteId: site, PageSize: -1},
		"site":       {},
	} {
		if _, err := h.client.ListAnswers(ctx, r); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListAnswers with a %s: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := h.client.GetAnswerCounts(ctx, &recordingsv1.GetAnswerCountsRequest{SiteId: -1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetAnswerCounts of site -1: %v", err)
	}

	// GDPR: the visitor goes, and its answers with it, everywhere.
	if _, err := h.client.DeleteVisitor(ctx, &recordingsv1.DeleteVisitorRequest{SiteId: site, VisitorId: visitor}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return recv.answer(fb.Id) == nil && recv.answer(sv.Id) == nil })
	if l, err := h.client.ListAnswers(ctx, &recordingsv1.ListAnswersRequest{SiteId: site}); err != nil || len(l.GetAnswers()) != 0 {
		t.Fatalf("answers after DeleteVisitor: %v, %v", l, err)
	}
	if c, err := h.client.GetAnswerCounts(ctx, &recordingsv1.GetAnswerCountsRequest{SiteId: site}); err != nil || c.GetFeedback() != 0 || len(c.GetSurveyResponses()) != 0 {
		t.Fatalf("counts after DeleteVisitor: %v, %v", c, err)
	}
	res, err = h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(fb)}})
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("re-delivered answer of a deleted visitor: %v, %v", res, err)
	}
}

// TestDeleteSessionOfAnswersAlone: a session that only answered (never
// recorded) can be deleted; its answers go.
func TestDeleteSessionOfAnswersAlone(t *testing.T) {
	recv, searchAddr := serveAnswerSearch(t)
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	fb := feedback("a_alone0000000000000000000", 5, "great")
	fb.Recorded = false
	if res, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{answerChunk(fb)}}); err != nil || res.Stored != 1 {
		t.Fatalf("%v, %v", res, err)
	}
	waitFor(t, func() bool { return recv.answer(fb.Id) != nil })
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: answerSession}); err != nil {
		t.Fatalf("DeleteSession of answers alone: %v", err)
	}
	waitFor(t, func() bool { return recv.answer(fb.Id) == nil })
	if _, err := h.client.DeleteSession(ctx, &recordingsv1.DeleteSessionRequest{SiteId: site, SessionId: answerSession}); status.Code(err) != codes.NotFound {
		t.Fatalf("second DeleteSession: %v, want NotFound", err)
	}
	recv.amu.Lock()
	defer recv.amu.Unlock()
	if len(recv.adeletes) != 1 || recv.adeletes[0].GetSessionId() != answerSession {
		t.Fatalf("answer deletions sent to search: %v", recv.adeletes)
	}
}

// internalRPCs are the RecordingsService methods other services call
// with their service credential: no per-site authorization. Every other
// method is a dashboard RPC and must answer NotFound for a foreign site.
var internalRPCs = map[string]bool{
	"AppendChunks": true, "ListSessionSummaries": true, "RebuildHeatmaps": true,
	"GetAnswerCounts": true, "ListAnswers": true,
}

// TestAuthorizationWalk walks every method of the service descriptor: each
// is either internal (never asks the authorizer) or answers NotFound for a
// site of another organisation, having asked the authorizer.
func TestAuthorizationWalk(t *testing.T) {
	_, searchAddr := serveAnswerSearch(t)
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	foreign := h.authz.deny
	sd := recordingsv1.File_sightline_recordings_v1_recordings_proto.Services().ByName("RecordingsService")
	methods := sd.Methods()
	client := reflect.ValueOf(h.client)
	for i := range methods.Len() {
		m := methods.Get(i)
		name := string(m.Name())
		t.Run(name, func(t *testing.T) {
			fn := client.MethodByName(name)
			if !fn.IsValid() {
				t.Fatalf("no client method %s", name)
			}
			req := reflect.New(fn.Type().In(1).Elem()).Interface().(proto.Message)
			fillRequest(req.ProtoReflect(), foreign)
			h.authz.mu.Lock()
			h.authz.calls = nil
			h.authz.mu.Unlock()
			out := fn.Call([]reflect.Value{reflect.ValueOf(context.Background()), reflect.ValueOf(req)})
			err, _ := out[1].Interface().(error)
			if err == nil && m.IsStreamingServer() {
				recv := out[0].MethodByName("Recv").Call(nil)
				err, _ = recv[1].Interface().(error)
			}
			h.authz.mu.Lock()
			calls := slices.Clone(h.authz.calls)
			h.authz.mu.Unlock()
			if internalRPCs[name] {
				if len(calls) != 0 {
					t.Errorf("internal %s asked the authorizer: %v", name, calls)
				}
				return
			}
			if status.Code(err) != codes.NotFound || !slices.Contains(calls, fmt.Sprintf("%d:%v", foreign, strings.HasPrefix(name, "Delete"))) &&
				!slices.Contains(calls, fmt.Sprintf("%d:false", foreign)) {
				t.Errorf("dashboard %s on a foreign site: %v (authorizer calls %v), want NotFound after asking", name, err, calls)
			}
		})
	}
}

// fillRequest sets site_id to site and every other field a request check
// looks at to something valid, so that only authorization can refuse it.
func fillRequest(m protoreflect.Message, site int64) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		name := string(f.Name())
		switch {
		case name == "site_id":
			m.Set(f, protoreflect.ValueOfInt64(site))
		case f.Kind() == protoreflect.StringKind && f.Cardinality() != protoreflect.Repeated && strings.HasSuffix(name, "_id"):
			m.Set(f, protoreflect.ValueOfString("x_walkwalkwalkwalkwalk00"))
		case name == "hash" && f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString(strings.Repeat("a", 64)))
		case name == "urls" && f.Cardinality() == protoreflect.Repeated:
			m.Mutable(f).List().Append(protoreflect.ValueOfString("https://shop.example.com/a.css"))
		}
	}
}
