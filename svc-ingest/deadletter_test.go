package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// TestStalledForwarderIsDegradedNotUnready: with recordings down longer
// than stall-after, the forwarder is stalled (GetStats, /readyz degraded)
// while ingest stays ready and keeps answering 204; nothing is
// dead-lettered; once recordings is back everything is delivered and the
// degradation clears.
func TestStalledForwarderIsDegradedNotUnready(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ForwardStallAfter = 300 * time.Millisecond; c.ForwardMaxAttempts = 2 })
	e.rec.mu.Lock()
	e.rec.fail = status.Error(codes.Unavailable, "recordings is down")
	e.rec.mu.Unlock()
	e.run()
	for i := range 3 {
		if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = i })}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("batch %d: status %d", i, resp.StatusCode)
		}
	}
	checks := &admin.Checks{}
	checks.Add("ingest", e.svc.Ready)
	var rep admin.Report
	poll.Until(t, 5*time.Second, func() error {
		if rep = checks.Run(context.Background()); !rep.Degraded {
			return fmt.Errorf("/readyz report with recordings down past stall-after: %+v", rep)
		}
		return nil
	})
	if !rep.Ready || !rep.Degraded || !strings.Contains(rep.Checks[0].Error, "forwarder stalled") || !strings.Contains(rep.Checks[0].Error, "recordings is down") {
		t.Fatalf("/readyz report with recordings down past stall-after: %+v", rep)
	}
	var dg interface{ Degraded() bool }
	if err := e.svc.Ready(context.Background()); !errors.As(err, &dg) {
		t.Fatalf("Ready = %v, want a degraded error", err)
	}
	// Still accepting.
	if resp := e.post(req{query: "k=" + siteKey, body: batchBody(t, func(m map[string]any) { m["seq"] = 3 })}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("intake while stalled: status %d", resp.StatusCode)
	}
	st, err := e.svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{})
	if err != nil || !st.GetForwarder().GetStalled() || st.GetForwarder().GetDeadLettered() != 0 || st.GetSpool().GetDeadLetterRecords() != 0 {
		t.Fatalf("stats while stalled: %v, %v", st, err)
	}

	e.rec.mu.Lock()
	e.rec.fail = nil
	e.rec.mu.Unlock()
	poll.Until(t, 10*time.Second, func() error {
		if st := e.svc.spool.Stats(); st.Records != 0 {
			return fmt.Errorf("spool not drained after recordings came back: %+v", st)
		}
		return nil
	})
	if err := e.svc.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after recordings came back: %v", err)
	}
	st, _ = e.svc.GetStats(rpc.AsService(context.Background()), &ingestv1.GetStatsRequest{})
	if st.GetForwarder().GetStalled() || st.GetForwarder().GetDeadLettered() != 0 || st.GetForwarder().GetDeliveredRecords() != 4 {
		t.Fatalf("stats after recovery (%d chunks at recordings): %v", e.rec.count(), st)
	}
}
