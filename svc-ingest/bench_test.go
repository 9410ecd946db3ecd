package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// BenchmarkServeBatch runs the intake handler (gzip'd real Chromium batch,
// decode, limits, enrichment, spool append with fsync) without the network.
func BenchmarkServeBatch(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.RatePerSite = 0; c.MaxBatchesPerSession = 1 << 40; c.MaxBytesPerSession = 1 << 50 })
	e.acc.sites["k_e2e"] = &accountsv1.GetSiteConfigResponse{SiteId: 5_000_000_009, OrganizationId: orgID, SiteKey: "k_e2e",
		Domains: []string{"127.0.0.1"}, Settings: &accountsv1.SiteSettings{RecordingEnabled: true, SampleRate: 1}, Plan: &accountsv1.Plan{}}
	raw := readBatch(b, "batch-chromium.json")
	bodies := make([][]byte, 256)
	for i := range bodies {
		raw["sessionId"] = fmt.Sprintf("s_bench%017d", i)
		j, err := json.Marshal(raw)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = gz(j)
	}
	benchServe(b, e.svc.serveBatch, "/i/v1/batch?k=k_e2e&ce=gzip", bodies,
		"Origin", "http://127.0.0.1:39547", "Content-Type", "text/plain")
}

// benchServe measures serve answering POSTs to target with the bodies in
// turn and headers (name, value, ...), 32 goroutines a CPU; each must
// answer 204.
func benchServe(b *testing.B, serve http.HandlerFunc, target string, bodies [][]byte, headers ...string) {
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(bodies[int(n.Add(1))%len(bodies)]))
			for i := 0; i+1 < len(headers); i += 2 {
				r.Header.Set(headers[i], headers[i+1])
			}
			w := httptest.NewRecorder()
			serve(w, r)
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
