package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/riverqueue/river"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-notify/queue"
	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/webhook"
)

// baselineDays is the window a spike is measured against, and how long
// before its silence a site must have sent data for a no-data alert.
const baselineDays = 7

// alertsArgs is one check of the no-data and spike rules at At.
type alertsArgs struct {
	At time.Time `json:"at" river:"unique"`
}

func (alertsArgs) Kind() string { return kindAlertsCheck }

func (s *Service) workAlerts(ctx context.Context, job *river.Job[alertsArgs]) error {
	if err := s.meshReady(); err != nil {
		return err
	}
	at := job.Args.At
	var errs []error
	var after int64
	for {
		rules, err := s.store.ListEnabledAlertRules(ctx, []string{KindNoData, KindRageClicks, KindJSErrors}, store.Page{After: after, Limit: 1000})
		if err != nil {
			return fmt.Errorf("notify: alert rules: %w", err)
		}
		if len(rules) > 0 {
			queue.Worked(ctx) // sites to check: this run is worth a trace
		}
		bySite := map[int64][]store.AlertRule{}
		var sites []int64
		for _, r := range rules {
			if _, ok := bySite[r.SiteID]; !ok {
				sites = append(sites, r.SiteID)
			}
			bySite[r.SiteID] = append(bySite[r.SiteID], r)
		}
		for _, site := range sites {
			// One site's failure (search down for it) must not hold back
			// the others; the job is retried for the lot, and the alert
			// rows keep the sites already done from firing twice.
			if err := s.checkSite(ctx, at, site, bySite[site]); err != nil {
				errs = append(errs, err)
			}
		}
		if len(rules) < 1000 {
			break
		}
		after = rules[len(rules)-1].ID
	}
	// site.no_data webhooks fire after notify.webhook.no-data-hours even
	// when no member has a no-data alert; when one fired sooner above, the
	// delivery keys (one per outage) make this a no-op.
	var afterSite int64
	for {
		sites, err := s.store.ListWebhookSites(ctx, webhook.EventSiteNoData, afterSite, 1000)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("notify: sites with no-data webhooks: %w", err))...)
		}
		if len(sites) > 0 {
			queue.Worked(ctx)
		}
		for _, site := range sites {
			if err := s.checkNoDataWebhooks(ctx, at, site); err != nil {
				errs = append(errs, err)
			}
		}
		if len(sites) < 1000 {
			break
		}
		afterSite = sites[len(sites)-1]
	}
	return errors.Join(errs...)
}

// silentSince answers when a site whose report covers the week before its
// silence last sent data, and whether it has been silent for hours but not
// for longer than that week (a site that never sent, or stopped long ago,
// did not just break).
func silentSince(rep *searchv1.GetSiteReportResponse, at time.Time, hours int) (time.Time, bool) {
	last := rep.GetLastSessionTime()
	if last == nil {
		return time.Time{}, false
	}
	lt := last.AsTime()
	silence := at.Sub(lt)
	h := time.Duration(hours) * time.Hour
	return lt, silence >= h && silence <= h+baselineDays*24*time.Hour
}

// checkNoDataWebhooks delivers site.no_data to a site's webhooks once it
// has been silent for notify.webhook.no-data-hours.
func (s *Service) checkNoDataWebhooks(ctx context.Context, at time.Time, site int64) error {
	hours := s.cfg.Webhook.NoDataHours
	rep, err := s.deps.Search.GetSiteReport(ctx, &searchv1.GetSiteReportRequest{SiteId: site,
		StartTime: tspb(at.AddDate(0, 0, -baselineDays).Add(-time.Duration(hours) * time.Hour)), EndTime: tspb(at)})
	if err != nil {
		return fmt.Errorf("notify: report of site %d: %w", site, err)
	}
	last, silent := silentSince(rep, at, hours)
	if !silent {
		return nil
	}
	rcpt, err := s.deps.AccountsInternal.ListSiteRecipients(ctx, &accountsv1.ListSiteRecipientsRequest{SiteId: site, MinRole: accountsv1.Role_ROLE_OWNER})
	if err != nil {
		return fmt.Errorf("notify: site %d: %w", site, err)
	}
	return s.noDataEvent(ctx, site, rcpt.GetSiteName(), last, hours)
}

// checkSite evaluates one site's no-data and spike rules at at.
func (s *Service) checkSite(ctx context.Context, at time.Time, site int64, rules []store.AlertRule) error {
	reports := map[[2]time.Time]*searchv1.GetSiteReportResponse{}
	report := func(start, end time.Time) (*searchv1.GetSiteReportResponse, error) {
		k := [2]time.Time{start, end}
		if r, ok := reports[k]; ok {
			return r, nil
		}
		r, err := s.deps.Search.GetSiteReport(ctx, &searchv1.GetSiteReportRequest{SiteId: site, StartTime: tspb(start), EndTime: tspb(end)})
		if err != nil {
			return nil, fmt.Errorf("notify: report of site %d: %w", site, err)
		}
		reports[k] = r
		return r, nil
	}
	hourEnd := at.Truncate(time.Hour)
	hourStart := hourEnd.Add(-time.Hour)
	baseStart := hourStart.AddDate(0, 0, -baselineDays)
	var noDataWebhook *store.AlertRule
	var lastData time.Time
	var siteName string
	for _, r := range rules {
		pb, err := DecodeRule(r)
		if err != nil {
			s.log.WarnContext(ctx, "notify: skip undecodable rule", "rule", r.ID, "err", err)
			continue
		}
		switch r.Kind {
		case KindNoData:
			hours := int(pb.GetNoData().GetHours())
			if hours < 1 {
				continue
			}
			rep, err := report(at.AddDate(0, 0, -baselineDays).Add(-time.Duration(hours)*time.Hour), at)
			if err != nil {
				return err
			}
			lt, silent := silentSince(rep, at, hours)
			if !silent {
				continue
			}
			// One alert per outage: the period is the last session's time,
			// which only changes once data came back.
			key := "nodata:" + lt.UTC().Format(time.RFC3339Nano)
			summary := fmt.Sprintf("No data for %d hours: the last session was seen %s UTC.", hours, lt.UTC().Format("2 Jan 2006 15:04"))
			link := s.recordingsLink(site, url.Values{"range": {"7d"}})
			name, err := s.fireAlerts(ctx, site, []store.AlertRule{r}, key, fmt.Sprintf("No data for %d hours", hours), summary, link)
			if err != nil {
				return err
			}
			siteName = name
			if noDataWebhook == nil || hours < int(mustHours(noDataWebhook)) {
				rr := r
				noDataWebhook, lastData = &rr, lt
			}
		case KindRageClicks, KindJSErrors:
			c := spikeOf(pb)
			cur, err := report(hourStart, hourEnd)
			if err != nil {
				return err
			}
			base, err := report(baseStart, hourStart)
			if err != nil {
				return err
			}
			n, total, what, filter, up := cur.GetSessionsWithRageClicks(), base.GetSessionsWithRageClicks(), "rage clicks", "rage", "Rage clicks"
			if r.Kind == KindJSErrors {
				n, total, what, filter, up = cur.GetSessionsWithErrors(), base.GetSessionsWithErrors(), "JavaScript errors", "errors", "JavaScript errors"
			}
			mean := float64(total) / (baselineDays * 24)
			if n < int64(c.GetMinSessions()) || float64(n) < c.GetFactor()*mean {
				continue
			}
			key := hourStart.UTC().Format("2006-01-02T15")
			summary := fmt.Sprintf("%d sessions with %s between %s and %s UTC, against an hourly average of %.1f over the week before.",
				n, what, hourStart.UTC().Format("2 Jan 15:04"), hourEnd.UTC().Format("15:04"), mean)
			link := s.recordingsLink(site, url.Values{"range": {"24h"}, filter: {"1"}})
			headline := fmt.Sprintf("%s up: %d sessions in an hour, against %.1f an hour usually", up, n, mean)
			if _, err := s.fireAlerts(ctx, site, []store.AlertRule{r}, key, headline, summary, link); err != nil {
				return err
			}
		}
	}
	if noDataWebhook != nil {
		return s.noDataEvent(ctx, site, siteName, lastData, int(mustHours(noDataWebhook)))
	}
	return nil
}

// noDataEvent delivers site.no_data to the site's webhooks, once per
// outage (the delivery key is the last session's time).
func (s *Service) noDataEvent(ctx context.Context, site int64, siteName string, last time.Time, hours int) error {
	hooks, err := s.store.ListSubscribedWebhooks(ctx, site, webhook.EventSiteNoData)
	if err != nil || len(hooks) == 0 {
		return err
	}
	eventID := fmt.Sprintf("site.no_data:%d:%d", site, last.UnixMilli())
	body, err := webhook.Envelope(webhook.EventSiteNoData, s.now(),
		webhook.SiteNoData(site, siteName, last, hours, s.recordingsLink(site, url.Values{"range": {"7d"}})))
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if _, err := s.queueDelivery(ctx, h, eventID, messageID(eventID, h.ID), webhook.EventSiteNoData, body); err != nil {
			return err
		}
	}
	return nil
}

func mustHours(r *store.AlertRule) int32 {
	pb, err := DecodeRule(*r)
	if err != nil {
		return 0
	}
	return pb.GetNoData().GetHours()
}

// spikeOf is a spike rule's condition with notify.proto's defaults.
func spikeOf(pb *notifyv1.AlertRule) *notifyv1.SpikeCondition {
	c := pb.GetRageClicks()
	if c == nil {
		c = pb.GetJsErrors()
	}
	out := &notifyv1.SpikeCondition{Factor: 3, MinSessions: 5}
	if c.GetFactor() > 0 {
		out.Factor = c.GetFactor()
	}
	if c.GetMinSessions() > 0 {
		out.MinSessions = c.GetMinSessions()
	}
	return out
}

// sweepArgs is one scheduled pass of a recordings sweep.
type sweepArgs struct {
	Task string    `json:"task" river:"unique"`
	At   time.Time `json:"at" river:"unique"`
}

const (
	sweepEndIdle   = "end_idle_sessions"
	sweepRetention = "retention"
	// maxSweepPasses bounds one job: a backlog is worked through by the
	// next periods' jobs.
	maxSweepPasses = 50
)

func (sweepArgs) Kind() string { return kindRecordingsSweep }

func (s *Service) workSweep(ctx context.Context, job *river.Job[sweepArgs]) error {
	task := recordingsv1.SweepTask_SWEEP_TASK_END_IDLE_SESSIONS
	if job.Args.Task == sweepRetention {
		task = recordingsv1.SweepTask_SWEEP_TASK_RETENTION
	}
	if s.deps.Recordings == nil {
		return nil
	}
	var total int64
	for range maxSweepPasses {
		res, err := s.deps.Recordings.RunSweep(ctx, &recordingsv1.RunSweepRequest{Task: task})
		if err != nil {
			return fmt.Errorf("notify: recordings sweep %s: %w", job.Args.Task, err)
		}
		total += res.GetSessions()
		if !res.GetMore() {
			break
		}
	}
	if total > 0 {
		queue.Worked(ctx)
		s.log.InfoContext(ctx, "notify: recordings sweep", "task", job.Args.Task, "sessions", total)
	}
	return nil
}

// pruneArgs is one day's prune of old deliveries, alerts and ledgers.
type pruneArgs struct {
	Day time.Time `json:"day" river:"unique"`
}

func (pruneArgs) Kind() string { return kindPrune }

func (s *Service) workPrune(ctx context.Context, job *river.Job[pruneArgs]) error {
	n, err := s.store.Prune(ctx, s.now().Add(-s.cfg.Retention))
	if err != nil {
		return fmt.Errorf("notify: prune: %w", err)
	}
	if n > 0 {
		queue.Worked(ctx)
		s.log.InfoContext(ctx, "notify: pruned old rows", "rows", n)
	}
	return nil
}
