package notify

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // sites' time zones, whatever the host has

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

const (
	// fanoutPage is how many subscriptions one fan-out job handles; the
	// next page is its own job, queued with this one's completion, so a
	// fan-out to any number of users is a chain of short jobs.
	fanoutPage = 1000
	// digestCatchUp: a site's digest is due from digest.hour local time
	// for this many hours, so an hour missed (no leader, an outage) is
	// caught up by the next fan-out; ClaimDigest keeps it once.
	digestCatchUp  = 6
	digestTopPages = 5
)

// fanoutArgs is one page of one hour's digest fan-out: daily
// subscriptions, then weekly ones, after the cursor.
type fanoutArgs struct {
	Hour      time.Time       `json:"hour" river:"unique"`
	Frequency store.Frequency `json:"frequency,omitempty" river:"unique"`
	AfterSite int64           `json:"after_site,omitempty" river:"unique"`
	AfterUser int64           `json:"after_user,omitempty" river:"unique"`
}

func (fanoutArgs) Kind() string { return kindDigestFanout }

// fanoutOpts keeps one fan-out of an hour queued or running at a time but,
// unlike the other periodic jobs, lets a completed one run again: a start
// or a leader change re-walks the hour, so a subscription made after the
// hour's first walk is caught at once, and the ledger (ClaimDigest) still
// sends each digest once.
var fanoutOpts = &river.InsertOpts{Queue: queue.QueueScheduled, UniqueOpts: river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled},
}}

func (s *Service) workFanout(ctx context.Context, job *river.Job[fanoutArgs]) error {
	if err := s.meshReady(); err != nil {
		return err
	}
	a := job.Args
	if a.Frequency == 0 {
		a.Frequency = store.FrequencyDaily
	}
	subs, err := s.store.ListDigestSubscriptions(ctx, a.Frequency, a.AfterSite, a.AfterUser, fanoutPage)
	if err != nil {
		return fmt.Errorf("notify: digest subscriptions: %w", err)
	}
	if len(subs) > 0 {
		queue.Worked(ctx) // subscriptions to walk: this run is worth a trace
	}
	var digests []river.InsertManyParams
	var claims []digestArgs
	for start := 0; start < len(subs); {
		end := start
		for end < len(subs) && subs[end].SiteID == subs[start].SiteID {
			end++
		}
		due, err := s.dueDigests(ctx, a.Hour, a.Frequency, subs[start:end])
		if err != nil {
			return err
		}
		claims = append(claims, due...)
		start = end
	}
	next := fanoutArgs{Hour: a.Hour, Frequency: a.Frequency}
	switch {
	case len(subs) == fanoutPage:
		last := subs[len(subs)-1]
		next.AfterSite, next.AfterUser = last.SiteID, last.UserID
	case a.Frequency == store.FrequencyDaily:
		next.Frequency = store.FrequencyWeekly
	default:
		next = fanoutArgs{}
	}
	return s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, d := range claims {
			fresh, err := tx.ClaimDigest(ctx, d.UserID, d.SiteID, d.Period)
			if err != nil {
				return err
			}
			if fresh {
				digests = append(digests, river.InsertManyParams{Args: d, InsertOpts: insertOpts(kindDigest)})
			}
		}
		if _, err := s.queue.InsertManyTx(ctx, tx, digests); err != nil {
			return err
		}
		if !next.Hour.IsZero() {
			if _, err := s.queue.InsertTx(ctx, tx, next, fanoutOpts); err != nil {
				return err
			}
		}
		count(ctx, s.m.digests, int64(len(digests)), "frequency", freqName(a.Frequency))
		return queue.CompleteTx(ctx, tx, job)
	})
}

// QueueDigests queues the digest fan-out of hour (the leader does this
// every hour and when it starts). An hour fanned out again finds its
// digests claimed in the ledger: none is sent twice.
func (s *Service) QueueDigests(ctx context.Context, hour time.Time) error {
	_, err := s.queue.Insert(ctx, fanoutArgs{Hour: hour.UTC().Truncate(time.Hour)}, fanoutOpts)
	return err
}

// dueDigests returns the digests of one site's subscriptions due at hour:
// the recipients still members, when the site's local time is within the
// digest hours (weekly: on Monday).
func (s *Service) dueDigests(ctx context.Context, hour time.Time, f store.Frequency, subs []store.DigestSubscription) ([]digestArgs, error) {
	siteID := subs[0].SiteID
	ids := make([]int64, len(subs))
	for i, sub := range subs {
		ids[i] = sub.UserID
	}
	rcpt, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{
		SiteId: siteID, UserIds: ids, MinRole: accountsv1.Role_ROLE_VIEWER,
	})
	if err != nil {
		return nil, fmt.Errorf("notify: recipients of site %d: %w", siteID, err)
	}
	loc := location(rcpt.GetTimeZone())
	period, ok := digestPeriod(hour.In(loc), f, s.cfg.Digest.Hour)
	if !ok {
		return nil, nil
	}
	out := make([]digestArgs, 0, len(rcpt.GetRecipients()))
	for _, r := range rcpt.GetRecipients() {
		out = append(out, digestArgs{UserID: r.GetUserId(), SiteID: siteID, Period: period})
	}
	return out, nil
}

// digestPeriod names the period a digest sent at local time t covers
// ("daily:2026-11-29", "weekly:2026-11-23" for the week from that Monday),
// or false when t is not within the digest hours.
func digestPeriod(t time.Time, f store.Frequency, hour int) (string, bool) {
	if h := t.Hour(); h < hour || h >= hour+digestCatchUp {
		return "", false
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	switch f {
	case store.FrequencyDaily:
		return "daily:" + day.AddDate(0, 0, -1).Format(time.DateOnly), true
	case store.FrequencyWeekly:
		if t.Weekday() != time.Monday {
			return "", false
		}
		return "weekly:" + day.AddDate(0, 0, -7).Format(time.DateOnly), true
	}
	return "", false
}

// periodWindow is the local [start, end) of a period name.
func periodWindow(period string, loc *time.Location) (freq string, start, end time.Time, err error) {
	freq, date, ok := strings.Cut(period, ":")
	if !ok {
		return "", time.Time{}, time.Time{}, fmt.Errorf("bad digest period %q", period)
	}
	start, err = time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("bad digest period %q: %w", period, err)
	}
	switch freq {
	case "daily":
		return freq, start, start.AddDate(0, 0, 1), nil
	case "weekly":
		return freq, start, start.AddDate(0, 0, 7), nil
	}
	return "", time.Time{}, time.Time{}, fmt.Errorf("bad digest period %q", period)
}

func location(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

func freqName(f store.Frequency) string {
	if f == store.FrequencyWeekly {
		return "weekly"
	}
	return "daily"
}

// digestArgs is one user's digest of one site for one period, claimed in
// the ledger when queued.
type digestArgs struct {
	UserID int64  `json:"user_id" river:"unique"`
	SiteID int64  `json:"site_id" river:"unique"`
	Period string `json:"period" river:"unique"`
}

func (digestArgs) Kind() string { return kindDigest }

func (s *Service) workDigest(ctx context.Context, job *river.Job[digestArgs]) error {
	if err := s.meshReady(); err != nil {
		return err
	}
	a := job.Args
	rcpt, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{
		SiteId: a.SiteID, UserIds: []int64{a.UserID}, MinRole: accountsv1.Role_ROLE_VIEWER,
	})
	if err != nil {
		return fmt.Errorf("notify: recipient %d of site %d: %w", a.UserID, a.SiteID, err)
	}
	if len(rcpt.GetRecipients()) == 0 {
		return nil // left the organisation since the fan-out
	}
	to := rcpt.GetRecipients()[0]
	loc := location(rcpt.GetTimeZone())
	freq, start, end, err := periodWindow(a.Period, loc)
	if err != nil {
		return river.JobCancel(err)
	}
	rep, err := s.reports.get(ctx, s.deps.Search, a.SiteID, start, end)
	if err != nil {
		return fmt.Errorf("notify: report of site %d: %w", a.SiteID, err)
	}
	d := s.digestData(a, rcpt.GetSiteName(), freq, start, end, rep)
	return s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		key := fmt.Sprintf("digest:%d:%d:%s", a.UserID, a.SiteID, a.Period)
		if err := s.queueEmailTx(ctx, tx, key, to.GetEmail(), to.GetName(), d); err != nil {
			return err
		}
		return queue.CompleteTx(ctx, tx, job)
	})
}

func (s *Service) digestData(a digestArgs, siteName, freq string, start, end time.Time, rep *searchv1.GetSiteReportResponse) mail.DigestData {
	last := end.AddDate(0, 0, -1)
	period := start.Format("Monday 2 January 2006")
	if freq == "weekly" {
		period = start.Format("2") + "–" + last.Format("2 January 2006")
		if start.Month() != last.Month() {
			period = start.Format("2 January") + " – " + last.Format("2 January 2006")
		}
	}
	// The dashboard's custom range takes inclusive local dates.
	rng := func(q url.Values) url.Values {
		q.Set("range", "custom")
		q.Set("from", start.Format(time.DateOnly))
		q.Set("to", last.Format(time.DateOnly))
		return q
	}
	d := mail.DigestData{
		SiteName: siteName, Frequency: freq, Period: period,
		Sessions: rep.GetSessions(), RageSessions: rep.GetSessionsWithRageClicks(), ErrorSessions: rep.GetSessionsWithErrors(),
		FeedbackAnswers: rep.GetFeedbackAnswers(), FeedbackAverage: rep.GetFeedbackAverage(), SurveyAnswers: rep.GetSurveyAnswers(),
		RecordingsLink:  s.recordingsLink(a.SiteID, rng(url.Values{})),
		SettingsLink:    s.link("/sites/%d/settings/notifications", a.SiteID),
		UnsubscribeLink: s.link("/unsubscribe?token=%s", s.unsubscribeToken(Unsubscribe{Kind: UnsubscribeDigest, UserID: a.UserID, SiteID: a.SiteID})),
	}
	if rep.Nps != nil {
		n := rep.GetNps()
		d.NPS = &n
	}
	for _, p := range rep.GetTopPages() {
		d.TopPages = append(d.TopPages, mail.DigestPage{
			URL: p.GetUrl(), FrustratedSessions: p.GetFrustratedSessions(), Sessions: p.GetSessions(),
			Link: s.recordingsLink(a.SiteID, rng(url.Values{"visited": {"equals:" + p.GetUrl()}})),
		})
	}
	return d
}

// reportCache shares one site's report among the digests of a fan-out:
// ten thousand users of one site ask search once, not ten thousand
// times. Concurrent digests of one site wait for the first one's call.
type reportCache struct {
	mu sync.Mutex
	m  map[reportKey]*reportEntry
}

type reportKey struct {
	site       int64
	start, end int64
}

type reportEntry struct {
	done chan struct{}
	at   time.Time
	rep  *searchv1.GetSiteReportResponse
	err  error
}

const reportTTL = 10 * time.Minute

func (c *reportCache) get(ctx context.Context, search searchv1.SearchInternalServiceClient, site int64, start, end time.Time) (*searchv1.GetSiteReportResponse, error) {
	k := reportKey{site, start.Unix(), end.Unix()}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[reportKey]*reportEntry{}
	}
	e, ok := c.m[k]
	if ok && isDone(e.done) && (e.err != nil || time.Since(e.at) > reportTTL) {
		ok = false // failed or stale: ask again
	}
	if !ok {
		e = &reportEntry{done: make(chan struct{}), at: time.Now()}
		c.m[k] = e
		c.mu.Unlock()
		e.rep, e.err = search.GetSiteReport(ctx, &searchv1.GetSiteReportRequest{
			SiteId: site, StartTime: timestamppb.New(start), EndTime: timestamppb.New(end), TopPages: digestTopPages,
		})
		close(e.done)
		return e.rep, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.rep, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
