package testproc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The child mode: this test binary re-run with TESTPROC_CHILD set is a
// package that uses a Shared server, as pgtest's and weedtest's users do.
const childEnv = "TESTPROC_CHILD"

var errMissing = errors.New("testproc: no sleep binary (test)")

var child = Shared[*sleeper]{Name: "testproctest", What: "sleep", Missing: errMissing}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		child.Main(m)
	}
	// TestChildGet is the child's test; the parent runs it through the
	// child processes of the tests below, never itself.
	flag.Parse()
	skip := "^TestChildGet$"
	if s := flag.Lookup("test.skip").Value.String(); s != "" {
		skip += "|" + s
	}
	if err := flag.Set("test.skip", skip); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// sleeper is a real process standing in for a server.
type sleeper struct{ cmd *exec.Cmd }

func (s *sleeper) Stop() error {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	return nil
}

var starts int

func startSleeper(_ context.Context, dir string) (*sleeper, error) {
	starts++
	if os.Getenv(childEnv) == "missing" {
		return nil, errMissing
	}
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Tell the parent test what to check after this process has exited.
	out := strconv.Itoa(cmd.Process.Pid) + "\n" + dir + "\n"
	return &sleeper{cmd}, os.WriteFile(os.Getenv("TESTPROC_OUT"), []byte(out), 0o644)
}

func TestChildGet(t *testing.T) {
	a := child.Get(t, startSleeper)
	b := child.Get(t, startSleeper)
	if a != b || starts != 1 {
		t.Fatalf("two Gets: %p %p after %d starts, want one server started once", a, b, starts)
	}
}

func runChild(t *testing.T, mode string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildGet$", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode, "TESTPROC_OUT="+filepath.Join(t.TempDir(), "out")), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSharedServerLifecycle: one server per test binary, started on first
// use, stopped and its directory removed when the tests end.
func TestSharedServerLifecycle(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildGet$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=run", "TESTPROC_OUT="+outFile, "CI=")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS: TestChildGet") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pid, _ := strconv.Atoi(lines[0])
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("server process %d still exists after the tests ended (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(lines[1]); !os.IsNotExist(err) {
		t.Errorf("server directory %s left behind: %v", lines[1], err)
	}
}

// TestMissingBinaries: a missing server skips its tests on a laptop and
// fails them under CI=true.
func TestMissingBinaries(t *testing.T) {
	out, err := runChild(t, "missing", "CI=")
	if err != nil || !strings.Contains(out, "--- SKIP: TestChildGet") {
		t.Fatalf("without CI: %v, want a skip\n%s", err, out)
	}
	out, err = runChild(t, "missing", "CI=true")
	if err == nil || !strings.Contains(out, "CI=true: the sleep tests must run") {
		t.Fatalf("under CI=true: %v, want a failure naming the rule\n%s", err, out)
	}
}

// TestSweepStale: directories of test processes that died are removed on
// the next run; a live owner's and foreign ones are kept.
func TestSweepStale(t *testing.T) {
	const name = "testprocsweep"
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(owner string) string {
		d, err := os.MkdirTemp("", name+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile(name)), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	stale := mk(strconv.Itoa(dead.Process.Pid))
	live := mk(strconv.Itoa(os.Getppid()))
	foreign := mk("")
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(dead.Process.Pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the pid is reaped; wait until the kernel forgets it
	}
	sweepStale(name)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("dead owner's directory kept: %v", err)
	}
	for _, d := range []string{live, foreign} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}

func TestLogBufferIsBounded(t *testing.T) {
	var l LogBuffer
	chunk := strings.Repeat("x", 64<<10)
	for range 40 {
		_, _ = l.Write([]byte(chunk))
	}
	if n := len(l.String()); n > 1<<20+len(chunk) || n == 0 {
		t.Fatalf("kept %d bytes, want at most about 1 MiB and some", n)
	}
	all := LogBuffer{Unbounded: true}
	for range 40 {
		_, _ = all.Write([]byte(chunk))
	}
	if n := len(all.String()); n != 40*len(chunk) {
		t.Fatalf("unbounded kept %d bytes, want %d", n, 40*len(chunk))
	}
}

// TestKilled: only an end by SIGKILL is one; an exit of its own, another
// signal and no error are not.
func TestKilled(t *testing.T) {
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	sleep := run("sleep", "300")
	if err := sleep.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := sleep.Wait(); !Killed(err) {
		t.Errorf("SIGKILL: Killed(%v) = false", err)
	}
	term := run("sleep", "300")
	if err := term.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := term.Wait(); err == nil || Killed(err) {
		t.Errorf("SIGTERM: Killed(%v) = true", err)
	}
	if err := run("sh", "-c", "exit 3").Wait(); err == nil || Killed(err) {
		t.Errorf("exit 3: Killed(%v) = true", err)
	}
	if Killed(nil) || Killed(errors.New("signal: killed")) {
		t.Error("Killed without an exit status")
	}
}

func TestLaunch(t *testing.T) {
	var tries []int
	got, err := Launch(context.Background(), func(attempt int) (string, error) {
		tries = append(tries, attempt)
		if attempt < 1 {
			return "", fmt.Errorf("port taken %d", attempt)
		}
		return "up", nil
	})
	if err != nil || got != "up" || !slices.Equal(tries, []int{0, 1}) {
		t.Fatalf("second attempt succeeds: %q, %v after %v", got, err, tries)
	}
	tries = nil
	_, err = Launch(context.Background(), func(attempt int) (string, error) {
		tries = append(tries, attempt)
		return "", fmt.Errorf("port taken %d", attempt)
	})
	if err == nil || err.Error() != "port taken 2" || len(tries) != 3 {
		t.Fatalf("all fail: %v after %v, want the third's error after 3", err, tries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tries = nil
	if _, err := Launch(ctx, func(attempt int) (string, error) {
		tries = append(tries, attempt)
		return "", errors.New("cancelled")
	}); err == nil || len(tries) != 1 {
		t.Fatalf("ended context: %v after %v, want one attempt", err, tries)
	}
	if a, b := RandomHex(8), RandomHex(8); len(a) != 16 || a == b {
		t.Fatalf("RandomHex(8): %q, %q", a, b)
	}
}
