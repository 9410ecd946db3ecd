package blob

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
)

// Gate is what every backend checks a call against before it touches
// storage: the store is open (until Close), the key valid and the context
// alive, in that order. Name is the backend's name in errors ("fsblob").
type Gate struct {
	Name   string
	closed atomic.Bool
}

// Close shuts the gate and reports whether it was open (the first Close).
func (g *Gate) Close() bool { return !g.closed.Swap(true) }

// Listing starts a List: once the store is closed or ctx is done it
// yields the error and answers false (the listing ends).
func (g *Gate) Listing(ctx context.Context, yield func(Info, error) bool) bool {
	err := ctx.Err()
	if g.closed.Load() {
		err = fmt.Errorf("%s: store closed", g.Name)
	}
	if err != nil {
		yield(Info{}, err)
		return false
	}
	return true
}

// Check checks a call on key, which must be valid (ErrBadKey).
func (g *Gate) Check(ctx context.Context, key string) error {
	if g.closed.Load() {
		return fmt.Errorf("%s: store closed", g.Name)
	}
	if !ValidKey(key) {
		return fmt.Errorf("%s: %q: %w", g.Name, key, ErrBadKey)
	}
	return ctx.Err()
}

// CheckPut is Check and the package's CheckPut for a Put on key to a
// backend whose objects are at most max bytes: it answers the content type
// to store.
func (g *Gate) CheckPut(ctx context.Context, key string, size int64, contentType string, max int64) (string, error) {
	if err := g.Check(ctx, key); err != nil {
		return "", err
	}
	return CheckPut(g.Name, key, size, contentType, max)
}

// ContextReader reads r until ctx is done, then fails with ctx's error, so
// a Put's copy stops once its caller gave up, even between reads.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
