package trustedproxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	l, err := Parse("x.trusted-proxies", " 10.0.0.0/8, 192.168.1.7 ,::1,, 172.16.5.9/12")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "::1/128", "172.16.0.0/12"}
	if len(l) != len(want) {
		t.Fatalf("parsed %v, want %v", l, want)
	}
	for i, p := range l {
		if p.String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, p, want[i])
		}
	}
	if l, err := Parse("x.trusted-proxies", ""); err != nil || len(l) != 0 {
		t.Errorf("empty list: %v %v", l, err)
	}
	_, err = Parse("x.trusted-proxies", "10.0.0.0/8, not-a-cidr")
	if err == nil || !strings.Contains(err.Error(), "x.trusted-proxies") || !strings.Contains(err.Error(), "not-a-cidr") {
		t.Errorf("bad entry: %v, want the flag and the entry named", err)
	}
}

func TestClientIP(t *testing.T) {
	l, err := Parse("t", "127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
		fromProxy  bool
	}{
		{name: "no proxy", peer: "203.0.113.5:4000", want: "203.0.113.5"},
		{name: "forged by a client", peer: "203.0.113.5:4000", xff: []string{"198.51.100.1"}, want: "203.0.113.5"},
		{name: "one trusted proxy", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1"}, want: "198.51.100.1", fromProxy: true},
		{name: "client's claim before the proxy's entry", peer: "127.0.0.1:4000", xff: []string{"6.6.6.6, 198.51.100.1"}, want: "198.51.100.1", fromProxy: true},
		{name: "two trusted hops", peer: "127.0.0.1:4000", xff: []string{"198.51.100.1, 10.1.2.3"}, want: "198.51.100.1", fromProxy: true},
		{name: "headers repeated", peer: "127.0.0.1:4000", xff: []string{"6.6.6.6", "198.51.100.1", "10.1.2.3"}, want: "198.51.100.1", fromProxy: true},
		{name: "garbage stops at the last trusted hop", peer: "127.0.0.1:4000", xff: []string{"junk, 10.1.2.3"}, want: "10.1.2.3", fromProxy: true},
		{name: "only proxies", peer: "127.0.0.1:4000", xff: []string{"10.1.2.3"}, want: "10.1.2.3", fromProxy: true},
		{name: "trusted, no header", peer: "127.0.0.1:4000", want: "127.0.0.1", fromProxy: true},
		{name: "IPv4-mapped peer", peer: "[::ffff:127.0.0.1]:4000", xff: []string{"2001:db8::1"}, want: "2001:db8::1", fromProxy: true},
		{name: "not an address", peer: "@unix", want: "invalid IP"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := l.ClientIP(r).String(); got != tc.want {
			t.Errorf("%s: ClientIP = %s, want %s", tc.name, got, tc.want)
		}
		if got := l.FromProxy(r); got != tc.fromProxy {
			t.Errorf("%s: FromProxy = %t, want %t", tc.name, got, tc.fromProxy)
		}
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Header["X-Forwarded-For"] = "127.0.0.1:1", []string{"198.51.100.1"}
	if got := List(nil).ClientIP(r).String(); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: ClientIP = %s, want the peer", got)
	}
}
