package batch

import "fmt"

// Event is what the contract reads of one rrweb event: the rest of it is
// kept as sent.
type Event struct {
	// Type is rrweb's EventType, 0..MaxEventType.
	Type int64
	// Timestamp is in ms since the epoch, 0..MaxTimestampMs (a fraction
	// is cut off).
	Timestamp int64
	// Data is the event's data object, nil when absent or null.
	Data Value
}

// Events iterates over a JSON array of events, checking each against the
// contract as it goes; recordings reads chunks with it and Decode checks
// batches with it, so both refuse exactly the same events.
//
//	it := batch.NewEvents(raw)
//	for it.Next() { ev := it.Event() ... }
//	if err := it.Err(); err != nil { ... }
type Events struct {
	d    decoder
	n    int
	ev   Event
	arr  elements
	err  error
	done bool
	// whole: the array is the entire input (trailing data is an error);
	// false inside an envelope, where the envelope goes on.
	whole bool
	// pos is what Next read of the current event's pointer positions
	// (ReadPositions); snap of its full snapshot's fields
	// (ReadSnapshotFields).
	pos  positions
	snap snapshotFields
}

// snapshotFields is ReadSnapshotFields' state: the first node and
// initialOffset members of the current full snapshot's data, when read
// is true.
type snapshotFields struct {
	on           bool
	node, offset Value
	read         bool
}

// Floats is the number fields of one array element that
// Events.ReadPositions asked for: V[i] is keys[i]'s value when bit i of
// Found is set.
type Floats struct {
	Found uint64
	V     [MaxPositionKeys]float64
}

// MaxPositionKeys bounds ReadPositions' keys.
const MaxPositionKeys = 4

// maxPositions bounds the elements Next keeps of one event: an event with
// more is checked as any other and its positions read by the caller
// (Value.FieldEachFloats), so memory stays bounded whatever a chunk holds.
const maxPositions = 1024

// positions is ReadPositions' state: the keys, and the current event's
// elements when read is true.
type positions struct {
	keys []string // nil: not asked
	vals []Floats
	read bool
}

// ReadPositions makes Next read, as it checks each pointer-movement event
// (type 3, data opening with rrweb's "source":1 or 6), the number fields
// named keys (at most MaxPositionKeys) of the elements of its data's
// "positions" array; Positions answers them. Reading them in the walk that
// checks the event spares the caller a second walk over its positions,
// most of a batch's bytes after the snapshot. It changes nothing Next
// accepts or refuses. Call it before the first Next. buf lends its memory
// (its elements are overwritten): a caller reading many batches spares an
// allocation per batch; nil allocates room for a few events of rrweb's
// (about ten positions each).
func (it *Events) ReadPositions(keys []string, buf []Floats) {
	if len(keys) > MaxPositionKeys {
		panic("batch: ReadPositions takes at most 4 keys")
	}
	if buf == nil {
		buf = make([]Floats, 0, 32)
	}
	it.pos = positions{keys: keys, vals: buf[:0]}
}

// Positions answers the current event's positions as ReadPositions asked
// (nothing for an element that is not an object; none when data has no
// "positions" array); ok is false when Next did not read them (ReadPositions
// not called, another kind of event, or one written otherwise than rrweb
// writes it), and the caller reads them from the event's data
// (Value.FieldEachFloats) for the same answer. The slice is reused by the
// next Next.
func (it *Events) Positions() (vals []Floats, ok bool) {
	if !it.pos.read {
		return nil, false
	}
	return it.pos.vals, true
}

// ReadSnapshotFields makes Next note, as it checks each full snapshot
// (type 2), where its data's first node and initialOffset members are
// (SnapshotFields): initialOffset follows the node, the whole page, which
// a reader of both would otherwise walk again. It changes nothing Next
// accepts or refuses. Call it before the first Next.
func (it *Events) ReadSnapshotFields() { it.snap.on = true }

// SnapshotFields answers the current full snapshot's first node and
// initialOffset members (nil when absent), as Get would; ok is false when
// Next did not read them (ReadSnapshotFields not called, another kind of
// event), and the caller reads them from the data.
func (it *Events) SnapshotFields() (node, offset Value, ok bool) {
	if !it.snap.read {
		return nil, nil, false
	}
	return it.snap.node, it.snap.offset, true
}

// NewEvents iterates over raw, which must be one JSON array of events
// (surrounding whitespace allowed).
func NewEvents(raw []byte) Events {
	return Events{d: decoder{b: raw}, arr: elements{name: "events"}, whole: true}
}

// ValidateEvents checks a whole events array against the contract.
func ValidateEvents(raw []byte) error {
	d := decoder{b: raw}
	if _, ok := d.eventsFast(); ok && wsEnd(raw, d.i) == len(raw) {
		return nil
	}
	it := NewEvents(raw)
	for it.Next() {
	}
	return it.Err()
}

// Next moves to the next event; false at the end or on an error (Err).
func (it *Events) Next() bool {
	if it.done {
		return false
	}
	d := &it.d
	if !d.element(&it.arr) {
		it.done = true
		switch {
		case it.arr.err != nil:
			return it.fail(it.arr.err)
		case it.n == 0:
			return it.fail(errf("events must not be empty"))
		case it.whole:
			d.ws()
			if d.i != len(d.b) {
				return it.fail(errf("trailing data after events at offset %d", d.i))
			}
		}
		return false
	}
	var pos *positions
	if it.pos.keys != nil {
		pos = &it.pos
	}
	var snap *snapshotFields
	if it.snap.on {
		snap = &it.snap
	}
	ev, err := d.event(it.n, pos, snap)
	if err != nil {
		return it.fail(err)
	}
	it.ev = ev
	it.n++
	return true
}

func (it *Events) fail(err error) bool {
	it.err, it.done = err, true
	return false
}

// Event is the current event.
func (it *Events) Event() Event { return it.ev }

// Count is the number of events read so far.
func (it *Events) Count() int { return it.n }

// Err is why the iteration stopped early, nil at a clean end.
func (it *Events) Err() error { return it.err }

// event reads one event object: type and timestamp are required, data is
// an object or null, and everything else is checked as JSON (UTF-8,
// depth) and kept as sent. The event object is nesting level 1.
func (d *decoder) event(n int, pos *positions, snap *snapshotFields) (Event, error) {
	var ev Event
	if pos != nil {
		pos.read = false
	}
	if snap != nil {
		snap.read = false
	}
	if d.peek() != '{' {
		return ev, errf("events[%d] must be an object", n)
	}
	const (
		fType = 1 << iota
		fTimestamp
		fData
	)
	var seen uint8
	// once refuses a repeated key: readers differ on which copy wins, so
	// the contract allows no ambiguity.
	once := func(f uint8, name string) error {
		if seen&f != 0 {
			return errf("events[%d] has %s twice", n, name)
		}
		seen |= f
		return nil
	}
	o := members{name: "events[]"}
	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
		switch string(key) { // no allocation: the compiler compares the bytes
		case "type":
			if err := once(fType, "type"); err != nil {
				return ev, err
			}
			// One digit: rrweb's types are 0..6 (MaxEventType ≤ 9).
			start := d.i
			if err := d.skipNumber(); err != nil || d.i-start != 1 || d.b[start] > '0'+MaxEventType {
				return ev, errf("events[%d].type must be an integer from 0 to %d", n, MaxEventType)
			}
			ev.Type = int64(d.b[start] - '0')
		case "timestamp":
			if err := once(fTimestamp, "timestamp"); err != nil {
				return ev, err
			}
			start := d.i
			if err := d.skipNumber(); err != nil {
				return ev, errf("events[%d].timestamp must be a number", n)
			}
			// parseFloat refuses 1e400 rather than reading +Inf.
			f, err := parseFloat(d.b[start:d.i])
			if err != nil || !(f >= 0 && f <= MaxTimestampMs) {
				return ev, errf("events[%d].timestamp must be between 0 and %d (ms since the epoch)", n, int64(MaxTimestampMs))
			}
			ev.Timestamp = int64(f)
		case "data":
			if err := once(fData, "data"); err != nil {
				return ev, err
			}
			switch d.peek() {
			case 'n':
				if err := d.lit("null"); err != nil {
					return ev, err
				}
			case '{':
				start := d.i
				if pos != nil && ev.Type == 3 && pointerMove(d.b[d.i:]) {
					if d.positions(pos) {
						ev.Data = Value(d.b[start:d.i])
						break
					}
					// Not as rrweb writes it: the usual walk checks it
					// (and says what is wrong).
					d.i, pos.read = start, false
				}
				if snap != nil && ev.Type == 2 {
					if d.snapshotFields(snap) {
						ev.Data = Value(d.b[start:d.i])
						break
					}
					d.i, snap.read = start, false
				}
				if err := d.skip(2); err != nil {
					return ev, err
				}
				ev.Data = Value(d.b[start:d.i])
			default:
				return ev, errf("events[%d].data must be an object or null", n)
			}
		default:
			if err := d.skip(2); err != nil {
				return ev, err
			}
		}
	}
	if o.err != nil {
		return ev, o.err
	}
	switch {
	case seen&fType == 0:
		return ev, errf("events[%d].type is required", n)
	case seen&fTimestamp == 0:
		return ev, errf("events[%d].timestamp is required", n)
	}
	return ev, nil
}

// events checks the envelope's events array with the same iterator
// recordings reads chunks with, and counts its elements.
func (d *decoder) events(maxEvents int) (int, error) {
	fast := *d
	if n, ok := fast.eventsFast(); ok && (maxEvents <= 0 || n <= maxEvents) {
		d.i = fast.i
		return n, nil
	}
	// Refused, or too many: the walk says which and where.
	it := Events{d: *d, arr: elements{name: "events"}}
	for it.Next() {
		if maxEvents > 0 && it.n > maxEvents {
			return it.n, fmt.Errorf("%w (more than %d)", ErrTooManyEvents, maxEvents)
		}
	}
	d.i = it.d.i
	return it.n, it.err
}

// pointerMove tells whether b opens an incremental snapshot's data as rrweb
// writes pointer movement: {"source":1, (mousemove) or {"source":6,
// (touchmove).
func pointerMove(b []byte) bool {
	const prefix = `{"source":`
	return len(b) > len(prefix)+1 && string(b[:len(prefix)]) == prefix &&
		(b[len(prefix)] == '1' || b[len(prefix)] == '6') && b[len(prefix)+1] == ','
}

// positions checks the data object at the cursor as skip(2) does, reading
// the elements of its first "positions" member when that is an array; it
// answers false, pos.read false and the cursor anywhere, for data skip
// would refuse or too many positions to keep.
func (d *decoder) positions(pos *positions) bool {
	pos.vals, pos.read = pos.vals[:0], false
	seen := false
	pos.read = d.dataMembers(func(k []byte) (read, ok bool) {
		if seen || string(k) != "positions" {
			return false, true
		}
		// The first member of the name counts, as with Get.
		seen = true
		if d.peek() != '[' {
			return false, true
		}
		return true, d.positionElements(pos)
	})
	return pos.read
}

// dataMembers walks an event's data object at the cursor, checking it as
// skip(2) does: at each member, member reads the value when it wants to
// (moving past it; ok false when it cannot) and answers whether it did;
// the values it leaves are skipped. False when the walk stops, the cursor
// anywhere.
func (d *decoder) dataMembers(member func(key []byte) (read, ok bool)) bool {
	o := members{name: "object"}
	for k, more := d.member(&o); more; k, more = d.member(&o) {
		read, ok := member(k)
		if !ok {
			return false
		}
		// The data object is at depth 2, its members at 3.
		if !read && d.skip(3) != nil {
			return false
		}
	}
	return o.err == nil
}

// positionElements reads the array at the cursor (depth 3) into pos.vals.
func (d *decoder) positionElements(pos *positions) bool {
	keys := pos.keys
	a := elements{name: "array"}
	var sh shape
	for d.element(&a) {
		if len(pos.vals) == maxPositions {
			return false
		}
		var f Floats
		out := f.V[:len(keys)]
		if d.peek() == '{' {
			// As eachFloats, but what the shaped walks refuse is checked
			// (depth 4) before Floats reads it.
			found, ok := d.objectFloatsShaped(keys, out, &sh)
			if !ok {
				clear(out)
				start := d.i
				if d.skip(4) != nil {
					return false
				}
				found = Value(d.b[start:d.i]).Floats(keys, out)
			}
			f.Found = found
		} else if d.skip(4) != nil {
			return false
		}
		pos.vals = append(pos.vals, f)
	}
	return a.err == nil
}

// snapshotFields checks the data object at the cursor as skip(2) does,
// noting its first node and initialOffset members; it answers false,
// snap.read false and the cursor anywhere, for data skip would refuse.
func (d *decoder) snapshotFields(snap *snapshotFields) bool {
	snap.node, snap.offset, snap.read = nil, nil, false
	snap.read = d.dataMembers(func(k []byte) (read, ok bool) {
		// The first member of a name counts, as with Get.
		var into *Value
		switch {
		case snap.node == nil && string(k) == "node":
			into = &snap.node
		case snap.offset == nil && string(k) == "initialOffset":
			into = &snap.offset
		default:
			return false, true
		}
		start := d.i
		if d.skip(3) != nil {
			return true, false
		}
		*into = Value(d.b[start:d.i])
		return true, true
	})
	return snap.read
}
