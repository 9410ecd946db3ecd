package cold

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// An object holds chunks of one session in key order, in their stored
// (zstd) form:
//
//	magic "SLCOLD1\n" | uvarint count | count × chunk | sha256 of all before
//	chunk: varint seq | uvarint len | page view | varint first ms | varint last ms | uvarint len | data
//
// The trailing hash makes a torn or altered object fail to decode instead
// of replaying garbage; its first 16 bytes name the object (segmentKey),
// so a segment is never overwritten with other content.
var magic = []byte("SLCOLD1\n")

const contentType = "application/vnd.sightline.chunks"

// errCorrupt is why an object does not decode.
var errCorrupt = errors.New("cold: corrupt object")

// encode lays chunks (in key order) out as an object.
func encode(chunks []store.StoredChunk) []byte {
	n := len(magic) + binary.MaxVarintLen64 + sha256.Size
	for _, c := range chunks {
		n += 5*binary.MaxVarintLen64 + len(c.PageViewID) + len(c.Data)
	}
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(chunks)))
	for _, c := range chunks {
		b = binary.AppendVarint(b, c.Seq)
		b = binary.AppendUvarint(b, uint64(len(c.PageViewID)))
		b = append(b, c.PageViewID...)
		b = binary.AppendVarint(b, c.FirstMs)
		b = binary.AppendVarint(b, c.LastMs)
		b = binary.AppendUvarint(b, uint64(len(c.Data)))
		b = append(b, c.Data...)
	}
	return append(b, sumOf(b)...)
}

func sumOf(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// name is an encoded object's name: the start of its hash, in hex.
func name(obj []byte) string {
	return hex.EncodeToString(obj[len(obj)-sha256.Size:][:16])
}

// decode reads an object back; every length is checked against what is
// left, so a hostile object cannot make it allocate more than its size.
func decode(obj []byte) ([]store.StoredChunk, error) {
	if len(obj) < len(magic)+1+sha256.Size || !bytes.Equal(obj[:len(magic)], magic) {
		return nil, fmt.Errorf("%w: no header", errCorrupt)
	}
	body, sum := obj[:len(obj)-sha256.Size], obj[len(obj)-sha256.Size:]
	if !bytes.Equal(sumOf(body), sum) {
		return nil, fmt.Errorf("%w: checksum", errCorrupt)
	}
	r := reader{b: body[len(magic):]}
	count := r.uvarint()
	if count > uint64(len(r.b)/5) { // every chunk takes at least 5 bytes
		return nil, fmt.Errorf("%w: %d chunks in %d bytes", errCorrupt, count, len(r.b))
	}
	out := make([]store.StoredChunk, 0, count)
	for range count {
		var c store.StoredChunk
		c.Seq = r.varint()
		c.PageViewID = string(r.bytes())
		c.FirstMs, c.LastMs = r.varint(), r.varint()
		c.Data = r.bytes()
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, c)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes past the chunks", errCorrupt, len(r.b))
	}
	return out, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = fmt.Errorf("%w: truncated", errCorrupt), nil }

func (r *reader) uvarint() uint64 { return next(r, binary.Uvarint) }
func (r *reader) varint() int64   { return next(r, binary.Varint) }

// next reads one number with read (binary.Uvarint, binary.Varint).
func next[T uint64 | int64](r *reader, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
