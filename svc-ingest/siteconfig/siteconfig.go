// Package siteconfig caches sites' configuration from accounts for ingest.
//
// A fresh entry (younger than TTL) is served from memory. A stale one is
// still served while one background refresh runs (stale-while-revalidate);
// if accounts is unreachable the last good copy keeps being served for as
// long as it stays unreachable. Misses share one call per key
// (singleflight), and unknown keys are remembered briefly (negative caching)
// so that a flood of bogus keys does not reach accounts.
package siteconfig

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-ingest/lastgood"
	"github.com/sightlinehq/sightline/wireid"
)

// ErrNotFound means there is no site with that key.
var ErrNotFound = errors.New("siteconfig: unknown site")

// ErrUnavailable means the site is not cached and accounts could not be asked.
var ErrUnavailable = errors.New("siteconfig: accounts unavailable")

// Site is one cached configuration; treat it as read-only.
type Site struct {
	*accountsv1.GetSiteConfigResponse
	Fetched time.Time
}

// Options configure a Cache.
type Options struct {
	TTL         time.Duration // fresh for this long (default 30 s)
	NegativeTTL time.Duration // unknown keys remembered this long (default 5 s)
	Timeout     time.Duration // per call to accounts (default 2 s)
	Size        int           // entries (default 100 000)
	// OnRefreshError is told about failed calls to accounts (for metrics).
	OnRefreshError func(err error)
	// OnStale is called when a stale copy is served because accounts failed.
	Now func() time.Time
}

// Cache is safe for concurrent use.
type Cache struct {
	c *lastgood.Cache[string, *Site]
}

// New returns a cache in front of client.
func New(client accountsv1.AccountsInternalServiceClient, opts Options) *Cache {
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{c: lastgood.New(lastgood.Options[string, *Site]{
		TTL: opts.TTL, Timeout: opts.Timeout, Size: opts.Size, Now: opts.Now,
		Fetch: func(ctx context.Context, key string) (*Site, error) {
			resp, err := client.GetSiteConfig(ctx, &accountsv1.GetSiteConfigRequest{SiteKey: key})
			if err != nil {
				return nil, err
			}
			return &Site{GetSiteConfigResponse: resp, Fetched: opts.Now()}, nil
		},
		// An unknown key is remembered for NegativeTTL; on another error
		// an existing good copy is kept and served (stale-if-error).
		Failed: func(_ string, err error, last **Site) (time.Duration, error) {
			switch status.Code(err) {
			case codes.NotFound, codes.InvalidArgument:
				return opts.NegativeTTL, ErrNotFound
			}
			if opts.OnRefreshError != nil {
				opts.OnRefreshError(err)
			}
			if last != nil {
				return 0, nil
			}
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		},
	})}
}

// ValidKey reports whether key could be a site key at all (checked before
// any call to accounts).
func ValidKey(key string) bool {
	return len(key) > 0 && len(key) <= wireid.MaxLen && wireid.URLSafe(key)
}

// Get returns the site for key, ErrNotFound, or ErrUnavailable.
func (c *Cache) Get(ctx context.Context, key string) (*Site, error) {
	if !ValidKey(key) {
		return nil, ErrNotFound
	}
	s, err := c.c.Get(ctx, key)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, fmt.Errorf("siteconfig: %w", err)
	}
	return s, err
}

// Close stops background refreshes.
func (c *Cache) Close() { c.c.Close() }
