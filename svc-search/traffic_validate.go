package search

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Limits of the traffic RPCs.
const (
	defaultBreakdownRows  = 10
	defaultFunnelPageSize = 25
	maxFunnelPageSize     = 100
	maxStepLabelChars     = 100
)

// trafficRange checks a query's range: both bounds, start < end, at most
// traffic.MaxRange.
func trafficRange(tr *searchv1.TimeRange) (time.Time, time.Time, error) {
	if tr.GetStart() == nil || tr.GetEnd() == nil {
		return time.Time{}, time.Time{}, invalidf("range.start and range.end are both required")
	}
	if err := checkTime("range.start", tr.GetStart()); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if err := checkTime("range.end", tr.GetEnd()); err != nil {
		return time.Time{}, time.Time{}, err
	}
	start, end := tr.GetStart().AsTime(), tr.GetEnd().AsTime()
	if !start.Before(end) {
		return time.Time{}, time.Time{}, invalidf("range.start must be before range.end")
	}
	if end.Sub(start) > traffic.MaxRange {
		return time.Time{}, time.Time{}, invalidf("range spans %s, at most %d days allowed", end.Sub(start).Round(time.Hour), int(traffic.MaxRange/(24*time.Hour)))
	}
	return start, end, nil
}

func checkDeviceTypes(name string, ds []sessionsv1.DeviceType) error {
	if len(ds) > maxValues {
		return invalidf("%s has %d values, at most %d allowed", name, len(ds), maxValues)
	}
	for i, d := range ds {
		if _, ok := sessionsv1.DeviceType_name[int32(d)]; !ok || d == sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED {
			return invalidf("%s[%d] = %d is unknown", name, i, d)
		}
	}
	return nil
}

// validateTrafficFilter checks every condition of a traffic filter.
func validateTrafficFilter(f *trafficv1.TrafficFilter) error {
	if f == nil {
		return nil
	}
	if err := checkDeviceTypes("filter.device_types", f.GetDeviceTypes()); err != nil {
		return err
	}
	for _, vs := range []struct {
		name   string
		values []string
	}{{"filter.countries", f.GetCountries()}, {"filter.browsers", f.GetBrowsers()}, {"filter.oses", f.GetOses()}} {
		if err := checkValues(vs.name, vs.values); err != nil {
			return err
		}
	}
	for _, s := range []struct{ name, v string }{
		{"filter.referrer_domain", f.GetReferrerDomain()}, {"filter.utm_source", f.GetUtmSource()},
		{"filter.utm_medium", f.GetUtmMedium()}, {"filter.utm_campaign", f.GetUtmCampaign()},
		{"filter.screen_size", f.GetScreenSize()},
	} {
		if err := checkString(s.name, s.v); err != nil {
			return err
		}
	}
	if f.GetDirect() && f.GetReferrerDomain() != "" {
		return invalidf("filter.direct and filter.referrer_domain exclude each other; set one")
	}
	for _, m := range []struct {
		name string
		m    *searchv1.UrlMatch
	}{{"filter.visited_page", f.GetVisitedPage()}, {"filter.entry_page", f.GetEntryPage()}, {"filter.exit_page", f.GetExitPage()}} {
		if err := checkURLMatch(m.name, m.m); err != nil {
			return err
		}
	}
	return nil
}

// validateSteps checks a funnel's steps: MinSteps to MaxSteps, each a page
// rule (the sessions filter's UrlMatch) or an event name.
func validateSteps(steps []*trafficv1.FunnelStep) error {
	if len(steps) < traffic.MinSteps || len(steps) > traffic.MaxSteps {
		return invalidf("a funnel has %d to %d steps, got %d", traffic.MinSteps, traffic.MaxSteps, len(steps))
	}
	for i, st := range steps {
		name := fmt.Sprintf("steps[%d]", i)
		if st == nil {
			return invalidf("%s is empty", name)
		}
		if !utf8.ValidString(st.GetLabel()) || utf8.RuneCountInString(st.GetLabel()) > maxStepLabelChars {
			return invalidf("%s.label must be valid UTF-8 of at most %d characters", name, maxStepLabelChars)
		}
		switch m := st.GetMatch().(type) {
		case *trafficv1.FunnelStep_Page:
			if m.Page.GetOperator() == searchv1.UrlMatch_OPERATOR_UNSPECIFIED && m.Page.GetValue() == "" {
				return invalidf("%s.page needs an operator and a value", name)
			}
			if err := checkURLMatch(name+".page", m.Page); err != nil {
				return err
			}
		case *trafficv1.FunnelStep_Event:
			if err := checkEventName(name+".event", m.Event); err != nil {
				return err
			}
		default:
			return invalidf("%s needs a page rule or an event name", name)
		}
	}
	return nil
}

// checkEventName: 1–100 characters of valid UTF-8, the tracker's limit.
func checkEventName(name, v string) error {
	if v == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > traffic.MaxEventName {
		return invalidf("%s must be 1 to %d characters of valid UTF-8", name, traffic.MaxEventName)
	}
	return nil
}

// funnelQuery checks the parts of a funnel request ComputeFunnel and
// ListFunnelSessions share.
func funnelQuery(site int64, steps []*trafficv1.FunnelStep, tr *searchv1.TimeRange, devices []sessionsv1.DeviceType) (traffic.FunnelQuery, error) {
	start, end, err := trafficRange(tr)
	if err != nil {
		return traffic.FunnelQuery{}, err
	}
	if err := validateSteps(steps); err != nil {
		return traffic.FunnelQuery{}, err
	}
	if err := checkDeviceTypes("device_types", devices); err != nil {
		return traffic.FunnelQuery{}, err
	}
	return traffic.FunnelQuery{SiteID: site, Start: start, End: end, Steps: steps, DeviceTypes: devices}, nil
}

// checkHit refuses a traffic chunk ingest would never produce: the beacon
// contract (batch.CheckHit, the same code ingest accepted it with), plus
// the client fields ingest derives, bounded as the sessions index bounds
// them.
func checkHit(c *recordingsv1.Chunk) error {
	if err := batch.CheckHit(c); err != nil {
		return err
	}
	if _, ok := sessionsv1.DeviceType_name[int32(c.GetClient().GetDeviceType())]; !ok {
		return fmt.Errorf("client.device_type %d is unknown", c.GetClient().GetDeviceType())
	}
	for _, s := range []struct{ name, v string }{
		{"client.browser", c.GetClient().GetBrowser()}, {"client.os", c.GetClient().GetOs()}, {"client.country", c.GetClient().GetCountry()},
	} {
		if len(s.v) > maxStringBytes || !utf8.ValidString(s.v) {
			return fmt.Errorf("%s must be valid UTF-8 of at most %d bytes", s.name, maxStringBytes)
		}
	}
	return nil
}

// hitOf decodes a checked chunk into the store's Hit.
func hitOf(c *recordingsv1.Chunk) traffic.Hit {
	h := c.GetHit()
	return traffic.Hit{
		SiteID: c.GetSiteId(), OrganizationID: c.GetOrganizationId(),
		SessionID: c.GetSessionId(), VisitorID: c.GetVisitorId(), PageViewID: c.GetPageViewId(),
		Kind: h.GetKind(), Time: c.GetServerTime().AsTime(),
		URL: c.GetUrl(), Referrer: c.GetReferrer(), Event: h.GetEvent(), Duration: h.GetDuration().AsDuration(),
		Device: c.GetClient().GetDeviceType(), Browser: c.GetClient().GetBrowser(), OS: c.GetClient().GetOs(),
		Country: c.GetClient().GetCountry(), ScreenW: h.GetScreenWidth(), ScreenH: h.GetScreenHeight(),
		Recorded: h.GetRecorded(), RetentionDays: c.GetRetentionDays(),
	}
}
