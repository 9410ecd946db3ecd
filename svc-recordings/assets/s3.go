package assets

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/s3blob"
)

// openS3 opens the S3-compatible backend (path-style addressing, as
// self-hosted servers expect; the bucket is created when missing).
func openS3(ctx context.Context, c S3Config, maxObject int64, tp trace.TracerProvider, mp metric.MeterProvider) (blob.Store, error) {
	access, secret := s3Credentials(c)
	st, err := s3blob.New(ctx, s3blob.Options{
		Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region, AccessKey: access, SecretKey: secret,
		TLS: !c.Insecure, PathStyle: true, CreateBucket: true, MaxObjectBytes: maxObject,
		TracerProvider: tp, MeterProvider: mp,
	})
	if err != nil {
		return nil, fmt.Errorf("assets: S3 storage: %w", err)
	}
	return st, nil
}
