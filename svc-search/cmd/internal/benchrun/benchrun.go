// Package benchrun is what the search benchmarks (benchsearch,
// benchanswers, benchtrends) share: their work directory, Zipf-skewed
// draws, the synthetic site's page paths and how timings are summed up.
package benchrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

// WorkDir is dir, or a new temporary directory named after prefix when dir
// is empty; done removes the temporary one (and leaves a named dir).
func WorkDir(dir, prefix string) (_ string, done func(), err error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	return d, func() { _ = os.RemoveAll(d) }, nil
}

// MeasuredWorkDir is WorkDir for a benchmark that measures one site of
// n documents (its -n): fewer than 1000 measure nothing worth a figure.
func MeasuredWorkDir(n int, dir, prefix string) (_ string, done func(), err error) {
	if n < 1000 {
		return "", nil, errors.New("-n must be at least 1000")
	}
	return WorkDir(dir, prefix)
}

// Compact merges an index to one segment when on, and says how long it
// took (0 when off).
func Compact(ctx context.Context, ix interface{ Compact(context.Context) error }, on bool) (time.Duration, error) {
	t0 := time.Now()
	if on {
		if err := ix.Compact(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// Zipf draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s.
type Zipf struct{ cdf []float64 }

// NewZipf is the distribution of n ranks with exponent s.
func NewZipf(n int, s float64) *Zipf {
	z := &Zipf{cdf: make([]float64, n)}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

// Draw is one rank.
func (z *Zipf) Draw(r *rand.Rand) int {
	i, _ := slices.BinarySearch(z.cdf, r.Float64())
	return min(i, len(z.cdf)-1)
}

// Paths extends base to n page paths, cycling through products, blog posts
// and docs pages (docs formats a docs page's path from its number).
func Paths(base []string, n int, docs string) []string {
	paths := slices.Clone(base)
	for i := len(paths); i < n; i++ {
		switch i % 3 {
		case 0:
			paths = append(paths, fmt.Sprintf("/product/%d", i))
		case 1:
			paths = append(paths, fmt.Sprintf("/blog/post-%d", i))
		default:
			paths = append(paths, fmt.Sprintf(docs, i))
		}
	}
	return paths
}

// Ms prints a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// Pct is the p-th percentile (nearest rank) of ds, which it leaves
// unsorted; ds must not be empty.
func Pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(0, i)]
}
