package fsblob

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/blob/blobtest"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("FSBLOB_CHILD_DIR"); dir != "" {
		child(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, t.TempDir()) })
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if s2, err := Open(Options{Dir: dir}); err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	s.Close()
	s = open(t, dir) // the lock went with Close
	s.Close()
}

func TestReopenKeepsObjects(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	if err := s.Put(ctx, "x/y.css", strings.NewReader("a{}"), 3, "text/css"); err != nil {
		t.Fatal(err)
	}
	st1, _ := s.Stat(ctx, "x/y.css")
	s.Close()
	if err := s.Put(ctx, "x/z", strings.NewReader("a"), 1, ""); err == nil {
		t.Fatal("Put after Close succeeded")
	}
	s = open(t, dir)
	defer s.Close()
	st2, err := s.Stat(ctx, "x/y.css")
	if err != nil || st2 != st1 {
		t.Fatalf("after reopen: %+v %v, want %+v", st2, err, st1)
	}
}

func TestMaxObjectBytes(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxObjectBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, size := range []int64{101, -1} {
		if err := s.Put(ctx, "big", bytes.NewReader(make([]byte, 101)), size, ""); err == nil {
			t.Fatalf("Put of 101 bytes (size %d) over a limit of 100 succeeded", size)
		}
	}
	if err := s.Put(ctx, "big", bytes.NewReader(make([]byte, 100)), -1, ""); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	ctx := context.Background()
	if err := s.Put(ctx, "c", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		t.Fatal(err)
	}
	// A truncated file (say, a disk that lied about fsync) is reported,
	// not served short.
	if err := os.Truncate(filepath.Join(dir, "objects", "c@"), headerLen+2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "c"); err == nil || errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of a truncated object: %v", err)
	}
	if err := os.Truncate(filepath.Join(dir, "objects", "c@"), 10); err != nil {
		t.Fatal(err)
	}
	var listErr error
	for _, err := range s.List(ctx, "") {
		listErr = err
	}
	if listErr == nil {
		t.Fatal("List of a directory with a truncated object file reported no error")
	}
}

func TestDeletePrunesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	ctx := context.Background()
	for _, k := range []string{"s/1/a/b", "s/1/c"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"s/1/a/b", "s/1/c"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "objects")); len(ents) != 0 {
		t.Fatalf("objects/ after deleting everything: %v", ents)
	}
}

// objectData is the self-describing content of version v of key: a line
// naming both, then filler derived from them, so any mix or truncation
// is detectable.
func objectData(key string, v int) []byte {
	head := fmt.Sprintf("%s %d\n", key, v)
	size := 100_000 + (len(key)*7919+v*104729)%300_000
	b := make([]byte, 0, size)
	b = append(b, head...)
	for i := 0; len(b) < size; i++ {
		b = append(b, byte('a'+(i+v)%26))
	}
	return b
}

func parseObject(data []byte) (key string, v int, err error) {
	line, _, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return "", 0, errors.New("no header line")
	}
	k, vs, _ := strings.Cut(string(line), " ")
	v, err = strconv.Atoi(vs)
	if err != nil {
		return "", 0, err
	}
	if !bytes.Equal(data, objectData(k, v)) {
		return "", 0, fmt.Errorf("%s version %d: content differs (%d bytes)", k, v, len(data))
	}
	return k, v, nil
}

// stallReader yields half an object, says so on stdout, and then blocks:
// the parent kills the process while this Put is midway.
type stallReader struct {
	r      io.Reader
	left   int
	said   bool
	output func(string)
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		if !s.said {
			s.said = true
			s.output("midway")
		}
		select {} // until SIGKILL
	}
	if len(p) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= n
	return n, err
}

// child rewrites 20 keys from 4 goroutines, printing "key version" once
// each Put returned, plus one Put that stalls halfway through key
// "stalled" (which holds version 0).
func child(dir string) {
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, line)
		out.Flush()
	}
	if err := s.Put(ctx, "stalled", bytes.NewReader(objectData("stalled", 0)), -1, "text/plain"); err != nil {
		say("put: " + err.Error())
		os.Exit(2)
	}
	for g := range 4 {
		go func() {
			for v := 1; ; v++ {
				key := fmt.Sprintf("k/%d/%d", v%5, g)
				data := objectData(key, v)
				if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "text/plain"); err != nil {
					say("put: " + err.Error())
					os.Exit(2)
				}
				say(fmt.Sprintf("%s %d", key, v))
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // the writers are well under way when the stalled Put starts
	data := objectData("stalled", 1)
	_ = s.Put(ctx, "stalled", &stallReader{r: bytes.NewReader(data), left: len(data) / 2, output: say}, -1, "text/plain")
	say("stalled Put returned")
	os.Exit(2)
}

// TestKill9MidPut kills a writing process (SIGKILL) while Puts are in
// flight, one of them stalled halfway: after Open every acknowledged
// object is there whole (or a newer whole version), the stalled key holds
// its old object, no temp file is left, and nothing partial is listed.
func TestKill9MidPut(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "FSBLOB_CHILD_DIR="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]int{} // key → newest acknowledged version
		midway := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "midway" {
				midway = true
			} else if k, vs, ok := strings.Cut(line, " "); ok && strings.HasPrefix(k, "k/") {
				v, err := strconv.Atoi(vs)
				if err != nil {
					t.Fatalf("child: %s", line)
				}
				acked[k] = max(acked[k], v)
			} else {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %s", line)
			}
			if midway && len(acked) == 20 {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if !midway || len(acked) < 20 {
			t.Fatalf("round %d: child died early (midway %v, %d keys acknowledged)", round, midway, len(acked))
		}
		temps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
		if len(temps) == 0 {
			t.Fatalf("round %d: no temp file after the kill: the stalled Put was not midway", round)
		}
		s := open(t, dir)
		if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
			t.Fatalf("round %d: Open left temp files %v", round, left)
		}
		ctx := context.Background()
		listed := 0
		for info, err := range s.List(ctx, "") {
			if err != nil {
				t.Fatal(err)
			}
			listed++
			rc, got, err := s.Get(ctx, info.Key)
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			k, v, err := parseObject(data)
			if err != nil || k != info.Key || got.Size != info.Size || int64(len(data)) != info.Size {
				t.Fatalf("round %d: %s: %v (holds %s v%d, %d bytes, listed %d)", round, info.Key, err, k, v, len(data), info.Size)
			}
			if k == "stalled" && v != 0 {
				t.Fatalf("round %d: stalled key holds version %d", round, v)
			}
			if v < acked[k] {
				t.Fatalf("round %d: %s holds version %d, version %d was acknowledged", round, k, v, acked[k])
			}
		}
		if listed != 21 {
			t.Fatalf("round %d: listed %d objects, want 21", round, listed)
		}
		t.Logf("round %d: %d temp file(s) removed, %d objects intact", round, len(temps), listed)
		s.Close()
	}
}

func FuzzValidKey(f *testing.F) {
	for _, k := range append([]string{"a", "a/b", "a.b/c-d_e", "..", "a//b"}, blobtest.BadKeys...) {
		f.Add(k)
	}
	dir := f.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		err := s.Put(ctx, key, strings.NewReader("x"), 1, "")
		if !blob.ValidKey(key) {
			if !errors.Is(err, blob.ErrBadKey) {
				t.Fatalf("Put(%q): %v, want ErrBadKey", key, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		// A valid key stays inside objects/ and reads back.
		p, err := filepath.Rel(filepath.Join(dir, "objects"), s.path(key))
		if err != nil || strings.HasPrefix(p, "..") {
			t.Fatalf("key %q maps outside the store: %s", key, p)
		}
		if _, err := s.Stat(ctx, key); err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	})
}
