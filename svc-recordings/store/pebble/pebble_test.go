package pebble

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, lim store.Limits) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{Logger: quiet{}, Limits: lim})
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
