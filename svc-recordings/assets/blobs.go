package assets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/blobotel"
	"github.com/sightlinehq/sightline/blob/fsblob"
)

// OpenBlobs opens the store captured assets live in: S3-compatible object
// storage when cfg.S3.Endpoint is set, else files under <dataDir>/assets.
// This is where the binary decides the assets' storage.
// Every call is traced and measured (blobotel); tp and mp may be nil.
func OpenBlobs(ctx context.Context, cfg Config, dataDir string, tp trace.TracerProvider, mp metric.MeterProvider) (blob.Store, error) {
	// The largest object is an asset at its type's cap (records are small).
	maxObj := max(int64(cfg.MaxCSSBytes), int64(cfg.MaxFontBytes), int64(cfg.MaxImageBytes), 64<<10)
	return OpenStore(ctx, cfg.S3, dataDir, "assets", maxObj, tp, mp)
}

// OpenStore opens a blob store the way OpenBlobs decides: cfg's S3 bucket
// when cfg.Endpoint is set, else files under <dataDir>/<dir>; objects of at
// most maxObj bytes. The cold recordings share the assets' bucket this way
// (under their own key prefix) and keep their own directory.
func OpenStore(ctx context.Context, cfg S3Config, dataDir, dir string, maxObj int64, tp trace.TracerProvider, mp metric.MeterProvider) (blob.Store, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	var st blob.Store
	backend := "s3"
	if cfg.Endpoint != "" {
		s3, err := openS3(ctx, cfg, maxObj, tp, mp)
		if err != nil {
			return nil, err
		}
		st = s3
	} else {
		if dataDir == "" {
			return nil, fmt.Errorf("%s: no data directory and no S3 endpoint", dir)
		}
		fs, err := fsblob.Open(fsblob.Options{Dir: filepath.Join(dataDir, dir), MaxObjectBytes: maxObj})
		if err != nil {
			return nil, fmt.Errorf("%s: open %s: %w", dir, filepath.Join(dataDir, dir), err)
		}
		st, backend = fs, "fs"
	}
	wrapped, err := blobotel.Wrap(st, backend, tp, mp)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return wrapped, nil
}

// s3Credentials takes the keys from the flags, else from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) so that they need not appear on
// a command line.
func s3Credentials(c S3Config) (access, secret string) {
	access, secret = c.AccessKey, c.SecretKey.Value()
	if access == "" {
		access = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if secret == "" {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	return access, secret
}
