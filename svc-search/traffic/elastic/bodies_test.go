package elastic

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
	"github.com/sightlinehq/sightline/svc-search/index/elastic/estest"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const site = int64(3_000_000_001)

var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func berlin(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// everyFilter sets every TrafficFilter condition.
func everyFilter() *trafficv1.TrafficFilter {
	return &trafficv1.TrafficFilter{
		DeviceTypes:    []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, sessionsv1.DeviceType_DEVICE_TYPE_TABLET},
		Countries:      []string{"DE", ""},
		Browsers:       []string{"Chrome"},
		Oses:           []string{"iOS"},
		ReferrerDomain: "google.com",
		Direct:         true,
		UtmSource:      "newsletter", UtmMedium: "email", UtmCampaign: "spring",
		VisitedPage: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://Shop.example.com/p/?utm_source=x"},
		EntryPage:   &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PREFIX, Value: "/blog/"},
		ExitPage:    &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_CONTAINS, Value: "checkout*"},
		ScreenSize:  "1920x1080",
	}
}

func TestTemplateGolden(t *testing.T) {
	estest.Golden(t, "template", TemplateBody("sightline", 3, 1))
}

func TestOverviewBodiesGolden(t *testing.T) {
	for name, c := range map[string]struct {
		q  traffic.Query
		iv trafficv1.TrafficInterval
	}{
		"overview_day_utc":         {traffic.Query{SiteID: site, Start: base, End: base.Add(30 * 24 * time.Hour)}, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY},
		"overview_hour_berlin_dst": {traffic.Query{SiteID: site, Start: time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 29, 23, 0, 0, 0, time.UTC), Filter: everyFilter(), Location: berlin(t)}, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR},
		"overview_week_berlin":     {traffic.Query{SiteID: site, Start: base, End: base.Add(120 * 24 * time.Hour), Location: berlin(t)}, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK},
	} {
		buckets, err := traffic.Buckets(c.q.Start, c.q.End, c.iv, c.q.Loc())
		if err != nil {
			t.Fatal(err)
		}
		body, err := OverviewBody(c.q, c.iv, buckets)
		estest.SearchBody(t, name, body, err, site)
	}
	if _, err := OverviewBody(traffic.Query{SiteID: site, Start: base, End: base.Add(time.Hour)}, trafficv1.TrafficInterval_TRAFFIC_INTERVAL_UNSPECIFIED, []time.Time{base}); err == nil {
		t.Fatal("unspecified interval accepted")
	}
}

func TestBreakdownBodiesGolden(t *testing.T) {
	q := traffic.Query{SiteID: site, Start: base, End: base.Add(7 * 24 * time.Hour)}
	for name, c := range map[string]struct {
		dim   trafficv1.TrafficDimension
		limit int
		f     *trafficv1.TrafficFilter
	}{
		"breakdown_page":     {trafficv1.TrafficDimension_TRAFFIC_DIMENSION_PAGE, 10, nil},
		"breakdown_referrer": {trafficv1.TrafficDimension_TRAFFIC_DIMENSION_REFERRER, 1000, &trafficv1.TrafficFilter{Countries: []string{"DE"}}},
		"breakdown_screen":   {trafficv1.TrafficDimension_TRAFFIC_DIMENSION_SCREEN_SIZE, 5, nil},
	} {
		q.Filter = c.f
		body, err := BreakdownBody(q, c.dim, c.limit)
		estest.SearchBody(t, name, body, err, site)
	}
	// Every dimension has a field; the unspecified one and bad limits fail.
	for d := range trafficv1.TrafficDimension_name {
		dim := trafficv1.TrafficDimension(d)
		_, err := BreakdownBody(q, dim, 10)
		if (err == nil) != (dim != trafficv1.TrafficDimension_TRAFFIC_DIMENSION_UNSPECIFIED) {
			t.Errorf("dimension %v: %v", dim, err)
		}
	}
	for _, l := range []int{0, -1, traffic.MaxBreakdownRows + 1} {
		if _, err := BreakdownBody(q, trafficv1.TrafficDimension_TRAFFIC_DIMENSION_OS, l); err == nil {
			t.Errorf("limit %d accepted", l)
		}
	}
}

func TestScanAndMedianBodiesGolden(t *testing.T) {
	fq, err := FilterQuery(site, base, base.Add(time.Hour), &trafficv1.TrafficFilter{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	estest.Golden(t, "median_window", NthBody(fq, 61_500.5, true, nthWindow, nil))
	estest.Golden(t, "median_walk_above", NthBody(fq, 61_500.5, false, walkPage, []any{json.RawMessage("61501"), json.RawMessage(`"s-9"`)}))
	// NthBody adds its clause to a copy: the filter it was given is intact.
	if n := len(fq["bool"].(map[string]any)["filter"].([]any)); n != 4 {
		t.Fatalf("filter changed under NthBody: %d clauses", n)
	}
	estest.Golden(t, "realtime_scan", ScanBody(RealtimeQuery(site, base), realtimeSource, []json.RawMessage{json.RawMessage("1772323200000000000"), json.RawMessage(`"s-1"`)}))
	estest.SiteFirst(t, "realtime", RealtimeQuery(site, base), site)
	for name, steps := range map[string][]*trafficv1.FunnelStep{
		"funnel_page_first": {
			{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_PATTERN, Value: "/product/*"}}},
			{Match: &trafficv1.FunnelStep_Event{Event: "purchase"}},
		},
		"funnel_event_first": {
			{Match: &trafficv1.FunnelStep_Event{Event: "signup"}},
			{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: searchv1.UrlMatch_OPERATOR_EQUALS, Value: "https://x.example/welcome"}}},
		},
	} {
		fq, err := FunnelQueryBody(traffic.FunnelQuery{SiteID: site, Start: base, End: base.Add(30 * 24 * time.Hour), Steps: steps,
			DeviceTypes: []sessionsv1.DeviceType{sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP}})
		if err != nil {
			t.Fatal(err)
		}
		estest.Golden(t, name, ScanBody(fq, funnelSource, nil))
		estest.SiteFirst(t, name, fq, site)
	}
}

func TestDeleteAndSweepBodiesGolden(t *testing.T) {
	for name, sel := range map[string]index.Selector{
		"delete_ids":     {SessionIDs: []string{"s-1", "s-2"}},
		"delete_visitor": {VisitorID: "v-1"},
		"delete_site":    {WholeSite: true},
		"delete_before":  {StartedBefore: base},
	} {
		counted, rest, err := DeleteBodies(site, sel)
		if err != nil {
			t.Fatal(err)
		}
		estest.Golden(t, name, map[string]any{"counted": counted, "rest": rest})
		estest.SiteFirst(t, name, counted["query"], site)
		estest.SiteFirst(t, name, rest["query"], site)
	}
	if _, _, err := DeleteBodies(site, index.Selector{}); err == nil {
		t.Fatal("empty selector accepted")
	}
	counted, rest := SweepBodies(base, 30*24*time.Hour)
	estest.Golden(t, "sweep", map[string]any{"counted": counted, "rest": rest})
}

func TestWriteBodiesGolden(t *testing.T) {
	keys := []docKey{{site, "s-1"}, {site + 1, "s-2"}}
	estest.Golden(t, "mget", MgetBody(keys))
	st := &state{}
	st.add(traffic.Hit{SiteID: site, SessionID: "s-1", VisitorID: "v-1", PageViewID: "p-1", Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW,
		Time: base, URL: "https://shop.example.com/?utm_source=news", Referrer: "https://www.Google.com/search",
		Device: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, Browser: "Safari", OS: "iOS", Country: "FR", ScreenW: 390, ScreenH: 844, RetentionDays: 30})
	raw, err := BulkBody([]bulkItem{
		{key: keys[0], found: true, seqNo: 7, primaryTerm: 2, doc: document(site, "s-1", st)},
		{key: keys[1], doc: document(site+1, "s-2", &state{Mark: &mark{Version: 3, Rage: true}, MarkedAt: base.UnixNano()})},
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var v any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("bulk line %q: %v", l, err)
		}
		lines = append(lines, v)
	}
	estest.Golden(t, "bulk", lines)
}

// TestDocumentFieldsMapped: every field a document can carry is in the
// strict mapping (dynamic: strict would refuse the document).
func TestDocumentFieldsMapped(t *testing.T) {
	st := &state{Mark: &mark{Version: 1}, MarkedAt: 1, Ret: 3}
	for _, h := range []traffic.Hit{
		{PageViewID: "p1", Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Time: base, URL: "https://a.example/x", VisitorID: "v"},
		{PageViewID: "p2", Kind: sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, Time: base.Add(time.Second), URL: "https://a.example/y", VisitorID: "v"},
		{PageViewID: "p2", Kind: sessionsv1.HitKind_HIT_KIND_EVENT, Time: base.Add(2 * time.Second), Event: "buy", VisitorID: "v"},
		{PageViewID: "p9", Kind: sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, Time: base.Add(3 * time.Second), Duration: time.Second, VisitorID: "v"},
	} {
		st.add(h)
	}
	doc := document(site, "s", st)
	props := properties()
	for k := range doc {
		if _, ok := props[k]; !ok {
			t.Errorf("document field %q is not mapped", k)
		}
	}
	nested := props[fPageViews].(map[string]any)["properties"].(map[string]any)
	for _, pv := range doc[fPageViews].([]any) {
		for k := range pv.(map[string]any) {
			if _, ok := nested[k]; !ok {
				t.Errorf("nested field %q is not mapped", k)
			}
		}
	}
	if len(doc) < 30 {
		t.Fatalf("document has only %d fields: %v", len(doc), doc)
	}
}
