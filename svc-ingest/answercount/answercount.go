// Package answercount caches recordings' response counts per survey
// (RecordingsService.GetAnswerCounts) for ingest's bootstrap, which stops
// serving a survey at its response limit.
//
// Like the site config cache, a fresh entry (younger than TTL) is served
// from memory, a stale one while one background refresh runs, and the last
// good copy for as long as recordings fails: recordings being down never
// breaks the bootstrap. A site never fetched while recordings is down has
// no counts (Get answers false) and is asked again after RetryAfter.
package answercount

import (
	"context"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Options configure a Cache.
type Options struct {
	TTL        time.Duration // fresh for this long (default 30 s)
	RetryAfter time.Duration // a failed first fetch is retried after this (default 5 s)
	Timeout    time.Duration // per call to recordings (default 1 s: the bootstrap waits for a miss)
	Size       int           // sites (default 100 000)
	// OnError is told about failed calls (for metrics and logs).
	OnError func(siteID int64, err error)
	Now     func() time.Time
}

// Counts are a site's stored responses per survey id.
type Counts map[int64]int64

type entry struct {
	counts  Counts // nil: never fetched successfully
	fetched time.Time
}

// Cache is safe for concurrent use.
type Cache struct {
	client recordingsv1.RecordingsInternalServiceClient
	opts   Options
	lru    *lru.Cache[int64, *entry]
	sf     singleflight.Group
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a cache in front of client.
func New(client recordingsv1.RecordingsInternalServiceClient, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Size <= 0 {
		opts.Size = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l, _ := lru.New[int64, *entry](opts.Size)
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{client: client, opts: opts, lru: l, ctx: ctx, cancel: cancel}
}

// Get returns the site's counts, and false when none are known (recordings
// has not answered for this site yet). The result is read-only.
func (c *Cache) Get(ctx context.Context, siteID int64) (Counts, bool) {
	now := c.opts.Now()
	if e, ok := c.lru.Get(siteID); ok {
		age := now.Sub(e.fetched)
		switch {
		case e.counts != nil && age < c.opts.TTL:
			return e.counts, true
		case e.counts != nil:
			c.refreshAsync(siteID)
			return e.counts, true
		case age < c.opts.RetryAfter:
			return nil, false
		}
	}
	ch := c.sf.DoChan(key(siteID), func() (any, error) { return c.fetch(siteID), nil })
	select {
	case r := <-ch:
		counts := r.Val.(Counts)
		return counts, counts != nil
	case <-ctx.Done():
		return nil, false
	}
}

func key(siteID int64) string { return fmt.Sprint(siteID) }

func (c *Cache) refreshAsync(siteID int64) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_, _, _ = c.sf.Do(key(siteID), func() (any, error) { return c.fetch(siteID), nil })
	}()
}

// fetch asks recordings and updates the cache; on an error the last good
// copy is kept (and returned), or nil when there is none.
func (c *Cache) fetch(siteID int64) Counts {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.client.GetAnswerCounts(ctx, &recordingsv1.GetAnswerCountsRequest{SiteId: siteID})
	now := c.opts.Now()
	if err != nil {
		if c.opts.OnError != nil {
			c.opts.OnError(siteID, err)
		}
		if e, ok := c.lru.Peek(siteID); ok && e.counts != nil {
			// Stale-if-error: the last good copy, asked again after RetryAfter.
			c.lru.Add(siteID, &entry{counts: e.counts, fetched: now.Add(c.opts.RetryAfter - c.opts.TTL)})
			return e.counts
		}
		c.lru.Add(siteID, &entry{fetched: now})
		return nil
	}
	counts := Counts(resp.GetSurveyResponses())
	if counts == nil {
		counts = Counts{}
	}
	c.lru.Add(siteID, &entry{counts: counts, fetched: now})
	return counts
}

// Close stops background refreshes.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
}
