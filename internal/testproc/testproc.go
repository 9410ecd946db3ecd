// Package testproc is what the packages that run a real server process
// for tests (pgtest, weedtest) share: one server per test binary, started
// on first use and stopped by Main, its temporary directory removed, and
// the directories of test processes that died swept on the next run; and a
// bounded, concurrency-safe buffer for the server's output.
package testproc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Stopper is a running server.
type Stopper interface{ Stop() error }

// Shared is the one server of a test binary. It is a package variable of
// the package that owns the server kind: the server outlives any single
// test and is stopped by Main.
type Shared[S Stopper] struct {
	// Name prefixes the temporary directories and the messages ("pgtest").
	Name string
	// What names the server in the CI message ("PostgreSQL").
	What string
	// Missing is the error a start returns when the server's binaries are
	// not installed: Get skips the test then, except under CI=true.
	Missing error

	mainCalled atomic.Bool
	once       sync.Once
	mu         sync.Mutex
	srv        S
	running    bool
	dir        string
	err        error
}

// Main runs the tests, stops the server, removes its directory, and then
// checks for leaked goroutines with goleak (so it replaces
// goleak.VerifyTestMain; opts are passed to goleak). It never returns.
func (s *Shared[S]) Main(m *testing.M, opts ...goleak.Option) {
	s.mainCalled.Store(true)
	code := m.Run()
	s.stop()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func (s *Shared[S]) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		if err := s.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: stop server: %v\n", s.Name, err)
		}
		s.running = false
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// Get returns the server, starting it on first use with start(ctx, dir),
// dir being a fresh temporary directory the server may use (removed by
// Main). It fails tb when Main was not called, when the start failed or
// the server was stopped; it skips tb when the binaries are missing,
// except under CI=true.
func (s *Shared[S]) Get(tb testing.TB, start func(ctx context.Context, dir string) (S, error)) S {
	tb.Helper()
	if !s.mainCalled.Load() {
		tb.Fatalf("%s: call %s.Main(m) from TestMain so the shared server is stopped when the tests end", s.Name, s.Name)
	}
	s.once.Do(func() {
		dir, err := newDir(s.Name)
		s.mu.Lock()
		s.dir = dir
		s.mu.Unlock()
		if err != nil {
			s.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, err := start(ctx, dir)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.srv, s.running, s.err = srv, err == nil, err
	})
	if s.Missing != nil && errors.Is(s.err, s.Missing) {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v (CI=true: the %s tests must run)", s.err, s.What)
		}
		tb.Skip(s.err.Error())
	}
	if s.err != nil {
		tb.Fatal(s.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		tb.Fatalf("%s: shared server already stopped", s.Name)
	}
	return s.srv
}

// TempDir returns a fresh directory for a server of this kind that is not
// the shared one (a test's private server), removed when tb ends, or by a
// later run if this process is killed first.
func (s *Shared[S]) TempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := newDir(s.Name)
	if dir != "" {
		tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// newDir sweeps stale directories of this kind and makes a new one with
// its owner file, which lets a later run remove it if this process dies
// without cleaning up (kill -9).
func newDir(name string) (string, error) {
	sweepStale(name)
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return "", fmt.Errorf("%s: temp dir: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile(name)), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return dir, fmt.Errorf("%s: %w", name, err)
	}
	return dir, nil
}

func ownerFile(name string) string { return name + "-owner.pid" }

// sweepStale removes server directories left by test processes that died
// (their server died with them, by the parent-death signal).
func sweepStale(name string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), name+"-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile(name)))
		if err != nil {
			continue // not ours, or still being set up
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// IsExec reports whether p is an executable file.
func IsExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Killed reports whether err, what exec.Cmd.Wait returned, is the end of
// a process by SIGKILL. A test that kills a process on purpose checks it
// with Killed: a process that had already died would pass unseen.
func Killed(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Launch calls launch up to three times, until one succeeds or ctx ends,
// and answers the last error: a server's free port can be taken between
// finding and binding it.
func Launch[S any](ctx context.Context, launch func(attempt int) (S, error)) (S, error) {
	var lastErr error
	for attempt := range 3 {
		srv, err := launch(attempt)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	var zero S
	return zero, lastErr
}

// RandomHex is n random bytes in hex: a name no other test uses.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartPinned starts cmd from a goroutine locked to its OS thread for the
// process's lifetime: a Pdeathsig in cmd.SysProcAttr fires when the thread
// that forked the child exits, so pinned it fires only when the test
// process dies. exited is closed once cmd has ended (or failed to start),
// after *waitErr (unless nil) holds Wait's answer.
func StartPinned(cmd *exec.Cmd, exited chan struct{}, waitErr *error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		err := cmd.Wait()
		if waitErr != nil {
			*waitErr = err
		}
		close(exited)
	}()
	return <-started
}

// LogBuffer keeps a process's or a server's output, written by other
// goroutines and read by the test: at most about 1 MiB (older output is
// dropped), for error messages, unless Unbounded.
type LogBuffer struct {
	// Unbounded keeps all the output, for a test that counts log lines.
	Unbounded bool
	mu        sync.Mutex
	b         bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.Unbounded && l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Sightline is a sightline binary a test started (StartSightline).
type Sightline struct {
	Cmd *exec.Cmd
	// Logs holds its stderr (JSON log lines), whole.
	Logs *LogBuffer
	// Done answers cmd.Wait once, when the process ends.
	Done chan error
	// Addrs are the listeners its start line names.
	Addrs struct{ HTTP, GRPC, Admin string }
}

// StartSightline starts cmd (a `sightline serve`), keeps its stderr in
// Logs and waits until it logs "sightline started", keeping the addresses
// that line names. It fails t when the process ends first or has not
// started within 60 s. A process still running when the test ends is
// killed.
func StartSightline(t testing.TB, cmd *exec.Cmd) *Sightline {
	t.Helper()
	p := &Sightline{Cmd: cmd, Logs: &LogBuffer{Unbounded: true}, Done: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.Logs.Write(append(line, '\n'))
			var rec struct {
				Msg               string
				HTTP, GRPC, Admin string
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "sightline started" {
				p.Addrs.HTTP, p.Addrs.GRPC, p.Addrs.Admin = rec.HTTP, rec.GRPC, rec.Admin
				once.Do(func() { close(started) })
			}
		}
		p.Done <- cmd.Wait()
	}()
	select {
	case <-started:
	case err := <-p.Done:
		t.Fatalf("sightline %v exited before starting: %v\n%s", cmd.Args[1:], err, p.Logs)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("sightline %v did not start within 60s\n%s", cmd.Args[1:], p.Logs)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			if err := <-p.Done; !Killed(err) {
				t.Logf("sightline %v had ended before the cleanup: %v", cmd.Args[1:], err)
			}
		}
	})
	return p
}
