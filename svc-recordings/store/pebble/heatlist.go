package pebble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
)

// Cell lists. An h row holds every cell of one (page, device, kind, day or
// week) as one sorted list, and a change to it is a merge operand that is
// itself such a list. A row per cell made each heatmap flush insert ~16k
// keys into the memtable and the LSM carry ~40-byte keys for ~3-byte
// values; a list per group turns a flush into a few dozen merges and
// stores a cell in a few bytes. The merge operator sums lists.
//
// A list is a version byte (heatListV1) then its cells in strictly
// ascending byte order, each as: uvarint bytes shared with the previous
// cell, uvarint length of the rest, the rest, then the heatmap.Vec
// (Vec.Append). A cell whose sum is zero is left out, and a row whose list
// is empty once every operand is in is dropped by compactions.
const heatListV1 = 1

var errHeatList = errors.New("corrupt heatmap cell list")

// heatCell is one cell of a list.
type heatCell struct {
	cell []byte
	v    heatmap.Vec
}

// appendHeatList appends the list of cells (sorted by cell, strictly
// ascending) to b, leaving out zero sums.
func appendHeatList(b []byte, cells []heatCell) []byte {
	b = append(b, heatListV1)
	var prev []byte
	for _, c := range cells {
		if c.v.Zero() {
			continue
		}
		b = appendHeatCell(b, prev, c.cell, c.v)
		prev = c.cell
	}
	return b
}

// appendHeatCell appends one cell of a list after prev.
func appendHeatCell(b, prev, cell []byte, v heatmap.Vec) []byte {
	shared := 0
	for shared < len(prev) && shared < len(cell) && prev[shared] == cell[shared] {
		shared++
	}
	b = binary.AppendUvarint(b, uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(cell)-shared))
	b = append(b, cell[shared:]...)
	return v.Append(b)
}

// heatListReader reads a list's cells in order. The cell it answers is
// valid until the next call.
type heatListReader struct {
	b    []byte
	cell []byte
	n    int // cells read
	err  error
}

func newHeatListReader(b []byte) heatListReader {
	if len(b) == 0 || b[0] != heatListV1 {
		return heatListReader{err: errHeatList}
	}
	return heatListReader{b: b[1:]}
}

// next answers the next cell; ok is false at the end or on an error (err).
// Reads cost most of a heatmap query, so the common one-byte varints are
// read inline.
func (r *heatListReader) next() (cell []byte, v heatmap.Vec, ok bool) {
	if r.err != nil || len(r.b) == 0 {
		return nil, heatmap.Vec{}, false
	}
	b := r.b
	var shared, rest uint64
	if len(b) >= 2 && b[0] < 0x80 && b[1] < 0x80 {
		shared, rest, b = uint64(b[0]), uint64(b[1]), b[2:]
	} else {
		var n, m int
		shared, n = binary.Uvarint(b)
		if n > 0 {
			rest, m = binary.Uvarint(b[n:])
		}
		if n <= 0 || m <= 0 {
			return r.fail()
		}
		b = b[n+m:]
	}
	if shared > uint64(len(r.cell)) || rest > uint64(len(b)) {
		return r.fail()
	}
	suffix := b[:rest]
	// Strictly ascending (a merge of lists relies on it): the cell shares
	// the previous one's first bytes, so the rest decides.
	if r.n > 0 && bytes.Compare(r.cell[shared:], suffix) >= 0 {
		return r.fail()
	}
	r.cell = append(r.cell[:shared], suffix...)
	b = b[rest:]
	var xs [6]int64
	for i := range xs {
		if len(b) > 0 && b[0] < 0x80 {
			// One byte: zig-zag.
			xs[i], b = int64(b[0]>>1)^-int64(b[0]&1), b[1:]
			continue
		}
		x, n := binary.Varint(b)
		if n <= 0 {
			return r.fail()
		}
		xs[i], b = x, b[n:]
	}
	r.b = b
	r.n++
	return r.cell, heatmap.Vec{N: xs[0], X: xs[1], Y: xs[2], K: xs[3], RX: xs[4], RY: xs[5]}, true
}

func (r *heatListReader) fail() ([]byte, heatmap.Vec, bool) {
	r.err = errHeatList
	return nil, heatmap.Vec{}, false
}

// listSum is the merge operator of cell-list rows.
type listSum struct {
	operands [][]byte
	merges   *atomic.Int64 // counts merges of two or more; may be nil
}

func (m *listSum) MergeNewer(value []byte) error {
	// Pebble may reuse value's memory after the call.
	m.operands = append(m.operands, bytes.Clone(value))
	return nil
}

func (m *listSum) MergeOlder(value []byte) error { return m.MergeNewer(value) }

func (m *listSum) sum() ([]byte, bool, error) {
	ops := m.operands
	if len(ops) == 1 {
		// One operand is already a list, and empty when it holds no cell
		// (writers leave zero sums out). It is not read here: Heat reads
		// it next, refusing it if malformed, and a read per merge doubled
		// the reading of every row in the memtable.
		return ops[0], len(ops[0]) == 1, nil
	}
	if m.merges != nil {
		m.merges.Add(1)
	}
	out, err := mergeHeatLists(ops)
	if err != nil {
		return nil, false, err
	}
	return out, len(out) == 1, nil
}

// mergeHeatLists merges lists into one in a single pass, summing equal
// cells and leaving out zero sums.
func mergeHeatLists(lists [][]byte) ([]byte, error) {
	size := 0
	for _, l := range lists {
		size = max(size, len(l))
	}
	out := append(make([]byte, 0, size+size/4), heatListV1)
	var prev []byte
	err := mergeHeatCells(lists, func(cell []byte, v heatmap.Vec) error {
		out = appendHeatCell(out, prev, cell, v)
		prev = append(prev[:0], cell...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mergeHead is a list being merged and its current cell.
type mergeHead struct {
	r    heatListReader
	cell []byte
	v    heatmap.Vec
}

// mergeHeatCells calls fn with the cells of lists in ascending order in a
// single pass, equal cells summed and zero sums left out; the cell is valid
// until the next call. It stops at fn's first error, or a list's, and
// answers it.
//
// The lists of a page's month (days, weeks, devices) share most of their
// cells, so each cell is the head of most lists at once: one comparison
// per list finds the least cell and every list holding it. (A heap costs
// a sift per list holding the cell, measured slower; merging eight lists
// at a time through lists written in between cost 1.2× this in
// BenchmarkHeat.)
func mergeHeatCells(lists [][]byte, fn func(cell []byte, v heatmap.Vec) error) error {
	heads := make([]mergeHead, 0, len(lists))
	for _, l := range lists {
		h := mergeHead{r: newHeatListReader(l)}
		var ok bool
		if h.cell, h.v, ok = h.r.next(); ok {
			heads = append(heads, h)
		} else if h.r.err != nil {
			return h.r.err
		}
	}
	least := make([]int, 0, len(heads)) // the heads holding the least cell, ascending
	for len(heads) > 0 {
		least = append(least[:0], 0)
		for i := 1; i < len(heads); i++ {
			switch c := bytes.Compare(heads[i].cell, heads[least[0]].cell); {
			case c < 0:
				least = append(least[:0], i)
			case c == 0:
				least = append(least, i)
			}
		}
		var sum heatmap.Vec
		for _, i := range least {
			sum = sum.Add(heads[i].v, 1)
		}
		if !sum.Zero() {
			if err := fn(heads[least[0]].cell, sum); err != nil {
				return err
			}
		}
		// From the last, so that removing an ended list moves none of the
		// heads still to advance.
		for j := len(least) - 1; j >= 0; j-- {
			h := &heads[least[j]]
			var ok bool
			if h.cell, h.v, ok = h.r.next(); ok {
				continue
			}
			if h.r.err != nil {
				return h.r.err
			}
			heads = slices.Delete(heads, least[j], least[j]+1)
		}
	}
	return nil
}

func (m *listSum) Finish(bool) ([]byte, io.Closer, error) {
	v, _, err := m.sum()
	return v, nil, err
}

// DeletableFinish lets compactions drop a row whose cells all sum to zero
// once every operand is in (a deleted visitor's cells leave no trace).
func (m *listSum) DeletableFinish(includesBase bool) ([]byte, bool, io.Closer, error) {
	v, empty, err := m.sum()
	return v, includesBase && empty, nil, err
}

var _ pebble.DeletableValueMerger = (*listSum)(nil)
