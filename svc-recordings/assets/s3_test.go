package assets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/weedtest"
)

// TestMain runs the tests with a real S3-compatible server (SeaweedFS,
// started on first use) and checks for leaked goroutines.
func TestMain(m *testing.M) { weedtest.Main(m) }

// s3Config points the assets' storage at the test server, in a bucket of
// its own, with the credentials from the environment (as an operator
// would keep them out of flags).
func s3Config(t *testing.T) Config {
	srv := weedtest.Start(t)
	cfg := testConfig(t)
	cfg.S3 = S3Config{Endpoint: srv.Endpoint, Bucket: fmt.Sprintf("assets-%d", time.Now().UnixNano()), Region: srv.Region, Insecure: true}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	return cfg
}

// TestCaptureOnS3: capture, lookup, rewriting, isolation and the sweep on
// the S3 backend, opened the way the binary opens it (OpenBlobs).
func TestCaptureOnS3(t *testing.T) {
	ctx := context.Background()
	cfg := s3Config(t)
	st, err := OpenBlobs(ctx, cfg, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newSite(t)
	c, _ := newCapturerOn(t, cfg, st)
	c.run(ctx, 21, []byte(`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"/css/page.css"},"childNodes":[],"id":1}},"timestamp":1}]`), s.srv.URL+"/")
	cssURL, fontURL := s.srv.URL+"/css/page.css", s.srv.URL+"/css/fonts/icons.woff2"
	recs, err := c.Lookup(ctx, 21, []string{cssURL, fontURL})
	if err != nil || len(recs) != 2 {
		t.Fatalf("lookup on S3: %v %v", recs, err)
	}
	ct, body, err := c.Get(ctx, 21, recs[0].Hash)
	if err != nil || ct != "text/css" || !strings.Contains(string(body), fmt.Sprintf(`url("./%s")`, recs[1].Hash)) {
		t.Fatalf("GetAsset(css) on S3 = %q %s %v", ct, body, err)
	}
	if _, _, err := c.Get(ctx, 22, recs[1].Hash); err != ErrNotFound {
		t.Fatalf("another site's hash on S3: %v", err)
	}
	// The object is in the bucket, as served.
	rc, info, err := st.Get(ctx, objectKey(21, recs[1].Hash))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if info.ContentType != "font/woff2" || !bytes.HasPrefix(b, []byte("wOF2")) {
		t.Fatalf("stored font: %q %q", info.ContentType, b)
	}
	recsDel, objs, err := c.Sweep(ctx, time.Now().Add(366*24*time.Hour))
	if err != nil || recsDel != 4 || objs != 4 {
		t.Fatalf("sweep on S3: %d records, %d objects, %v; want 4 and 4", recsDel, objs, err)
	}
	for info, err := range st.List(ctx, "sites/") {
		t.Errorf("left after the sweep: %s %v", info.Key, err)
	}
}

func TestOpenBlobsRefusesBadS3(t *testing.T) {
	cfg := s3Config(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if st, err := OpenBlobs(context.Background(), cfg, t.TempDir(), nil, nil); err == nil {
		st.Close()
		t.Fatal("wrong S3 credentials opened a store")
	}
}
