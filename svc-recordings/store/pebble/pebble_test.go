package pebble

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

// TestMain checks for leaked goroutines after closing what the benchmarks
// keep open across their rounds.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, h := range heatSets {
		if h.s != nil {
			h.s.Close()
		}
	}
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func open(t testing.TB, lim store.Limits) *Store {
	t.Helper()
	return openWith(t, Options{Limits: lim})
}

// openWith opens a store in a fresh directory with o (quiet), closed when
// the test ends.
func openWith(t testing.TB, o Options) *Store {
	t.Helper()
	o.Logger = quiet{}
	s, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, lim store.Limits) store.Store { return open(t, lim) })
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic("pebble fatal: " + format)
}

// failOn makes s's writes of op ("append", "heat flush") fail with err
// until failOn(s, "", nil) (see Store.failWrite).
func failOn(s *Store, op string, err error) {
	if err == nil {
		s.failWrite.Store(nil)
		return
	}
	f := func(o string) error {
		if o == op {
			return err
		}
		return nil
	}
	s.failWrite.Store(&f)
}
