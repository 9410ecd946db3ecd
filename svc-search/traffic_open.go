package search

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	trafficelastic "github.com/sightlinehq/sightline/svc-search/traffic/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic/embedded"
)

// openEmbeddedTraffic opens the embedded traffic store in dir (beside the
// bleve index, under the same data directory).
func openEmbeddedTraffic(dir string, log *slog.Logger) (traffic.Store, error) {
	st, err := embedded.Open(dir, embedded.Options{Logger: pebbleLog{log}})
	if err != nil {
		return nil, fmt.Errorf("open the traffic store: %w", err)
	}
	return st, nil
}

// openElasticTraffic opens the Elasticsearch traffic store with the
// sessions index's connection settings ("<prefix>-traffic").
func openElasticTraffic(ctx context.Context, ec elastic.Config) (traffic.Store, error) {
	st, err := trafficelastic.Open(ctx, ec)
	if err != nil {
		return nil, fmt.Errorf("open the traffic store: %w", err)
	}
	return st, nil
}

// pebbleLog sends Pebble's own log lines (WAL replay, compactions) to slog
// at debug level, errors at error level, as recordings' store does.
type pebbleLog struct{ l *slog.Logger }

func (p pebbleLog) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLog) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLog) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf("pebble: "+format, args...))
}
