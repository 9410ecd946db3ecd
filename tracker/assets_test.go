package tracker

import (
	"bytes"
	"compress/gzip"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The Go side of the contract with ingest: the embedded files are real builds, the bootstrap holds
// the placeholder ingest replaces exactly once, and both stay within their gzip budgets (the npm
// test suite checks the same on a fresh build and that dist/ is not stale).
func TestBootstrapTemplate(t *testing.T) {
	if n := bytes.Count(Bootstrap, []byte(`"__SIGHTLINE_CONFIG__"`)); n != 1 {
		t.Fatalf("bootstrap holds the config placeholder %d times, want 1", n)
	}
	if bytes.Contains(Bootstrap, []byte("placeholder until")) || bytes.Contains(Recorder, []byte("placeholder until")) {
		t.Fatal("dist/ still holds the placeholder files: run make tracker")
	}
	if !bytes.Contains(Recorder, []byte("rrweb")) {
		t.Fatal("recorder bundle does not include rrweb")
	}
	if len(Feedback) == 0 || bytes.Contains(Feedback, []byte("rrweb")) {
		t.Fatal("feedback bundle is empty or includes rrweb")
	}
}

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

func TestBudgets(t *testing.T) {
	// 2 KB since issue 16's traffic beacons (tracker/test/budget.test.ts says why).
	if n := gzipSize(t, Bootstrap); n > 2048 {
		t.Errorf("bootstrap is %d bytes gzipped, budget 2048", n)
	}
	if n := gzipSize(t, Feedback); n > 12*1024 {
		t.Errorf("feedback bundle is %d bytes gzipped, budget %d", n, 12*1024)
	}
	if n := gzipSize(t, Recorder); n > 30*1024 {
		t.Errorf("recorder is %d bytes gzipped, budget %d", n, 30*1024)
	}
}
