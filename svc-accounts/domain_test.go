package accounts

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
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
		got, err := NormalizeDomain(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "*", "*.", "*.com", "*.co.uk", "http://x.com", "x.com/a", "x.com:80", "u@x.com",
		"a..b", "-a.com", "a b.com", "*.*.x.com", "a.*.x.com", "x*.com", "[::1]", strings.Repeat("a", 64) + ".com", "bad_host.com"} {
		if got, err := NormalizeDomain(in); err == nil {
			t.Errorf("NormalizeDomain(%q) = %q, want an error", in, got)
		}
	}
}

func TestMatchDomain(t *testing.T) {
	patterns := []string{"shop.example.com", "*.example.org", "127.0.0.1"}
	for host, want := range map[string]bool{
		"shop.example.com":      true,
		"SHOP.example.com":      true,
		"shop.example.com.":     true,
		"shop.example.com:8443": true,
		"example.com":           false, // exact patterns do not cover the apex or siblings
		"www.shop.example.com":  false, // nor subdomains
		"a.example.org":         true,  // wildcard: any subdomain
		"a.b.example.org":       true,  // at any depth
		"example.org":           false, // but not the apex itself
		"badexample.org":        false, // label boundary
		"example.org.evil.com":  false,
		"127.0.0.1:8080":        true,
		"":                      false,
		":443":                  false,
	} {
		if got := MatchDomain(patterns, host); got != want {
			t.Errorf("MatchDomain(%q) = %v, want %v", host, got, want)
		}
	}
	if MatchDomain(nil, "shop.example.com") {
		t.Error("no patterns matched a host")
	}
}

// FuzzNormalizeDomain: whatever is accepted is stable, bounded, ASCII, and
// matches itself (exact) or a subdomain of itself (wildcard).
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"shop.example.com", "*.example.org", "bücher.example", "http://x", "a..b", "*.co.uk", "127.0.0.1", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeDomain(in)
		if err != nil {
			return
		}
		if len(got) > 255 {
			t.Fatalf("NormalizeDomain(%q) = %q: too long", in, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= 0x80 || got[i] == '/' || got[i] == ':' {
				t.Fatalf("NormalizeDomain(%q) = %q: not a bare ASCII host", in, got)
			}
		}
		again, err := NormalizeDomain(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
		if rest, ok := strings.CutPrefix(got, "*."); ok {
			if !MatchDomain([]string{got}, "x."+rest) || MatchDomain([]string{got}, rest) {
				t.Fatalf("wildcard %q: subdomain/apex matching wrong", got)
			}
		} else if !MatchDomain([]string{got}, got) {
			t.Fatalf("exact %q does not match itself", got)
		}
	})
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with OWASP parameters", h)
	}
	h2, _ := hashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	if ok, err := verifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("verify right password = %v, %v", ok, err)
	}
	if ok, _ := verifyPassword(h, "correct horse batterx"); ok {
		t.Fatal("wrong password verified")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		strings.Replace(h, "m=19456", "m=4194304", 1), strings.Replace(h, "t=2", "t=1000", 1), h[:len(h)-10] + "!!!"} {
		if ok, err := verifyPassword(bad, "correct horse battery"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestTokens(t *testing.T) {
	a, b := randomToken(sessionPrefix), randomToken(sessionPrefix)
	if a == b || !wellFormed(a, sessionPrefix) || wellFormed(a, apiKeyPrefix) || wellFormed(a+"x", sessionPrefix) {
		t.Fatalf("tokens %q %q", a, b)
	}
	k := newSiteKey()
	if !strings.HasPrefix(k, "k_") || len(k) < 22 || checkSiteKey(k) != nil {
		t.Fatalf("site key %q", k)
	}
}
