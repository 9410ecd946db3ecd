package pebble

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"
)

// An open session's next append builds on the row its last append wrote:
// reading it back (a Get that often misses the memtable) and decoding its
// JSON were ~5 % of the whole pipeline's CPU (bench-pipeline's profile).
// So an append keeps the row it wrote, decoded, in rowCache, and the next
// append of the session takes it from there.
//
// Each stripe's part is guarded by that stripe's lock (Store.locks), under
// which every writer of session rows runs: an append takes its row out of
// the cache (it changes it in place) and puts it back only once its batch
// is applied, so a failed append leaves nothing stale; every other writer
// (answers, ending, deletion) drops the session's entry when it writes the
// row. A cached row is what the database holds, so appends read it from
// here as they would from the memtable (visible before the WAL's sync,
// see Append).

// rowCacheBytes bounds the cache, counted as the rows' encoded sizes
// (decoded, they take more): the test sessions' rows are ~1 KB encoded
// (TestRowCacheMatchesRereading logs it), a session of many pages more, so
// thousands of open sessions. The bound is the whole cache's, not a
// stripe's share (128 KiB): a session's row grows with its page views
// (~200 KB at 1,000 in BenchmarkAppendLongSession) and the longest
// sessions, whose rows cost the most to read back, are the ones a
// stripe's share could not hold. Past the bound a stripe drops arbitrary
// rows of its own (their next append reads them back); a row it cannot
// make room for is not kept (and then costs the stripe none of its rows),
// nor one above maxCachedRow.
const (
	rowCacheBytes = 8 << 20
	maxCachedRow  = rowCacheBytes / 8
)

type rowCache struct {
	stripes      [stripes]rowStripe
	hits, misses atomic.Int64
	// bytes sums the cached rows' sizes over the stripes.
	bytes atomic.Int64
}

type rowStripe struct {
	rows map[string]cachedRow
	// bytes sums the stripe's rows' sizes.
	bytes int64
}

type cachedRow struct {
	row  *sessionRow
	size int
}

// take answers the session's row (key: its pSession key) and removes it,
// nil when it is not cached. The caller holds stripe i's lock.
func (c *rowCache) take(i int, key []byte) *sessionRow {
	st := &c.stripes[i]
	r, ok := st.rows[string(key)]
	if !ok {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	st.forget(c, string(key), r)
	return r.row
}

// keep caches the row an append wrote (size: its encoded bytes), making
// room by dropping other rows of the stripe. The caller holds stripe i's
// lock and no longer changes row.
func (c *rowCache) keep(i int, key []byte, row *sessionRow, size int) {
	st := &c.stripes[i]
	c.drop(i, key)
	if size > maxCachedRow {
		return
	}
	if over := c.bytes.Load() + int64(size) - rowCacheBytes; over > st.bytes {
		return // the other stripes hold too much: dropping all of this one's would not make room
	}
	for k, r := range st.rows { // map order: an arbitrary row goes
		if c.bytes.Load()+int64(size) <= rowCacheBytes {
			break
		}
		st.forget(c, k, r)
	}
	// Reserved by one atomic add: stripes keeping rows at once (each
	// under its own lock) do not pass the bound together.
	if c.bytes.Add(int64(size)) > rowCacheBytes {
		c.bytes.Add(-int64(size)) // the other stripes hold the rest
		return
	}
	if st.rows == nil {
		st.rows = map[string]cachedRow{}
	}
	st.rows[string(key)] = cachedRow{row: row, size: size}
	st.bytes += int64(size)
}

// forget removes the stripe's row r at key from the counts and the map.
func (st *rowStripe) forget(c *rowCache, key string, r cachedRow) {
	delete(st.rows, key)
	st.bytes -= int64(r.size)
	c.bytes.Add(-int64(r.size))
}

// drop forgets the session's row: its writer (not an append) changed or
// deleted it. The caller holds stripe i's lock.
func (c *rowCache) drop(i int, key []byte) {
	st := &c.stripes[i]
	if r, ok := st.rows[string(key)]; ok {
		st.forget(c, string(key), r)
	}
}

// forgetRow drops the session's cached row; the caller holds its stripe's
// lock and is writing or deleting the row.
func (s *Store) forgetRow(site int64, session string) {
	s.rows.drop(s.stripe(site, session), partition(pSession, site, session))
}

// registerRowCache reports the cache's hits and misses (an append's row
// found here or read from the database).
func registerRowCache(m metric.Meter, c *rowCache) (metric.Registration, error) {
	hits, err1 := m.Int64ObservableCounter("recordings.store.row_cache.hits", metric.WithDescription("Appends that found their session's row in the store's cache of rows appends wrote."))
	misses, err2 := m.Int64ObservableCounter("recordings.store.row_cache.misses", metric.WithDescription("Appends that read their session's row from the database (a new session, or one whose row left the cache)."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(hits, c.hits.Load())
		o.ObserveInt64(misses, c.misses.Load())
		return nil
	}, hits, misses)
}
