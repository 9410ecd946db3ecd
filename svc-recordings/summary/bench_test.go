package summary

import (
	"encoding/json"
	"os"
	"testing"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// BenchmarkExtract reduces the batch captured from real Chromium.
func BenchmarkExtract(b *testing.B) {
	raw, err := os.ReadFile("../testdata/chromium-batch.json")
	if err != nil {
		b.Fatal(err)
	}
	var env struct {
		Events json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		b.Fatal(err)
	}
	c := &recordingsv1.Chunk{Events: env.Events, PageViewId: "p_x"}
	b.SetBytes(int64(len(env.Events)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Extract(c, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractFullSnapshot reduces the recorded chunks (testdata/
// frustration.json), full snapshots included: what reading node kinds costs.
func BenchmarkExtractFullSnapshot(b *testing.B) {
	chunks := loadRecording(b)
	var n int64
	for _, c := range chunks {
		n += int64(len(c.Events))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range chunks {
			if _, err := Extract(c, 1, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}
