// Package siteaccesstest is the site authorizer of tests and benchmarks
// that run no accounts service, and the check that a service refuses to
// start without one. recordings and search refuse a nil authorizer, so a
// test says explicitly that it allows everything. Nothing the sightline
// binary links may import this package (internal/layering checks).
package siteaccesstest

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

// AllowAll is for tests and benchmarks that have no accounts service:
// every caller may read and write every site. A test of authorisation
// passes a real authorizer instead.
type AllowAll struct{}

// AuthorizeSite allows every caller, site and write.
func (AllowAll) AuthorizeSite(context.Context, int64, bool) error { return nil }

// NewRefusesNoAuthorizer fails t unless open, which builds a service
// without an authorizer over the data directory it is given, answers want
// and leaves the directory empty: the refusal comes before the service
// opens anything.
func NewRefusesNoAuthorizer(t testing.TB, want error, open func(dataDir string) (io.Closer, error)) {
	t.Helper()
	dir := t.TempDir()
	svc, err := open(dir)
	if err == nil {
		_ = svc.Close()
		t.Fatal("New accepted Deps without an Authorizer")
	}
	if !errors.Is(err, want) {
		t.Fatalf("New: %v, want %v", err, want)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("the refused New left %v in the data directory (%v)", left, err)
	}
}
