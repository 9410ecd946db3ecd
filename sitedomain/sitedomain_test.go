package sitedomain_test

import (
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/sitedomain"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Shop.Example.COM":     "shop.example.com",
		" shop.example.com. ":  "shop.example.com",
		"*.Example.com":        "*.example.com",
		"*.shop.example.co.uk": "*.shop.example.co.uk",
		"*.example.co.uk":      "*.example.co.uk",
		"bücher.example":       "xn--bcher-kva.example",
		"*.bücher.example":     "*.xn--bcher-kva.example",
		"localhost":            "localhost",
		"127.0.0.1":            "127.0.0.1",
	} {
		got, err := sitedomain.Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "*", "*.", "*.com", "*.co.uk", "http://x.com", "x.com/a", "x.com:80", "u@x.com",
		"a..b", "x.com..", "0..", ".x.com", "-a.com", "a b.com", "*.*.x.com", "a.*.x.com", "x*.com", "[::1]", strings.Repeat("a", 64) + ".com", "bad_host.com",
		strings.Repeat("a.", 127) + "a"} {
		if got, err := sitedomain.Normalize(in); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", in, got)
		}
	}
	// A long input is named in the error, cut short.
	_, err := sitedomain.Normalize("http://" + strings.Repeat("a", 300))
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "…") {
		t.Errorf("error for a long input = %v; want a short message with the input cut", err)
	}
}

func TestMatch(t *testing.T) {
	patterns := []string{"shop.example.com", "*.example.org", "127.0.0.1", "example.net"}
	for host, want := range map[string]bool{
		"shop.example.com":      true,
		"SHOP.example.com":      true,
		"shop.example.com.":     true,
		"shop.example.com:8443": true,
		"example.com":           false, // exact patterns do not cover the apex or siblings
		"www.shop.example.com":  false, // nor subdomains
		"evilshop.example.com":  false,
		"a.example.org":         true,  // wildcard: any subdomain
		"a.b.example.org":       true,  // at any depth
		"example.org":           false, // but not the apex itself
		"badexample.org":        false, // label boundary
		"example.org.evil.com":  false,
		"x.example.org.evil":    false,
		"example.net":           true,
		"127.0.0.1:8080":        true,
		"[::1]:80":              false,
		"":                      false,
		":443":                  false,
	} {
		if got := sitedomain.Match(patterns, host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
	if sitedomain.Match(nil, "shop.example.com") {
		t.Error("no patterns matched a host")
	}
	if sitedomain.Match([]string{"*."}, "x.") {
		t.Error("a degenerate wildcard matched")
	}
	if !sitedomain.Match([]string{"::1"}, "[::1]:80") {
		t.Error("a bracketed IPv6 host with a port did not match its address")
	}
}

// FuzzNormalize: whatever is accepted is stable, bounded, ASCII, and
// matches itself (exact) or a subdomain of itself (wildcard).
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"shop.example.com", "*.example.org", "bücher.example", "http://x", "a..b", "*.co.uk", "127.0.0.1", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := sitedomain.Normalize(in)
		if err != nil {
			return
		}
		if len(got) > sitedomain.MaxLen+2 {
			t.Fatalf("Normalize(%q) = %q: too long", in, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= 0x80 || got[i] == '/' || got[i] == ':' {
				t.Fatalf("Normalize(%q) = %q: not a bare ASCII host", in, got)
			}
		}
		again, err := sitedomain.Normalize(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
		if rest, ok := strings.CutPrefix(got, "*."); ok {
			if !sitedomain.Match([]string{got}, "x."+rest) || sitedomain.Match([]string{got}, rest) {
				t.Fatalf("wildcard %q: subdomain/apex matching wrong", got)
			}
		} else if !sitedomain.Match([]string{got}, got) {
			t.Fatalf("exact %q does not match itself", got)
		}
	})
}
