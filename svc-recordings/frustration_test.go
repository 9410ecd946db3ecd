package recordings

import (
	"context"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-recordings/summary/summarytest"
)

// TestFrustrationsAgree sends the batches recorded in Chromium
// (summary/testdata/frustration.json) out of order and re-delivered, then
// checks that GetSession's list is the one the fold test and the
// dashboard's timeline test expect (summary/testdata/frustration.want.json)
// and that the summary's counts, in GetSession and in what search indexes
// for its filters, count exactly that list.
func TestFrustrationsAgree(t *testing.T) {
	recv, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()

	recorded := summarytest.Recorded(t)
	sess := recorded[0].SessionId
	var chunks []*recordingsv1.Chunk
	for _, c := range recorded {
		if c.SessionId != sess {
			t.Fatalf("the recording holds two sessions")
		}
		chunks = append(chunks, mkChunk(sess, c.Seq, c.PageViewId, c.Url, c.Events))
	}
	// Last first, then the rest with a re-delivery in each call.
	n := len(chunks)
	calls := [][]*recordingsv1.Chunk{chunks[n-3:], append(chunks[n/2:n-3:n-3], chunks[n-1]), append(chunks[:n/2:n/2], chunks[0])}
	stored := int32(0)
	for _, c := range calls {
		r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: c})
		if err != nil {
			t.Fatal(err)
		}
		stored += r.Stored
	}
	if stored != int32(n) {
		t.Fatalf("stored %d of %d chunks", stored, n)
	}

	got, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: sess})
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile("summary/testdata/frustration.want.json")
	if err != nil {
		t.Fatal(err)
	}
	want := &recordingsv1.GetSessionResponse{}
	if err := protojson.Unmarshal(wb, want); err != nil {
		t.Fatal(err)
	}
	if len(want.Frustrations) == 0 || !proto.Equal(&recordingsv1.GetSessionResponse{Frustrations: got.Frustrations}, want) {
		t.Fatalf("GetSession's list differs from the fold's:\n got %v\nwant %v", got.Frustrations, want.Frustrations)
	}
	var rage, dead int32
	for _, f := range got.Frustrations {
		switch f.GetKind() {
		case recordingsv1.FrustrationKind_FRUSTRATION_KIND_RAGE:
			rage++
		case recordingsv1.FrustrationKind_FRUSTRATION_KIND_DEAD:
			dead++
		}
	}
	if got.Session.GetRageClickCount() != rage || got.Session.GetDeadClickCount() != dead {
		t.Fatalf("summary counts rage %d dead %d, the list has %d and %d", got.Session.GetRageClickCount(), got.Session.GetDeadClickCount(), rage, dead)
	}
	// Search's filters index the counts of the summary the outbox delivers.
	waitFor(t, func() bool {
		s := recv.get(site, sess)
		return s != nil && s.GetVersion() == got.Session.GetVersion()
	})
	if s := recv.get(site, sess); s.GetRageClickCount() != rage || s.GetDeadClickCount() != dead {
		t.Fatalf("search got rage %d dead %d, the list has %d and %d", s.GetRageClickCount(), s.GetDeadClickCount(), rage, dead)
	}
}
