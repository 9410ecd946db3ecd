package search

import (
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/pagerule"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// Input limits. They bound the work one query can cause; they are not
// configurable because the index mapping and the token format rely on them.
const (
	maxStringBytes = 512
	maxValues      = 50
	maxFacets      = 5
	maxDeleteIDs   = 1000
	// maxSummaryPages etc. bound one indexed document.
	maxSummaryPages  = 10_000
	maxSummaryAttrs  = 200
	maxSummaryEvents = 500
	maxURLBytes      = 8192
	// maxSelectorBytes bounds a clicked element's selector path (the
	// tracker's and recordings' limit); maxClickedElements the selectors
	// of one summary.
	maxSelectorBytes   = 200
	maxClickedElements = 100
)

// Timestamps outside this window cannot be represented by the indexes
// (nanoseconds since 1970 in an int64) and are never real session times.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// invalid is a validation failure; the handlers turn it into InvalidArgument.
type invalid struct{ msg string }

func (e *invalid) Error() string { return e.msg }

func invalidf(format string, args ...any) error { return &invalid{msg: fmt.Sprintf(format, args...)} }

func checkString(name, v string) error {
	if len(v) > maxStringBytes {
		return invalidf("%s is %d bytes, at most %d allowed", name, len(v), maxStringBytes)
	}
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", name)
	}
	return nil
}

func checkValues(name string, vs []string) error {
	if len(vs) > maxValues {
		return invalidf("%s has %d values, at most %d allowed", name, len(vs), maxValues)
	}
	for i, v := range vs {
		if v == "" {
			return invalidf("%s[%d] is empty", name, i)
		}
		if err := checkString(fmt.Sprintf("%s[%d]", name, i), v); err != nil {
			return err
		}
	}
	return nil
}

// checkDeleteIDs checks a delete selector's id list: 1 to maxDeleteIDs
// ids, none empty.
func checkDeleteIDs(name string, ids []string) error {
	if len(ids) == 0 || len(ids) > maxDeleteIDs {
		return invalidf("%s must hold 1 to %d ids", name, maxDeleteIDs)
	}
	for i, id := range ids {
		if err := checkRequired(fmt.Sprintf("%s[%d]", name, i), id); err != nil {
			return err
		}
	}
	return nil
}

// checkBatch checks an upsert call's items (what names them): at most max,
// each valid by check (given its index).
func checkBatch[T any](what string, items []T, max int, check func(int, T) error) error {
	if len(items) > max {
		return invalidf("%d %s in one call, at most %d allowed", len(items), what, max)
	}
	for i, it := range items {
		if err := check(i, it); err != nil {
			return err
		}
	}
	return nil
}

// selectedIDs, selectedString, selectedWholeSite and selectedTime check a
// delete selector's value (checkDeleteIDs, checkRequired, true,
// checkRequiredTime) and return it for the index's selector.
func selectedIDs(name string, ids []string) ([]string, error) {
	return ids, checkDeleteIDs(name, ids)
}

func selectedString(name, v string) (string, error) { return v, checkRequired(name, v) }

func selectedWholeSite(set bool) (bool, error) {
	if !set {
		return false, invalidf("whole_site must be true when set")
	}
	return true, nil
}

func selectedTime(name string, ts *timestamppb.Timestamp) (time.Time, error) {
	if err := checkRequiredTime(name, ts); err != nil {
		return time.Time{}, err
	}
	return ts.AsTime(), nil
}

// checkRequired checks a string a selector needs: present and well formed.
func checkRequired(name, v string) error {
	if v == "" {
		return invalidf("%s is empty", name)
	}
	return checkString(name, v)
}

// checkRequiredTime checks a time a selector needs: present and in range.
func checkRequiredTime(name string, ts *timestamppb.Timestamp) error {
	if ts == nil {
		return invalidf("%s is empty", name)
	}
	return checkTime(name, ts)
}

func checkTime(name string, ts *timestamppb.Timestamp) error {
	if ts == nil {
		return nil
	}
	if err := ts.CheckValid(); err != nil {
		return invalidf("%s: %v", name, err)
	}
	t := ts.AsTime()
	if t.Before(minTime) || !t.Before(maxTime) {
		return invalidf("%s %s is outside [1970, 2262)", name, t.Format(time.RFC3339))
	}
	return nil
}

func checkDuration(name string, d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return invalidf("%s: %v", name, err)
	}
	if d.AsDuration() < 0 {
		return invalidf("%s is negative", name)
	}
	return nil
}

func checkDurationRange(name string, r *searchv1.DurationRange) error {
	if r == nil {
		return nil
	}
	if err := checkDuration(name+".min", r.Min); err != nil {
		return err
	}
	if err := checkDuration(name+".max", r.Max); err != nil {
		return err
	}
	if r.Min != nil && r.Max != nil && r.Min.AsDuration() > r.Max.AsDuration() {
		return invalidf("%s.min is greater than %s.max", name, name)
	}
	return nil
}

func checkURLMatch(name string, m *searchv1.UrlMatch) error {
	if m == nil || (m.Operator == searchv1.UrlMatch_OPERATOR_UNSPECIFIED && m.Value == "") {
		return nil
	}
	if _, ok := searchv1.UrlMatch_Operator_name[int32(m.Operator)]; !ok {
		return invalidf("%s.operator %d is unknown", name, m.Operator)
	}
	if m.Operator == searchv1.UrlMatch_OPERATOR_UNSPECIFIED {
		return invalidf("%s.operator is required", name)
	}
	if m.Value == "" {
		return invalidf("%s.value is empty", name)
	}
	// The page rules heatmaps take (pagerule): a link from a heatmap to its
	// recordings carries the same rule, so the limits are the same.
	if err := (pagerule.Rule{Op: pagerule.Op(m.Operator), Value: m.Value}).Check(); err != nil {
		return invalidf("%s.%v", name, err)
	}
	return nil
}

func checkSelector(name, v string) error {
	if len(v) > maxSelectorBytes {
		return invalidf("%s is %d bytes, at most %d allowed", name, len(v), maxSelectorBytes)
	}
	if !utf8.ValidString(v) {
		return invalidf("%s is not valid UTF-8", name)
	}
	return nil
}

// checkNoUnknown refuses messages carrying fields this server does not know
// (a client built against a newer contract), at any depth.
func checkNoUnknown(name string, m protoreflect.Message) error {
	if at := rpc.UnknownFieldsAt(name, m); at != "" {
		return invalidf("%s carries unknown fields", at)
	}
	return nil
}

// validateFilter checks every condition of a filter against the limits.
func validateFilter(f *searchv1.SessionFilter) error {
	if f == nil {
		return nil
	}
	if err := checkNoUnknown("filter", f.ProtoReflect()); err != nil {
		return err
	}
	if tr := f.StartTime; tr != nil {
		if err := checkTime("filter.start_time.start", tr.Start); err != nil {
			return err
		}
		if err := checkTime("filter.start_time.end", tr.End); err != nil {
			return err
		}
		if tr.Start != nil && tr.End != nil && !tr.Start.AsTime().Before(tr.End.AsTime()) {
			return invalidf("filter.start_time.start must be before filter.start_time.end")
		}
	}
	if err := checkDurationRange("filter.duration", f.Duration); err != nil {
		return err
	}
	if err := checkDurationRange("filter.active_duration", f.ActiveDuration); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		m    *searchv1.UrlMatch
	}{{"filter.visited_page", f.VisitedPage}, {"filter.entry_page", f.EntryPage}, {"filter.exit_page", f.ExitPage}} {
		if err := checkURLMatch(m.name, m.m); err != nil {
			return err
		}
	}
	if pc := f.PageCount; pc != nil {
		if pc.Min < 0 || pc.Max < 0 {
			return invalidf("filter.page_count is negative")
		}
		if pc.Max != 0 && pc.Min > pc.Max {
			return invalidf("filter.page_count.min is greater than filter.page_count.max")
		}
	}
	if err := checkRatingRange("filter.feedback_rating", f.FeedbackRating); err != nil {
		return err
	}
	if len(f.DeviceTypes) > maxValues {
		return invalidf("filter.device_types has %d values, at most %d allowed", len(f.DeviceTypes), maxValues)
	}
	for i, d := range f.DeviceTypes {
		if _, ok := sessionsv1.DeviceType_name[int32(d)]; !ok {
			return invalidf("filter.device_types[%d] = %d is unknown", i, d)
		}
	}
	for _, vs := range []struct {
		name   string
		values []string
	}{{"filter.browsers", f.Browsers}, {"filter.oses", f.Oses}, {"filter.countries", f.Countries}} {
		if err := checkValues(vs.name, vs.values); err != nil {
			return err
		}
	}
	for _, s := range []struct{ name, v string }{
		{"filter.referrer_domain", f.ReferrerDomain}, {"filter.utm_source", f.UtmSource},
		{"filter.utm_medium", f.UtmMedium}, {"filter.utm_campaign", f.UtmCampaign},
		{"filter.user_id", f.UserId}, {"filter.custom_event", f.CustomEvent},
	} {
		if err := checkString(s.name, s.v); err != nil {
			return err
		}
	}
	for _, s := range []struct{ name, v string }{
		{"filter.clicked_element", f.ClickedElement}, {"filter.rage_clicked_element", f.RageClickedElement},
		{"filter.dead_clicked_element", f.DeadClickedElement},
	} {
		if err := checkSelector(s.name, s.v); err != nil {
			return err
		}
	}
	if len(f.UserAttributes) > maxValues {
		return invalidf("filter.user_attributes has %d values, at most %d allowed", len(f.UserAttributes), maxValues)
	}
	for i, a := range f.UserAttributes {
		if a.GetKey() == "" {
			return invalidf("filter.user_attributes[%d].key is empty", i)
		}
		if err := checkString(fmt.Sprintf("filter.user_attributes[%d].key", i), a.GetKey()); err != nil {
			return err
		}
		if err := checkString(fmt.Sprintf("filter.user_attributes[%d].value", i), a.GetValue()); err != nil {
			return err
		}
	}
	return nil
}

func validateSite(siteID int64) error {
	if siteID <= 0 {
		return invalidf("site_id must be positive")
	}
	return nil
}

// validateSummary checks one summary before it is indexed.
func validateSummary(i int, s *sessionsv1.SessionSummary) error {
	name := fmt.Sprintf("sessions[%d]", i)
	if s == nil {
		return invalidf("%s is empty", name)
	}
	if s.SiteId <= 0 {
		return invalidf("%s.site_id must be positive", name)
	}
	if s.SessionId == "" {
		return invalidf("%s.session_id is empty", name)
	}
	if err := checkString(name+".session_id", s.SessionId); err != nil {
		return err
	}
	if err := checkString(name+".visitor_id", s.VisitorId); err != nil {
		return err
	}
	if s.Version < 0 {
		return invalidf("%s.version is negative", name)
	}
	if s.StartTime == nil {
		return invalidf("%s.start_time is required", name)
	}
	if err := checkTime(name+".start_time", s.StartTime); err != nil {
		return err
	}
	if err := checkDuration(name+".duration", s.Duration); err != nil {
		return err
	}
	if err := checkDuration(name+".active_duration", s.ActiveDuration); err != nil {
		return err
	}
	if len(s.Pages) > maxSummaryPages || len(s.UserAttributes) > maxSummaryAttrs || len(s.CustomEvents) > maxSummaryEvents {
		return invalidf("%s has too many pages, attributes or events", name)
	}
	for _, u := range append([]string{s.EntryUrl, s.ExitUrl}, pageURLs(s)...) {
		if len(u) > maxURLBytes || !utf8.ValidString(u) {
			return invalidf("%s has a URL longer than %d bytes or not UTF-8", name, maxURLBytes)
		}
	}
	for _, l := range []struct {
		field string
		sels  []string
	}{{"clicked_elements", s.ClickedElements}, {"rage_clicked_elements", s.RageClickedElements}, {"dead_clicked_elements", s.DeadClickedElements}} {
		if len(l.sels) > maxClickedElements {
			return invalidf("%s has %d %s, at most %d allowed", name, len(l.sels), l.field, maxClickedElements)
		}
		for j, sel := range l.sels {
			if err := checkSelector(fmt.Sprintf("%s.%s[%d]", name, l.field, j), sel); err != nil {
				return err
			}
		}
	}
	return nil
}

func pageURLs(s *sessionsv1.SessionSummary) []string {
	out := make([]string, 0, len(s.Pages))
	for _, p := range s.Pages {
		out = append(out, p.GetUrl())
	}
	return out
}
