package pebble

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// tombFilter answers, without a read, that a session has no tombstone.
// Every append and answer asks; nearly always there is none, and the Get
// that said so went through the memtables and every level's index and
// filter blocks: 4.7 % of the process's CPU at bench-pipeline's limit,
// inside the store call the forwarder waits on.
//
// It is a superset of the sessions with a tombstone: one bit per hash of
// (site, session), set under the session's stripe before its tombstone's
// batch commits, and cleared only by reset, which runs under every stripe
// from the tombstones on disk. A set bit (a hash shared with another
// session, a tombstone since expired, a batch that failed) costs the Get
// it would have saved, nothing else.
type tombFilter struct {
	words atomic.Pointer[[]atomic.Uint64]
}

const (
	// minTombBits keeps the filter at 128 KiB or more.
	minTombBits = 1 << 20
	// maxTombBits bounds it at 16 MiB; past 16M tombstones, more of them
	// share bits and cost their Get.
	maxTombBits = 1 << 27
	// tombBitsPer is the bits per tombstone a reset sizes for: about one
	// false positive in nine with one probe, room for the tombstones
	// written until the next reset.
	tombBitsPer = 8
)

// size allocates an empty filter for about n tombstones.
func (f *tombFilter) size(n int) {
	nbits := uint64(minTombBits)
	if want := uint64(n) * tombBitsPer; want > nbits {
		nbits = min(uint64(1)<<bits.Len64(want-1), maxTombBits)
	}
	words := make([]atomic.Uint64, nbits/64)
	f.words.Store(&words)
}

func (f *tombFilter) add(h uint64) {
	w := *f.words.Load()
	i := h % (uint64(len(w)) * 64)
	w[i/64].Or(1 << (i % 64))
}

func (f *tombFilter) mayHave(h uint64) bool {
	w := *f.words.Load()
	i := h % (uint64(len(w)) * 64)
	return w[i/64].Load()&(1<<(i%64)) != 0
}

// tombHash is the filter's hash of a session: not the stripe's, whose low
// bits pick the stripe.
func (s *Store) tombHash(site int64, session string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	var b [9]byte
	b[0] = pTombstone
	binary.BigEndian.PutUint64(b[1:], uint64(site))
	h.Write(b[:])
	h.WriteString(session)
	return h.Sum64()
}

// markTombstone records in the filter that the session gets a tombstone;
// the caller holds the session's stripe and commits the tombstone after.
func (s *Store) markTombstone(site int64, session string) {
	s.tombs.add(s.tombHash(site, session))
}

// resetTombs builds the filter again from the tombstones on disk. At Open
// nothing else runs (takeStripes false); after a sweep purged tombstones
// it takes every stripe, so no tombstone is being written and no session
// is being checked while the bits are replaced.
func (s *Store) resetTombs(takeStripes bool) error {
	if takeStripes {
		all := make([]int, stripes)
		for i := range all {
			all[i] = i
		}
		defer s.lock(all)()
	}
	var hashes []uint64
	err := s.scan([]byte{pTombstone}, nil, func(k, _ []byte) error {
		r := keyReader{b: k[1:]}
		site, session := r.u64(), r.str()
		if r.err != nil {
			return fmt.Errorf("tombstone key %x: %w", k, r.err)
		}
		hashes = append(hashes, s.tombHash(site, session))
		return nil
	})
	if err != nil {
		return fmt.Errorf("pebble: load tombstones: %w", err)
	}
	s.tombs.size(len(hashes))
	for _, h := range hashes {
		s.tombs.add(h)
	}
	return nil
}
