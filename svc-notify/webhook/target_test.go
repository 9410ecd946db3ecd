package webhook

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/netguard"
)

func TestCheckURL(t *testing.T) {
	ok := []string{
		"https://hooks.example.com/sightline",
		"http://hooks.example.com:8080/a?b=c",
		"https://93.184.216.34/hook",
		"https://[2606:4700::1111]/hook",
		"https://xn--bcher-kva.example/hook",
		"HTTPS://Hooks.Example.COM/x",
	}
	for _, u := range ok {
		if err := CheckURL(u, false); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
	private := []string{
		"http://127.0.0.1/", "http://127.1.2.3:9000/x", "http://10.0.0.1/", "http://172.16.5.4/",
		"http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/",
		"http://[::1]/", "http://[::]/", "http://[fe80::1%25eth0]/", "http://[fc00::1]/",
		"http://[::ffff:127.0.0.1]/", "http://[::ffff:10.1.2.3]/", "http://[64:ff9b::7f00:1]/",
		"http://[2002:7f00:1::]/", "http://224.0.0.1/", "http://[ff02::1]/", "http://100.64.0.1/",
		"http://255.255.255.255/",
		"http://localhost/", "http://LOCALHOST:8080/", "http://localhost./", "http://api.localhost/",
		"http://printer.local/", "http://db.internal/", "http://router.home.arpa/",
	}
	for _, u := range private {
		err := CheckURL(u, false)
		if !errors.Is(err, ErrForbiddenTarget) {
			t.Errorf("CheckURL(%q, false) = %v, want ErrForbiddenTarget", u, err)
			continue
		}
		if !strings.Contains(err.Error(), "public") {
			t.Errorf("CheckURL(%q) message %q does not say why", u, err)
		}
		if err := CheckURL(u, true); err != nil {
			t.Errorf("CheckURL(%q, allowPrivate) = %v", u, err)
		}
	}
	bad := map[string]string{
		"":                                     "required",
		"ftp://hooks.example.com/":             "https://",
		"javascript:alert(1)":                  "https://",
		"hooks.example.com/x":                  "https://",
		"https://":                             "no host",
		"https:///path":                        "no host",
		"https://user:pass@hooks.example.com/": "user name",
		"https://user@hooks.example.com/":      "user name",
		"https://hooks.example.com/#frag":      "fragment",
		"https://hooks.example.com/#":          "fragment",
		"https://hooks.example.com:99999/":     "port",
		"https://hooks.example.com:0/":         "port",
		"https://hooks example.com/":           "valid",
		"https://2130706433/":                  "valid IP",
		"https://0x7f000001/":                  "valid IP",
		"https://0x7f.1/":                      "valid IP",
		"https://127.1/":                       "valid IP",
		"https://hooks..example.com/":          "valid host",
		"https://hooks.example.com/" + strings.Repeat("a", MaxURLBytes): "longer than",
		"https://b\u00fccher.example/":                                  "punycode",
		"http://%31%32%37.0.0.1/":                                       "valid",
	}
	for u, want := range bad {
		for _, allow := range []bool{false, true} {
			err := CheckURL(u, allow)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CheckURL(%.60q, %v) = %v, want an error saying %q", u, allow, err, want)
			}
		}
	}
}

// FuzzCheckURL: never panics, and with private targets refused never
// accepts a URL whose host is a non-public IP literal or a local name.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/x", "http://127.0.0.1/", "http://[::ffff:127.0.0.1]:80/",
		"http://localhost/", "https://a.b.c.internal./", "http://[fe80::1%25en0]/", "http://0x7f.1/",
		"http://user@host/", "https://\x00/", "http://[::]:0/", "https://1.2.3.4:65535/#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(raw, false) != nil {
			return
		}
		if err := CheckURL(raw, true); err != nil {
			t.Fatalf("accepted without private targets but refused with them: %v", err)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted an unparsable URL %q", raw)
		}
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil && !netguard.PublicAddr(ip) {
			t.Fatalf("accepted %q: non-public %s", raw, ip)
		}
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if name == "localhost" || strings.HasSuffix(name, ".localhost") || strings.HasSuffix(name, ".local") || strings.HasSuffix(name, ".internal") {
			t.Fatalf("accepted %q: a local name", raw)
		}
		if u.User != nil || u.Fragment != "" || len(raw) > MaxURLBytes || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q", raw)
		}
	})
}
