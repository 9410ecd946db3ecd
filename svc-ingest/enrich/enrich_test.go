package enrich

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-ingest/enrich/enrichtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUserAgents(t *testing.T) {
	e, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cases := []struct {
		ua      string
		device  sessionsv1.DeviceType
		browser string
		os      string
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, "Chrome", "Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, "Safari", "iOS"},
		{"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", sessionsv1.DeviceType_DEVICE_TYPE_TABLET, "Safari", "iOS"},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", sessionsv1.DeviceType_DEVICE_TYPE_BOT, "Googlebot", ""},
		{"", sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED, "", ""},
	}
	for _, c := range cases {
		for range 2 { // the second time from the cache
			got := e.Client(c.ua, netip.Addr{})
			if got.GetDeviceType() != c.device || got.GetBrowser() != c.browser || got.GetOs() != c.os || got.GetIpPrefix() != "" {
				t.Errorf("%q: %v", c.ua, got)
			}
		}
	}
	long := make([]byte, 4000)
	for i := range long {
		long[i] = 'a'
	}
	if got := e.Client(string(long), netip.Addr{}); len(got.GetUserAgent()) != MaxUserAgent {
		t.Errorf("UA not truncated: %d", len(got.GetUserAgent()))
	}
}

// TestUserAgentCutOnRuneBoundary: the stored User-Agent is always valid
// UTF-8 (it goes into a protobuf string field), wherever the 512-byte cut
// lands and whatever bytes the header carried.
func TestUserAgentCutOnRuneBoundary(t *testing.T) {
	e, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cases := map[string]struct {
		ua   string
		want int // length of the stored UA
	}{
		"two-byte rune across 512":    {strings.Repeat("a", 511) + "é" + "tail", 511},
		"two-byte rune ending at 512": {strings.Repeat("a", 510) + "é" + "tail", 512},
		"four-byte rune across 512":   {strings.Repeat("a", 510) + "😀" + "tail", 510},
		"invalid bytes":               {"Mozilla/5.0 \xff\xfe x", len("Mozilla/5.0 \uFFFD x")},
		"invalid byte at 511":         {strings.Repeat("a", 511) + "\xffbbb", 511},
	}
	for name, c := range cases {
		got := e.Client(c.ua, netip.Addr{})
		ua := got.GetUserAgent()
		if !utf8.ValidString(ua) || len(ua) > MaxUserAgent || len(ua) != c.want {
			t.Errorf("%s: stored %d bytes (valid UTF-8 %v), want %d", name, len(ua), utf8.ValidString(ua), c.want)
		}
		if _, err := proto.Marshal(got); err != nil {
			t.Errorf("%s: client does not marshal: %v", name, err)
		}
	}
}

func TestTruncateIP(t *testing.T) {
	for in, want := range map[string]string{
		"81.2.69.142": "81.2.69.0/24", "::ffff:81.2.69.142": "81.2.69.0/24",
		"2a02:ff00:1234:5678::1": "2a02:ff00:1234::/48", "127.0.0.1": "127.0.0.0/24",
	} {
		if got := TruncateIP(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("TruncateIP(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestGeoIP(t *testing.T) {
	path := enrichtest.CountryDB(t)
	e, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for ip, want := range map[string]string{"81.2.69.142": "GB", "::ffff:81.2.69.1": "GB", "2a02:ff00:1::7": "DE", "8.8.8.8": ""} {
		c := e.Client("", netip.MustParseAddr(ip))
		if c.GetCountry() != want {
			t.Errorf("%s: country %q, want %q", ip, c.GetCountry(), want)
		}
	}
	if _, err := New(t.TempDir() + "/missing.mmdb"); err == nil {
		t.Fatal("missing database accepted")
	}
}
