package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// envelope is the tracker's batch (docs/wire-format.md), as far as the
// bench needs it.
type envelope struct {
	SessionID  string `json:"sessionId"`
	VisitorID  string `json:"visitorId"`
	PageViewID string `json:"pageViewId"`
	Seq        int64  `json:"seq"`
	Page       struct {
		URL string `json:"url"`
	} `json:"page"`
	Events json.RawMessage `json:"events"`
}

// loadCaptured reads every envelope (*.json) under dir, as captured from a
// real browser by the ingest/tracker tests.
func loadCaptured(dir string) ([]*recordingsv1.Chunk, error) {
	var out []*recordingsv1.Chunk
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var e envelope
		if json.Unmarshal(b, &e) != nil || e.SessionID == "" || len(e.Events) == 0 {
			return nil // not an envelope
		}
		out = append(out, &recordingsv1.Chunk{
			SiteId: 3_000_000_002, SessionId: e.SessionID, VisitorId: e.VisitorID, PageViewId: e.PageViewID,
			Seq: e.Seq, Url: e.Page.URL, Events: e.Events, ServerTime: timestamppb.Now(),
		})
		return nil
	})
	return out, err
}

// reportCaptured appends the captured sessions and prints stored bytes
// per recorded minute for each.
func reportCaptured(ctx context.Context, client recordingsClient, chunks []*recordingsv1.Chunk) error {
	if len(chunks) == 0 {
		fmt.Println("captured real-browser batches: none found")
		return nil
	}
	if _, err := client.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks}); err != nil {
		return fmt.Errorf("append captured batches: %w", err)
	}
	seen := map[string]bool{}
	var stored int64
	var recorded time.Duration
	for _, c := range chunks {
		if seen[c.SessionId] {
			continue
		}
		seen[c.SessionId] = true
		r, err := client.GetSession(ctx, &recordingsv1.GetSessionRequest{SiteId: c.SiteId, SessionId: c.SessionId})
		if err != nil {
			return err
		}
		s := r.Session
		d := s.Duration.AsDuration()
		stored += s.StoredBytes
		recorded += d
		fmt.Printf("captured session %s: %d chunks, %v recorded, %.1f KB stored, %.1f KB/min\n",
			s.SessionId, s.ChunkCount, d.Round(time.Second), float64(s.StoredBytes)/1e3, perMinute(s.StoredBytes, d))
	}
	fmt.Printf("captured sessions: %d, %.1f KB stored per recorded minute (goal ≤ 60 KB)\n", len(seen), perMinute(stored, recorded))
	return nil
}

func perMinute(bytes int64, d time.Duration) float64 {
	if d < time.Second {
		d = time.Second
	}
	return float64(bytes) / 1e3 / d.Minutes()
}
