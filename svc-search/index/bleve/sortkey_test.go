package bleve

import (
	"cmp"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSortKeyOrder: byte order of keys is (value, session id) order.
func TestSortKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []int64{math.MinInt64, -1 << 40, -1, 0, 1, 255, 256, 65535, 65536, 1 << 40, math.MaxInt64}
	// Session ids are validated UTF-8, so never hold 0xff.
	ids := []string{"", "a", "ab", "b", "é", "a\x00", "\u00ff"}
	for range 20000 {
		va, vb := values[rng.IntN(len(values))], values[rng.IntN(len(values))]
		if rng.IntN(2) == 0 {
			va, vb = rng.Int64()>>rng.IntN(64), rng.Int64()>>rng.IntN(64)
			if rng.IntN(2) == 0 {
				va = -va
			}
		}
		ia, ib := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
		want := cmp.Compare(va, vb)
		if want == 0 {
			want = strings.Compare(ia, ib)
		}
		ka, kb := sortKey(va, ia), sortKey(vb, ib)
		if strings.IndexByte(ka, 0xff) >= 0 {
			t.Fatalf("key %q holds 0xff, zap's doc value separator", ka)
		}
		if got := strings.Compare(ka, kb); got != want {
			t.Fatalf("(%d,%q) vs (%d,%q): key order %d, want %d", va, ia, vb, ib, got, want)
		}
	}
}
