package recordings

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCompressOwnsItsBytes: compressed chunks come out of a shared scratch
// buffer; each must be a copy of its own (a later chunk's compression, in
// another goroutine too, must not change it) and decode to its events,
// whatever level wrote it.
func TestCompressOwnsItsBytes(t *testing.T) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedBetterCompression} {
		enc, err := newEncoder(level)
		if err != nil {
			t.Fatal(err)
		}
		s := &Service{enc: enc, scratch: scratchPool()}
		events := make([][]byte, 64)
		out := make([][]byte, len(events))
		want := make([][]byte, len(events))
		var wg sync.WaitGroup
		for i := range events {
			events[i] = fmt.Appendf(nil, `[{"type":3,"timestamp":%d,"data":{"source":1,"text":%q}}]`, i, bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*500))
			wg.Go(func() {
				out[i] = s.compress(events[i])
				want[i] = bytes.Clone(out[i])
			})
		}
		wg.Wait()
		for i := range events {
			s.compress(events[(i+1)%len(events)])
			if !bytes.Equal(out[i], want[i]) || cap(out[i]) != len(out[i]) {
				t.Fatalf("level %v: chunk %d changed after later compressions (or shares a buffer: cap %d, len %d)", level, i, cap(out[i]), len(out[i]))
			}
			got, err := dec.DecodeAll(out[i], nil)
			if err != nil || !bytes.Equal(got, events[i]) {
				t.Fatalf("level %v: chunk %d does not decode to its events: %v", level, i, err)
			}
		}
		enc.Close()
	}
}
