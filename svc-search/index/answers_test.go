package index_test

import (
	"errors"
	"testing"
	"time"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// TestBuckets pins bucket starts: local midnight across a DST change,
// Monday weeks, months, and the bucket limit.
func TestBuckets(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	day, week, month := searchv1.StatsInterval_STATS_INTERVAL_DAY, searchv1.StatsInterval_STATS_INTERVAL_WEEK, searchv1.StatsInterval_STATS_INTERVAL_MONTH
	// 2026-03-29 is the spring-forward day in Berlin (23 hours long).
	got, err := index.Buckets(time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 23, 0, 0, 0, time.UTC), day, berlin)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC), // 29 March 00:00 CET
		time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC), // 30 March 00:00 CEST
	}
	if len(got) != len(want) || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Fatalf("Berlin days %v, want %v", got, want)
	}
	// Weeks start on Monday: Sunday 2026-03-01 belongs to the week of 23 Feb.
	if b := index.BucketStart(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), week, time.UTC); !b.Equal(time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("week of Sunday 1 March: %v", b)
	}
	if b := index.BucketStart(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), week, time.UTC); !b.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("week of Monday 2 March: %v", b)
	}
	months, err := index.Buckets(time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), month, berlin)
	if err != nil || len(months) != 2 || months[0].In(berlin).Month() != time.January || months[1].In(berlin).Month() != time.February {
		t.Fatalf("months %v, %v", months, err)
	}
	if n, err := index.Buckets(time.Unix(0, 0), time.Unix(0, 0).Add(999*24*time.Hour), day, time.UTC); err != nil || len(n) != 1000 {
		t.Fatalf("1000 days: %d, %v", len(n), err)
	}
	if _, err := index.Buckets(time.Unix(0, 0), time.Unix(0, 0).Add(1000*24*time.Hour), day, time.UTC); !errors.Is(err, index.ErrTooManyBuckets) {
		t.Fatalf("1001 days: %v", err)
	}
	if index.AutoInterval(time.Unix(0, 0), time.Unix(0, 0).Add(index.AutoDayLimit)) != day ||
		index.AutoInterval(time.Unix(0, 0), time.Unix(0, 0).Add(index.AutoDayLimit+time.Second)) != week {
		t.Fatal("auto interval is not days up to 92 days, weeks beyond")
	}
}

// TestCounts pins the rounding of NPS and mean rating.
func TestCounts(t *testing.T) {
	var tl index.Tally
	score := func(v int32) *int32 { return &v }
	tl.Add(5, score(10))
	tl.Add(4, score(9))
	tl.Add(1, score(0))
	tl.Add(0, nil)
	tl.Add(0, score(7))
	tl.Add(0, score(8))
	c := tl.Counts()
	// (2 promoters - 1 detractor) / 5 scored = 20 %; mean (5+4+1)/3 = 3.33.
	if c.Answers != 6 || c.GetNps() != 20 || c.GetMeanRating() != 3.33 || c.Promoters != 2 || c.Passives != 2 || c.Detractors != 1 ||
		len(c.RatingCounts) != 5 || c.RatingCounts[0] != 1 || c.RatingCounts[4] != 1 {
		t.Fatalf("counts %v", c)
	}
	tl = index.Tally{}
	tl.Add(0, score(3))
	tl.Add(0, score(3))
	tl.Add(0, score(10))
	if c := tl.Counts(); c.GetNps() != -33.3 || c.MeanRating != nil {
		t.Fatalf("counts %v, want NPS -33.3 and no mean", c)
	}
}

func TestTopSurveys(t *testing.T) {
	per := map[int64]int64{}
	for id := int64(1); id <= index.MaxStatsSurveys+5; id++ {
		per[id] = 1
	}
	per[900] = 7
	per[5] = 7
	per[3] = 2
	got := index.TopSurveys(per)
	if len(got) != index.MaxStatsSurveys {
		t.Fatalf("%d surveys, want the top %d", len(got), index.MaxStatsSurveys)
	}
	head := [][2]int64{{5, 7}, {900, 7}, {3, 2}, {1, 1}, {2, 1}, {4, 1}}
	for i, w := range head {
		if got[i].GetSurveyId() != w[0] || got[i].GetAnswers() != w[1] {
			t.Fatalf("surveys[%d] = %v, want id %d with %d", i, got[i], w[0], w[1])
		}
	}
	// 3 ahead, then the ids with one answer but 3, 5 and 900: the last
	// one kept is MaxStatsSurveys itself.
	if last := got[len(got)-1].GetSurveyId(); last != index.MaxStatsSurveys {
		t.Fatalf("last survey %d, want %d (ties by id, cut at the limit)", last, index.MaxStatsSurveys)
	}
	if index.TopSurveys(nil) != nil {
		t.Fatal("no surveys: want none")
	}
}

// TestSelectorsExactlyOne: a delete selector needs exactly one condition.
func TestSelectorsExactlyOne(t *testing.T) {
	now := time.Now()
	for name, err := range map[string]error{
		"no session condition":   index.Selector{}.Validate(),
		"two session conditions": index.Selector{VisitorID: "v", WholeSite: true}.Validate(),
		"no answer condition":    index.AnswerSelector{}.Validate(),
		"two answer conditions":  index.AnswerSelector{SessionID: "s", GivenBefore: now}.Validate(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, err := range map[string]error{
		"session ids": index.Selector{SessionIDs: []string{"a"}}.Validate(),
		"before":      index.Selector{StartedBefore: now}.Validate(),
		"answer ids":  index.AnswerSelector{AnswerIDs: []string{"a"}}.Validate(),
		"session":     index.AnswerSelector{SessionID: "s"}.Validate(),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
