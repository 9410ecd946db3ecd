package weedtest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestMain(m *testing.M) { Main(m) }

func TestServerStoresObjects(t *testing.T) {
	srv := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := srv.Client(t)
	bucket := srv.Bucket(t)
	if _, err := c.PutObject(ctx, bucket, "dir/x.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	obj, err := c.GetObject(ctx, bucket, "dir/x.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
	// Buckets start empty.
	for oi := range c.ListObjectsIter(ctx, srv.Bucket(t), minio.ListObjectsOptions{Recursive: true}) {
		t.Fatalf("new bucket lists %+v", oi)
	}
	// Signatures are checked: a wrong secret and no credentials are refused.
	for name, creds := range map[string]*credentials.Credentials{
		"wrong secret": credentials.NewStaticV4(srv.AccessKey, "wrong", ""),
		"anonymous":    credentials.NewStaticV4("", "", ""),
	} {
		bad, err := minio.New(srv.Endpoint, &minio.Options{Creds: creds, Region: srv.Region, BucketLookup: minio.BucketLookupPath})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bad.PutObject(ctx, bucket, "evil", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
			t.Fatalf("%s: PutObject succeeded", name)
		}
	}
	if srv.Log() == "" {
		t.Error("no server log captured")
	}
}

func TestBinary(t *testing.T) {
	t.Setenv("SIGHTLINE_WEED", filepath.Join(t.TempDir(), "nope"))
	if _, err := Binary(); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("missing SIGHTLINE_WEED: %v", err)
	}
	t.Setenv("SIGHTLINE_WEED", "")
	wd, _ := os.Getwd()
	p, err := Binary()
	if err == nil && p != filepath.Join(filepath.Dir(filepath.Dir(wd)), "bin", "weed") {
		t.Fatalf("Binary() = %s", p)
	}
	if err != nil && !errors.Is(err, ErrNoBinary) {
		t.Fatal(err)
	}
}
