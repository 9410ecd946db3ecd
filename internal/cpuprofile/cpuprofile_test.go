package cpuprofile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStartWritesAProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // again, as before a log.Fatal
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("profile: %v, %v; want a non-empty file", fi, err)
	}
	// A second profile can start once the first stopped.
	stop, err = Start(filepath.Join(t.TempDir(), "again.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

func TestStartEmptyPathProfilesNothing(t *testing.T) {
	stop, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

func TestStartRefusesAnUnwritablePath(t *testing.T) {
	if _, err := Start(filepath.Join(t.TempDir(), "missing", "cpu.pprof")); err == nil {
		t.Fatal("Start into a missing directory: nil error")
	}
}
