package pgtest

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

// failures records what Smoke reports instead of failing the test.
type failures struct {
	testing.TB
	errors, fatals int
}

func (f *failures) Errorf(string, ...any) { f.errors++ }
func (f *failures) Fatalf(string, ...any) { f.fatals++ }
func (f *failures) Log(...any)            {}

func TestSmoke(t *testing.T) {
	printRows := func(out io.Writer) error { _, err := fmt.Fprint(out, "rows: a b"); return err }
	f := &failures{TB: t}
	Smoke(f, printRows, "rows", "a b")
	if f.errors+f.fatals != 0 {
		t.Fatalf("all wants printed: %d errors, %d fatals; want none", f.errors, f.fatals)
	}
	Smoke(f, printRows, "rows", "missing", "also missing")
	if f.errors != 2 || f.fatals != 0 {
		t.Fatalf("two wants missing: %d errors, %d fatals; want 2, 0", f.errors, f.fatals)
	}
	f = &failures{TB: t}
	Smoke(f, func(io.Writer) error { return errors.New("boom") }, "rows")
	if f.fatals != 1 {
		t.Fatalf("a failed run: %d fatals, want 1", f.fatals)
	}
}
