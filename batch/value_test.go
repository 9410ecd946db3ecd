package batch

import (
	"encoding/json"
	"slices"
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
