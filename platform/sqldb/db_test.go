package sqldb

import (
	"errors"
	"testing"
)

func TestDialectNotFound(t *testing.T) {
	noRows, errNotFound, other := errors.New("no rows"), errors.New("not found"), errors.New("connection reset")
	d := Dialect{IsNoRows: func(err error) bool { return errors.Is(err, noRows) }}
	err := d.NotFound(noRows, errNotFound, "site", int64(42))
	if !errors.Is(err, errNotFound) || errors.Is(err, noRows) || err.Error() != "site 42: not found" {
		t.Fatalf("no rows: %v, want %q wrapping the store's not-found", err, "site 42: not found")
	}
	err = d.NotFound(other, errNotFound, "user", "u_1")
	if errors.Is(err, errNotFound) || !errors.Is(err, other) || err.Error() != "user u_1: connection reset" {
		t.Fatalf("other error: %v, want it wrapped as it is", err)
	}
}
