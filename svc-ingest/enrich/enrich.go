// Package enrich derives what ingest adds to a batch before storing it:
// device, browser and OS from the User-Agent (github.com/mileusna/useragent,
// cached per distinct string), the country from a MaxMind-format database
// when one is configured (github.com/oschwald/maxminddb-golang/v2), and the
// client IP truncated to /24 (IPv4) or /48 (IPv6). The full IP is never
// returned.
package enrich

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/mileusna/useragent"
	"github.com/oschwald/maxminddb-golang/v2"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// MaxUserAgent bounds the stored User-Agent.
const MaxUserAgent = 512

type parsedUA struct {
	device                         sessionsv1.DeviceType
	browser, browserVer, os, osVer string
}

// Enricher is safe for concurrent use.
type Enricher struct {
	uas *lru.Cache[string, parsedUA]
	geo *maxminddb.Reader
}

// New opens the GeoIP database at geoipPath when it is not empty.
func New(geoipPath string) (*Enricher, error) {
	c, _ := lru.New[string, parsedUA](8192)
	e := &Enricher{uas: c}
	if geoipPath != "" {
		db, err := maxminddb.Open(geoipPath)
		if err != nil {
			return nil, fmt.Errorf("enrich: open geoip database: %w", err)
		}
		e.geo = db
	}
	return e, nil
}

// Close releases the GeoIP database.
func (e *Enricher) Close() error {
	if e.geo != nil {
		return e.geo.Close()
	}
	return nil
}

// Client describes the visitor's client. ip may be invalid (unknown).
func (e *Enricher) Client(ua string, ip netip.Addr) *sessionsv1.Client {
	ua = clipUA(ua)
	p, ok := e.uas.Get(ua)
	if !ok {
		p = parse(ua)
		e.uas.Add(ua, p)
	}
	c := &sessionsv1.Client{
		DeviceType: p.device, Browser: p.browser, BrowserVersion: p.browserVer,
		Os: p.os, OsVersion: p.osVer, UserAgent: ua,
	}
	if ip.IsValid() {
		ip = ip.Unmap()
		c.IpPrefix = TruncateIP(ip).String()
		c.Country = e.country(ip)
	}
	return c
}

// clipUA cuts ua to MaxUserAgent bytes on a rune boundary and replaces
// invalid UTF-8 (header values may carry any byte): the result goes into a
// protobuf string field, which refuses invalid UTF-8, and a refused chunk
// would turn a good batch into a 400.
func clipUA(ua string) string {
	if !utf8.ValidString(ua) {
		ua = strings.ToValidUTF8(ua, "\uFFFD")
	}
	if len(ua) <= MaxUserAgent {
		return ua
	}
	n := MaxUserAgent
	for n > 0 && !utf8.RuneStart(ua[n]) {
		n--
	}
	return ua[:n]
}

func parse(s string) parsedUA {
	u := useragent.Parse(s)
	d := sessionsv1.DeviceType_DEVICE_TYPE_OTHER
	switch {
	case s == "":
		d = sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED
	case u.Bot:
		d = sessionsv1.DeviceType_DEVICE_TYPE_BOT
	case u.Tablet:
		d = sessionsv1.DeviceType_DEVICE_TYPE_TABLET
	case u.Mobile:
		d = sessionsv1.DeviceType_DEVICE_TYPE_MOBILE
	case u.Desktop:
		d = sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP
	}
	return parsedUA{device: d, browser: u.Name, browserVer: u.Version, os: u.OS, osVer: u.OSVersion}
}

func (e *Enricher) country(ip netip.Addr) string {
	if e.geo == nil {
		return ""
	}
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	if err := e.geo.Lookup(ip).Decode(&rec); err != nil {
		return ""
	}
	return rec.Country.ISOCode
}

// TruncateIP keeps the first 24 bits of an IPv4 address or 48 of an IPv6 one.
func TruncateIP(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}
