// Package pgtest starts a throwaway, real PostgreSQL server for tests and
// benchmarks, and hands out a fresh database per caller.
//
// Test packages call [Main] from TestMain (it replaces
// goleak.VerifyTestMain, which it runs too) and [Start] in each test:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.Start(t) // a new, empty database
//		...
//	}
//
// When DATABASE_URL is set, Start creates a fresh database in that server
// instead of starting one. Otherwise one server per test binary is started
// lazily from the newest /usr/lib/postgresql/*/bin (as the postgres OS user
// when running as root), on a random 127.0.0.1 port with a temporary data
// directory, and Main stops it and removes the directory when the tests end.
// As a backstop against leaked processes (a test binary killed by a timeout
// or a panic), the server gets SIGQUIT from the kernel when the process that
// started it dies (Linux parent-death signal).
//
// If the server binaries are missing, Start skips the test, except under
// CI=true, where it fails it: CI must run the PostgreSQL tests.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sightlinehq/sightline/internal/testproc"
	"go.uber.org/goleak"
)

// shared is the one server of a test binary.
var shared = testproc.Shared[*Server]{Name: "pgtest", What: "PostgreSQL", Missing: ErrNoBinaries}

// ErrNoBinaries reports that no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql-15)")

// Main runs the tests, stops the shared server, removes its directory, and
// then checks for leaked goroutines with goleak (so it replaces
// goleak.VerifyTestMain; opts are passed to goleak). It never returns.
func Main(m *testing.M, opts ...goleak.Option) { shared.Main(m, opts...) }

// Start returns the DSN of a new, empty database that is dropped when tb
// ends. See the package comment for where the server comes from.
func Start(tb testing.TB) string {
	tb.Helper()
	if base := os.Getenv("DATABASE_URL"); base != "" {
		return createDatabase(tb, base)
	}
	srv := shared.Get(tb, StartServer)
	return createDatabase(tb, srv.DSN())
}

// createDatabase creates t_<random> in the server at base and returns its
// DSN; the database is dropped (forcibly) when tb ends.
func createDatabase(tb testing.TB, base string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect %s: %v", redact(base), err)
	}
	defer conn.Close(context.Background())
	name := "t_" + testproc.RandomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	dsn, err := withDatabase(base, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// withDatabase returns dsn (URL or keyword/value form) naming database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: parse DATABASE_URL: %w", err)
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return "(DATABASE_URL)"
}

// Server is a PostgreSQL server started by StartServer.
type Server struct {
	dsn     string
	bin     string
	dir     string
	dataDir string
	port    int
	cred    *syscall.Credential
	log     *testproc.LogBuffer

	// mu guards the current process: Stop and Restart replace it.
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr *error // set before exited is closed
	stopped bool
	stopErr error
}

// DSN is a connection string for the "postgres" database as the superuser
// "postgres" over TCP on 127.0.0.1 (trust authentication).
func (s *Server) DSN() string { return s.dsn }

// Stop shuts the server down (fast shutdown, then SIGKILL after 10 s) and
// waits for it to exit. It does not remove the directory. Stopping a
// stopped server returns the first Stop's result.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("pgtest: server did not stop in 10s, killed")
		}
	}
	return s.stopErr
}

// Kill sends SIGKILL to the postmaster alone, as a crash or the OOM killer
// would, and waits until it and its backends (which exit when they notice
// the postmaster gone) are gone, so that Restart finds the shared memory
// free and runs crash recovery. Backends still there after 10 s are killed
// too and reported as an error.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("pgtest: kill of a stopped server")
	}
	s.stopped = true
	pid := s.cmd.Process.Pid
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("pgtest: kill postmaster: %w", err)
	}
	<-s.exited
	// The server was started with Setpgid: its process group is its pid.
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return fmt.Errorf("pgtest: backends still running 10s after the postmaster was killed; killed them")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Restart starts a stopped (or killed) server again on the same port and data
// directory, so clients keep their DSN: tests use Stop and Restart to take
// the database away for a while and bring it back.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if !stopped {
		return errors.New("pgtest: restart of a running server: call Stop or Kill first")
	}
	return s.run(ctx)
}

// Private starts a server of tb's own (not the shared one, which other
// tests use), so that tb may Stop and Restart it; it is stopped and its
// directory removed when tb ends. Missing binaries skip tb, except under
// CI=true, where they fail it. It ignores DATABASE_URL: a server it did not
// start cannot be stopped.
func Private(tb testing.TB) *Server {
	tb.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v (CI=true: the PostgreSQL tests must run)", err)
		}
		tb.Skip(err.Error())
	}
	dir := shared.TempDir(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := StartServer(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			tb.Errorf("pgtest: stop private server: %v", err)
		}
	})
	return srv
}

// BinDir returns the newest /usr/lib/postgresql/<major>/bin that has
// initdb and postgres, or ErrNoBinaries. `make test`'s preflight
// (internal/preflight) asks it too, so both agree on what "installed" means.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		major int
		dir   string
	}
	var cands []cand
	for _, d := range dirs {
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if !testproc.IsExec(filepath.Join(d, "initdb")) || !testproc.IsExec(filepath.Join(d, "postgres")) {
			continue
		}
		cands = append(cands, cand{major, d})
	}
	if len(cands) == 0 {
		return "", ErrNoBinaries
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].major > cands[j].major })
	return cands[0].dir, nil
}

// StartServer starts a PostgreSQL server whose data directory is dir/data
// (created with initdb when missing) and whose unix socket lives in dir. It
// listens on a random free port on 127.0.0.1 with fsync off: a server for
// tests and benchmarks, not for data that matters. When running as root the
// server runs as the postgres OS user and dir is chowned to it, so dir's
// parents must be traversable by that user. The server also gets SIGQUIT
// if the calling process dies. Call Stop when done.
func StartServer(ctx context.Context, dir string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: mkdir %s: %w", dir, err)
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		// initdb refuses root; the postgres user must own the directory.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: chown %s: %w", dir, err)
		}
		// Temp dirs' parents (/tmp) are world-traversable; make sure a
		// private parent is not the reason postgres cannot reach dir.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pgtest: chmod %s: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
			"--locale=C", "--no-sync", "--no-instructions")
		initdb.Env = serverEnv()
		initdb.Dir = dir
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
		}
	}
	return testproc.Launch(ctx, func(int) (*Server, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		return launch(ctx, bin, dir, data, port, cred)
	})
}

func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres OS user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func serverEnv() []string {
	return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(ctx context.Context, bin, dir, data string, port int, cred *syscall.Credential) (*Server, error) {
	srv := &Server{
		dsn:     fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		bin:     bin,
		dir:     dir,
		dataDir: data,
		port:    port,
		cred:    cred,
		log:     &testproc.LogBuffer{},
	}
	if err := srv.run(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// run starts the server process and waits until it accepts connections.
func (s *Server) run(ctx context.Context) error {
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", s.dataDir,
		"-k", s.dir,
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(s.port),
		// fsync off: throwaway data. Commits still reach the WAL file
		// (synchronous_commit stays on, a write without a flush) so that a
		// killed postmaster (Kill) loses nothing it had committed, as on a
		// real server: the OS page cache outlives the process.
		"-F",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		"-c", "log_min_messages=warning",
	)
	cmd.Env = serverEnv()
	cmd.Dir = s.dir
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// Started pinned to a thread (testproc.StartPinned): the parent-death
	// signal then fires only when the test process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	exited := make(chan struct{})
	waitErr := new(error)
	s.mu.Lock()
	s.cmd, s.exited, s.waitErr, s.stopped, s.stopErr = cmd, exited, waitErr, false, nil
	s.mu.Unlock()
	// No lock for waitErr: Stop holds mu while it waits for exited. The
	// close publishes waitErr to whoever receives from exited.
	if err := testproc.StartPinned(cmd, exited, waitErr); err != nil {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.dsn)
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.stopped = true
			s.mu.Unlock()
			return fmt.Errorf("pgtest: postgres exited (%v):\n%s", *waitErr, s.log.String())
		default:
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			_ = s.Stop()
			return fmt.Errorf("pgtest: postgres not ready: %v\n%s", err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
