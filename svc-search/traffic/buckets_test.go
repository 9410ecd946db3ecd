package traffic_test

import (
	"testing"
	"time"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

const (
	hour = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR
	day  = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY
	week = trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// spans answers the lengths of the buckets of [start, end) (the last one
// cut at end).
func spans(t *testing.T, start, end time.Time, iv trafficv1.TrafficInterval, loc *time.Location) ([]time.Time, []time.Duration) {
	t.Helper()
	bs, err := traffic.Buckets(start, end, iv, loc)
	if err != nil {
		t.Fatalf("buckets: %v", err)
	}
	var ds []time.Duration
	for i, b := range bs {
		next := end
		if i+1 < len(bs) {
			next = bs[i+1]
		}
		ds = append(ds, next.Sub(b))
	}
	return bs, ds
}

// Days across DST changes have 23 and 25 hours, in each zone's own
// midnights.
func TestDaysAcrossDST(t *testing.T) {
	cases := []struct {
		zone, start, end string
		first            string // UTC instant of the first local midnight
		hours            []int
	}{
		// Berlin: spring forward on Sunday 29 March 2026, fall back on Sunday 25 October.
		{"Europe/Berlin", "2026-03-27T23:00:00Z", "2026-03-30T22:00:00Z", "2026-03-27T23:00:00Z", []int{24, 23, 24}},
		{"Europe/Berlin", "2026-10-23T22:00:00Z", "2026-10-26T23:00:00Z", "2026-10-23T22:00:00Z", []int{24, 25, 24}},
		// New York: 8 March and 1 November 2026.
		{"America/New_York", "2026-03-07T05:00:00Z", "2026-03-09T04:00:00Z", "2026-03-07T05:00:00Z", []int{24, 23}},
		{"America/New_York", "2026-10-31T04:00:00Z", "2026-11-02T05:00:00Z", "2026-10-31T04:00:00Z", []int{24, 25}},
		// Kolkata: +05:30 all year, days start at 18:30 UTC.
		{"Asia/Kolkata", "2026-03-28T18:30:00Z", "2026-03-31T18:30:00Z", "2026-03-28T18:30:00Z", []int{24, 24, 24}},
		// Lord Howe: half-hour DST; ends Sunday 5 April 2026 (a 24.5-hour
		// day), starts Sunday 4 October (23.5 hours).
		{"Australia/Lord_Howe", "2026-04-03T13:00:00Z", "2026-04-06T13:30:00Z", "2026-04-03T13:00:00Z", []int{-1, -1, -1}},
	}
	for _, c := range cases {
		loc := zone(t, c.zone)
		bs, ds := spans(t, utc(c.start), utc(c.end), day, loc)
		if !bs[0].Equal(utc(c.first)) {
			t.Errorf("%s: first day starts %s, want %s", c.zone, bs[0].UTC(), c.first)
		}
		if len(ds) != len(c.hours) {
			t.Fatalf("%s %s: %d days, want %d (%v)", c.zone, c.start, len(ds), len(c.hours), bs)
		}
		for i, h := range c.hours {
			if h >= 0 && ds[i] != time.Duration(h)*time.Hour {
				t.Errorf("%s %s: day %d lasts %s, want %dh", c.zone, c.start, i, ds[i], h)
			}
			if l := bs[i].In(loc); l.Hour() != 0 || l.Minute() != 0 {
				t.Errorf("%s: day %d starts at local %s, not midnight", c.zone, i, l)
			}
		}
	}
	// Lord Howe by hand: 5 April lasts 24h30m, 4 October 23h30m.
	lh := zone(t, "Australia/Lord_Howe")
	for _, c := range []struct {
		at   string
		want time.Duration
	}{{"2026-04-05T06:00:00Z", 24*time.Hour + 30*time.Minute}, {"2026-10-04T06:00:00Z", 23*time.Hour + 30*time.Minute}} {
		b := traffic.BucketStart(utc(c.at), day, lh)
		if got := traffic.NextBucket(b, day, lh).Sub(b); got != c.want {
			t.Errorf("Lord Howe day of %s lasts %s, want %s", c.at, got, c.want)
		}
	}
}

// Hours are the local clock's: Kolkata's start at half past the UTC hour,
// the hour skipped in spring is absent, the hour repeated in autumn is
// two buckets.
func TestHoursAcrossDST(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	// 29 March 2026, 00:00–03:00 UTC: local 01:00 CET, then 03:00 and 04:00 CEST.
	bs, ds := spans(t, utc("2026-03-29T00:00:00Z"), utc("2026-03-29T03:00:00Z"), hour, berlin)
	wantStarts(t, "Berlin spring", bs, "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z")
	if l := bs[1].In(berlin); l.Hour() != 3 {
		t.Errorf("Berlin spring: second bucket is local %s, want 03:00 (02:00 does not exist)", l)
	}
	for i, d := range ds {
		if d != time.Hour {
			t.Errorf("Berlin spring: bucket %d lasts %s", i, d)
		}
	}
	// 25 October 2026: 02:00 CEST (00:00 UTC) and 02:00 CET (01:00 UTC) are two buckets.
	bs, _ = spans(t, utc("2026-10-25T00:00:00Z"), utc("2026-10-25T02:00:00Z"), hour, berlin)
	wantStarts(t, "Berlin autumn", bs, "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z")
	if bs[0].In(berlin).Hour() != 2 || bs[1].In(berlin).Hour() != 2 {
		t.Errorf("Berlin autumn: both buckets should be local 02:00, got %s and %s", bs[0].In(berlin), bs[1].In(berlin))
	}
	// A whole 25-hour day in hours: 25 buckets; a 23-hour one: 23.
	if bs, _ := spans(t, utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"), hour, berlin); len(bs) != 25 {
		t.Errorf("Berlin 25 October: %d hour buckets, want 25", len(bs))
	}
	if bs, _ := spans(t, utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"), hour, berlin); len(bs) != 23 {
		t.Errorf("Berlin 29 March: %d hour buckets, want 23", len(bs))
	}

	ny := zone(t, "America/New_York")
	if bs, _ := spans(t, utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"), hour, ny); len(bs) != 25 {
		t.Errorf("New York 1 November: %d hour buckets, want 25", len(bs))
	}

	kolkata := zone(t, "Asia/Kolkata")
	// A range starting mid-hour: the first bucket is the local hour holding it.
	bs, _ = spans(t, utc("2026-11-30T10:10:00Z"), utc("2026-11-30T12:31:00Z"), hour, kolkata)
	wantStarts(t, "Kolkata", bs, "2026-11-30T09:30:00Z", "2026-11-30T10:30:00Z", "2026-11-30T11:30:00Z", "2026-11-30T12:30:00Z")

	// Lord Howe: every instant lands in a listed bucket, and the list
	// increases strictly, through the half-hour changes.
	lh := zone(t, "Australia/Lord_Howe")
	for _, r := range [][2]string{{"2026-04-04T10:00:00Z", "2026-04-04T20:00:00Z"}, {"2026-10-03T10:00:00Z", "2026-10-03T20:00:00Z"}} {
		covers(t, "Lord Howe "+r[0], utc(r[0]), utc(r[1]), hour, lh)
	}
	// Lord Howe DST start (4 October 02:00 LHST → 02:30 LHDT, 15:30 UTC on
	// the 3rd): the local hour 02:xx holds only [15:30, 16:00) UTC, but its
	// start is the wall clock's 02:00 in the new offset, 15:00 UTC — an
	// instant still inside local 01:xx. Pinned as BucketStart defines it:
	// starts increase and every instant lands in exactly one listed bucket.
	bs, _ = spans(t, utc("2026-10-03T14:30:00Z"), utc("2026-10-03T17:00:00Z"), hour, lh)
	wantStarts(t, "Lord Howe spring", bs, "2026-10-03T14:30:00Z", "2026-10-03T15:00:00Z", "2026-10-03T16:00:00Z")
	if b := traffic.BucketStart(utc("2026-10-03T15:10:00Z"), hour, lh); !b.Equal(utc("2026-10-03T14:30:00Z")) {
		t.Errorf("Lord Howe spring: 15:10 UTC (local 01:40 LHST) lands in %s", b.UTC())
	}
	if b := traffic.BucketStart(utc("2026-10-03T15:40:00Z"), hour, lh); !b.Equal(utc("2026-10-03T15:00:00Z")) {
		t.Errorf("Lord Howe spring: 15:40 UTC (local 02:40 LHDT) lands in %s", b.UTC())
	}
}

func TestWeeksStartOnLocalMonday(t *testing.T) {
	ny := zone(t, "America/New_York")
	// The week of Sunday 1 November 2026 (fall back) lasts 169 hours.
	bs, ds := spans(t, utc("2026-10-26T04:00:00Z"), utc("2026-11-09T05:00:00Z"), week, ny)
	wantStarts(t, "New York weeks", bs, "2026-10-26T04:00:00Z", "2026-11-02T05:00:00Z")
	if ds[0] != 169*time.Hour || ds[1] != 168*time.Hour {
		t.Errorf("New York weeks last %v, want 169h and 168h", ds)
	}
	for _, b := range bs {
		if b.In(ny).Weekday() != time.Monday {
			t.Errorf("week starts on %s", b.In(ny).Weekday())
		}
	}
	berlin := zone(t, "Europe/Berlin")
	// Monday 30 March 2026 00:00 CEST = 29 March 22:00 UTC; the week before held the 23-hour day.
	bs, ds = spans(t, utc("2026-03-23T10:00:00Z"), utc("2026-04-01T00:00:00Z"), week, berlin)
	wantStarts(t, "Berlin weeks", bs, "2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z")
	if ds[0] != 167*time.Hour {
		t.Errorf("Berlin week of 29 March lasts %s, want 167h", ds[0])
	}
	covers(t, "Kolkata weeks", utc("2026-01-01T00:00:00Z"), utc("2026-03-01T00:00:00Z"), week, zone(t, "Asia/Kolkata"))
}

func TestBucketsEdges(t *testing.T) {
	a := utc("2026-11-30T00:00:00Z")
	if bs, err := traffic.Buckets(a, a, day, time.UTC); err != nil || bs != nil {
		t.Errorf("empty range: %v %v", bs, err)
	}
	if bs, err := traffic.Buckets(a, a.Add(-time.Hour), day, time.UTC); err != nil || bs != nil {
		t.Errorf("reversed range: %v %v", bs, err)
	}
	// The end is exclusive: [00:00, 01:00) is one hour, [00:00, 01:00:00.000000001) two.
	if bs, _ := traffic.Buckets(a, a.Add(time.Hour), hour, time.UTC); len(bs) != 1 {
		t.Errorf("one hour: %d buckets", len(bs))
	}
	if bs, _ := traffic.Buckets(a, a.Add(time.Hour+time.Nanosecond), hour, time.UTC); len(bs) != 2 {
		t.Errorf("an hour and a nanosecond: %d buckets", len(bs))
	}
	if _, err := traffic.Buckets(a, a.Add(1001*time.Hour), hour, time.UTC); err != traffic.ErrTooManyBuckets {
		t.Errorf("1001 hours: %v, want ErrTooManyBuckets", err)
	}
	if bs, err := traffic.Buckets(a, a.Add(1000*time.Hour), hour, time.UTC); err != nil || len(bs) != 1000 {
		t.Errorf("1000 hours: %d buckets, %v", len(bs), err)
	}
	// The longest range in weeks fits.
	if _, err := traffic.Buckets(a.Add(-traffic.MaxRange), a, week, zone(t, "Australia/Lord_Howe")); err != nil {
		t.Errorf("MaxRange in weeks: %v", err)
	}
	for _, c := range []struct {
		d    time.Duration
		want trafficv1.TrafficInterval
	}{{time.Hour, hour}, {48 * time.Hour, hour}, {48*time.Hour + time.Second, day}, {92 * 24 * time.Hour, day}, {93 * 24 * time.Hour, week}} {
		if got := traffic.AutoInterval(a, a.Add(c.d)); got != c.want {
			t.Errorf("AutoInterval(%s) = %s, want %s", c.d, got, c.want)
		}
	}
}

// covers checks that the buckets of [start, end) increase strictly and
// that every minute of the range lands, by BucketStart, in one of them.
func covers(t *testing.T, name string, start, end time.Time, iv trafficv1.TrafficInterval, loc *time.Location) {
	t.Helper()
	bs, err := traffic.Buckets(start, end, iv, loc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	set := map[int64]bool{}
	for i, b := range bs {
		if i > 0 && !b.After(bs[i-1]) {
			t.Errorf("%s: bucket %d (%s) not after %s", name, i, b, bs[i-1])
		}
		set[b.UnixNano()] = true
	}
	for at := start; at.Before(end); at = at.Add(time.Minute) {
		if b := traffic.BucketStart(at, iv, loc); !set[b.UnixNano()] {
			t.Fatalf("%s: %s lands in %s, which is not listed", name, at, b)
		}
	}
}

func wantStarts(t *testing.T, name string, got []time.Time, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets %v, want %v", name, len(got), got, want)
	}
	for i, w := range want {
		if !got[i].Equal(utc(w)) {
			t.Errorf("%s: bucket %d starts %s, want %s", name, i, got[i].UTC().Format(time.RFC3339), w)
		}
	}
}
