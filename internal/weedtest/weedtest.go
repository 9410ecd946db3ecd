// Package weedtest starts a throwaway, real S3-compatible server
// (SeaweedFS's `weed server -s3`) for tests.
//
// Test packages call [Main] from TestMain (it replaces
// goleak.VerifyTestMain, which it runs too) and [Start] in each test:
//
//	func TestMain(m *testing.M) { weedtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		srv := weedtest.Start(t) // endpoint and credentials of the shared server
//		...
//	}
//
// One server per test binary is started lazily from $SIGHTLINE_WEED or
// <repo>/bin/weed (built by `make weed`), on free 127.0.0.1 ports with a
// temporary data directory, and Main stops it and removes the directory.
// The server gets SIGKILL from the kernel if the test process dies.
//
// If the binary is missing, Start skips the test, except under CI=true,
// where it fails it: CI must run the S3 tests.
package weedtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/internal/testproc"
)

// shared is the one server of a test binary.
var shared = testproc.Shared[*Server]{Name: "weedtest", What: "S3", Missing: ErrNoBinary}

// ErrNoBinary reports that no weed binary was found.
var ErrNoBinary = errors.New("weedtest: no SeaweedFS binary: run `make weed` (builds bin/weed) or set SIGHTLINE_WEED")

// Main runs the tests, stops the shared server, removes its directory, and
// then checks for leaked goroutines with goleak (opts are passed to it).
// It never returns.
func Main(m *testing.M, opts ...goleak.Option) { shared.Main(m, opts...) }

// Start returns the shared server, starting it on first use. See the
// package comment for where the binary comes from.
func Start(tb testing.TB) *Server {
	tb.Helper()
	srv := shared.Get(tb, func(ctx context.Context, dir string) (*Server, error) {
		bin, err := Binary()
		if err != nil {
			return nil, err
		}
		return StartServer(ctx, bin, dir)
	})
	return srv
}

// Binary returns the weed binary: $SIGHTLINE_WEED, else bin/weed in the
// repository that holds the working directory.
func Binary() (string, error) {
	if p := os.Getenv("SIGHTLINE_WEED"); p != "" {
		if !testproc.IsExec(p) {
			return "", fmt.Errorf("%w (SIGHTLINE_WEED=%s is not an executable file)", ErrNoBinary, p)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("weedtest: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/sightlinehq/sightline\n")) {
			p := filepath.Join(dir, "bin", "weed")
			if !testproc.IsExec(p) {
				return "", fmt.Errorf("%w (%s missing)", ErrNoBinary, p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w (not inside the sightline repository)", ErrNoBinary)
		}
		dir = parent
	}
}

// Server is a SeaweedFS server started by StartServer.
type Server struct {
	// Endpoint is the S3 API's host:port (plain HTTP, path-style).
	Endpoint  string
	AccessKey string
	SecretKey string
	// Region is the region to sign requests for.
	Region string

	log    *testproc.LogBuffer
	cmd    *exec.Cmd
	exited chan struct{}
	// sockets are the unix sockets weed makes in /tmp (a fixed path it
	// does not let us choose); Stop removes them.
	sockets []string

	mu      sync.Mutex
	stopped bool
	stopErr error
}

// Client returns a minio-go client of the server.
func (s *Server) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := s.client()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (s *Server) client() (*minio.Client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("weedtest: client: %w", err)
	}
	return c, nil
}

// Bucket returns a new, empty bucket's name (it is not removed: the whole
// server goes at the end).
func (s *Server) Bucket(tb testing.TB) string {
	tb.Helper()
	name := "t-" + testproc.RandomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		tb.Fatalf("weedtest: make bucket: %v", err)
	}
	return name
}

// Log is what the server printed (at most the last MiB).
func (s *Server) Log() string { return s.log.String() }

// freePorts returns n distinct free TCP ports on 127.0.0.1 (free when
// asked: a start that loses a race for one is retried).
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("weedtest: find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// StartServer starts `bin server` (master, volume, filer and S3 gateway in
// one process) with its data in dir, and waits until an object can be
// written and read back. Call Stop when done.
func StartServer(ctx context.Context, bin, dir string) (*Server, error) {
	return testproc.Launch(ctx, func(attempt int) (*Server, error) {
		return launch(ctx, bin, filepath.Join(dir, strconv.Itoa(attempt)))
	})
}

func launch(ctx context.Context, bin, dir string) (*Server, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("weedtest: %w", err)
	}
	srv := &Server{
		AccessKey: "weedtest",
		SecretKey: testproc.RandomHex(16),
		Region:    "us-east-1",
		log:       &testproc.LogBuffer{},
		exited:    make(chan struct{}),
	}
	// The S3 gateway without identities accepts anonymous requests; one
	// admin identity makes it check signatures, as a real server does.
	conf, err := json.Marshal(map[string]any{
		"identities": []any{map[string]any{
			"name":        "weedtest",
			"credentials": []any{map[string]string{"accessKey": srv.AccessKey, "secretKey": srv.SecretKey}},
			"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("weedtest: %w", err)
	}
	s3conf := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(s3conf, conf, 0o600); err != nil {
		return nil, fmt.Errorf("weedtest: %w", err)
	}
	p, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	srv.Endpoint = fmt.Sprintf("127.0.0.1:%d", p[6])
	for i, name := range []string{"master", "volume", "filer", "s3"} {
		srv.sockets = append(srv.sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", name, p[2*i+1]))
	}
	cmd := exec.Command(bin, "server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir="+data,
		"-master.port="+strconv.Itoa(p[0]), "-master.port.grpc="+strconv.Itoa(p[1]),
		"-volume.port="+strconv.Itoa(p[2]), "-volume.port.grpc="+strconv.Itoa(p[3]),
		"-filer", "-filer.port="+strconv.Itoa(p[4]), "-filer.port.grpc="+strconv.Itoa(p[5]),
		"-filer.localSocket="+filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port="+strconv.Itoa(p[6]), "-s3.port.grpc="+strconv.Itoa(p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket="+filepath.Join(dir, "s3.sock"),
		"-s3.config="+s3conf,
		"-s3.allowDeleteBucketNotEmpty",
		"-master.telemetry=false",
		"-master.electionTimeout=1s",
		// Small volumes, as many as the disk holds: each bucket is a
		// collection with volumes of its own.
		"-master.volumeSizeLimitMB=64", "-volume.max=0",
		"-volume.minFreeSpace=512MiB",
	)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	cmd.Stdout = srv.log
	cmd.Stderr = srv.log
	srv.cmd = cmd
	// Started pinned to a thread (testproc.StartPinned): the parent-death
	// signal then fires only when the test process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := testproc.StartPinned(cmd, srv.exited, nil); err != nil {
		return nil, fmt.Errorf("weedtest: start %s: %w", bin, err)
	}
	if err := srv.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return srv, nil
}

// waitReady waits until an object can be written and read back: the S3
// port answers well before the volume server has registered.
func (s *Server) waitReady(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	var lastErr error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("weedtest: weed server exited:\n%s", tail(s.log.String()))
		default:
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("weedtest: weed server not ready: %v\n%s", lastErr, tail(s.log.String()))
		}
		lastErr = probe(ctx, c)
		if lastErr == nil {
			return nil
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "weedtest: %s not ready: %v\n", time.Now().Format("15:04:05.000"), lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func probe(ctx context.Context, c *minio.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	const bucket = "weedtest-ready"
	if ok, err := c.BucketExists(ctx, bucket); err != nil {
		return err
	} else if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return err
		}
	}
	if _, err := c.PutObject(ctx, bucket, "probe", strings.NewReader("ok"), 2, minio.PutObjectOptions{}); err != nil {
		return err
	}
	obj, err := c.GetObject(ctx, bucket, "probe", minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	var b [3]byte
	n, _ := obj.Read(b[:])
	if string(b[:n]) != "ok" {
		return fmt.Errorf("probe object read back as %q", b[:n])
	}
	return nil
}

func tail(s string) string {
	if len(s) > 8000 {
		return "..." + s[len(s)-8000:]
	}
	return s
}

// Stop shuts the server down (SIGTERM to its process group, SIGKILL after
// 3 s: its data is throwaway, and weed takes its time to drain) and waits
// for it to exit. It does not remove the directory.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	defer s.removeSockets()
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.stopErr = errors.New("weedtest: weed server survived SIGKILL for 10s")
		}
	}
	return s.stopErr
}

func (s *Server) removeSockets() {
	for _, p := range s.sockets {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(p)
		}
	}
}
