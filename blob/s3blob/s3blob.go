// Package s3blob is the blob.Store on any S3-compatible server (AWS S3,
// MinIO, SeaweedFS, Ceph RGW, R2...), through minio-go: the best-kept small
// S3 client for Go, with streaming multipart uploads and no AWS SDK weight.
//
// Objects are stored under Options.Prefix + key in one bucket. The content
// type is the object's Content-Type and also user metadata
// (x-amz-meta-blob-content-type), which Stat and Get prefer: some servers
// (SeaweedFS) replace application/octet-stream by a guess from the key's
// extension. Put is a single PUT up to
// PartSize bytes and a multipart upload above, both atomic on S3: a reader
// sees the old object or the new one. HTTP requests are traced with
// OpenTelemetry (otelhttp); blob/blobotel adds a span and metrics per call.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sightlinehq/sightline/blob"
)

const (
	// DefaultPartSize is the multipart part size (and so the memory a Put
	// of unknown size buffers) when Options.PartSize is zero.
	DefaultPartSize = 16 << 20
	// minPartSize is S3's smallest part.
	minPartSize = 5 << 20
	// DefaultMaxObjectBytes bounds one object when Options.MaxObjectBytes
	// is zero.
	DefaultMaxObjectBytes = 256 << 20
)

// Options configures New.
type Options struct {
	// Endpoint is host[:port] of the server, without scheme.
	Endpoint string
	// Bucket holds the objects.
	Bucket string
	// Prefix is prepended to every key, so one bucket can serve several
	// stores: empty, or valid key segments ending in a slash ("assets/").
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
	// TLS selects https.
	TLS bool
	// PathStyle addresses the bucket in the path (most self-hosted servers)
	// rather than in the host name (AWS's virtual-host style).
	PathStyle bool
	// CreateBucket creates Bucket when it does not exist.
	CreateBucket bool
	// PartSize is the multipart part size (0: DefaultPartSize; at least 5 MiB).
	PartSize int64
	// MaxObjectBytes is the largest object Put accepts (0: the default).
	MaxObjectBytes int64
	// Transport is the HTTP transport (nil: a clone of http.DefaultTransport).
	Transport http.RoundTripper
	// TracerProvider and MeterProvider instrument the HTTP requests
	// (otelhttp); nil: the global ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	c        *minio.Client
	core     minio.Core
	bucket   string
	prefix   string
	partSize int64
	max      int64
	gate     blob.Gate
	idle     func() // closes the idle connections of a transport we made
}

var _ blob.Store = (*Store)(nil)

// New connects to the server, checks that the bucket exists (creating it
// when opts.CreateBucket is set) and returns the store.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Endpoint == "" || opts.Bucket == "" {
		return nil, errors.New("s3blob: endpoint and bucket are required")
	}
	if opts.Prefix != "" && (!strings.HasSuffix(opts.Prefix, "/") || !blob.ValidKey(strings.TrimSuffix(opts.Prefix, "/"))) {
		return nil, fmt.Errorf("s3blob: prefix %q (want segments ending in a slash): %w", opts.Prefix, blob.ErrBadKey)
	}
	s := &Store{bucket: opts.Bucket, prefix: opts.Prefix, partSize: opts.PartSize, max: opts.MaxObjectBytes, gate: blob.Gate{Name: "s3blob"}}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	if s.partSize < minPartSize {
		return nil, fmt.Errorf("s3blob: part size %d under S3's minimum of %d", s.partSize, minPartSize)
	}
	if s.max <= 0 {
		s.max = DefaultMaxObjectBytes
	}
	tr := opts.Transport
	if tr == nil {
		own := http.DefaultTransport.(*http.Transport).Clone()
		s.idle = own.CloseIdleConnections
		tr = own
	}
	lookup := minio.BucketLookupDNS
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure:       opts.TLS,
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    otelhttp.NewTransport(tr, otelOpts(opts)...),
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	s.c, s.core = c, minio.Core{Client: c}
	ok, err := c.BucketExists(ctx, opts.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blob: bucket %s on %s: %w", opts.Bucket, opts.Endpoint, err)
	}
	if !ok {
		if !opts.CreateBucket {
			return nil, fmt.Errorf("s3blob: bucket %s does not exist on %s", opts.Bucket, opts.Endpoint)
		}
		if err := c.MakeBucket(ctx, opts.Bucket, minio.MakeBucketOptions{Region: opts.Region}); err != nil {
			// Another process may have created it meanwhile.
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("s3blob: create bucket %s: %w", opts.Bucket, err)
			}
		}
	}
	return s, nil
}

func otelOpts(o Options) []otelhttp.Option {
	var out []otelhttp.Option
	if o.TracerProvider != nil {
		out = append(out, otelhttp.WithTracerProvider(o.TracerProvider))
	}
	if o.MeterProvider != nil {
		out = append(out, otelhttp.WithMeterProvider(o.MeterProvider))
	}
	return out
}

// Close marks the store closed and closes its idle connections.
func (s *Store) Close() error {
	if s.gate.Close() && s.idle != nil {
		s.idle()
	}
	return nil
}

func isNotFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	contentType, err := s.gate.CheckPut(ctx, key, size, contentType, s.max)
	if err != nil {
		return err
	}
	body := blob.ContextReader(ctx, r)
	if size < 0 {
		// Most objects are small: read up to a part, and send what fits
		// as one PUT of known size rather than a three-request multipart
		// upload.
		head, err := io.ReadAll(io.LimitReader(body, s.partSize+1))
		if err != nil {
			return fmt.Errorf("s3blob: put %s: %w", key, err)
		}
		if int64(len(head)) <= s.partSize {
			body, size = bytes.NewReader(head), int64(len(head))
		} else {
			body = io.MultiReader(bytes.NewReader(head), body)
		}
	}
	if size == 0 {
		// minio-go does not read the body of an empty object: check here
		// that there is none.
		var b [1]byte
		if n, err := io.ReadFull(body, b[:]); n > 0 {
			return fmt.Errorf("s3blob: put %s: %w", key, errLong)
		} else if err != nil && err != io.EOF {
			return fmt.Errorf("s3blob: put %s: %w", key, err)
		}
		body = bytes.NewReader(nil)
	}
	body = &exactReader{r: body, size: size, max: s.max}
	_, err = s.c.PutObject(ctx, s.bucket, s.prefix+key, body, size, minio.PutObjectOptions{
		ContentType:  contentType,
		UserMetadata: map[string]string{metaContentType: contentType},
		PartSize:     uint64(s.partSize),
	})
	if err != nil {
		return fmt.Errorf("s3blob: put %s: %w", key, err)
	}
	return nil
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if err := s.gate.Check(ctx, key); err != nil {
		return nil, blob.Info{}, err
	}
	// One GET whose body is the reader: minio.Client.GetObject would
	// HEAD first and then GET with If-Match, which fails when the object
	// is replaced in between.
	body, oi, _, err := s.core.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil, blob.Info{}, fmt.Errorf("s3blob: %s: %w", key, blob.ErrNotFound)
		}
		return nil, blob.Info{}, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	return body, s.info(key, oi), nil
}

// metaContentType is the user metadata key of the content type.
const metaContentType = "Blob-Content-Type"

func (s *Store) info(key string, oi minio.ObjectInfo) blob.Info {
	ct := oi.Metadata.Get("X-Amz-Meta-" + metaContentType)
	if ct == "" {
		ct = oi.ContentType // written by another client
	}
	return blob.Info{Key: key, Size: oi.Size, ContentType: ct, ModTime: oi.LastModified}
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := s.gate.Check(ctx, key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if isNotFound(err) {
		return blob.Info{}, fmt.Errorf("s3blob: %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3blob: stat %s: %w", key, err)
	}
	return s.info(key, oi), nil
}

// Delete implements blob.Store; S3 deletes of missing keys succeed.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.gate.Check(ctx, key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("s3blob: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Store; minio-go follows the 1,000-key pages.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[blob.Info, error] {
	return func(yield func(blob.Info, error) bool) {
		if !s.gate.Listing(ctx, yield) {
			return
		}
		if !blob.ValidKey(prefix) && !blob.ValidKey(prefix+"x") {
			return // no valid key starts with it
		}
		// Cancelling stops minio-go's listing when the caller stops early.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for oi := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
			if oi.Err != nil {
				yield(blob.Info{}, fmt.Errorf("s3blob: list %s: %w", prefix, oi.Err))
				return
			}
			key := strings.TrimPrefix(oi.Key, s.prefix)
			if !blob.ValidKey(key) {
				continue // not written through a Store: not ours
			}
			if !yield(blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil) {
				return
			}
			if err := ctx.Err(); err != nil {
				yield(blob.Info{}, err)
				return
			}
		}
	}
}

// exactReader fails unless r yields exactly size bytes (size -1: at most
// max). It fails as the last byte is read, not after: minio-go stops
// reading at size, and the upload must fail before it completes.
type exactReader struct {
	r         io.Reader
	size, max int64
	n         int64
}

var (
	errShort = errors.New("reader gave fewer bytes than size says")
	errLong  = errors.New("reader gave more bytes than size says")
)

func (e *exactReader) Read(p []byte) (int, error) {
	limit := e.size
	if limit < 0 {
		limit = e.max
	}
	if rem := limit - e.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	var n int
	var err error
	if len(p) > 0 {
		n, err = e.r.Read(p)
		e.n += int64(n)
	}
	if err != nil && err != io.EOF {
		return n, err
	}
	if err == io.EOF && e.size >= 0 && e.n < e.size {
		return n, fmt.Errorf("s3blob: %w (%d of %d)", errShort, e.n, e.size)
	}
	if e.n == limit && err == nil {
		// Is there more? One byte tells.
		var b [1]byte
		m, perr := io.ReadFull(e.r, b[:])
		if m > 0 {
			if e.size < 0 {
				return n, fmt.Errorf("s3blob: over the limit of %d bytes", e.max)
			}
			return n, fmt.Errorf("s3blob: %w", errLong)
		}
		if perr != nil && perr != io.EOF {
			return n, perr
		}
		return n, io.EOF
	}
	return n, err
}
