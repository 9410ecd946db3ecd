package batch

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// readAll walks raw with Events, with ReadPositions(keys) and
// ReadSnapshotFields when keys is not nil, and answers the events, for
// each event what Positions and SnapshotFields answered (nil when not ok),
// and the error.
func readAll(raw []byte, keys []string) (evs []Event, pos [][]Floats, snaps []*[2]Value, err error) {
	it := NewEvents(raw)
	if keys != nil {
		// A lent buffer with room for one element, holding another
		// batch's: nothing of it may show.
		it.ReadPositions(keys, []Floats{{Found: 7, V: [MaxPositionKeys]float64{1, 2, 3, 4}}}[:0:1])
		it.ReadSnapshotFields()
	}
	for it.Next() {
		evs = append(evs, it.Event())
		vals, ok := it.Positions()
		if ok && vals == nil {
			vals = []Floats{}
		}
		pos = append(pos, slices.Clone(vals))
		var snap *[2]Value
		if node, offset, ok := it.SnapshotFields(); ok {
			snap = &[2]Value{node, offset}
		}
		snaps = append(snaps, snap)
	}
	return evs, pos, snaps, it.Err()
}

// checkPositions: reading positions in the walk changes nothing Next
// answers, what Positions answers is what FieldEachFloats reads of the
// event's data, and what SnapshotFields answers is what Get reads. It
// answers how many events had their positions, and how many their
// snapshot fields, read.
func checkPositions(t *testing.T, raw []byte) (read, snapsRead int) {
	t.Helper()
	keys := []string{"x", "y", "timeOffset"}
	want, _, _, wantErr := readAll(raw, nil)
	got, pos, snaps, gotErr := readAll(raw, keys)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("with ReadPositions: %v, without: %v\n%q", gotErr, wantErr, raw)
	}
	if !slices.EqualFunc(got, want, func(a, b Event) bool {
		return a.Type == b.Type && a.Timestamp == b.Timestamp && string(a.Data) == string(b.Data)
	}) {
		t.Fatalf("events differ with ReadPositions\n%q", raw)
	}
	for i, snap := range snaps {
		if snap == nil {
			continue
		}
		snapsRead++
		if d := got[i].Data; string(snap[0]) != string(d.Get("node")) || string(snap[1]) != string(d.Get("initialOffset")) ||
			(snap[0] == nil) != (d.Get("node") == nil) || (snap[1] == nil) != (d.Get("initialOffset") == nil) {
			t.Fatalf("event %d: SnapshotFields %q %q, Get %q %q", i, snap[0], snap[1], d.Get("node"), d.Get("initialOffset"))
		}
	}
	for i, vals := range pos {
		if vals == nil {
			continue
		}
		read++
		var wantVals []Floats
		var f [3]float64
		got[i].Data.FieldEachFloats("positions", keys, f[:], func(found uint64) bool {
			var v Floats
			v.Found = found
			for k := range keys {
				if found&(1<<k) != 0 {
					v.V[k] = f[k]
				}
			}
			wantVals = append(wantVals, v)
			return true
		})
		if !slices.Equal(vals, wantVals) && !(len(vals) == 0 && len(wantVals) == 0) {
			t.Fatalf("event %d: Positions %v, FieldEachFloats %v\n%s", i, vals, wantVals, got[i].Data)
		}
	}
	return read, snapsRead
}

func TestEventsPositions(t *testing.T) {
	move := func(data string) string { return `{"type":3,"data":` + data + `,"timestamp":1700000000000}` }
	many := make([]string, maxPositions+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"x":%d,"y":1,"id":2,"timeOffset":-%d}`, i, i)
	}
	for _, c := range []struct {
		name   string
		events []string
		read   int // events whose positions the walk read
	}{
		{"rrweb's mousemove and touchmove", []string{
			move(`{"source":1,"positions":[{"x":707,"y":412,"id":211,"timeOffset":-400},{"x":731,"y":398,"id":17,"timeOffset":-320}]}`),
			move(`{"source":6,"positions":[{"x":1,"y":2,"id":3,"timeOffset":0}]}`),
		}, 2},
		{"elements that leave the first's shape", []string{
			move(`{"source":1,"positions":[{"x":1,"y":2,"id":3,"timeOffset":-4},{"x":5,"y":6,"id":7},{"x":5,"y":6,"id":7,"timeOffset":-8,"z":1},` +
				`{"y":6,"x":5,"id":7,"timeOffset":-8},{"x":5,"y":6.5,"id":7,"timeOffset":-8},{"x":5,"y":6,"ie":7,"timeOffset":-8},{"x":5,"z":6,"id":7,"timeOffset":-8},{"x":5,"y":6,"id":7,"timeOffsex":-8},{"x":5,"y":"6","id":7,"timeOffset":-8},` +
				`{"x":5,"y":6,"id":7,"timeOffset":-8},{ "x":5,"y":6,"id":7,"timeOffset":-8},7,null,[{"x":1}],{"x":5,"\u0079":6},{"x":1,"y":2,"id":3,"timeOffset":-4}]}`),
		}, 1},
		{"a repeated key, the first counts", []string{
			move(`{"source":1,"positions":[{"x":1,"x":2,"y":3},{"x":4,"x":5,"y":6}],"positions":[{"x":9}]}`),
		}, 1},
		{"no positions, or not an array", []string{
			move(`{"source":1,"id":3}`), move(`{"source":1,"positions":{"x":1}}`), move(`{"source":1,"positions":3,"positions":[{"x":1}]}`),
			// Space before the data object is passed before it is looked at.
			move(` {"source":1,"positions":[{"x":1}]}`),
		}, 4},
		{"not as rrweb writes it: read by the caller", []string{
			move(`{"source":1}`), move(`{"positions":[{"x":1,"y":2}],"source":1}`), move(`{ "source":1,"positions":[{"x":1}]}`),
			move(`{"source":12,"positions":[{"x":1}]}`), move(`{"source":10,"positions":[{"x":1}]}`),
			`{"data":{"source":1,"positions":[{"x":1}]},"type":3,"timestamp":1}`,
			`{"type":2,"data":{"source":1,"positions":[{"x":1}]},"timestamp":1}`,
			move(`{"source":1,"positions":[` + strings.Join(many, ",") + `]}`),
		}, 0},
		{"refused inside the positions", []string{move(`{"source":1,"positions":[{"x":1},{"x":"\xff"}]}`)}, 0},
		{"refused: a bad number", []string{move(`{"source":1,"positions":[{"x":1},{"x":01}]}`)}, 0},
		{"refused: too deep", []string{move(`{"source":1,"positions":[` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `]}`)}, 0},
		{"refused after the positions", []string{move(`{"source":1,"positions":[{"x":1}],"id":tru}`)}, 0},
		{"refused: no comma after the positions", []string{move(`{"source":1,"positions":[{"x":1}] "id":1}`)}, 0},
		{"refused: unclosed", []string{move(`{"source":1,"positions":[{"x":1}`)}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n, _ := checkPositions(t, []byte("["+strings.Join(c.events, ",")+"]")); n != c.read {
				t.Fatalf("%d events' positions read in the walk, want %d", n, c.read)
			}
		})
	}
}

// TestEventsSnapshotFields: a full snapshot's node and initialOffset as
// the walk notes them are Get's, whatever the order, repeats or absence.
func TestEventsSnapshotFields(t *testing.T) {
	snap := func(data string) string { return `{"type":2,"data":` + data + `,"timestamp":1700000000000}` }
	for _, c := range []struct {
		name   string
		events []string
		read   int
	}{
		{"rrweb's", []string{snap(`{"node":{"type":0,"id":1,"childNodes":[{"type":2,"tagName":"html","id":2,"attributes":{"initialOffset":"x"},"childNodes":[]}]},"initialOffset":{"left":0,"top":40}}`)}, 1},
		{"other orders, repeats, absence", []string{
			snap(`{"initialOffset":{"left":1,"top":2},"node":{"id":3}}`), snap(`{"node":{"id":1},"node":{"id":2},"initialOffset":{"top":1},"initialOffset":{"top":2}}`),
			snap(`{}`), snap(`{"node":null, "initialOffset" : 3 }`), snap(` {"n\u006fde":{"id":5}}`),
		}, 5},
		{"not read: data after type", []string{`{"data":{"node":{"id":1}},"type":2,"timestamp":1}`, `{"type":4,"data":{"node":{"id":1}},"timestamp":1}`}, 0},
		{"refused", []string{snap(`{"node":{"id":1},"initialOffset":{"top":"\x"}}`)}, 0},
		{"refused: unclosed", []string{snap(`{"node":{"id":1}`)}, 0},
		{"refused: no comma", []string{snap(`{"node":{"id":1} "initialOffset":{"top":1}}`)}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, n := checkPositions(t, []byte("["+strings.Join(c.events, ",")+"]")); n != c.read {
				t.Fatalf("%d snapshots' fields read in the walk, want %d", n, c.read)
			}
		})
	}
}

// FuzzEventsPositions: on any input, reading positions and snapshot fields
// in the walk accepts and refuses what the walk without it does, and reads
// what FieldEachFloats and Get read.
func FuzzEventsPositions(f *testing.F) {
	f.Add([]byte(`[{"type":3,"data":{"source":1,"positions":[{"x":707,"y":412,"id":211,"timeOffset":-400},{"x":731,"y":398,"id":17,"timeOffset":-320}]},"timestamp":1}]`))
	f.Add([]byte(`[{"type":3,"data":{"source":6,"positions":[{"x":1,"y":2},{"y":2,"x":1},{"x":1.5,"y":2},3]},"timestamp":1}]`))
	f.Add([]byte(`[{"type":2,"data":{"node":{"id":1,"childNodes":[]},"initialOffset":{"left":0,"top":9}},"timestamp":1},{"type":2,"data":{"initialOffset":1,"node":2,"node":3},"timestamp":2}]`))
	f.Add([]byte(`[{"type":3,"data":{"source":1,"positions":[{"x":1}],"positions":[]},"timestamp":1},{"type":3,"data":{"source":1,"positions":[{"x":"\u00ff"}]},"timestamp":2}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkPositions(t, raw)
	})
}
