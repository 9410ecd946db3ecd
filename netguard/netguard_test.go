package netguard

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "93.184.216.34": true, "2606:4700::1111": true,
		"127.0.0.1": false, "127.5.6.7": false, "::1": false,
		"10.0.0.1": false, "172.16.0.1": false, "172.31.255.255": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12:3456::1": false,
		"100.64.0.1": false, "100.127.255.254": false, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "ff02::1": false, "255.255.255.255": false, "240.0.0.1": false,
		"::ffff:127.0.0.1": false, "::ffff:10.1.2.3": false, "::ffff:8.8.8.8": true, "::ffff:192.168.0.1": false,
		"64:ff9b::7f00:1": false, "64:ff9b::808:808": true, "2002:7f00:1::1": false, "2002:a00:1::1": false,
		"198.18.0.1": false, "192.0.2.5": false, "2001:db8::1": false,
		"2001:0:4136:e378:8000:63bf:80ff:fffe": false, // Teredo for 127.0.0.1
		"2002:5db8:d822::1":                    true,  // 6to4 of 93.184.216.34
		"::127.0.0.1":                          false, // IPv4-compatible
		"2001:2::1":                            false, // benchmarking
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
	if PublicAddr(netip.Addr{}) {
		t.Error("PublicAddr(zero) = true")
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host")
}

func TestDialer(t *testing.T) {
	mine := errors.New("mine")
	var dialled []string
	d := NewDialer(Config{
		Resolver: fakeResolver{
			"private.example": {netip.MustParseAddr("10.0.0.7")},
			"mixed.example":   {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")},
			"public.example":  {netip.MustParseAddr("93.184.216.34")},
			"allowed.example": {netip.MustParseAddr("10.9.0.1")},
		},
		Allow:          []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		ConnectTimeout: time.Second, Forbidden: mine, Prefix: "test",
		AfterGuard: func(address string) error {
			dialled = append(dialled, address)
			return errors.New("test: connect stopped at " + address)
		},
	})
	ctx := context.Background()
	for _, addr := range []string{"private.example:80", "mixed.example:80", "127.0.0.1:80", "[::ffff:10.0.0.1]:80"} {
		if _, err := d.DialContext(ctx, "tcp", addr); !errors.Is(err, mine) {
			t.Errorf("DialContext(%s) = %v, want the Forbidden error", addr, err)
		}
	}
	if len(dialled) != 0 {
		t.Fatalf("dialled %v", dialled)
	}
	for _, addr := range []string{"public.example:80", "allowed.example:80"} {
		if _, err := d.DialContext(ctx, "tcp", addr); err == nil || !strings.Contains(err.Error(), "connect stopped") {
			t.Errorf("DialContext(%s) = %v, want it let through to the hook", addr, err)
		}
	}
	if len(dialled) != 2 {
		t.Fatalf("dialled %v, want 2", dialled)
	}
	if _, err := d.DialContext(ctx, "tcp", "nowhere.example:80"); err == nil || !strings.HasPrefix(err.Error(), "test: resolve nowhere.example") {
		t.Errorf("unknown name: %v", err)
	}
	// The socket's Control hook refuses a private address by itself.
	if err := d.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, mine) {
		t.Fatalf("Control(127.0.0.1) = %v", err)
	}
	if err := NewDialer(Config{}).Control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("Control(public) = %v", err)
	}
	if err := NewDialer(Config{AllowPrivate: true}).Control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Fatalf("Control(127.0.0.1) with AllowPrivate = %v", err)
	}
}
