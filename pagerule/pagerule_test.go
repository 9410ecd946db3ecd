package pagerule

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://Shop.Example.com/product/42?utm_source=x#top": "https://shop.example.com/product/42",
		"https://shop.example.com/product/42/":                 "https://shop.example.com/product/42",
		"https://shop.example.com":                             "https://shop.example.com/",
		"https://shop.example.com/":                            "https://shop.example.com/",
		"http://shop.example.com:80/a":                         "http://shop.example.com/a",
		"https://shop.example.com:443/a":                       "https://shop.example.com/a",
		"http://127.0.0.1:8080/a//":                            "http://127.0.0.1:8080/a",
		"http://[::1]:8080/a":                                  "http://[::1]:8080/a",
		"http://[::1]/a":                                       "http://[::1]/a",
		"ftp://x/a":                                            "",
		"javascript:alert(1)":                                  "",
		"/relative":                                            "",
		"":                                                     "",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
	long := "https://x.example/" + strings.Repeat("é", 300)
	k := Key(long)
	if len(k) > MaxKey || !strings.HasPrefix(k, "https://x.example/") {
		t.Fatalf("long key: %d bytes, %q", len(k), k)
	}
	if Key(long+"a") == k {
		t.Fatal("two long URLs share a key")
	}
}

// TestGlobAgainstRegexp checks Glob against the regexp it stands for.
func TestGlobAgainstRegexp(t *testing.T) {
	pats := []string{"*", "", "a*", "*a", "a*b*c", "**", "https://x/product/*", "*/p/*/reviews", "a*a*a*a*b"}
	strs := []string{"", "a", "ab", "abc", "aXbYc", "https://x/product/42", "https://x/product/", "https://x/p/1/reviews", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "b"}
	for _, p := range pats {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
		for _, s := range strs {
			if got, want := Glob(p, s), re.MatchString(s); got != want {
				t.Errorf("Glob(%q, %q) = %v, want %v", p, s, got, want)
			}
		}
	}
}

func TestRule(t *testing.T) {
	page := "https://shop.example.com/product/42"
	for _, c := range []struct {
		r    Rule
		want bool
	}{
		{Rule{Equals, "https://SHOP.example.com/product/42/?a=1"}, true},
		{Rule{Equals, "https://shop.example.com/product/4"}, false},
		{Rule{Prefix, "https://shop.example.com/product/"}, true},
		{Rule{Prefix, "https://shop.example.com/cart"}, false},
		{Rule{Contains, "product/4"}, true},
		{Rule{Contains, "PRODUCT"}, false}, // bytes, as search compares
		{Rule{Pattern, "/product/*"}, true},
		{Rule{Equals, "/product/42/"}, true},
		{Rule{Equals, "/product"}, false},
		{Rule{Prefix, "/prod"}, true},
		{Rule{Prefix, "/cart"}, false},
		{Rule{Contains, "/product/42"}, true}, // contains is never path-form: the whole URL holds it
		{Rule{Pattern, "https://shop.example.com/product/*"}, true},
		{Rule{Pattern, "*/product/*/reviews"}, false},
	} {
		if err := c.r.Check(); err != nil {
			t.Fatalf("%+v: %v", c.r, err)
		}
		if got := c.r.Match(page); got != c.want {
			t.Errorf("%+v.Match(%q) = %v", c.r, page, got)
		}
	}
	if _, ok := (Rule{Equals, "/product/42"}).Exact(); ok {
		t.Error("a path names no single page key")
	}
	for _, bad := range []Rule{{0, "x"}, {5, "x"}, {Equals, ""}, {Pattern, strings.Repeat("*", 17)}, {Prefix, strings.Repeat("x", MaxValue+1)}, {Contains, "\xff"}} {
		if bad.Check() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b", "aXb")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 || !utf8.ValidString(p) || !utf8.ValidString(s) {
			return // the reference regexp works on UTF-8 text
		}
		// (?s): ".*" must cross newlines too.
		re := regexp.MustCompile("(?s)^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
		if Glob(p, s) != re.MatchString(s) {
			t.Fatalf("Glob(%q, %q) = %v", p, s, !re.MatchString(s))
		}
	})
}
