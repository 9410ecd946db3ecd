package batch

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder is a cursor over JSON input. Every method validates what it
// moves past, so a value it accepted is well-formed JSON whose strings are
// valid UTF-8.
type decoder struct {
	b []byte
	i int
}

// objectBody starts decoding b, which must hold one JSON object.
func objectBody(b []byte) (decoder, error) {
	d := decoder{b: b}
	d.ws()
	if d.peek() != '{' {
		return d, errf("body is not a JSON object")
	}
	return d, nil
}

// end refuses anything but white space after the body's object (named
// what in the refusal).
func (d *decoder) end(what string) error {
	d.ws()
	if d.i != len(d.b) {
		return errf("trailing data after %s at offset %d", what, d.i)
	}
	return nil
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZeroByte flags (high bit) the zero bytes of v; the lowest flag is exact.
func hasZeroByte(v uint64) uint64 { return (v - lsb) &^ v & msb }

// hasByteLess flags the bytes of v below n (n ≤ 128); the lowest flag is exact.
func hasByteLess(v uint64, n uint64) uint64 { return (v - lsb*n) &^ v & msb }

func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return // JSON.stringify output has no whitespace
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) lit(s string) error {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return nil
	}
	return errf("invalid literal at offset %d", d.i)
}

func (d *decoder) strOrNull() (string, error) {
	if d.peek() == 'n' {
		return "", d.lit("null")
	}
	return d.str()
}

// key reads an object key: a sub-slice of the input, or an unescaped copy
// when the key has escapes, so that matching keys allocates nothing.
func (d *decoder) key() ([]byte, error) {
	start := d.i
	escaped, err := d.skipString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return d.b[start+1 : d.i-1], nil
	}
	return unescape(nil, d.b[start+1:d.i-1]), nil
}

// members is the state of one JSON object's walk (decoder.member).
type members struct {
	name string // what refusals call the object
	n    int    // members reached so far
	// keysUnread: member only checks keys and answers them nil, never
	// allocating (skip walks objects it does not read).
	keysUnread bool
	started    bool
	err        error
}

// member moves to the next member of the object at the cursor and returns
// its key (as key reads it), leaving the cursor at the member's value,
// which the caller must consume before the next call. ok is false past the
// object's closing brace, and when the object is malformed: then o.err
// says why, so callers check it after the loop. Every decoder walks its
// objects with it: one loop, and no allocation unless a key has escapes or
// the object is refused.
//
//	o := members{name: "page"}
//	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
//		... consume the value ...
//	}
//	if o.err != nil { ... }
func (d *decoder) member(o *members) (key []byte, ok bool) {
	d.ws()
	if !o.started {
		o.started = true
		if !d.eat('{') {
			return nil, o.fail(errf("%s must be an object", o.name))
		}
		d.ws()
		if d.eat('}') {
			return nil, false
		}
	} else {
		switch {
		case d.eat(','):
			d.ws()
		case d.eat('}'):
			return nil, false
		default:
			return nil, o.fail(errf("expected ',' or '}' in %s at offset %d", o.name, d.i))
		}
	}
	if d.peek() != '"' {
		return nil, o.fail(errf("expected a key in %s at offset %d", o.name, d.i))
	}
	var err error
	if o.keysUnread {
		_, err = d.skipString()
	} else {
		key, err = d.key()
	}
	if err != nil {
		return nil, o.fail(err)
	}
	d.ws()
	if !d.eat(':') {
		return nil, o.fail(errf("expected ':' in %s at offset %d", o.name, d.i))
	}
	d.ws()
	o.n++
	return key, true
}

func (o *members) fail(err error) bool {
	o.err = err
	return false
}

// elements is the state of one JSON array's walk (decoder.element).
type elements struct {
	name    string // what refusals call the array
	n       int    // elements reached so far
	started bool
	err     error
}

// element moves to the next element of the array at the cursor, leaving
// the cursor at it, as member does for objects: false past the closing
// bracket and when the array is malformed (a.err).
func (d *decoder) element(a *elements) bool {
	d.ws()
	switch {
	case !a.started:
		a.started = true
		if !d.eat('[') {
			a.err = errf("%s must be an array", a.name)
			return false
		}
		d.ws()
		if d.eat(']') {
			return false
		}
	case d.eat(','):
		d.ws()
	case d.eat(']'):
		return false
	default:
		a.err = errf("expected ',' or ']' in %s at offset %d", a.name, d.i)
		return false
	}
	a.n++
	return true
}

// object walks a JSON object with member, calling fn at each member's
// value; fn must consume it.
func (d *decoder) object(name string, fn func(key []byte) error) error {
	o := members{name: name}
	for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
		if err := fn(key); err != nil {
			return err
		}
	}
	return o.err
}

// str reads a JSON string into a Go string (valid UTF-8: skipString refused
// invalid bytes and unescape turns lone surrogates into U+FFFD).
func (d *decoder) str() (string, error) {
	start := d.i
	escaped, err := d.skipString()
	if err != nil {
		return "", err
	}
	body := d.b[start+1 : d.i-1]
	if !escaped {
		return string(body), nil
	}
	return string(unescape(make([]byte, 0, len(body)), body)), nil
}

// skipString moves past one JSON string, validating escapes and UTF-8 and
// refusing raw control characters. It reports whether the string has
// escapes. Escaped lone surrogates (\ud800) are accepted: JSON.stringify
// emits them for broken page text, and refusing would lose real batches;
// readers decode them to U+FFFD (unescape).
func (d *decoder) skipString() (escaped bool, err error) {
	if !d.eat('"') {
		return false, errf("expected string at offset %d", d.i)
	}
	end, escaped, fault := scanString(d.b, d.i)
	switch fault {
	case stringOK:
		d.i = end
		return escaped, nil
	case stringBadUTF8:
		// Stored strings end up in protobuf string fields, which refuse
		// invalid UTF-8: refuse it here, at the edge.
		return escaped, errf("string at offset %d is not valid UTF-8", end)
	case stringBadUnicodeEscape:
		return escaped, errf("invalid \\u escape at offset %d", end)
	case stringBadEscape:
		return escaped, errf("invalid escape at offset %d", end)
	case stringControl:
		return escaped, errf("control character in string at offset %d", end)
	default:
		return escaped, errf("unterminated string")
	}
}

// stringFault is why scanString refused a string.
type stringFault uint8

const (
	stringOK stringFault = iota
	stringUnterminated
	stringBadUTF8
	stringBadUnicodeEscape
	stringBadEscape
	stringControl
)

// scanString reads the string whose body starts at i: the one loop behind
// skipString (with its messages) and stringEnd (skipFast's, without). It
// answers the offset just past the closing quote and whether the body has
// escapes, or the fault and the offset where it was found.
func scanString(b []byte, i int) (end int, escaped bool, fault stringFault) {
	// Most strings of a batch are short (object keys, ids, class names):
	// they end before a SWAR word pays for itself, so the first bytes are
	// looked at one by one.
	for lim := min(len(b), i+8); i < lim; i++ {
		if c := b[i]; c == '"' {
			return i + 1, false, stringOK
		} else if c < 0x20 || c == '\\' || c >= 0x80 {
			break
		}
	}
	for i < len(b) {
		// Eight bytes at a time while none is a quote, a backslash, a
		// control character or a non-ASCII byte (SWAR); the lowest
		// flagged byte is exact.
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			m := hasZeroByte(v^(lsb*'"')) | hasZeroByte(v^(lsb*'\\')) | hasByteLess(v, 0x20) | v&msb
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, stringOK
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, escaped, stringBadUTF8
			}
			i += size
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, stringUnterminated
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, escaped, stringUnterminated
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, escaped, stringBadUnicodeEscape
					}
				}
				i += 6
			default:
				return i, escaped, stringBadEscape
			}
		case c < 0x20:
			return i, escaped, stringControl
		default:
			i++
		}
	}
	return i, escaped, stringUnterminated
}

// unescape appends the decoded form of a string body (between the quotes)
// that skipString accepted. A surrogate that is not half of a pair becomes
// U+FFFD, so the result is always valid UTF-8.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := hex4(s[i+2:]); r2 >= 0xDC00 && r2 <= 0xDFFF {
						dst = utf8.AppendRune(dst, utf16.DecodeRune(r, r2))
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// hex4 decodes four hex digits skipString checked.
func hex4(b []byte) rune {
	var r rune
	for _, h := range b[:4] {
		switch {
		case h <= '9':
			h -= '0'
		case h >= 'a':
			h -= 'a' - 10
		default:
			h -= 'A' - 10
		}
		r = r<<4 | rune(h)
	}
	return r
}

// int reads a JSON number that must be an integer within [lo, hi].
func (d *decoder) int(name string, lo, hi int64) (int64, error) {
	start := d.i
	if err := d.skipNumber(); err != nil {
		return 0, errf("%s must be an integer", name)
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, errf("%s must be between %d and %d", name, lo, hi)
		}
		return 0, errf("%s must be an integer", name)
	}
	if n < lo || n > hi {
		return 0, errf("%s must be between %d and %d", name, lo, hi)
	}
	return n, nil
}

// parseFloat parses a number literal skipNumber accepted; plain integers of
// up to 15 digits (every timestamp) skip strconv.
func parseFloat(b []byte) (float64, error) {
	// Integers of up to 15 digits, most of what events hold (coordinates,
	// negative time offsets), are exact without strconv.
	digits, neg := b, false
	if len(digits) > 1 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) <= 15 {
		var n int64
		ok := true
		for _, c := range digits {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if ok {
			if neg {
				return -float64(n), nil
			}
			return float64(n), nil
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errf("number out of range")
	}
	return f, nil
}

func (d *decoder) skipNumber() error {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return errf("invalid number at offset %d", d.i)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return errf("invalid number at offset %d", d.i)
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return errf("invalid number at offset %d", d.i)
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return nil
}

// skip moves past any JSON value at the given nesting level, validating it:
// skipFast, and skipSlow for the error when that refuses it.
func (d *decoder) skip(depth int) error {
	if d.skipFast(depth) {
		return nil
	}
	return d.skipSlow(depth)
}

// skipSlow is skip one call per value; its refusals name what is wrong and
// where.
func (d *decoder) skipSlow(depth int) error {
	switch c := d.peek(); c {
	case '"':
		_, err := d.skipString()
		return err
	case '{':
		if depth > MaxDepth {
			return errf("nesting deeper than %d", MaxDepth)
		}
		o := members{name: "object", keysUnread: true}
		for _, ok := d.member(&o); ok; _, ok = d.member(&o) {
			if err := d.skipSlow(depth + 1); err != nil {
				return err
			}
		}
		return o.err
	case '[':
		if depth > MaxDepth {
			return errf("nesting deeper than %d", MaxDepth)
		}
		a := elements{name: "array"}
		for d.element(&a) {
			if err := d.skipSlow(depth + 1); err != nil {
				return err
			}
		}
		return a.err
	case 't':
		return d.lit("true")
	case 'f':
		return d.lit("false")
	case 'n':
		return d.lit("null")
	case 0:
		return errf("unexpected end of input")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return d.skipNumber()
		}
		return errf("unexpected character %q at offset %d", c, d.i)
	}
}
