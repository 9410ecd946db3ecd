// Package loopback hands tests loopback addresses for servers that are
// stopped and started again on the same address.
//
// A port from 127.0.0.1:0 comes from the kernel's ephemeral range, which
// every other ":0" listener and every outgoing connection of the machine
// draws from too: while its server is down, another test's listener can
// take it (and a client that reconnects then talks to a stranger), or a
// connection can hold it as its local port (and the restart fails with
// "address already in use"). Ports below the range are only ever handed
// out by a bind that names them.
package loopback

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// lowest is the lowest port handed out: below it are well-known and
// registered services a developer's machine may run.
const lowest = 10000

// Addr returns a 127.0.0.1 address below the ephemeral range that no one
// listened on when asked, for a server started now or later.
func Addr(t testing.TB) string {
	t.Helper()
	high := ephemeralStart()
	for range 200 {
		port := lowest + rand.IntN(high-lowest)
		lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: try another
		}
		addr := lis.Addr().String()
		lis.Close()
		return addr
	}
	t.Fatalf("loopback: no free port in [%d, %d) in 200 tries", lowest, high)
	return ""
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (Linux's default when it cannot be read).
func ephemeralStart() int {
	start := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+2000 {
				start = n
			}
		}
	}
	return start
}
