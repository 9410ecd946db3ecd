package batch

// Value is one JSON value inside events the contract accepted (a sub-slice
// of the chunk). Reading it never fails: a missing or mistyped field reads
// as the zero value, so a reader cannot refuse what the contract accepts.
type Value []byte

// Kind is a JSON value's type.
type Kind uint8

// Kinds of JSON values; Invalid is an absent (nil) Value.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// Kind tells the value's type from its first byte.
func (v Value) Kind() Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch v[0] {
	case '{':
		return Object
	case '[':
		return Array
	case '"':
		return String
	case 'n':
		return Null
	case 't', 'f':
		return Bool
	}
	return Number
}

// Get returns the first field named key of an object (nil when v is not an
// object or has no such field). Keys are compared after unescaping.
func (v Value) Get(key string) Value {
	var out Value
	v.fields(func(k []byte, val Value) bool {
		if string(k) == key {
			out = val
			return false
		}
		return true
	})
	return out
}

// Fields calls fn for each field of an object in order, with the key
// unescaped (valid UTF-8), until fn returns false.
func (v Value) Fields(fn func(key string, val Value) bool) {
	v.fields(func(k []byte, val Value) bool { return fn(string(k), val) })
}

// fields walks an object; keys are sub-slices or unescaped copies, valid
// only during the call.
func (v Value) fields(fn func(k []byte, val Value) bool) {
	if v.Kind() != Object {
		return
	}
	d := decoder{b: v}
	o := members{name: "object"}
	for k, ok := d.member(&o); ok; k, ok = d.member(&o) {
		start := d.i
		// The value was checked when the event was read; skip only walks
		// it (depth 1: v is at most MaxDepth deep already).
		if d.skip(1) != nil || !fn(k, Value(d.b[start:d.i])) {
			return
		}
	}
}

// Float reads a number; ok is false for any other kind. A literal beyond
// float64's range reads as ±1.8e308, never ±Inf or NaN.
func (v Value) Float() (f float64, ok bool) {
	if v.Kind() != Number {
		return 0, false
	}
	f, err := parseFloat(v)
	if err != nil {
		// Only a range error remains: the literal is valid JSON.
		if v[0] == '-' {
			return -1.7976931348623157e308, true
		}
		return 1.7976931348623157e308, true
	}
	return f, true
}

// Str reads a string, unescaped; a lone surrogate escape becomes U+FFFD,
// so the result is always valid UTF-8. Any other kind reads as "".
func (v Value) Str() string {
	if v.Kind() != String || len(v) < 2 {
		return ""
	}
	body := v[1 : len(v)-1]
	for _, c := range body {
		if c == '\\' {
			return string(unescape(make([]byte, 0, len(body)), body))
		}
	}
	return string(body)
}

// Text is the value's JSON text without insignificant whitespace (how
// numbers, booleans, arrays and objects are shown as attribute values).
func (v Value) Text() string {
	compact := true
	for _, c := range v {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			compact = false
			break
		}
	}
	if compact {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	inStr := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inStr && c == '\\' && i+1 < len(v):
			out = append(out, c, v[i+1])
			i++
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// Each calls fn for each element of an array in order, until fn returns
// false (nothing when v is not an array).
func (v Value) Each(fn func(Value) bool) {
	if v.Kind() != Array {
		return
	}
	d := decoder{b: v}
	a := elements{name: "array"}
	for d.element(&a) {
		start := d.i
		// Checked when the event was read, as in fields.
		if d.skip(1) != nil || !fn(Value(d.b[start:d.i])) {
			return
		}
	}
}

// EachFloats is Each and Floats in one pass over an array of objects: for
// each element in order it reads the number fields named keys into out
// (zeroed first) and calls fn with the bits of the keys read (zero for an
// element that is not an object), until fn returns false. A hot loop over
// many small objects (pointer positions) walks each object once instead
// of twice.
func (v Value) EachFloats(keys []string, out []float64, fn func(found uint64) bool) {
	if v.Kind() != Array {
		return
	}
	d := decoder{b: v}
	d.eachFloats(keys, out, fn)
}

// FieldEachFloats is v.Get(field).EachFloats(keys, out, fn) walking the
// field's array once: Get finds where a value ends by skipping it, which
// for an array of pointer positions is as much work as reading it.
func (v Value) FieldEachFloats(field string, keys []string, out []float64, fn func(found uint64) bool) {
	if v.Kind() != Object {
		return
	}
	d := decoder{b: v}
	o := members{name: "object"}
	for k, ok := d.member(&o); ok; k, ok = d.member(&o) {
		if string(k) == field {
			// The first field of the name counts, as with Get.
			if d.peek() == '[' {
				d.eachFloats(keys, out, fn)
			}
			return
		}
		// Checked when the event was read, as in fields.
		if d.skip(1) != nil {
			return
		}
	}
}

// eachFloats is EachFloats of the array at the cursor.
func (d *decoder) eachFloats(keys []string, out []float64, fn func(found uint64) bool) {
	a := elements{name: "array"}
	var sh shape
	for d.element(&a) {
		clear(out[:len(keys)])
		var found uint64
		if d.peek() == '{' {
			var ok bool
			if found, ok = d.objectFloatsShaped(keys, out, &sh); !ok {
				clear(out[:len(keys)])
				if found, ok = d.objectFloats(keys, out); !ok {
					return
				}
			}
		} else if d.skip(1) != nil {
			return
		}
		if !fn(found) {
			return
		}
	}
}

// objectFloatsShaped reads an array's object at d.i as Floats does, by the
// shape of the array's first object (sh) or else the fast walk, which
// records that shape: nearly every element of a positions array has the
// first's keys in the same order. ok is false, the cursor unmoved and out
// maybe written to, for an object neither reads.
func (d *decoder) objectFloatsShaped(keys []string, out []float64, sh *shape) (found uint64, ok bool) {
	if found, ok = sh.read(d, out); ok {
		return found, true
	}
	clear(out[:len(keys)])
	return d.objectFloatsFast(keys, out, sh)
}

// objectFloats reads the object at d.i as Floats does and moves past it;
// ok is false when it is not well formed (it was checked when the event
// was read, so only for values that were not).
func (d *decoder) objectFloats(keys []string, out []float64) (found uint64, ok bool) {
	var seen uint64
	o := members{name: "object"}
	for k, more := d.member(&o); more; k, more = d.member(&o) {
		want := firstKey(keys, &seen, k)
		if want >= 0 {
			// Most values read here are small integers (pixels, time
			// offsets): read them as they are passed, not twice.
			if f, ok := d.smallInt(); ok {
				out[want] = f
				found |= 1 << want
				continue
			}
		}
		start := d.i
		if d.skip(1) != nil {
			return found, false
		}
		if want >= 0 {
			if f, ok := Value(d.b[start:d.i]).Float(); ok {
				out[want] = f
				found |= 1 << want
			}
		}
	}
	return found, o.err == nil
}

// objectFloatsFast is objectFloats of an object as JSON.stringify writes
// pointer positions — no whitespace, ASCII keys without escapes, every value a
// small integer — read without the general walk (which took half of a
// heatmap's extraction in append profiles); ok is false, the cursor
// unmoved, for any other object, which objectFloats then reads. It may
// have written to out before it gives up.
//
// It records the object's keys in sh when sh has none yet (and they are
// few enough), for shape.read to read the array's next objects.
func (d *decoder) objectFloatsFast(keys []string, out []float64, sh *shape) (found uint64, ok bool) {
	b, i := d.b, d.i+1 // past '{'
	if i < len(b) && b[i] == '}' {
		d.i = i + 1
		return 0, true
	}
	var seen uint64
	var rec shape
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		i++
		ks := i
		// ASCII without escapes; anything else (UTF-8 is checked) goes
		// the general way.
		for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 && b[i] < 0x80 {
			i++
		}
		if i+1 >= len(b) || b[i] != '"' || b[i+1] != ':' {
			return 0, false
		}
		key := b[ks:i]
		f, end, isInt := smallIntAt(b, i+2)
		if !isInt {
			return 0, false
		}
		k := firstKey(keys, &seen, key)
		if k >= 0 {
			out[k] = f
			found |= 1 << k
		}
		rec.add(key, k)
		i = end
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			d.i = i + 1
			if sh.n == 0 && rec.n > 0 {
				*sh = rec
			}
			return found, true
		case ',':
			i++
		default:
			return 0, false
		}
	}
}

// shape is the keys of an array's first object of small integers, in
// order, as objectFloatsFast read them (each with its index in keys, -1
// for one not wanted or seen before), so that the array's next objects,
// which rrweb writes with the same keys in the same order, are read by
// comparing each key once rather than against every wanted key.
type shape struct {
	keys [maxShape][]byte // sub-slices of the array's bytes
	want [maxShape]int8
	n    int // 0: none; -1: too many keys to record
}

const maxShape = 8

func (sh *shape) add(key []byte, want int) {
	if sh.n < 0 || sh.n == maxShape {
		sh.n = -1
		return
	}
	sh.keys[sh.n], sh.want[sh.n] = key, int8(want)
	sh.n++
}

// read reads the object at d.i when it has exactly sh's keys, in order,
// each with a small integer, and moves past it; ok is false, the cursor
// unmoved, otherwise (out may have been written to).
func (sh *shape) read(d *decoder, out []float64) (found uint64, ok bool) {
	if sh.n <= 0 {
		return 0, false
	}
	b, i := d.b, d.i+1 // past '{'
	for j := range sh.n {
		k := sh.keys[j]
		// "key": — the key's bytes are plain ASCII (objectFloatsFast took
		// them so), so equal bytes are the same key.
		if i+len(k)+3 > len(b) || b[i] != '"' || string(b[i+1:i+1+len(k)]) != string(k) || b[i+1+len(k)] != '"' || b[i+2+len(k)] != ':' {
			return 0, false
		}
		f, end, isInt := smallIntAt(b, i+len(k)+3)
		if !isInt || end >= len(b) {
			return 0, false
		}
		if w := sh.want[j]; w >= 0 {
			out[w] = f
			found |= 1 << w
		}
		i = end
		last := j == sh.n-1
		if last && b[i] != '}' || !last && b[i] != ',' {
			return 0, false
		}
		i++
	}
	d.i = i
	return found, true
}

// firstKey is the index of key k in keys when no field of that name was
// seen before (the first of a name counts, as with Get), marking it seen;
// -1 otherwise.
func firstKey(keys []string, seen *uint64, k []byte) int {
	for i, key := range keys {
		if *seen&(1<<i) == 0 && string(k) == key {
			*seen |= 1 << i
			return i
		}
	}
	return -1
}

// smallInt reads the JSON integer of at most 15 digits at the cursor (as
// parseFloat would) and moves past it; ok is false, the cursor unmoved,
// for any other value (fractions, exponents, longer numbers, non-numbers).
func (d *decoder) smallInt() (f float64, ok bool) {
	f, end, ok := smallIntAt(d.b, d.i)
	if ok {
		d.i = end
	}
	return f, ok
}

// smallIntAt is smallInt of b at i; end is where the integer ends.
func smallIntAt(b []byte, i int) (f float64, end int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n int64
	// Past 15 digits n may wrap; such numbers are refused below.
	for i < len(b) && b[i]-'0' <= 9 {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 15 || digits > 1 && b[start] == '0' {
		return 0, 0, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, 0, false
	}
	if neg {
		return -float64(n), i, true
	}
	return float64(n), i, true
}

// Floats reads the number fields named keys (at most 64) of an object in
// one pass into out (same order; len(out) ≥ len(keys)) and answers a bit
// per key read as a number (bit i for keys[i]). As with Get, the first field
// of a name counts; a mistyped one reads as absent. It allocates nothing,
// for hot loops over many small objects.
func (v Value) Floats(keys []string, out []float64) (found uint64) {
	var seen uint64
	v.fields(func(k []byte, val Value) bool {
		if i := firstKey(keys, &seen, k); i >= 0 {
			if f, ok := val.Float(); ok {
				out[i] = f
				found |= 1 << i
			}
		}
		return true
	})
	return found
}
