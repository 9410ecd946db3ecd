package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// TestCapturedChromiumBatch runs a batch captured from real Chromium by the
// ingest end-to-end test (copied from svc-ingest/testdata) through append,
// stream and summary.
func TestCapturedChromiumBatch(t *testing.T) {
	raw, err := os.ReadFile("testdata/chromium-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	// The contract's decoder reads the envelope; the event count below is
	// read apart, by encoding/json, to check the summary against.
	env, err := batch.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evs []json.RawMessage
	if err := json.Unmarshal(env.Events, &evs); err != nil {
		t.Fatal(err)
	}
	_, searchAddr := serveSearch(t, "127.0.0.1:0")
	h := start(t, testConfig(t), t.TempDir(), searchAddr)
	ctx := context.Background()
	c := mkChunk(env.SessionID, env.Seq, env.PageViewID, env.URL, env.Events)
	c.VisitorId = env.VisitorID
	c.Viewport = &recordingsv1.Viewport{Width: env.ViewportW, Height: env.ViewportH}
	if r, err := h.client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: []*recordingsv1.Chunk{c}}); err != nil || r.Stored != 1 {
		t.Fatalf("append: %v %v", r, err)
	}
	st, err := h.client.StreamRecording(ctx, &recordingsv1.StreamRecordingRequest{SiteId: site, SessionId: env.SessionID})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != env.Seq || !bytes.Equal(m.Events, env.Events) {
		t.Fatalf("streamed chunk differs from the captured batch")
	}
	got, err := h.client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: site, SessionId: env.SessionID})
	if err != nil {
		t.Fatal(err)
	}
	s := got.Session
	if s.EventCount != int64(len(evs)) || s.EntryUrl != env.URL || s.ViewportWidth != env.ViewportW ||
		s.ActiveDuration.AsDuration() <= 0 || s.StoredBytes >= int64(len(env.Events)) {
		t.Fatalf("summary of the captured batch: events %d/%d entry %q viewport %d active %v stored %d/%d",
			s.EventCount, len(evs), s.EntryUrl, s.ViewportWidth, s.ActiveDuration.AsDuration(), s.StoredBytes, len(env.Events))
	}
}
