package indextest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// Base is the start of the generated sessions' time window.
var Base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// Pools the generated values come from, small so every filter has hits.
var (
	Browsers  = []string{"Chrome", "Safari", "Firefox", "Edge", "Samsung Internet"}
	OSes      = []string{"Windows", "macOS", "iOS", "Android", "Linux"}
	Countries = []string{"US", "DE", "FR", "GB", "IN", "BR"}
	Hosts     = []string{"https://shop.example.com", "https://www.example.com"}
	Paths     = []string{"/", "/pricing", "/pricing/team", "/blog/a-post", "/checkout", "/docs/start", "/signup"}
	Referrers = []string{"google.com", "news.ycombinator.com", "twitter.com"}
	Sources   = []string{"newsletter", "google", "twitter"}
	Mediums   = []string{"email", "cpc", "social"}
	Campaigns = []string{"spring-sale", "launch", "retarget"}
	Events    = []string{"signup", "purchase", "add_to_cart"}
	Plans     = []string{"free", "pro", "team"}
	// Selectors are clicked elements' selector paths, with the characters
	// a pattern or a query language could take for syntax.
	Selectors = []string{
		"html>body>header>nav>a.logo",
		"#buy",
		"main>section:nth-of-type(2)>button.cta",
		`div[data-test="add*to?cart"]>button`,
		`#size\:xl`,
		"form#signup>input[name=email]",
		"ul.menu>li:nth-child(3)>a",
		"button.größe",
	}
)

// Generate makes n deterministic, varied summaries of one site: session ids
// "<prefix>-0000" upward, start times spread over 30 days at microsecond
// precision (so sort keys are exact and mostly distinct), about a third
// anonymous, and every optional field sometimes empty.
func Generate(seed uint64, siteID int64, prefix string, n int) []*sessionsv1.SessionSummary {
	rng := rand.New(rand.NewPCG(seed, uint64(siteID)))
	// Clicked elements draw from their own stream, so adding them left
	// every other generated value (that tests rely on) as it was.
	clicks := rand.New(rand.NewPCG(seed^0xc11c, uint64(siteID)))
	// So do the spellings of page URLs (pageURL).
	shapes := rand.New(rand.NewPCG(seed^0x5ba9e, uint64(siteID)))
	// And the feedback counts.
	fb := rand.New(rand.NewPCG(seed^0xfeedb, uint64(siteID)))
	// And the rage- and dead-clicked elements.
	frus := rand.New(rand.NewPCG(seed^0xf2a6e, uint64(siteID)))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	out := make([]*sessionsv1.SessionSummary, 0, n)
	for i := range n {
		start := Base.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour))) / time.Microsecond * time.Microsecond)
		np := 1 + rng.IntN(6)
		host := pick(Hosts)
		var pages []*sessionsv1.PageView
		t := start
		for j := range np {
			path, query := pick(Paths), ""
			if rng.IntN(4) == 0 {
				query = fmt.Sprintf("?ref=%d", rng.IntN(3))
			}
			u := pageURL(shapes, host, path, query)
			d := time.Duration(1+rng.IntN(120)) * time.Second
			pages = append(pages, &sessionsv1.PageView{
				PageViewId: fmt.Sprintf("pv-%d-%d", i, j), Url: u,
				StartTime: timestamppb.New(t), Duration: durationpb.New(d),
			})
			t = t.Add(d)
		}
		dur := t.Sub(start) + time.Duration(rng.IntN(1000))*time.Microsecond
		s := &sessionsv1.SessionSummary{
			SiteId:         siteID,
			OrganizationId: siteID + 7,
			SessionId:      fmt.Sprintf("%s-%04d", prefix, i),
			VisitorId:      fmt.Sprintf("%s-v%03d", prefix, rng.IntN(n/3+1)),
			Version:        1 + rng.Int64N(5),
			StartTime:      timestamppb.New(start),
			EndTime:        timestamppb.New(start.Add(dur)),
			Duration:       durationpb.New(dur),
			ActiveDuration: durationpb.New(dur / time.Duration(1+rng.IntN(4))),
			Pages:          pages,
			PageCount:      int32(np),
			EntryUrl:       pages[0].Url,
			ExitUrl:        pages[np-1].Url,
			ClickCount:     int32(rng.IntN(40)),
			Client: &sessionsv1.Client{
				DeviceType: sessionsv1.DeviceType(1 + rng.IntN(3)),
				Browser:    pick(Browsers),
				Os:         pick(OSes),
			},
			ViewportWidth:  1280,
			ViewportHeight: 800,
			Truncated:      rng.IntN(10) == 0,
		}
		if rng.IntN(6) > 0 {
			s.Client.Country = pick(Countries)
		}
		if rng.IntN(4) == 0 {
			s.RageClickCount = int32(1 + rng.IntN(3))
		}
		if rng.IntN(3) == 0 {
			s.DeadClickCount = int32(1 + rng.IntN(3))
		}
		if rng.IntN(5) == 0 {
			s.ErrorCount = int32(1 + rng.IntN(3))
		}
		if rng.IntN(2) == 0 {
			s.ReferrerDomain = pick(Referrers)
			s.Referrer = "https://" + s.ReferrerDomain + "/"
		}
		if rng.IntN(3) == 0 {
			s.UtmSource, s.UtmMedium, s.UtmCampaign = pick(Sources), pick(Mediums), pick(Campaigns)
		}
		if rng.IntN(3) > 0 {
			s.UserId = fmt.Sprintf("%s-u%02d", prefix, rng.IntN(40))
			s.UserAttributes = []*sessionsv1.Attribute{{Key: "plan", Value: pick(Plans)}}
			if rng.IntN(2) == 0 {
				s.UserAttributes = append(s.UserAttributes, &sessionsv1.Attribute{Key: "role", Value: "admin"})
			}
		}
		for _, e := range Events {
			if rng.IntN(4) == 0 {
				s.CustomEvents = append(s.CustomEvents, e)
			}
		}
		// Distinct, in first-click order, as recordings fills them.
		for range clicks.IntN(5) {
			if sel := Selectors[clicks.IntN(len(Selectors))]; !slices.Contains(s.ClickedElements, sel) {
				s.ClickedElements = append(s.ClickedElements, sel)
			}
		}
		// Rage and dead clicks on some of the clicked elements (as
		// recordings decides them: each is a click), distinct.
		for _, f := range []struct {
			n    int32
			into *[]string
		}{{s.RageClickCount, &s.RageClickedElements}, {s.DeadClickCount, &s.DeadClickedElements}} {
			if len(s.ClickedElements) == 0 {
				break
			}
			for range min(int(f.n), 1+frus.IntN(2)) {
				if sel := s.ClickedElements[frus.IntN(len(s.ClickedElements))]; !slices.Contains(*f.into, sel) {
					*f.into = append(*f.into, sel)
				}
			}
		}
		// A quarter gave feedback (a few without a rating), a fifth
		// answered a survey.
		if fb.IntN(4) == 0 {
			s.FeedbackCount = int32(1 + fb.IntN(3))
			if fb.IntN(6) > 0 {
				s.MinFeedbackRating = int32(1 + fb.IntN(5))
			}
		}
		if fb.IntN(5) == 0 {
			s.SurveyResponseCount = int32(1 + fb.IntN(2))
		}
		out = append(out, s)
	}
	return out
}

// pageURL spells a page as browsers report it: sometimes with an
// upper-case host, the default port, a trailing slash, utm tags or a
// fragment. A full-URL EQUALS sees through all of them (page keys); every
// other operator compares the text as it is.
func pageURL(rng *rand.Rand, host, path, query string) string {
	if rng.IntN(5) == 0 {
		scheme, name, _ := strings.Cut(host, "://")
		host = scheme + "://" + strings.ToUpper(name)
	}
	if rng.IntN(12) == 0 {
		host += ":443"
	}
	if path != "/" && rng.IntN(6) == 0 {
		path += "/"
	}
	if rng.IntN(5) == 0 {
		if query == "" {
			query = "?"
		} else {
			query += "&"
		}
		query += "utm_source=" + Sources[rng.IntN(len(Sources))]
	}
	fragment := ""
	if rng.IntN(8) == 0 {
		fragment = "#top"
	}
	return host + path + query + fragment
}
