package openfiles

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestStoreShare: a quarter of the limit, between 64 and Pebble's default
// of 1,000; Pebble's default when the limit is unknown.
func TestStoreShare(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, storeMin}, {100, storeMin}, {256, storeMin}, {1024, 256}, {Low - 4, 999}, {Low, 1000},
		{1 << 20, 1000}, {^uint64(0), 1000},
	} {
		if got := StoreShare(tc.limit, nil); got != tc.want {
			t.Errorf("StoreShare(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	if got := StoreShare(10, errors.New("unreadable")); got != pebbleDefault {
		t.Errorf("StoreShare of an unreadable limit = %d, want Pebble's default %d", got, pebbleDefault)
	}
}

// TestLimitIsTheKernels: Limit answers the soft limit the kernel holds for
// this process, read here from /proc without the library.
func TestLimitIsTheKernels(t *testing.T) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Fatal(err)
	}
	var soft uint64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if soft, err = strconv.ParseUint(f[0], 10, 64); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no \"Max open files\" in /proc/self/limits:\n%s", b)
	}
	got, err := Limit()
	if err != nil || got != soft {
		t.Fatalf("Limit() = %d, %v; the kernel says %d", got, err, soft)
	}
}
