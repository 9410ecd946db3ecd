// Package lastgood is ingest's per-key cache in front of another service
// (sites' configuration from accounts, survey response counts from
// recordings): the edge must keep answering while that service is slow or
// down.
//
// A fresh entry (younger than its TTL) is served from memory. A stale one
// is still served while one background refresh runs
// (stale-while-revalidate). Misses share one call per key (singleflight).
// What a failed call leaves behind is the caller's policy (Options.Failed):
// typically the last good copy, or a remembered refusal (negative
// caching), so a flood of bogus keys does not reach the service.
package lastgood

import (
	"context"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Options configure a Cache. Fetch and Failed are required.
type Options[K comparable, V any] struct {
	TTL     time.Duration // a good copy is fresh this long (default 30 s)
	Timeout time.Duration // per Fetch (default 2 s)
	Size    int           // keys (default 100 000)
	Now     func() time.Time
	// Fetch asks the service for k.
	Fetch func(ctx context.Context, k K) (V, error)
	// Failed decides what a failed Fetch leaves: last is the good copy
	// held (nil: none). It answers the error Get returns (nil: serve
	// *last, which must then be set) and how long that outcome stands
	// before k is asked again (0: it is not kept; a kept error replaces
	// the copy).
	Failed func(k K, err error, last *V) (keep time.Duration, getErr error)
}

type entry[V any] struct {
	val   V
	err   error // nil: val is a good copy
	until time.Time
	good  bool // val holds a good copy
}

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	opts Options[K, V]
	lru  *lru.Cache[K, *entry[V]]
	sf   singleflight.Group
	// refreshing holds the keys with a background refresh running: every
	// Get of a stale key would otherwise start a goroutine that waits on
	// the one call in flight — thousands a second while the service is
	// slow, which is when it is refreshed at all.
	refreshing sync.Map
	wg         sync.WaitGroup
	ctx        context.Context
	cancel     context.CancelFunc
}

// New returns a cache; Close it to stop background refreshes.
func New[K comparable, V any](opts Options[K, V]) *Cache[K, V] {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
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
	l, _ := lru.New[K, *entry[V]](opts.Size)
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache[K, V]{opts: opts, lru: l, ctx: ctx, cancel: cancel}
}

// Get answers k's value: from memory while its entry stands (a stale good
// copy starts a background refresh), else from one shared Fetch. Once ctx
// is done it answers ctx's error.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, error) {
	now := c.opts.Now()
	if e, ok := c.lru.Get(k); ok {
		switch {
		case now.Before(e.until):
			return e.val, e.err
		case e.good:
			c.refreshAsync(k)
			return e.val, nil
		}
	}
	ch := c.sf.DoChan(fmt.Sprint(k), func() (any, error) { return c.fetch(k) })
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero V
			return zero, r.Err
		}
		return r.Val.(V), nil
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (c *Cache[K, V]) refreshAsync(k K) {
	if _, running := c.refreshing.LoadOrStore(k, struct{}{}); running {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.refreshing.Delete(k)
		_, _, _ = c.sf.Do(fmt.Sprint(k), func() (any, error) { return c.fetch(k) })
	}()
}

// fetch asks the service and updates the cache (see Options.Failed).
func (c *Cache[K, V]) fetch(k K) (V, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
	defer cancel()
	v, err := c.opts.Fetch(ctx, k)
	now := c.opts.Now()
	if err == nil {
		c.lru.Add(k, &entry[V]{val: v, good: true, until: now.Add(c.opts.TTL)})
		return v, nil
	}
	var last *V
	if e, ok := c.lru.Peek(k); ok && e.good {
		last = &e.val
	}
	keep, getErr := c.opts.Failed(k, err, last)
	if keep > 0 {
		e := &entry[V]{err: getErr, until: now.Add(keep)}
		if getErr == nil {
			e.val, e.good = *last, true
		}
		c.lru.Add(k, e)
	}
	if getErr != nil {
		var zero V
		return zero, getErr
	}
	return *last, nil
}

// Wait waits for the background refreshes started so far.
func (c *Cache[K, V]) Wait() { c.wg.Wait() }

// Close stops background refreshes and waits for them.
func (c *Cache[K, V]) Close() {
	c.cancel()
	c.wg.Wait()
}
