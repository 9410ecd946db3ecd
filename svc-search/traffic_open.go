package search

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/metric"

	"github.com/sightlinehq/sightline/platform/pebblelog"
	"github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
	trafficelastic "github.com/sightlinehq/sightline/svc-search/traffic/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic/embedded"
)

// openEmbeddedTraffic opens the embedded traffic store in dir (beside the
// bleve index, under the same data directory).
func openEmbeddedTraffic(dir string, log *slog.Logger, mp metric.MeterProvider) (traffic.Store, error) {
	st, err := embedded.Open(dir, embedded.Options{Logger: pebblelog.New(log), Metrics: mp})
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
