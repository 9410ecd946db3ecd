package traffictest

import (
	"fmt"
	"math/rand/v2"
	"time"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Site ids above 2^31, as every test in the project uses.
const (
	SiteA int64 = 3_000_000_101
	SiteB int64 = 3_000_000_102
)

// Base is the start of the generated hits' window: 30 days from it hold
// Europe/Berlin's spring DST change (29 March 2026).
var Base = time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)

// Pools the generated values come from, small so every filter and
// dimension has several sessions.
var (
	// Hosts and Referrers: the site's own pages as referrers, with and
	// without "www." on either side, must count as direct.
	Hosts     = []string{"https://shop.example.com", "https://www.example.com", "https://example.com"}
	Paths     = []string{"/", "/pricing", "/pricing/team", "/blog/a-post", "/checkout", "/docs/start", "/signup", "/product/42/buy"}
	Referrers = []string{"", "", "https://www.google.com/search?q=x", "https://news.ycombinator.com/item?id=1", "https://t.co/abc", "https://shop.example.com/pricing", "https://WWW.Example.com/"}
	Sources   = []string{"newsletter", "google", "twitter"}
	Mediums   = []string{"email", "cpc", "social"}
	Campaigns = []string{"spring-sale", "launch"}
	Events    = []string{"signup", "purchase", "add_to_cart"}
	Browsers  = []string{"Chrome", "Safari", "Firefox", ""}
	OSes      = []string{"Windows", "macOS", "iOS", "Android", ""}
	Countries = []string{"US", "DE", "IN", "BR", ""}
	Devices   = []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP, sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET, sessionsv1.DeviceType_DEVICE_TYPE_OTHER}
	Screens   = [][2]int32{{1920, 1080}, {390, 844}, {1280, 800}, {0, 0}}
)

// Generated is one site's generated traffic: hits (in session order; the
// suite shuffles them) and recorded marks.
type Generated struct {
	Hits  []traffic.Hit
	Marks []traffic.Recorded
}

// Generate makes n deterministic, varied sessions of one site starting in
// [from, from+span) at millisecond precision: session ids "s_<prefix>NNNNN",
// visitors shared by about two sessions each, about one session in 15
// without a page view (events and leaves only), page views at equal times
// sometimes (ties), leaves repeated and events at their page view's very
// instant, and about 40% of sessions marked recorded.
func Generate(seed uint64, siteID int64, prefix string, n int, from time.Time, span time.Duration) Generated {
	rng := rand.New(rand.NewPCG(seed, uint64(siteID)))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	var g Generated
	for i := range n {
		sid := fmt.Sprintf("s_%s%05d", prefix, i)
		base := traffic.Hit{
			SiteID: siteID, OrganizationID: siteID + 7, SessionID: sid,
			VisitorID: fmt.Sprintf("v_%s%04d", prefix, rng.IntN(n/2+1)),
			Device:    Devices[rng.IntN(len(Devices))], Browser: pick(Browsers), OS: pick(OSes), Country: pick(Countries),
			Recorded:      rng.IntN(2) == 0,
			RetentionDays: []int32{0, 0, 30, 90}[rng.IntN(4)],
		}
		sc := Screens[rng.IntN(len(Screens))]
		base.ScreenW, base.ScreenH = sc[0], sc[1]
		t := from.Add(time.Duration(rng.Int64N(int64(span))) / time.Millisecond * time.Millisecond)
		np := 1 + min(rng.IntN(4), rng.IntN(7))
		if rng.IntN(15) == 0 {
			np = 0
		}
		host := pick(Hosts)
		var views []traffic.Hit
		prev := pick(Referrers)
		for j := range np {
			if j > 0 && rng.IntN(6) > 0 {
				t = t.Add(time.Duration(rng.IntN(300_000)) * time.Millisecond)
			}
			u := host + pick(Paths)
			switch rng.IntN(6) {
			case 0:
				u += "?utm_source=" + pick(Sources) + "&utm_medium=" + pick(Mediums) + "&utm_campaign=" + pick(Campaigns)
			case 1:
				u += "?utm_source=" + pick(Sources)
			case 2:
				u += "#top"
			}
			h := base
			h.Kind = sessionsv1.HitKind_HIT_KIND_PAGE_VIEW
			// Ids in random order, so ties at one time are not broken by index.
			h.PageViewID = fmt.Sprintf("p_%s%05d_%c%d", prefix, i, 'a'+rune(rng.IntN(26)), j)
			h.Time, h.URL, h.Referrer = t, u, prev
			prev = u
			views = append(views, h)
		}
		if np == 0 { // a session that never had a page view delivered
			views = append(views, traffic.Hit{PageViewID: fmt.Sprintf("p_%s%05d_lost", prefix, i), Time: t})
		}
		if np > 0 {
			g.Hits = append(g.Hits, views...)
		}
		for _, v := range views {
			for range rng.IntN(3) { // none, one, or a page hidden twice
				l := base
				l.Kind = sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE
				l.PageViewID = v.PageViewID
				l.Duration = time.Duration(rng.IntN(180_000)) * time.Millisecond
				l.Time = v.Time.Add(l.Duration)
				g.Hits = append(g.Hits, l)
			}
		}
		for range rng.IntN(4) {
			v := views[rng.IntN(len(views))]
			e := base
			e.Kind = sessionsv1.HitKind_HIT_KIND_EVENT
			e.PageViewID = v.PageViewID
			e.Event = pick(Events)
			e.Time = v.Time
			if rng.IntN(3) > 0 {
				// Sub-millisecond times too: ingest's clock is finer,
				// and medians are truncated to milliseconds.
				e.Time = v.Time.Add(time.Duration(rng.IntN(90_000_000)) * time.Microsecond)
			}
			g.Hits = append(g.Hits, e)
		}
		if rng.IntN(5) < 2 {
			g.Marks = append(g.Marks, traffic.Recorded{
				SiteID: siteID, SessionID: sid, Version: 1 + rng.Int64N(3),
				Rage: rng.IntN(4) == 0, Dead: rng.IntN(3) == 0, Errors: rng.IntN(5) == 0,
			})
		}
	}
	return g
}
