package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
)

// Key layout. Everything of one session sorts together under its
// partition (site, session) and chunks follow in seq order, as in the
// wide-column model, so a recording is one ordered range scan:
//
//	c | site | session | seq | page view → chunk (page view, times, zstd events)
//	s | site | session | seq | page view → chunk stats (JSON)
//	i | site | session | seq | page view → chunk times (first, last, full snapshot)
//	m | site | session         → session row: fold state, version, created
//	v | site | visitor | session → visitor index (GDPR deletion)
//	x | expires | site | session → expiry index (retention sweep)
//	b | site | created | session → sessions by first-chunk time (activity)
//	a | site                   → latest chunk server time (max merge)
//	d | site | session         → tombstone of a deleted session
//	o | id                     → outbox entry
//	h | site | 0xff | page id | device | kind | day | cell → heatmap aggregate (heatmap.Vec, summed by merges)
//	h | site | 0xff | page id | device | kind|0x80 | week | cell → the same summed over a week (heat.go)
//	g | site | page            → page dictionary (heatmap.Page's Vec: N views, X clicks; summed by merges)
//	k | site | page | device   → latest full snapshot of a page (max merge: server time, then the pointer)
//	r | site                   → unfinished heatmap rebuild (rebuildMarker)
//	n | site | session         → open session: not ended yet (ending.go)
//	w | ms | n                 → notify outbox entry (ending.go)
//
// Integers are big-endian so byte order is numeric order; strings carry a
// one-byte length so that no session id is a prefix of another's range.
// The page view id ends a chunk key and is written bare, so chunks of one
// seq sort by page view id as bytes (summary.CompareKey), as in ScyllaDB's
// clustering (seq, page_view_id). Two tabs of one session may send the
// same seq; the page view keeps their chunks apart.
//
// Heatmap keys: h keys name their page by its id (heatPageID: 12 bytes of
// its SHA-256) after a 0xff mark, k keys by the page length-prefixed
// (≤ pagerule.MaxKey, 240 bytes), g keys by the page bare at the end, so
// the dictionary lists pages in byte order, as ScyllaDB's clustering does.
// (h keys named the page length-prefixed before; heatlayout.go moves such
// rows at Open. The mark, above any length byte, tells the two apart.)
// Device and day are int32 with the sign bit flipped, big-endian, so
// negative values sort first. One (page, device, kind) holds its days in order and each day its
// cells, so a map over a date range is one range scan. Kind heatmap.Page
// lives only in g rows.
//
// Before the page view joined the chunk keys (no deployment had data
// yet), chunk keys ended at seq; such keys are not read any more.
const (
	pChunk     = 'c'
	pStats     = 's'
	pIndex     = 'i'
	pSession   = 'm'
	pVisitor   = 'v'
	pExpiry    = 'x'
	pBegun     = 'b'
	pActivity  = 'a'
	pTombstone = 'd'
	pOutbox    = 'o'
	pHeat      = 'h'
	pHeatPage  = 'g'
	pSnapshot  = 'k'
	pRebuild   = 'r'
	pHeatQueue = 'j' // heatmap changes waiting for a flush (heatqueue.go)
	pOpen      = 'n'
	pNotify    = 'w'
)

type keyBuf []byte

func newKey(prefix byte) keyBuf { return keyBuf{prefix} }

func (k keyBuf) u64(v int64) keyBuf { return binary.BigEndian.AppendUint64(k, uint64(v)) }

func (k keyBuf) str(s string) keyBuf {
	// Ids are validated to ≤ 64 bytes; clamp anyway so the length byte is
	// always right.
	if len(s) > 255 {
		s = s[:255]
	}
	return append(append(k, byte(len(s))), s...)
}

// i32 appends v order-preserving: sign bit flipped, big-endian.
func (k keyBuf) i32(v int32) keyBuf { return binary.BigEndian.AppendUint32(k, uint32(v)^1<<31) }

func readI32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b) ^ 1<<31) }

// heatGroup is the prefix of one (page, device, kind)'s rows.
func heatGroup(site int64, page string, device int32, kind heatmap.Kind) keyBuf {
	return appendHeatGroup(nil, site, page, device, kind)
}

// appendHeatGroup appends heatGroup's key to k.
func appendHeatGroup(k keyBuf, site int64, page string, device int32, kind heatmap.Kind) keyBuf {
	id := heatPageID(page)
	return append(heatPagePrefix(k, site, &id).i32(device), byte(kind))
}

// heatPagePrefix appends the prefix of a page's h rows to k.
func heatPagePrefix(k keyBuf, site int64, id *[heatPageIDLen]byte) keyBuf {
	return append(append(append(k, pHeat).u64(site), heatListMark), id[:]...)
}

// heatGroupLen is the length of heatGroup's keys.
const heatGroupLen = 1 + 8 + 1 + heatPageIDLen + 4 + 1

// heatKey is the key of the row (a cell list, heatlist.go) holding one
// aggregate's day cell (any kind but heatmap.Page).
func heatKey(site int64, k heatmap.Key) keyBuf {
	return heatGroup(site, k.Page, k.Device, k.Kind).i32(k.Day)
}

// heatKeyLen is the length of heatKey's keys.
const heatKeyLen = heatGroupLen + 4

// pageKey is the page dictionary's key of a page.
func pageKey(site int64, page string) keyBuf { return append(newKey(pHeatPage).u64(site), page...) }

// snapshotKey is the prefix of a page's snapshot pointers on a device
// class, each ended by its slot (the key itself, slotless, in databases
// written before slots).
func snapshotKey(site int64, page string, device int32) keyBuf {
	return newKey(pSnapshot).u64(site).str(page).i32(device)
}

// slot ends a snapshot pointer's key with its store.SnapshotSlot.
func (k keyBuf) slot(n int) keyBuf { return append(k, byte(n)) }

// chunkKey is the key of one chunk's row of a kind (pChunk, pStats, pIndex).
func chunkKey(prefix byte, site int64, session string, seq int64, pageView string) keyBuf {
	return append(partition(prefix, site, session).u64(seq), pageView...)
}

// partition is the key prefix of one session's rows of a kind.
func partition(prefix byte, site int64, session string) keyBuf {
	return newKey(prefix).u64(site).str(session)
}

// upperBound is the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

type keyReader struct {
	b   []byte
	err error
}

func (r *keyReader) u64() int64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errors.New("short key")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return int64(v)
}

// rest returns what is left of the key (the bare page view id ending a
// chunk key).
func (r *keyReader) rest() string {
	if r.err != nil {
		return ""
	}
	s := string(r.b)
	r.b = nil
	return s
}

func (r *keyReader) str() string {
	if r.err != nil || len(r.b) < 1 || len(r.b) < 1+int(r.b[0]) {
		r.err = errors.New("short key")
		return ""
	}
	n := int(r.b[0])
	s := string(r.b[1 : 1+n])
	r.b = r.b[1+n:]
	return s
}

// chunk values: uvarint len(pv) | pv | varint first | varint last | data.
func encodeChunk(pv string, first, last int64, data []byte) []byte {
	out := make([]byte, 0, len(pv)+len(data)+24)
	out = binary.AppendUvarint(out, uint64(len(pv)))
	out = append(out, pv...)
	out = binary.AppendVarint(out, first)
	out = binary.AppendVarint(out, last)
	return append(out, data...)
}

func decodeChunk(v []byte) (pv string, first, last int64, data []byte, err error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return "", 0, 0, nil, fmt.Errorf("pebble: corrupt chunk value")
	}
	pv, v = string(v[k:k+int(n)]), v[k+int(n):]
	first, k = binary.Varint(v)
	if k <= 0 {
		return "", 0, 0, nil, fmt.Errorf("pebble: corrupt chunk value")
	}
	v = v[k:]
	last, k = binary.Varint(v)
	if k <= 0 {
		return "", 0, 0, nil, fmt.Errorf("pebble: corrupt chunk value")
	}
	return pv, first, last, v[k:], nil
}

// index values: varint first | varint last | varint full snapshot.
func encodeIndex(first, last, full int64) []byte {
	out := binary.AppendVarint(nil, first)
	out = binary.AppendVarint(out, last)
	return binary.AppendVarint(out, full)
}

func decodeIndex(v []byte) (first, last, full int64, err error) {
	var vals [3]int64
	for i := range vals {
		x, k := binary.Varint(v)
		if k <= 0 {
			return 0, 0, 0, fmt.Errorf("pebble: corrupt chunk index value")
		}
		vals[i], v = x, v[k:]
	}
	return vals[0], vals[1], vals[2], nil
}
