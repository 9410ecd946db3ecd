package benchrun

import "time"

// reportEvery is how often a long load prints its progress.
const reportEvery = 15 * time.Second

// Batches loads a benchmark's documents in batches: Add collects them and
// hands every full batch to flush (which may keep nothing of it: the
// slice is reused), Close hands the last, short one.
type Batches[T any] struct {
	buf        []T
	flush      func([]T) error
	report     func(added int)
	added      int
	lastReport time.Time
}

// NewBatches is a load in batches of size; report is called after a
// flush at most every 15 s with the number of documents added so far.
func NewBatches[T any](size int, flush func([]T) error, report func(added int)) *Batches[T] {
	return &Batches[T]{buf: make([]T, 0, size), flush: flush, report: report, lastReport: time.Now()}
}

// Add adds v, flushing the batch when it is full.
func (b *Batches[T]) Add(v T) error {
	b.buf = append(b.buf, v)
	b.added++
	if len(b.buf) < cap(b.buf) {
		return nil
	}
	if err := b.flush(b.buf); err != nil {
		return err
	}
	b.buf = b.buf[:0]
	if time.Since(b.lastReport) > reportEvery {
		b.lastReport = time.Now()
		b.report(b.added)
	}
	return nil
}

// Close flushes what a last, short batch holds.
func (b *Batches[T]) Close() error {
	if len(b.buf) == 0 {
		return nil
	}
	err := b.flush(b.buf)
	b.buf = b.buf[:0]
	return err
}
