package limits

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// ErrQuotaExceeded means the site's sessions for the day are used up.
var ErrQuotaExceeded = errors.New("limits: daily session quota exceeded")

// Quota hands out the daily session quota of each site from leases taken
// from accounts in chunks (1 % of the quota, at least 10), so that accounts
// is asked about once per chunk rather than once per session, and the
// quota holds across ingest processes: accounts never grants more than the
// day's limit in total. What a process holds unused at the end of the day
// is lost (an undershoot of at most one chunk per process); the only
// overshoot is while accounts is unreachable, when sessions are admitted
// without a lease (fail open: the invariant is that ingest keeps accepting
// while accounts is down) and counted in OnLeaseError.
type Quota struct {
	Accounts accountsv1.AccountsInternalServiceClient
	Holder   string
	Timeout  time.Duration
	// OnLeaseError is told when accounts could not be asked.
	OnLeaseError func(error)

	mu    sync.Mutex
	sites map[int64]*siteQuota
}

type siteQuota struct {
	mu             sync.Mutex
	day            string
	available      int64
	exhaustedUntil time.Time
	lastUsed       time.Time
}

// LeaseSize is the chunk asked for at a time.
func LeaseSize(perDay int64) int64 {
	return min(max(perDay/100, 10), perDay)
}

// Take consumes one session of the site's quota for today. perDay ≤ 0 means
// unlimited.
func (q *Quota) Take(ctx context.Context, siteID, perDay int64, now time.Time) error {
	if perDay <= 0 {
		return nil
	}
	day := now.UTC().Format(time.DateOnly)
	q.mu.Lock()
	if q.sites == nil {
		q.sites = map[int64]*siteQuota{}
	}
	sq := q.sites[siteID]
	if sq == nil {
		sq = &siteQuota{}
		q.sites[siteID] = sq
	}
	if len(q.sites) > 100_000 { // forget sites idle for a day
		for id, s := range q.sites {
			if now.Sub(s.lastUsed) > 24*time.Hour {
				delete(q.sites, id)
			}
		}
	}
	q.mu.Unlock()

	sq.mu.Lock()
	defer sq.mu.Unlock()
	sq.lastUsed = now
	if sq.day != day {
		sq.day, sq.available, sq.exhaustedUntil = day, 0, time.Time{}
	}
	if sq.available > 0 {
		sq.available--
		return nil
	}
	if now.Before(sq.exhaustedUntil) {
		return ErrQuotaExceeded
	}
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := q.Accounts.LeaseSessionQuota(cctx, &accountsv1.LeaseSessionQuotaRequest{
		SiteId: siteID, Day: day, Requested: LeaseSize(perDay), Holder: q.Holder,
	})
	if err != nil {
		if q.OnLeaseError != nil {
			q.OnLeaseError(fmt.Errorf("limits: lease session quota: %w", err))
		}
		return nil // fail open, see the type's comment
	}
	if resp.GetGranted() <= 0 {
		// Re-ask after a minute in case the plan was raised.
		sq.exhaustedUntil = now.Add(time.Minute)
		return ErrQuotaExceeded
	}
	sq.available = resp.GetGranted() - 1
	return nil
}
