package recordings

import (
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// newEncoder is the process's one zstd encoder (EncodeAll is safe for
// concurrent use and reuses its state; AppendChunks compresses a call's
// chunks on every core). Any level's frames decode with the same decoder,
// so chunks stored at another level stay readable.
func newEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
}

// scratchPool holds compression outputs: EncodeAll into an empty slice
// allocates the input's size up front, about five times what a chunk
// compresses to, and that slice lives until the store's batch is written.
func scratchPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
}

// compress is events as one zstd frame, in a slice of its own size.
//
// S2 blocks (klauspost/compress/s2) instead, measured and not taken: a
// fifth of zstd fastest's CPU on a 10 KB batch and 0.83× the service's CPU
// per chunk in bench-recordings, but 27.1 KB stored per recorded minute
// instead of 18.6, and all in one process (bench-pipeline -mode ab, 1,600
// batches/s of 10 KB, 6 rounds) 1.006× the CPU per batch with 1.31× the
// data directory's growth: Pebble's flushes, compactions and block
// compression of the larger values took back what the encoder saved.
// Another stored form would be read forever, for no gain we can show.
func (s *Service) compress(events []byte) []byte {
	p := s.scratch.Get().(*[]byte)
	out := s.enc.EncodeAll(events, (*p)[:0])
	data := make([]byte, len(out))
	copy(data, out)
	if cap(out) <= 1<<20 { // a rare huge chunk's buffer is not kept
		*p = out
		s.scratch.Put(p)
	}
	return data
}
