package pebble

import (
	"context"
	"errors"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// errHeat: heatmap aggregates are being built (replaced in this change).
var errHeat = errors.New("pebble: heatmap aggregates are not built yet")

// Heat implements store.Store.
func (s *Store) Heat(ctx context.Context, q store.HeatQuery, fn func(heatmap.Kind, string, heatmap.Vec) error) error {
	return errHeat
}

// HeatPages implements store.Store.
func (s *Store) HeatPages(ctx context.Context, siteID int64, after string, fn func(string, heatmap.Vec) error) error {
	return errHeat
}

// HeatSnapshot implements store.Store.
func (s *Store) HeatSnapshot(ctx context.Context, siteID int64, page string, device int32) (store.HeatSnapshot, bool, error) {
	return store.HeatSnapshot{}, false, errHeat
}

// RebuildHeat implements store.Store.
func (s *Store) RebuildHeat(ctx context.Context, siteID int64, sinceDay int32, progress func(done, total int64)) error {
	return errHeat
}
