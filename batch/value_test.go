package batch

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"testing"
)

func TestValueEach(t *testing.T) {
	for in, want := range map[string][]string{
		`[]`:                            nil,
		` [ ] `[1:]:                     nil,
		`[1, "a\"]", {"x":[2,3]}, [4]]`: {`1`, `"a\"]"`, `{"x":[2,3]}`, `[4]`},
		`[ null ,true ]`:                {`null`, `true`},
		`{"a":1}`:                       nil,
		`"[1]"`:                         nil,
	} {
		var got []string
		Value(in).Each(func(v Value) bool { got = append(got, string(v)); return true })
		if !slices.Equal(got, want) {
			t.Errorf("Each(%s) = %q, want %q", in, got, want)
		}
	}
	var n int
	Value(`[1,2,3]`).Each(func(Value) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Each went on after false: %d calls", n)
	}
}

// FuzzValueEach checks Each against encoding/json on arrays.
func FuzzValueEach(f *testing.F) {
	f.Add(`[1,"x",{"a":[1]},null]`)
	f.Fuzz(func(t *testing.T, s string) {
		var ref []json.RawMessage
		if json.Unmarshal([]byte(s), &ref) != nil || !json.Valid([]byte(s)) {
			return
		}
		v := Value(trimWS(s))
		var got int
		v.Each(func(e Value) bool {
			if got < len(ref) && !json.Valid(e) {
				t.Fatalf("element %d %q is not JSON", got, e)
			}
			got++
			return true
		})
		if got != len(ref) {
			t.Fatalf("Each(%q) saw %d elements, encoding/json %d", s, got, len(ref))
		}
	})
}

func trimWS(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t' || s[j-1] == '\n' || s[j-1] == '\r') {
		j--
	}
	return s[i:j]
}

func TestValueFloats(t *testing.T) {
	keys := []string{"x", "y", "timeOffset"}
	out := make([]float64, 3)
	found := Value(`{"id":3,"x":1.5,"y":"no","timeOffset":-40,"x":9}`).Floats(keys, out)
	if found != 0b101 || out[0] != 1.5 || out[2] != -40 {
		t.Fatalf("found %b out %v", found, out)
	}
	if Value(`[1]`).Floats(keys, out) != 0 {
		t.Fatal("an array has no fields")
	}
	// The same answers as Get, field by field.
	for _, in := range []string{`{"x":1,"y":2}`, `{"y":{"x":1}}`, `{"x":null,"x":2}`, `{}`, `{"timeOffset":1e400}`} {
		out := make([]float64, 3)
		found := Value(in).Floats(keys, out)
		for i, k := range keys {
			f, ok := Value(in).Get(k).Float()
			if ok != (found&(1<<i) != 0) || (ok && f != out[i]) {
				t.Errorf("%s: %s: Floats %v %v, Get %v %v", in, k, found&(1<<i) != 0, out[i], ok, f)
			}
		}
	}
	pos := Value(`{"x":1,"y":2,"timeOffset":-3}`)
	if n := testing.AllocsPerRun(100, func() { pos.Floats(keys, out) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// eachThenFloats is EachFloats' reference: Each, then Floats per element.
func eachThenFloats(v Value, keys []string) (founds []uint64, outs [][]float64) {
	v.Each(func(e Value) bool {
		out := make([]float64, len(keys))
		founds = append(founds, e.Floats(keys, out))
		outs = append(outs, out)
		return true
	})
	return founds, outs
}

func checkEachFloats(t *testing.T, in string) {
	t.Helper()
	keys := []string{"x", "y", "timeOffset"}
	wantFound, wantOut := eachThenFloats(Value(in), keys)
	read := func(each func(out []float64, fn func(uint64) bool)) (gotFound []uint64, gotOut [][]float64) {
		out := make([]float64, len(keys))
		each(out, func(found uint64) bool {
			gotFound = append(gotFound, found)
			o := slices.Clone(out)
			for i := range o { // Floats leaves absent keys as they were
				if found&(1<<i) == 0 {
					o[i] = 0
				}
			}
			gotOut = append(gotOut, o)
			return true
		})
		return gotFound, gotOut
	}
	same := func(f []uint64, o [][]float64) bool {
		return slices.Equal(f, wantFound) && slices.EqualFunc(o, wantOut, func(a, b []float64) bool { return slices.Equal(a, b) })
	}
	if f, o := read(func(out []float64, fn func(uint64) bool) { Value(in).EachFloats(keys, out, fn) }); !same(f, o) {
		t.Fatalf("EachFloats(%s) = %b %v, Each+Floats %b %v", in, f, o, wantFound, wantOut)
	}
	// The same array as a field, after another field and before a
	// second one of the same name (the first counts).
	obj := Value(`{"source":1,"p":{"q":[{"x":9}]},"positions":` + in + `,"positions":[{"x":8}]}`)
	if f, o := read(func(out []float64, fn func(uint64) bool) { obj.FieldEachFloats("positions", keys, out, fn) }); !same(f, o) {
		t.Fatalf("FieldEachFloats(%s) = %b %v, Each+Floats %b %v", obj, f, o, wantFound, wantOut)
	}
}

// TestValueFieldEachFloats: what FieldEachFloats reads when the field is
// absent, not an array, or v is no object.
func TestValueFieldEachFloats(t *testing.T) {
	keys, out := []string{"x"}, make([]float64, 1)
	for _, in := range []string{`{}`, `{"positions":{"x":1}}`, `{"position":[{"x":1}]}`, `[{"x":1}]`, `{"p":[{"x":1}],"positions":3}`, ``} {
		n := 0
		Value(in).FieldEachFloats("positions", keys, out, func(uint64) bool { n++; return true })
		if n != 0 {
			t.Errorf("FieldEachFloats(%q) called fn %d times", in, n)
		}
	}
	pos := Value(`{"source":1,"positions":[{"x":1,"y":2,"id":7,"timeOffset":-3},{"x":4,"y":5,"id":7,"timeOffset":-80}]}`)
	var sum float64
	read := func() { pos.FieldEachFloats("positions", keys, out, func(uint64) bool { sum += out[0]; return true }) }
	if read(); sum != 5 {
		t.Fatalf("sum of x %v", sum)
	}
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestValueEachFloats(t *testing.T) {
	for _, in := range []string{
		`[]`, `[{"x":1,"y":2,"id":5,"timeOffset":-400}]`,
		`[{"x":1.5,"y":-0,"timeOffset":-40},{"x":"a","y":{"x":3}},3,[{"x":1}],{},{"x":null,"x":2},{"timeOffset":1e400}]`,
		` [ { "x" : -123456789012345 , "y" : 1234567890123456 } , null ] `[1:],
		`{"x":1}`, `"[{}]"`,
		// Where the fast path of JSON.stringify's objects gives up, after
		// it wrote some of the keys: escapes, other values, spaces, a
		// number too long, leading zeros, a repeated key.
		`[{"x":1,"\u0079":2,"timeOffset":3},{"x":1,"y":2.5},{"x":1,"y":"2"},{"x":1, "y":2},{"x":1,"y":12345678901234567}]`,
		// Elements after the first with its shape but for one key.
		`[{"x":1,"y":2,"id":3,"timeOffset":-4},{"x":5,"z":6,"id":7,"timeOffset":-8},{"x":5,"y":6,"id":7,"timeOffsex":-8},{"x":5,"y":6,"id":7,"timeOffset":-8,"y":1}]`,
		`[{"x":-1,"y":-0,"x":4,"timeOffset":-0},{"y":7,"x":8,"y":9},{"x\"":1,"x":2},{"\u0000":1,"x":3},{"x":1,"y":2}]`,
	} {
		checkEachFloats(t, in)
	}
	var n int
	Value(`[{},{},{}]`).EachFloats([]string{"x"}, make([]float64, 1), func(uint64) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("EachFloats went on after false: %d calls", n)
	}
	keys, out := []string{"x", "y", "timeOffset"}, make([]float64, 3)
	pos := Value(`[{"x":1,"y":2,"id":7,"timeOffset":-3},{"x":4,"y":5,"id":7,"timeOffset":-80}]`)
	if n := testing.AllocsPerRun(100, func() { pos.EachFloats(keys, out, func(uint64) bool { return true }) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzValueEachFloats checks the one-pass reader against Each and Floats on
// valid JSON (what the contract lets through).
func FuzzValueEachFloats(f *testing.F) {
	f.Add(`[{"x":1,"y":2,"timeOffset":-40},{"x":-0.5e3,"y":"1"},7]`)
	f.Add(`[{"x":{"x":1},"x":2}]`)
	f.Add(`[{"x":1,"y":2,"id":5,"timeOffset":-400},{"y":1,"y":-2,"x":1e2},{"x":12,"\u0079":3}]`)
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		checkEachFloats(t, trimWS(s))
	})
}

// TestParseFloatIntegers: the integer fast path agrees with strconv.
func TestParseFloatIntegers(t *testing.T) {
	for _, in := range []string{"0", "-0", "7", "-7", "123456789012345", "-123456789012345", "1234567890123456", "-1234567890123456", "-1.5", "1e3"} {
		got, err := parseFloat([]byte(in))
		want, werr := strconv.ParseFloat(in, 64)
		if err != nil || werr != nil || got != want || math.Signbit(got) != math.Signbit(want) {
			t.Errorf("parseFloat(%s) = %v %v, strconv %v %v", in, got, err, want, werr)
		}
	}
}

// BenchmarkEachFloats reads a mousemove event's positions, as heatmaps do
// for every pointer sample.
func BenchmarkEachFloats(b *testing.B) {
	pos := Value(`[{"x":707,"y":412,"id":211,"timeOffset":-400},{"x":731,"y":398,"id":17,"timeOffset":-320},{"x":745,"y":377,"id":96,"timeOffset":-240},` +
		`{"x":760,"y":380,"id":211,"timeOffset":-160},{"x":792,"y":391,"id":5,"timeOffset":-80},{"x":801,"y":402,"id":42,"timeOffset":0}]`)
	keys, out := []string{"x", "y", "timeOffset"}, make([]float64, 3)
	var sum float64
	for b.Loop() {
		pos.EachFloats(keys, out, func(uint64) bool { sum += out[0]; return true })
	}
	if sum == 0 {
		b.Fatal("nothing read")
	}
}
