package referrer

import (
	"strings"
	"testing"
)

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"https://WWW.Google.com/search?q": "google.com",
		"https://news.example.org:8443/a": "news.example.org",
		"android-app://com.slack":         "com.slack",
		"%zz":                             "",
		"not a url":                       "",
	} {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExternal(t *testing.T) {
	cases := []struct{ page, ref, want string }{
		{"https://shop.example.com/a", "", ""},
		{"https://shop.example.com/a", "https://shop.example.com/b", ""},
		{"https://www.example.com/a", "https://example.com/b", ""},
		{"https://shop.example.com/a", "https://example.com/b", "example.com"},
		{"https://shop.example.com/a", "https://www.google.com/", "google.com"},
	}
	for _, c := range cases {
		if got := External(c.page, c.ref); got != c.want {
			t.Errorf("External(%q, %q) = %q, want %q", c.page, c.ref, got, c.want)
		}
	}
}

func TestUTM(t *testing.T) {
	s, m, c := UTM("https://x.test/?utm_source=news&utm_medium=mail&utm_campaign=spring%20sale&x=1")
	if s != "news" || m != "mail" || c != "spring sale" {
		t.Fatalf("UTM = %q %q %q", s, m, c)
	}
	if s, m, c := UTM("%zz"); s != "" || m != "" || c != "" {
		t.Fatalf("UTM of a bad URL = %q %q %q", s, m, c)
	}
	long := strings.Repeat("é", 200) // 400 bytes
	s, _, _ = UTM("https://x.test/?utm_source=" + long)
	if len(s) > MaxUTM || !strings.HasPrefix(long, s) || len(s) != 256 {
		t.Fatalf("clipped to %d bytes", len(s))
	}
}
