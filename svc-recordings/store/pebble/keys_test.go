package pebble

import (
	"bytes"
	"testing"
)

func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk("p_abc", 5, 9, []byte("data")))
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		pv, first, last, data, err := decodeChunk(v)
		if err != nil {
			return
		}
		// What decodes survives a round trip (varints may be non-canonical
		// in hostile input, so compare values, not bytes).
		pv2, first2, last2, data2, err := decodeChunk(encodeChunk(pv, first, last, data))
		if err != nil || pv2 != pv || first2 != first || last2 != last || !bytes.Equal(data2, data) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func TestKeysSortLikeTheWideColumnModel(t *testing.T) {
	a := partition(pChunk, 5, "s_abc").u64(2)
	b := partition(pChunk, 5, "s_abc").u64(10)
	c := partition(pChunk, 5, "s_abcd").u64(0)
	d := partition(pChunk, 6, "s_a").u64(0)
	if !(bytes.Compare(a, b) < 0 && bytes.Compare(b, c) < 0 && bytes.Compare(c, d) < 0) {
		t.Fatal("keys do not sort by (site, session, seq)")
	}
	// Chunks of one seq sort by page view id as bytes, before the next seq.
	pa, pab, pb := chunkKey(pChunk, 5, "s_abc", 2, "p_a"), chunkKey(pChunk, 5, "s_abc", 2, "p_ab"), chunkKey(pChunk, 5, "s_abc", 2, "p_b")
	if !(bytes.Compare(pa, pab) < 0 && bytes.Compare(pab, pb) < 0 && bytes.Compare(pb, chunkKey(pChunk, 5, "s_abc", 3, "p_a")) < 0) {
		t.Fatal("chunk keys do not sort by (seq, page view id)")
	}
	r := keyReader{b: pab[len(partition(pChunk, 5, "s_abc")):]}
	if seq, pv := r.u64(), r.rest(); r.err != nil || seq != 2 || pv != "p_ab" {
		t.Fatalf("chunk key reads back as %d %q %v", seq, pv, r.err)
	}
	p := partition(pChunk, 5, "s_abc")
	if bytes.HasPrefix(c, p) {
		t.Fatal("a longer session id falls inside a shorter one's partition")
	}
	if ub := upperBound(p); !(bytes.Compare(b, ub) < 0 && bytes.Compare(c, ub) > 0) {
		t.Fatal("upper bound of a partition is wrong")
	}
}
