package assets

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestCSSRefs(t *testing.T) {
	css := `@charset "utf-8";
@import "base.css";
@import url(theme.css) screen;
/* url(commented.png) @import "no.css"; */
.a { background: url(a.png) no-repeat, url( "b.png" ), url('c\'q.png'); content: "url(not-a-ref.png)"; }
.b { background-image: -webkit-image-set("x1.png" 1x, url(x2.png) 2x); }
.c { background: URL(upper.png); }
.e { background: url(\65 scaped.png); }
@font-face { font-family: I; src: url(icons.woff2) format("woff2"), url("icons.eot?#iefix"); }
.d { background: url(after-font-face.gif) }
.f { background: url(data:image/png;base64,AAAA) }
.g { fill: url(#circleGradient); filter: url( "#blur" ) }
`
	var got []string
	for _, r := range cssRefs([]byte(css)) {
		got = append(got, r.kind.String()+":"+r.raw)
		tok := css[r.start:r.end]
		if !strings.Contains(strings.ToLower(tok), "url(") && !strings.HasPrefix(tok, `"`) {
			t.Errorf("ref %q spans %q, not a url() or string token", r.raw, tok)
		}
	}
	want := []string{
		"css:base.css", "css:theme.css",
		"image:a.png", "image:b.png", "image:c'q.png",
		"image:x1.png", "image:x2.png", "image:upper.png", "image:escaped.png",
		"font:icons.woff2", "font:icons.eot?#iefix",
		"image:after-font-face.gif", "image:data:image/png;base64,AAAA",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("refs:\n got %q\nwant %q", got, want)
	}
}

func TestRewriteCSS(t *testing.T) {
	css := `@import "base.css"; .a{background:url(a.png)} .b{background:url("gone.png")} .c{background:url(data:x)}` +
		` .d{background:image-set("x.png" 1x)} .e{fill:url(#grad)}`
	out := rewriteCSS([]byte(css), func(raw string, _ Kind) (string, bool) {
		switch raw {
		case "base.css":
			return "/api/v1/sites/1/assets/aa", true
		case "a.png":
			return `/api/v1/sites/1/assets/b"b`, true
		case "gone.png":
			return "https://shop.example.com/gone.png", true
		case "x.png":
			return "/x", true
		}
		return "", false
	})
	want := `@import "/api/v1/sites/1/assets/aa"; .a{background:url("/api/v1/sites/1/assets/b\22 b")}` +
		` .b{background:url("https://shop.example.com/gone.png")} .c{background:url(data:x)} .d{background:image-set("/x" 1x)} .e{fill:url(#grad)}`
	if string(out) != want {
		t.Fatalf("rewritten:\n got %s\nwant %s", out, want)
	}
	// The escaped quote reads back as the target.
	refs := cssRefs(out)
	if len(refs) != 5 || refs[1].raw != `/api/v1/sites/1/assets/b"b` {
		t.Fatalf("re-read refs: %+v", refs)
	}
}

func TestRefsBounded(t *testing.T) {
	css := strings.Repeat(".a{background:url(a.png)}", maxCSSRefs+50)
	if n := len(cssRefs([]byte(css))); n != maxCSSRefs {
		t.Fatalf("%d refs, want the cap %d", n, maxCSSRefs)
	}
}

// FuzzCSSRefs: any input tokenizes without panicking, references lie in
// order inside the input, keeping every reference gives the input back,
// and replacing every reference gives CSS whose references are exactly
// the replacements.
func FuzzCSSRefs(f *testing.F) {
	for _, s := range []string{
		`a{b:url(x.png)}`, `@import "a.css";`, `@import url('a.css');`, `@font-face{src:url(a.woff)}`,
		`a{b:image-set("a.png" 1x)}`, `url(\`, `url("a`, "url(a\x00b)", `/* url(a) */`, `a{b:url( a\ b.png )}`,
		`@import"x"`, `a{b:url(\"x)}`, "url(\xff)", `"\`, `@font-face{{{url(a)}}}url(b)`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		refs := cssRefs(b)
		last := 0
		for _, r := range refs {
			if r.start < last || r.end < r.start || r.end > len(b) {
				t.Fatalf("ref %+v out of order or bounds (len %d, last end %d)", r, len(b), last)
			}
			last = r.end
		}
		if kept := rewriteCSS(b, func(string, Kind) (string, bool) { return "", false }); string(kept) != string(b) {
			t.Fatalf("keeping every reference changed the input:\n%q\n%q", b, kept)
		}
		out := rewriteCSS(b, func(string, Kind) (string, bool) { return "/api/v1/sites/1/assets/h", true })
		if string(out) == string(b) && len(refs) > 0 {
			t.Fatalf("replacing %d refs left the input unchanged: %q", len(refs), b)
		}
		for _, r := range cssRefs(out) {
			if r.raw == "/api/v1/sites/1/assets/h" {
				continue
			}
			// Only text the input had outside its references may read
			// as a reference now (never half of a replaced token).
			if !strings.Contains(string(b), r.raw) {
				t.Fatalf("after replacing, a reference %q that the input did not hold: %q → %q", r.raw, b, out)
			}
		}
	})
}

func TestResolve(t *testing.T) {
	base, _ := url.Parse("https://Shop.Example.com:443/a/page.html?x=1")
	for _, tc := range []struct{ raw, want string }{
		{"img.png", "https://shop.example.com/a/img.png"},
		{"../b.css#frag", "https://shop.example.com/b.css"},
		{"//cdn.example.net/f.woff2", "https://cdn.example.net/f.woff2"},
		{"HTTP://X.example:80", "http://x.example/"},
		{"data:image/png;base64,AA", ""},
		{"javascript:alert(1)", ""},
		{"https://user:pw@example.com/a", ""},
		{"blob:https://shop.example.com/1", ""},
		{"  ", ""},
		{"https://e.com/" + strings.Repeat("a", MaxURLBytes), ""},
	} {
		got, ok := Resolve(base, tc.raw)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Resolve(%q) = %q %v, want %q", tc.raw, got, ok, tc.want)
		}
	}
}
