package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sightlinehq/sightline/platform/openfiles"
)

// openFilesLog is serve's "open file limit" start-up line.
type openFilesLog struct {
	Level      string
	Limit      uint64 `json:"limit"`
	StoreFiles int    `json:"store_max_open_files"`
	Low        bool   `json:"low"`
	Advice     string `json:"advice"`
}

// openFiles reads p's "open file limit" log line and the limit its
// /metrics reports (process_max_fds).
func openFiles(t *testing.T, p *process) (openFilesLog, uint64) {
	t.Helper()
	var rec openFilesLog
	startLine(t, p, "open file limit", &rec)
	return rec, uint64(gauge(t, p, "process_max_fds"))
}

// TestOpenFileLimit: serve says at start what it may open — the hard
// limit, to which Go raises the soft one — and what each embedded store's
// file cache takes of it; under a limit of 1,024 (a host that never raised
// it) it warns, with what to do, and its stores keep 256 files each.
func TestOpenFileLimit(t *testing.T) {
	t.Parallel()
	t.Run("inherited", func(t *testing.T) {
		t.Parallel()
		var r syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			t.Fatal(err)
		}
		p := startServe(t, nil, "--target", "accounts")
		defer p.stop()
		rec, metric := openFiles(t, p)
		low := r.Max < openfiles.Low
		if rec.Limit != r.Max || metric != r.Max || rec.Low != low || (rec.Level == "WARN") != low ||
			rec.StoreFiles != openfiles.StoreShare(r.Max, nil) {
			t.Fatalf("log %+v, process_max_fds %d; the hard limit is %d", rec, metric, r.Max)
		}
	})
	t.Run("1024", func(t *testing.T) {
		t.Parallel()
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Fatalf("prlimit (util-linux) is needed: %v", err)
		}
		args := serveArgs(t)
		p := startProcess(t, exec.Command(prlimit, append([]string{"--nofile=1024:1024", "--", binary}, args...)...), args)
		defer p.stop()
		rec, metric := openFiles(t, p)
		if rec.Limit != 1024 || metric != 1024 || !rec.Low || rec.Level != "WARN" || rec.StoreFiles != 256 ||
			!strings.Contains(rec.Advice, "LimitNOFILE") {
			t.Fatalf("log %+v, process_max_fds %d; want a warning at 1024, 256 files a store", rec, metric)
		}
		// What each Pebble store was opened with, as Pebble wrote it down.
		opts, err := filepath.Glob(filepath.Join(flagValue(args, "data-dir"), "*", "OPTIONS-*"))
		if err != nil {
			t.Fatal(err)
		}
		stores := 0
		for _, o := range opts {
			b, err := os.ReadFile(o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "\n  max_open_files=256\n") {
				t.Errorf("%s opened the store with another max_open_files:\n%s", o, b)
			}
			stores++
		}
		if stores != 2 {
			t.Fatalf("%d Pebble stores (%v); want recordings' and traffic's", stores, opts)
		}
	})
}
