package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Start calls returned the same DSN %q", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (id bigint)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table created in one database is visible in another")
	}
	var da, db string
	_ = ca.QueryRow(ctx, "SELECT current_database()").Scan(&da)
	_ = cb.QueryRow(ctx, "SELECT current_database()").Scan(&db)
	if da == db || da == "postgres" {
		t.Fatalf("databases %q, %q: want two distinct fresh databases", da, db)
	}
}

func TestStartServerStop(t *testing.T) {
	ctx := context.Background()
	srv := ownServer(t, "pgtest-server-")
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	conn.Close(ctx)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
	default:
		t.Fatal("server process still running after Stop")
	}
	if _, err := pgx.Connect(ctx, srv.DSN()); err == nil {
		t.Fatal("connected to a stopped server")
	}
}

// ownServer starts a server of the test's own (not the shared one) in a
// new directory named with prefix, removed when the test ends; without
// server binaries it skips the test, except under CI=true.
func ownServer(t *testing.T, prefix string) *Server {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := StartServer(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/db?sslmode=disable": "postgres://u:p@h:5/t_1?sslmode=disable",
		"postgresql://h/":                       "postgresql://h/t_1",
		"host=h user=u":                         "host=h user=u dbname=t_1",
	} {
		got, err := withDatabase(in, "t_1")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestDatabaseURL: with DATABASE_URL set, Start creates a fresh database in
// that server instead of using the shared one.
func TestDatabaseURL(t *testing.T) {
	ctx := context.Background()
	srv := ownServer(t, "pgtest-url-")
	defer srv.Stop()
	t.Setenv("DATABASE_URL", srv.DSN())
	var name string
	t.Run("start", func(t *testing.T) {
		dsn := Start(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var port int
		if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('port')::int").Scan(&name, &port); err != nil {
			t.Fatal(err)
		}
		if name == "postgres" || fmt.Sprint(port) != portOf(t, srv.DSN()) {
			t.Fatalf("database %q on port %d: want a fresh database in DATABASE_URL's server", name, port)
		}
	})
	// The subtest's cleanup dropped it.
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still exists after the test (%d, %v)", name, n, err)
	}
}

func portOf(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// TestPrivateStopRestart: a private server can be taken away and brought
// back on the same DSN with its data, which is what downtime tests need.
func TestPrivateStopRestart(t *testing.T) {
	ctx := context.Background()
	srv := Private(t)
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (id bigint)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := srv.Restart(ctx); err == nil {
		t.Fatal("Restart of a running server succeeded")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, srv.DSN()); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if n, err := restartAndCount(ctx, t, srv, "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'"); err != nil || n != 1 {
		t.Fatalf("table after Restart: %d, %v; want it kept", n, err)
	}
}

// restartAndCount restarts srv and answers what query (a count) reads.
func restartAndCount(ctx context.Context, t *testing.T, srv *Server, query string) (int, error) {
	t.Helper()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatalf("connect after Restart: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, query).Scan(&n)
	return n, err
}

// TestPrivateKillRestart: a private server killed with SIGKILL (the
// postmaster alone) comes back on the same DSN after crash recovery, with
// what was committed before the kill.
func TestPrivateKillRestart(t *testing.T) {
	ctx := context.Background()
	srv := Private(t)
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (id bigint); INSERT INTO kept VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	// The open connection's backend is gone with the postmaster.
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection opened before the kill still answers")
	}
	conn.Close(ctx)
	if err := srv.Kill(); err == nil {
		t.Fatal("Kill of a killed server succeeded")
	}
	if c, err := pgx.Connect(ctx, srv.DSN()); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a killed server")
	}
	if n, err := restartAndCount(ctx, t, srv, "SELECT count(*) FROM kept"); err != nil || n != 2 {
		t.Fatalf("rows after the kill and Restart: %d, %v; want 2", n, err)
	}
}
