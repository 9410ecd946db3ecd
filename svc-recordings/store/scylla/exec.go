package scylla

import (
	"context"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Stmt is one CQL statement as the store issues it. Building statements
// apart from running them lets the tests check the CQL, its arguments and
// its retry safety without a server.
type Stmt struct {
	CQL  string
	Args []any
	// Idempotent statements may be retried and speculatively executed by
	// the driver.
	Idempotent bool
	// Serial marks a lightweight transaction (IF ...).
	Serial bool
	// PageSize > 0 pages the result; SinglePage reads only the page at
	// PageState (manual paging for listings).
	PageSize   int
	SinglePage bool
	PageState  []byte
}

// Iter is a result being read (gocql's *Iter satisfies it).
type Iter interface {
	Scan(dest ...any) bool
	PageState() []byte
	Close() error
}

// executor runs statements.
type executor interface {
	Exec(ctx context.Context, st Stmt) error
	// ExecCAS runs a lightweight transaction and answers whether it applied.
	ExecCAS(ctx context.Context, st Stmt) (bool, error)
	Iter(ctx context.Context, st Stmt) Iter
	// Batch runs statements as one logged batch (all or nothing).
	Batch(ctx context.Context, sts []Stmt) error
	// Counters runs counter updates as one counter batch (not idempotent:
	// never retried by the driver).
	Counters(ctx context.Context, sts []Stmt) error
}

// gocqlExec runs statements on a gocql session at a fixed consistency.
type gocqlExec struct {
	s           *gocql.Session
	consistency gocql.Consistency
}

func (g *gocqlExec) query(st Stmt) *gocql.Query {
	q := g.s.Query(st.CQL, st.Args...).Consistency(g.consistency).Idempotent(st.Idempotent)
	if st.Serial {
		q = q.SerialConsistency(gocql.LocalSerial)
	}
	if st.PageSize > 0 {
		q = q.PageSize(st.PageSize)
	}
	if st.SinglePage {
		q = q.PageState(st.PageState)
	}
	return q
}

func (g *gocqlExec) Exec(ctx context.Context, st Stmt) error { return g.query(st).ExecContext(ctx) }

func (g *gocqlExec) ExecCAS(ctx context.Context, st Stmt) (bool, error) {
	// MapScanCAS reads the current row when not applied; we only need the flag.
	return g.query(st).MapScanCASContext(ctx, map[string]any{})
}

func (g *gocqlExec) Iter(ctx context.Context, st Stmt) Iter { return g.query(st).IterContext(ctx) }

func (g *gocqlExec) Batch(ctx context.Context, sts []Stmt) error {
	b := g.s.Batch(gocql.LoggedBatch).Consistency(g.consistency)
	for _, st := range sts {
		b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: st.CQL, Args: st.Args, Idempotent: st.Idempotent})
	}
	if err := b.ExecContext(ctx); err != nil {
		return fmt.Errorf("batch of %d: %w", len(sts), err)
	}
	return nil
}

func (g *gocqlExec) Counters(ctx context.Context, sts []Stmt) error {
	b := g.s.Batch(gocql.CounterBatch).Consistency(g.consistency)
	for _, st := range sts {
		b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: st.CQL, Args: st.Args})
	}
	if err := b.ExecContext(ctx); err != nil {
		return fmt.Errorf("counter batch of %d: %w", len(sts), err)
	}
	return nil
}
