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
	"errors"
	"time"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/lastgood"
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

// errNone marks a site recordings has not answered for yet.
var errNone = errors.New("answercount: no counts yet")

// Cache is safe for concurrent use.
type Cache struct {
	c *lastgood.Cache[int64, Counts]
}

// New returns a cache in front of client.
func New(client recordingsv1.RecordingsInternalServiceClient, opts Options) *Cache {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	return &Cache{c: lastgood.New(lastgood.Options[int64, Counts]{
		TTL: opts.TTL, Timeout: opts.Timeout, Size: opts.Size, Now: opts.Now,
		Fetch: func(ctx context.Context, siteID int64) (Counts, error) {
			resp, err := client.GetAnswerCounts(ctx, &recordingsv1.GetAnswerCountsRequest{SiteId: siteID})
			if err != nil {
				return nil, err
			}
			if counts := Counts(resp.GetSurveyResponses()); counts != nil {
				return counts, nil
			}
			return Counts{}, nil
		},
		// Stale-if-error: the last good copy, asked again after
		// RetryAfter; with none, no counts until then.
		Failed: func(siteID int64, err error, last *Counts) (time.Duration, error) {
			if opts.OnError != nil {
				opts.OnError(siteID, err)
			}
			if last != nil {
				return opts.RetryAfter, nil
			}
			return opts.RetryAfter, errNone
		},
	})}
}

// Get returns the site's counts, and false when none are known (recordings
// has not answered for this site yet). The result is read-only.
func (c *Cache) Get(ctx context.Context, siteID int64) (Counts, bool) {
	counts, err := c.c.Get(ctx, siteID)
	if err != nil {
		return nil, false
	}
	return counts, true
}

// Close stops background refreshes.
func (c *Cache) Close() { c.c.Close() }
