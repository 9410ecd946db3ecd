package loopback_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/sightlinehq/sightline/internal/loopback"
)

// TestAddrBelowTheEphemeralRange: the address is loopback, below the
// ephemeral range, free (a listener binds it), and two calls rarely agree.
func TestAddrBelowTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		addr := loopback.Addr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if host != "127.0.0.1" || p < 10000 || p >= loopback.EphemeralStart() {
			t.Fatalf("address %s: want 127.0.0.1 and a port in [10000, %d)", addr, loopback.EphemeralStart())
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("address %s is not free: %v", addr, err)
		}
		lis.Close()
		seen[addr] = true
	}
	if len(seen) < 15 {
		t.Fatalf("20 calls gave %d distinct addresses", len(seen))
	}
}
