package search

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sightlinehq/sightline/platform/backup"
)

// Backup copies the embedded stores into dir in the data directory's
// layout: the sessions index (search/), the answers index
// (search/answers/) and the traffic store (traffic/). Elasticsearch is
// backed up with its own snapshots. Take it after recordings': a summary
// delivered after that copy is still in recordings' outbox there.
func (s *Service) Backup(ctx context.Context, dir string) error {
	// The backends under the tracing wrappers (nil when there is none).
	var ix, ax, tx any
	if t, ok := s.ix.(*traced); ok {
		ix = t.ix
	}
	if t, ok := s.ax.(*tracedAnswers); ok {
		ax = t.ix
	}
	if t, ok := s.tx.(*tracedTraffic); ok {
		tx = t.st
	}
	parts := []struct {
		store any
		path  string
	}{
		{ix, filepath.Join(dir, "search")},
		{ax, filepath.Join(dir, "search", "answers")},
		{tx, filepath.Join(dir, "traffic")},
	}
	for _, p := range parts {
		b, ok := p.store.(backup.Backuper)
		if !ok {
			continue
		}
		if err := b.Backup(ctx, p.path); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	return nil
}
