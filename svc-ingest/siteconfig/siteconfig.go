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
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
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

type entry struct {
	site    *Site // nil: unknown key
	fetched time.Time
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
	client accountsv1.AccountsInternalServiceClient
	opts   Options
	lru    *lru.Cache[string, *entry]
	sf     singleflight.Group
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a cache in front of client.
func New(client accountsv1.AccountsInternalServiceClient, opts Options) *Cache {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Size <= 0 {
		opts.Size = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l, _ := lru.New[string, *entry](opts.Size)
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{client: client, opts: opts, lru: l, ctx: ctx, cancel: cancel}
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
	now := c.opts.Now()
	if e, ok := c.lru.Get(key); ok {
		age := now.Sub(e.fetched)
		switch {
		case e.site == nil && age < c.opts.NegativeTTL:
			return nil, ErrNotFound
		case e.site != nil && age < c.opts.TTL:
			return e.site, nil
		case e.site != nil:
			c.refreshAsync(key)
			return e.site, nil
		}
	}
	ch := c.sf.DoChan(key, func() (any, error) { return c.fetch(c.ctx, key) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Site), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("siteconfig: %w", ctx.Err())
	}
}

func (c *Cache) refreshAsync(key string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_, _, _ = c.sf.Do(key, func() (any, error) { return c.fetch(c.ctx, key) })
	}()
}

// fetch asks accounts and updates the cache. On an error other than "not
// found" an existing good copy is kept and returned.
func (c *Cache) fetch(ctx context.Context, key string) (*Site, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.client.GetSiteConfig(ctx, &accountsv1.GetSiteConfigRequest{SiteKey: key})
	now := c.opts.Now()
	if err != nil {
		switch status.Code(err) {
		case codes.NotFound, codes.InvalidArgument:
			c.lru.Add(key, &entry{fetched: now})
			return nil, ErrNotFound
		}
		if c.opts.OnRefreshError != nil {
			c.opts.OnRefreshError(err)
		}
		if e, ok := c.lru.Peek(key); ok && e.site != nil {
			return e.site, nil // stale-if-error
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s := &Site{GetSiteConfigResponse: resp, Fetched: now}
	c.lru.Add(key, &entry{site: s, fetched: now})
	return s, nil
}

// Close stops background refreshes.
func (c *Cache) Close() {
	c.cancel()
	c.wg.Wait()
}
