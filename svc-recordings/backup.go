package recordings

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/platform/backup"
	"github.com/sightlinehq/sightline/svc-recordings/assets"
)

// Backup copies the embedded store into dir/recordings (a Pebble
// checkpoint: chunks, summaries, heatmaps, the outboxes) and the captured
// assets kept as files into dir/assets. ScyllaDB and S3 are backed up
// with their own tools. Take it after ingest's spool and before search.
func (s *Service) Backup(ctx context.Context, dir string) (err error) {
	if b, ok := s.store.(*traced).next.(backup.Backuper); ok {
		if err := b.Backup(ctx, filepath.Join(dir, "recordings")); err != nil {
			return fmt.Errorf("recordings: %w", err)
		}
	}
	if s.blobs == nil || s.cfg.Assets.S3.Endpoint != "" {
		return nil
	}
	// Object by object: each object is whole (Put is atomic), but one
	// written while the copy runs may be missing from it.
	dst, err := assets.OpenBlobs(ctx, s.cfg.Assets, dir, nil, nil)
	if err != nil {
		return fmt.Errorf("recordings: backup assets: %w", err)
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	if _, _, err := blob.Copy(ctx, dst, s.blobs); err != nil {
		return fmt.Errorf("recordings: backup assets: %w", err)
	}
	return nil
}
