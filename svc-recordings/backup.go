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
// checkpoint: chunks, summaries, heatmaps, the outboxes), the captured
// assets kept as files into dir/assets and the cold recordings kept as
// files into dir/cold. ScyllaDB and S3 are backed up
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
	// written while the copy runs may be missing from it. The cold
	// recordings follow the checkpoint: a session moved since is in both,
	// and objects are only added until retention removes their session.
	for _, c := range []struct {
		name   string
		src    blob.Store
		maxObj int64
	}{
		{"assets", s.blobs, 0},
		{"cold", s.coldBlobs, s.cfg.coldMaxObject()},
	} {
		if c.src == nil {
			continue
		}
		if err := s.backupBlobs(ctx, dir, c.name, c.src, c.maxObj); err != nil {
			return err
		}
	}
	return nil
}

// backupBlobs copies src into files under dir/name (maxObj: the largest
// object; 0: the assets' own bound).
func (s *Service) backupBlobs(ctx context.Context, dir, name string, src blob.Store, maxObj int64) (err error) {
	var dst blob.Store
	if maxObj == 0 {
		dst, err = assets.OpenBlobs(ctx, s.cfg.Assets, dir, nil, nil)
	} else {
		dst, err = assets.OpenStore(ctx, assets.S3Config{}, dir, name, maxObj, nil, nil)
	}
	if err != nil {
		return fmt.Errorf("recordings: backup %s: %w", name, err)
	}
	defer func() { err = errors.Join(err, dst.Close()) }()
	if _, _, err := blob.Copy(ctx, dst, src); err != nil {
		return fmt.Errorf("recordings: backup %s: %w", name, err)
	}
	return nil
}
