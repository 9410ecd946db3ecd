package pagerule

import (
	"encoding/json"
	"os"
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

// TestReadableRules: rules typed as people read URLs match, ForKeys, the
// keys browsers recorded (percent-encoded, host lower-cased); paths keep
// their case.
func TestReadableRules(t *testing.T) {
	key := Key("http://Shop.example.com/caf%C3%A9/%C3%BC%20x%22y'z")
	if key != "http://shop.example.com/caf%C3%A9/%C3%BC%20x%22y'z" {
		t.Fatalf("key %q", key)
	}
	for _, c := range []struct {
		r    Rule
		want bool
	}{
		{Rule{Equals, `http://shop.example.com/café/ü x"y'z`}, true},
		{Rule{Equals, `http://SHOP.example.com/caf%C3%A9/%C3%BC%20x%22y'z`}, true},
		{Rule{Equals, `/café/ü x"y'z`}, true},
		{Rule{Contains, "café"}, true},
		{Rule{Contains, "CAFÉ"}, false},        // paths keep their case
		{Rule{Contains, "Shop.Example"}, true}, // hosts do not
		{Rule{Contains, "Example.com/café"}, true},
		{Rule{Contains, "Example.com/CAFÉ"}, false},
		{Rule{Prefix, "http://Shop.example.com/café/"}, true},
		{Rule{Pattern, "http://shop.example.com/caf*/ü *"}, true},
		{Rule{Pattern, "/café/*"}, true},
		{Rule{Prefix, "http://shop.example.com/cafe"}, false},
	} {
		r := c.r.ForKeys()
		if got := r.MatchKey(key); got != c.want {
			t.Errorf("%+v.ForKeys().MatchKey(%q) = %v", c.r, key, got)
		}
		if p := r.LiteralPrefix(); !strings.HasPrefix(key, p) && c.want {
			t.Errorf("%+v: literal prefix %q is not one of the key's", c.r, p)
		}
	}
	// Search keeps the rule as written: it matches recorded URLs, which
	// need not be http(s) URLs or keys.
	for _, c := range []struct {
		r Rule
		s string
	}{{Rule{Equals, "not a url?x"}, "not a url?x"}, {Rule{Contains, "a b"}, "app://x/a b"}} {
		if !c.r.Match(c.s) {
			t.Errorf("%+v.Match(%q) = false", c.r, c.s)
		}
	}
	// The dashboard spells rules for the recordings search the same way
	// (web/src/heatmap/url.ts keySpelling), from the same cases.
	raw, err := os.ReadFile("testdata/normal.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]string
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if got := Normal(c[0]); got != c[1] {
			t.Errorf("Normal(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// FuzzForKeys: a rule made ForKeys is made so once (ForKeys again changes
// nothing), and every page key, typed as an Equals, Prefix or Contains
// rule, picks itself, so a URL copied from the page list maps its page.
func FuzzForKeys(f *testing.F) {
	for _, s := range []string{"https://shop.example.com/café/ü x", "http://A.b/%zz/100%", "https://xn--caf-dma.example/a{b}", "https://straße.example/x", "/p/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > MaxValue || !utf8.ValidString(s) {
			return
		}
		for _, op := range []Op{Equals, Contains, Prefix, Pattern} {
			r := Rule{op, s}.ForKeys()
			if again := r.ForKeys(); again != r {
				t.Fatalf("ForKeys(%q) = %q, then %q", s, r.Value, again.Value)
			}
		}
		k := Key(s)
		if k == "" || strings.Contains(k, "*") {
			return
		}
		for _, op := range []Op{Equals, Contains, Prefix} {
			if r := (Rule{op, k}).ForKeys(); !r.MatchKey(k) {
				t.Fatalf("the key %q of %q, as a %v rule (%q), does not pick itself", k, s, op, r.Value)
			}
		}
	})
}

// FuzzKey checks Key's fast path against net/url's reading on any input.
func FuzzKey(f *testing.F) {
	for _, s := range []string{
		"https://shop.example.com/product/espresso-machine?utm_source=mail", "http://a.b/", "https://a.b", "https://a.b//", "https://a.b/x/?q#f",
		"https://a.b/p#%zz", "https://a.b/p?%zz", "https://a.b/p?q#a%41", "https://a.b/p\x7f", "https://a.b/p?\x7f", "https://a.b/p?\x01", "https://a.b/p?q\t", "https://a.b/p ", "https://a.b/p?x ",
		"https://A.b/p", "https://a.b:443/p", "https://u@a.b/p", "https://[::1]/p", "https://a.b/p%20q", "https://a.b/p!q", "https://a.b/é",
		"https://a.b/p?é", "HTTPS://a.b/p", "https://", "https:///p", "https://a.b?q", "https://a.b#f", "https://a.b/./../x", "https://-/p",
		"https://a.b/" + strings.Repeat("x", 300), "https://a.b/p?q\u00a0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, want := Key(raw), parsedKey(raw); got != want {
			t.Fatalf("Key(%q) = %q, net/url's reading %q", raw, got, want)
		}
	})
}

// BenchmarkKey: a product page's URL as the tracker sends it.
func BenchmarkKey(b *testing.B) {
	const u = "https://shop.example.com/product/espresso-machine?utm_source=mail"
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			Key(u)
		}
	})
	b.Run("net-url", func(b *testing.B) {
		for b.Loop() {
			parsedKey(u)
		}
	})
}
