package batch

import (
	"strings"
	"testing"
)

// sameSkip fails t unless skipFast and skipSlow agree on b at depth: both
// accept and end at the same offset, or skipFast refuses (leaving the
// cursor where it was) and skipSlow does too.
func sameSkip(t *testing.T, b []byte, depth int) {
	t.Helper()
	fast := decoder{b: b}
	ok := fast.skipFast(depth)
	slow := decoder{b: b}
	err := slow.skipSlow(depth)
	switch {
	case ok && err != nil:
		t.Fatalf("depth %d: skipFast accepts, skipSlow refuses (%v): %q", depth, err, b)
	case !ok && err == nil:
		t.Fatalf("depth %d: skipFast refuses, skipSlow accepts: %q", depth, b)
	case ok && fast.i != slow.i:
		t.Fatalf("depth %d: skipFast ends at %d, skipSlow at %d: %q", depth, fast.i, slow.i, b)
	case !ok && fast.i != 0:
		t.Fatalf("depth %d: skipFast refused but moved the cursor to %d", depth, fast.i)
	}
}

// skipCases are values at the edges of the grammar: every kind of value,
// white space where it may and may not be, and each refusal skipSlow
// knows.
var skipCases = []string{
	`"a"`, `""`, `"\"\\\/\b\f\n\r\t\u00e9\uD83D\ude00"`, `"\ud800"`, `"é"`, "\"\xff\"", "\"a\x1fb\"", "\"a\x7f\"",
	`"\q"`, `"\u12"`, `"\u12g4"`, `"abc`, `"abc\`, `"`, "\"\xe2\x82\"", "\"\xef\xbf\xbd\"",
	`0`, `-0`, `-`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e+30`, `1.e5`, `.5`, `+1`, `1x`,
	`true`, `false`, `null`, `tru`, `nul`, `fals`, `truex`, `nullnull`, `True`,
	`{}`, `[]`, `{ }`, `[ ]`, "{\t\n\r }", `{"a":1}`, `{ "a" : 1 , "b" : [ 1 , 2 ] }`, `[1,2,3]`,
	`{"a":1,}`, `[1,]`, `{,}`, `[,]`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`,
	`{"a":1]`, `[1}`, `{`, `[`, `{"a":`, `[1,`, `{"a":{"b":[{"c":null}]}}`, `[[[[]]]]`, `[{}]`,
	`{"\u0061":1}`, `{"\x":1}`, "{\"k\xff\":1}", `{"a":1}trailing`, `[1] `, ` 1`, ``, "\x00", `@`,
	`[{"type":3,"data":{"source":1,"positions":[{"x":1,"y":2,"id":3,"timeOffset":-4}]},"timestamp":1795431548451}]`,
}

func TestSkipFastAgrees(t *testing.T) {
	for _, c := range skipCases {
		for _, depth := range []int{0, 1, 2, MaxDepth - 1, MaxDepth, MaxDepth + 1} {
			sameSkip(t, []byte(c), depth)
		}
	}
	// Nesting at and past MaxDepth, arrays and objects, from each level
	// the decoders call skip at.
	for _, depth := range []int{0, 1, 2, 3} {
		for _, n := range []int{MaxDepth - depth, MaxDepth - depth + 1, MaxDepth - depth + 2, MaxDepth + 10} {
			sameSkip(t, []byte(strings.Repeat("[", n)+strings.Repeat("]", n)), depth)
			sameSkip(t, []byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)), depth)
			sameSkip(t, []byte(strings.Repeat(`[{"a":`, n/2)+"1"+strings.Repeat("}]", n/2)), depth)
			sameSkip(t, []byte(strings.Repeat("[", n)), depth)
		}
	}
	// A string with each special byte at every offset around the 8-byte
	// words the scanners read.
	for pos := range 20 {
		for _, sp := range []string{`\"`, `\\`, `\u00e9`, "\x01", "\x1f", "\x7f", "é", "\xff", `"`, "\t", `\`, "\xe2\x82"} {
			s := `"` + strings.Repeat("a", pos) + sp + strings.Repeat("b", 9) + `"`
			sameSkip(t, []byte(s), 2)
			sameSkip(t, []byte(s[:len(s)-3]), 2)
		}
	}
	// Every batch of the testdata, and each of its prefixes.
	for name, b := range testdata(t) {
		sameSkip(t, b, 0)
		for n := range len(b) {
			if n%7 == 0 {
				sameSkip(t, b[:n], 0)
			}
		}
		t.Logf("%s: %d bytes", name, len(b))
	}
}

// FuzzSkipFast: skipFast accepts exactly what skipSlow does, at every
// level the decoders call skip from.
func FuzzSkipFast(f *testing.F) {
	for _, c := range skipCases {
		f.Add([]byte(c), uint16(2))
	}
	for _, b := range testdata(f) {
		f.Add(b, uint16(0))
	}
	f.Add([]byte(strings.Repeat("[", MaxDepth-1)+strings.Repeat("]", MaxDepth-1)), uint16(2))
	f.Fuzz(func(t *testing.T, b []byte, depth uint16) {
		sameSkip(t, b, int(depth%(MaxDepth+3)))
	})
}

func BenchmarkSkip(b *testing.B) {
	data := testdata(b)["batch-chromium.json"]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := decoder{b: data}
		if err := d.skip(0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSkipSlow(b *testing.B) {
	data := testdata(b)["batch-chromium.json"]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := decoder{b: data}
		if err := d.skipSlow(0); err != nil {
			b.Fatal(err)
		}
	}
}

// sameEvents fails t unless the events walk's fast path agrees with the
// Events iterator on raw, an events array as ValidateEvents and Decode
// see it.
func sameEvents(t *testing.T, raw []byte) {
	t.Helper()
	d := decoder{b: raw}
	n, ok := d.eventsFast()
	it := Events{d: decoder{b: raw}, arr: elements{name: "events"}}
	for it.Next() {
	}
	switch {
	case ok && it.Err() != nil:
		t.Fatalf("eventsFast accepts %d events, the walk refuses (%v): %q", n, it.Err(), raw)
	case !ok && d.i != 0:
		t.Fatalf("eventsFast refused but moved the cursor to %d", d.i)
	case ok && (n != it.Count() || d.i != it.d.i):
		t.Fatalf("eventsFast: %d events ending at %d, the walk %d at %d: %q", n, d.i, it.Count(), it.d.i, raw)
	}
	// A refusal of the fast path is only a cost: count the valid ones it
	// gives up on, which must be only those with an escaped key.
	if !ok && it.Err() == nil && !strings.Contains(string(raw), `\`) {
		t.Fatalf("eventsFast refuses a valid array without escapes: %q", raw)
	}
}

// eventCases are events arrays at the edges of the event rules.
var eventCases = []string{
	`[]`, `[ ]`, `{}`, `[{}]`, `[{"type":1}]`, `[{"timestamp":1}]`, `[{"type":1,"timestamp":1}]`,
	` [ { "type" : 6 , "timestamp" : 0 , "data" : null } ] `, `[{"type":7,"timestamp":1}]`, `[{"type":-1,"timestamp":1}]`,
	`[{"type":10,"timestamp":1}]`, `[{"type":01,"timestamp":1}]`, `[{"type":1.0,"timestamp":1}]`, `[{"type":1e0,"timestamp":1}]`,
	`[{"type":"1","timestamp":1}]`, `[{"type":1,"type":1,"timestamp":1}]`, `[{"type":1,"timestamp":1,"timestamp":2}]`,
	`[{"type":1,"timestamp":1.5}]`, `[{"type":1,"timestamp":-1}]`, `[{"type":1,"timestamp":-0}]`, `[{"type":1,"timestamp":9000000000000}]`,
	`[{"type":1,"timestamp":9000000000001}]`, `[{"type":1,"timestamp":9000000000000.5}]`, `[{"type":1,"timestamp":1e400}]`,
	`[{"type":1,"timestamp":1e3}]`, `[{"type":1,"timestamp":0.1e-400}]`, `[{"type":1,"timestamp":1234567890123456}]`,
	`[{"type":1,"timestamp":1,"data":{}}]`, `[{"type":1,"timestamp":1,"data":[]}]`, `[{"type":1,"timestamp":1,"data":1}]`,
	`[{"type":1,"timestamp":1,"data":null,"data":null}]`, `[{"type":1,"timestamp":1,"data":nul}]`, `[{"type":1,"timestamp":1,"data":{"a":}}]`,
	`[{"type":1,"timestamp":1,"x":[1,{"y":"z"}]}]`, `[{"type":1,"timestamp":1,"x":}]`, `[{"type":1,"timestamp":1,}]`,
	`[{"type":1,"timestamp":1},]`, `[{"type":1,"timestamp":1}{"type":1,"timestamp":1}]`, `[{"type":1,"timestamp":1}`,
	`[{"type":1,"timestamp":1}] x`, `[{"type":1,"timestamp":1},{"type":2,"timestamp":2}]`, `[{"type":1,"timestamp":1},1]`,
	`[{"\u0074ype":1,"timestamp":1}]`, `[{"t\ype":1,"timestamp":1}]`, "[{\"type\xff\":1,\"timestamp\":1}]", `[{"type" 1,"timestamp":1}]`,
	`[{"type":1 "timestamp":1}]`, `[{type:1,"timestamp":1}]`, `[{"type":1,"timestamp":1`, `[{"type":`, `[{"type":1,"timestamp":`,
	`[{"type":3,"timestamp":1,"data":{"source":0,"n":` + strings.Repeat("[", MaxDepth-2) + strings.Repeat("]", MaxDepth-2) + `}}]`,
	`[{"type":3,"timestamp":1,"data":{"source":0,"n":` + strings.Repeat("[", MaxDepth-1) + strings.Repeat("]", MaxDepth-1) + `}}]`,
}

func TestEventsFastAgrees(t *testing.T) {
	for _, c := range eventCases {
		sameEvents(t, []byte(c))
	}
	for _, b := range testdata(t) {
		e, err := Decode(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, e.Events)
		for n := range len(e.Events) {
			if n%5 == 0 {
				sameEvents(t, e.Events[:n])
			}
		}
	}
}

// FuzzEventsFast: the fast path of the events walk accepts exactly what
// the Events iterator accepts, with the same count and end.
func FuzzEventsFast(f *testing.F) {
	for _, c := range eventCases {
		f.Add([]byte(c))
	}
	for _, b := range testdata(f) {
		if e, err := Decode(b, 0); err == nil {
			f.Add(e.Events)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameEvents(t, raw)
		// And through the two entry points that use it.
		it := NewEvents(raw)
		for it.Next() {
		}
		if got, want := ValidateEvents(raw), it.Err(); (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("ValidateEvents: %v, the walk: %v", got, want)
		}
	})
}
