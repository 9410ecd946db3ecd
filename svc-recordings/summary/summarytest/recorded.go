// Package summarytest reads the session recorded in real Chromium with the
// real tracker (summary/testdata/frustration.json, made by
// testdata/record.mjs) for the tests of the packages that reduce, store
// and serve recordings.
package summarytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Recorded is the recording's batches as chunks, one per batch in the order
// the tracker sent them: site 1, the batch's session, page view, seq, page
// URL and events (as sent: compact JSON) with their count.
func Recorded(tb testing.TB) []*recordingsv1.Chunk {
	tb.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("summarytest: where is this file?")
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "testdata", "frustration.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var batches []struct {
		SessionID  string               `json:"sessionId"`
		PageViewID string               `json:"pageViewId"`
		Seq        int64                `json:"seq"`
		Page       struct{ URL string } `json:"page"`
		Events     json.RawMessage      `json:"events"`
	}
	if err := json.Unmarshal(raw, &batches); err != nil {
		tb.Fatal(err)
	}
	out := make([]*recordingsv1.Chunk, 0, len(batches))
	for _, b := range batches {
		var events []json.RawMessage
		if err := json.Unmarshal(b.Events, &events); err != nil {
			tb.Fatal(err)
		}
		out = append(out, &recordingsv1.Chunk{
			SiteId: 1, SessionId: b.SessionID, PageViewId: b.PageViewID, Seq: b.Seq, Url: b.Page.URL,
			Events: b.Events, EventCount: int32(len(events)),
		})
	}
	return out
}
