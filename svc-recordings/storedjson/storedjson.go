// Package storedjson encodes and decodes the JSON values recordings writes
// and reads on every append — session rows and states, chunk stats, outbox
// entries — with segmentio/encoding/json, which reads and writes them as
// encoding/json does (checked against it here and in the Pebble store's row
// tests, by fuzzing included; rows and states keep their map keys unsorted,
// MarshalUnsorted) in a fraction of the time: encoding/json's
// reflection on these values was 6 % of the all-in-one server's CPU in a
// bench-pipeline soak profile (BenchmarkStatsCodec has the ratio).
//
// HTML escaping is off: stored stats, states and rows hold selector paths,
// whose every '>' encoding/json would write as \u003e, six bytes for one.
// Values written with escapes read the same.
package storedjson

import (
	"bytes"
	"sync"

	segjson "github.com/segmentio/encoding/json"
)

// buffers are encoding scratch: Append into a grown buffer and one copy
// out allocates less than growing a new slice from nothing each time
// (BenchmarkStatsCodec/encode: 17.3 KB in 61 allocations against 40.4 KB
// in 191).
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Marshal writes what encoding/json's Encoder.Encode writes with HTML
// escaping off, without the trailing newline: map keys sorted, the same
// bytes.
func Marshal(v any) ([]byte, error) { return marshal(v, segjson.SortMapKeys) }

// MarshalUnsorted is Marshal with each map's keys in the order Go's map
// iteration gives: the same JSON value, not the same bytes. It is for the
// values an append rewrites whole and whose maps grow with the session —
// its state, with an entry per page view — where sorting the keys cost more
// than anything reading them gains (BenchmarkAppendLongSession, 1,000 page
// views: 2.20 ms of CPU per append sorted, 1.75 unsorted); nothing compares
// stored values by their bytes. (Two keys would collide, and which one a
// read keeps depend on the order, only if both were invalid UTF-8, which
// encoding/json writes as U+FFFD; a state's keys are page view ids, page
// keys and attribute names, from proto strings and event strings, both
// checked for UTF-8 before a chunk is stored.)
func MarshalUnsorted(v any) ([]byte, error) { return marshal(v, 0) }

// Append appends Marshal's bytes to b: for a value copied out at once (into
// a database batch), a buffer the caller reuses spares Marshal's copy.
func Append(b []byte, v any) ([]byte, error) { return segjson.Append(b, v, segjson.SortMapKeys) }

func marshal(v any, flags segjson.AppendFlags) ([]byte, error) {
	bp := buffers.Get().(*[]byte)
	b, err := segjson.Append((*bp)[:0], v, flags)
	var out []byte
	if err == nil {
		out = bytes.Clone(b)
	}
	if cap(b) <= 1<<20 { // a huge value's buffer is not kept
		*bp = b
		buffers.Put(bp)
	}
	return out, err
}

// Unmarshal reads as encoding/json's Unmarshal does.
func Unmarshal(b []byte, v any) error { return segjson.Unmarshal(b, v) }
