package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/blobtest"
	"github.com/sightlinehq/sightline/internal/weedtest"
)

func TestMain(m *testing.M) { weedtest.Main(m) }

func options(srv *weedtest.Server, bucket string) Options {
	return Options{
		Endpoint:  srv.Endpoint,
		Bucket:    bucket,
		Region:    srv.Region,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		PathStyle: true,
		// The smallest part S3 allows, so the 8 MiB objects of the suite
		// go up as multipart uploads.
		PartSize: 5 << 20,
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestConformance runs the suite with every subtest under a prefix of its
// own in one bucket (a bucket is a SeaweedFS collection with volumes of
// its own: one per subtest would be slow).
func TestConformance(t *testing.T) {
	srv := weedtest.Start(t)
	bucket := srv.Bucket(t)
	n := 0
	blobtest.Run(t, func(t *testing.T) blob.Store {
		n++
		o := options(srv, bucket)
		o.Prefix = fmt.Sprintf("run-%d-%d/", time.Now().UnixNano(), n)
		s, err := New(ctxOf(t), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestBucketOfItsOwn(t *testing.T) {
	srv := weedtest.Start(t)
	o := options(srv, fmt.Sprintf("own-%d", time.Now().UnixNano()))
	if _, err := New(ctxOf(t), o); err == nil {
		t.Fatal("New with a missing bucket and CreateBucket off succeeded")
	}
	o.CreateBucket = true
	s, err := New(ctxOf(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctxOf(t), "a/b.css", strings.NewReader("a{}"), 3, "text/css"); err != nil {
		t.Fatal(err)
	}
	// Objects are plain S3 objects: another client reads them.
	obj, err := srv.Client(t).GetObject(ctxOf(t), o.Bucket, "a/b.css", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || string(got) != "a{}" {
		t.Fatalf("read with another client: %q %v", got, err)
	}
	// Creating an existing bucket is not an error either.
	s2, err := New(ctxOf(t), o)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestWrongCredentials(t *testing.T) {
	srv := weedtest.Start(t)
	o := options(srv, srv.Bucket(t))
	o.SecretKey = "not-the-secret"
	if s, err := New(ctxOf(t), o); err == nil {
		s.Close()
		t.Fatal("New with a wrong secret key succeeded")
	}
}

func TestPrefixIsolation(t *testing.T) {
	srv := weedtest.Start(t)
	bucket := srv.Bucket(t)
	a, b := options(srv, bucket), options(srv, bucket)
	a.Prefix, b.Prefix = "a/", "ab/"
	sa, err := New(ctxOf(t), a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := New(ctxOf(t), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{sa, sb} {
		if err := s.Put(ctxOf(t), "k", strings.NewReader("v"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := sa.Delete(ctxOf(t), "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Stat(ctxOf(t), "k"); err != nil {
		t.Fatalf("other prefix's object: %v", err)
	}
	for info, err := range sa.List(ctxOf(t), "") {
		t.Fatalf("prefix a/ lists %+v %v", info, err)
	}
	for _, p := range []string{"../x/", "x", "/x/", "x//"} {
		if _, err := New(ctxOf(t), Options{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: p}); !errors.Is(err, blob.ErrBadKey) {
			t.Fatalf("New with prefix %q: %v", p, err)
		}
	}
}

func TestExactReader(t *testing.T) {
	for _, tc := range []struct {
		data      string
		size, max int64
		ok        bool
	}{
		{"abc", 3, 10, true}, {"", 0, 10, true}, {"abc", 2, 10, false}, {"abc", 4, 10, false},
		{"abc", -1, 3, true}, {"abcd", -1, 3, false}, {"", -1, 3, true},
	} {
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.DataErrReader} {
			got, err := io.ReadAll(&exactReader{r: wrap(strings.NewReader(tc.data)), size: tc.size, max: tc.max})
			if (err == nil) != tc.ok || (tc.ok && string(got) != tc.data) {
				t.Errorf("%q size %d max %d: %q, %v", tc.data, tc.size, tc.max, got, err)
			}
		}
	}
	// Reading stops at size even if the caller asks for more.
	r := &exactReader{r: bytes.NewReader(make([]byte, 100)), size: 100, max: 1000}
	buf := make([]byte, 1000)
	if n, err := io.ReadFull(r, buf); n != 100 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadFull: %d %v", n, err)
	}
}

func TestRequestsTraced(t *testing.T) {
	srv := weedtest.Start(t)
	spans := tracetest.NewInMemoryExporter()
	o := options(srv, srv.Bucket(t))
	o.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	s, err := New(ctxOf(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := len(spans.GetSpans()) // the bucket check
	if err := s.Put(ctxOf(t), "x", strings.NewReader("y"), 1, ""); err != nil {
		t.Fatal(err)
	}
	got := spans.GetSpans()[before:]
	if len(got) != 1 || got[0].Name != "HTTP PUT" && !strings.Contains(got[0].Name, "PUT") {
		t.Fatalf("spans of one Put: %v", got.Snapshots())
	}
}
