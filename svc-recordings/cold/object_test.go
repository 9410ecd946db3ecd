package cold

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

func sample() []store.StoredChunk {
	return []store.StoredChunk{
		{Seq: 0, PageViewID: "p_aaaaaaaaaaaaaaaaaaaaaa", FirstMs: 1763890000000, LastMs: 1763890001000, Data: []byte("\x28\xb5\x2f\xfdzstd-0")},
		{Seq: 0, PageViewID: "p_bbbbbbbbbbbbbbbbbbbbbb", FirstMs: 1763890000500, LastMs: 1763890000600, Data: []byte{}},
		{Seq: 1 << 40, PageViewID: "", FirstMs: -5, LastMs: 0, Data: bytes.Repeat([]byte{0xff}, 70000)},
	}
}

func equal(a, b []store.StoredChunk) bool {
	return slices.EqualFunc(a, b, func(x, y store.StoredChunk) bool {
		return x.Seq == y.Seq && x.PageViewID == y.PageViewID && x.FirstMs == y.FirstMs && x.LastMs == y.LastMs && bytes.Equal(x.Data, y.Data)
	})
}

// TestObjectRoundTrip: an object decodes to the chunks encoded, and its
// name follows its content.
func TestObjectRoundTrip(t *testing.T) {
	in := sample()
	obj := encode(in)
	out, err := decode(obj)
	if err != nil || !equal(in, out) {
		t.Fatalf("round trip: %v", err)
	}
	if name(obj) != name(encode(sample())) || name(obj) == name(encode(in[:2])) || len(name(obj)) != 32 {
		t.Fatalf("names: %s (same content must give the same name, other content another)", name(obj))
	}
	if empty, err := decode(encode(nil)); err != nil || len(empty) != 0 {
		t.Fatalf("no chunks: %v %v", empty, err)
	}
}

// TestObjectDamage: every truncation and every flipped byte is refused as
// corrupt, never decoded into other chunks.
func TestObjectDamage(t *testing.T) {
	obj := encode(sample()[:2])
	for n := range len(obj) {
		if _, err := decode(obj[:n]); !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range obj {
		bad := slices.Clone(obj)
		bad[i] ^= 0x40
		if _, err := decode(bad); !errors.Is(err, errCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

// FuzzDecode: hostile objects (a valid checksum over any body) never
// panic, and what decodes encodes back to the same object.
func FuzzDecode(f *testing.F) {
	f.Add(encode(sample())[len(magic) : len(encode(sample()))-32])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		obj := sealed(body)
		out, err := decode(obj)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error not errCorrupt: %v", err)
			}
			return
		}
		if !equal(out, mustDecode(t, encode(out))) {
			t.Fatal("decoded chunks do not survive a round trip")
		}
	})
}

// sealed makes body an object with a valid header and checksum, so the
// fuzzer reaches the chunk parser.
func sealed(body []byte) []byte {
	b := append(slices.Clone(magic), body...)
	return append(b, sumOf(b)...)
}

func mustDecode(t *testing.T, obj []byte) []store.StoredChunk {
	t.Helper()
	out, err := decode(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
