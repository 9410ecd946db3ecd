package traffic_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

func TestCompareOrdersTimeline(t *testing.T) {
	t0 := utc("2026-11-30T10:00:00Z")
	// In the order Compare must produce.
	want := []traffic.Item{
		{Time: t0, PageViewID: "p_b", URL: "https://a.test/x"},
		{Time: t0.Add(time.Millisecond), PageViewID: "p_a", URL: "https://a.test/y"},
		{Time: t0.Add(time.Millisecond), PageViewID: "p_c", URL: "https://a.test/z"},
		{Time: t0.Add(time.Millisecond), Event: true, PageViewID: "p_a", Name: "b"},
		{Time: t0.Add(time.Millisecond), Event: true, PageViewID: "p_a", Name: "c"},
		{Time: t0.Add(time.Millisecond), Event: true, PageViewID: "p_b", Name: "a"},
		{Time: t0.Add(time.Second), Event: true, PageViewID: "p_a", Name: "a"},
	}
	for i := range want {
		for j := range want {
			if got := traffic.Compare(want[i], want[j]); got != cmp.Compare(i, j) {
				t.Errorf("Compare(%d, %d) = %d, want %d", i, j, got, cmp.Compare(i, j))
			}
		}
	}
	rng := rand.New(rand.NewPCG(16, 1))
	for range 50 {
		got := slices.Clone(want)
		rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, traffic.Compare)
		if !slices.Equal(got, want) {
			t.Fatalf("sorted %v, want %v", got, want)
		}
	}
	// Same instant in another zone is the same time.
	a := traffic.Item{Time: t0, PageViewID: "p_a"}
	b := traffic.Item{Time: t0.In(time.FixedZone("x", 3600)), PageViewID: "p_b"}
	if traffic.Compare(a, b) >= 0 || traffic.Compare(b, a) <= 0 {
		t.Errorf("Compare compares wall clocks, not instants")
	}
}

func TestMatchStep(t *testing.T) {
	page := func(op searchv1.UrlMatch_Operator, v string) *trafficv1.FunnelStep {
		return &trafficv1.FunnelStep{Match: &trafficv1.FunnelStep_Page{Page: &searchv1.UrlMatch{Operator: op, Value: v}}}
	}
	event := func(n string) *trafficv1.FunnelStep {
		return &trafficv1.FunnelStep{Match: &trafficv1.FunnelStep_Event{Event: n}}
	}
	pv := func(u string) traffic.Item { return traffic.Item{PageViewID: "p_1", URL: u} }
	ev := func(n string) traffic.Item { return traffic.Item{Event: true, PageViewID: "p_1", Name: n} }
	eq := searchv1.UrlMatch_OPERATOR_EQUALS
	for _, c := range []struct {
		name string
		st   *trafficv1.FunnelStep
		it   traffic.Item
		want bool
	}{
		{"path equals", page(eq, "/pricing"), pv("https://a.test/pricing?utm_source=x"), true},
		{"path equals other", page(eq, "/pricing"), pv("https://a.test/pricing/team"), false},
		{"full equals is a page key", page(eq, "https://A.test/pricing/"), pv("https://a.test/pricing?x=1#top"), true},
		{"prefix", page(searchv1.UrlMatch_OPERATOR_PREFIX, "/docs/"), pv("https://a.test/docs/start"), true},
		{"prefix other", page(searchv1.UrlMatch_OPERATOR_PREFIX, "/docs/"), pv("https://a.test/doc"), false},
		{"contains whole URL", page(searchv1.UrlMatch_OPERATOR_CONTAINS, "a.test/che"), pv("https://a.test/checkout"), true},
		{"pattern", page(searchv1.UrlMatch_OPERATOR_PATTERN, "/product/*/buy"), pv("https://a.test/product/42/buy"), true},
		{"pattern other", page(searchv1.UrlMatch_OPERATOR_PATTERN, "/product/*/buy"), pv("https://a.test/product/42/view"), false},
		{"empty rule matches any page", page(eq, ""), pv("https://a.test/"), true},
		{"page step never matches an event", page(searchv1.UrlMatch_OPERATOR_CONTAINS, "signup"), ev("signup"), false},
		{"event", event("signup"), ev("signup"), true},
		{"event exact, case too", event("signup"), ev("Signup"), false},
		{"event step never matches a page view", event("signup"), pv("https://a.test/signup"), false},
		{"no match set", &trafficv1.FunnelStep{}, pv("https://a.test/"), false},
		{"nil step", nil, ev("x"), false},
	} {
		if got := traffic.MatchStep(c.st, c.it); got != c.want {
			t.Errorf("%s: MatchStep = %v, want %v", c.name, got, c.want)
		}
	}
}
