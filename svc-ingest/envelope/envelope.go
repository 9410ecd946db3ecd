// Package envelope decodes the tracker's batch envelope (docs/wire-format.md).
//
// The decoder is hand-written for the hot path: it reads the few top-level
// fields into Go values and keeps `events` as a sub-slice of the input,
// checking that it is a well-formed JSON array of objects and counting its
// elements, without building any Go value for the events themselves.
// encoding/json would validate the whole body and then decode it again by
// reflection; this decoder touches each byte once.
package envelope

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Version is the only envelope version accepted.
const Version = 1

// MaxDepth bounds the nesting of the events (rrweb snapshots nest as deep as
// the page's DOM; a hostile body must not exhaust the stack).
const MaxDepth = 1000

// Envelope is one decoded batch.
type Envelope struct {
	V           int64
	SiteKey     string
	SessionID   string
	VisitorID   string
	PageViewID  string
	Seq         int64
	ClientTime  int64 // ms since the Unix epoch; 0 when absent
	URL         string
	Referrer    string
	ViewportW   int32
	ViewportH   int32
	Traceparent string
	Truncated   bool
	// Events is the raw JSON array, a sub-slice of the decoded input.
	Events     []byte
	EventCount int
}

// Error is a malformed envelope; its message is safe to show the client.
type Error struct{ msg string }

func (e *Error) Error() string { return "envelope: " + e.msg }

// ErrTooManyEvents is returned (wrapped) when events has more elements than
// allowed; callers answer 413 rather than 400.
var ErrTooManyEvents = errors.New("envelope: too many events")

func errf(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }

type decoder struct {
	b []byte
	i int
}

// Decode parses one envelope. maxEvents ≤ 0 means no limit on the number of
// events.
func Decode(b []byte, maxEvents int) (Envelope, error) {
	var e Envelope
	d := decoder{b: b}
	d.ws()
	if !d.eat('{') {
		return e, errf("body is not a JSON object")
	}
	var seen uint16
	const (
		fV = 1 << iota
		fSite
		fSession
		fVisitor
		fPage
		fSeq
		fEvents
	)
	d.ws()
	if d.eat('}') {
		return e, errf("empty envelope")
	}
	for {
		d.ws()
		key, err := d.key()
		if err != nil {
			return e, err
		}
		d.ws()
		if !d.eat(':') {
			return e, errf("expected ':' after key %q at offset %d", key, d.i)
		}
		d.ws()
		switch string(key) { // no allocation: the compiler compares the bytes
		case "v":
			if e.V, err = d.int("v"); err != nil {
				return e, err
			}
			seen |= fV
		case "siteKey":
			if e.SiteKey, err = d.str(); err != nil {
				return e, err
			}
			seen |= fSite
		case "sessionId":
			if e.SessionID, err = d.str(); err != nil {
				return e, err
			}
			seen |= fSession
		case "visitorId":
			if e.VisitorID, err = d.str(); err != nil {
				return e, err
			}
			seen |= fVisitor
		case "pageViewId":
			if e.PageViewID, err = d.str(); err != nil {
				return e, err
			}
			seen |= fPage
		case "seq":
			if e.Seq, err = d.int("seq"); err != nil {
				return e, err
			}
			seen |= fSeq
		case "clientTime":
			if e.ClientTime, err = d.int("clientTime"); err != nil {
				return e, err
			}
		case "traceparent":
			if d.peek() == 'n' {
				err = d.lit("null")
			} else {
				e.Traceparent, err = d.str()
			}
			if err != nil {
				return e, err
			}
		case "truncated":
			switch d.peek() {
			case 't':
				err = d.lit("true")
				e.Truncated = true
			case 'f':
				err = d.lit("false")
				e.Truncated = false
			default:
				err = errf("truncated must be a boolean")
			}
			if err != nil {
				return e, err
			}
		case "page":
			if err = d.page(&e); err != nil {
				return e, err
			}
		case "events":
			start := d.i
			n, err := d.events(maxEvents)
			if err != nil {
				return e, err
			}
			e.Events, e.EventCount = d.b[start:d.i], n
			seen |= fEvents
		default:
			// Unknown fields are skipped so that newer trackers keep working.
			if err = d.skip(0); err != nil {
				return e, err
			}
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			break
		}
		return e, errf("expected ',' or '}' at offset %d", d.i)
	}
	d.ws()
	if d.i != len(d.b) {
		return e, errf("trailing data after envelope at offset %d", d.i)
	}
	switch {
	case seen&fV == 0 || e.V != Version:
		return e, errf("unsupported version (v must be %d)", Version)
	case seen&fSite == 0:
		return e, errf("siteKey is required")
	case seen&fSession == 0:
		return e, errf("sessionId is required")
	case seen&fVisitor == 0:
		return e, errf("visitorId is required")
	case seen&fPage == 0:
		return e, errf("pageViewId is required")
	case seen&fSeq == 0:
		return e, errf("seq is required")
	case seen&fEvents == 0:
		return e, errf("events is required")
	}
	if e.Seq < 0 {
		return e, errf("seq must be >= 0")
	}
	if e.ClientTime < 0 {
		return e, errf("clientTime must be >= 0")
	}
	if e.EventCount == 0 {
		return e, errf("events must not be empty")
	}
	for _, f := range [...]struct{ name, v, prefix string }{
		{"sessionId", e.SessionID, "s_"}, {"visitorId", e.VisitorID, "v_"}, {"pageViewId", e.PageViewID, "p_"},
	} {
		if err := checkID(f.name, f.v, f.prefix); err != nil {
			return e, err
		}
	}
	if len(e.SiteKey) == 0 || len(e.SiteKey) > 64 {
		return e, errf("siteKey must be 1-64 characters")
	}
	if len(e.URL) > 8192 || len(e.Referrer) > 8192 {
		return e, errf("page url and referrer must be at most 8192 bytes")
	}
	if len(e.Traceparent) > 128 {
		e.Traceparent = "" // not a valid traceparent; ignore rather than reject
	}
	return e, nil
}

// checkID enforces 8–64 characters of [A-Za-z0-9_-] with the given prefix.
func checkID(name, v, prefix string) error {
	if len(v) < 8 || len(v) > 64 || v[:len(prefix)] != prefix {
		return errf("%s must be %s followed by 6-62 of [A-Za-z0-9_-]", name, prefix)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return errf("%s has a character outside [A-Za-z0-9_-]", name)
		}
	}
	return nil
}

func (d *decoder) page(e *Envelope) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	if !d.eat('{') {
		return errf("page must be an object")
	}
	d.ws()
	if d.eat('}') {
		return nil
	}
	for {
		d.ws()
		key, err := d.key()
		if err != nil {
			return err
		}
		d.ws()
		if !d.eat(':') {
			return errf("expected ':' in page at offset %d", d.i)
		}
		d.ws()
		switch string(key) { // no allocation: the compiler compares the bytes
		case "url":
			e.URL, err = d.strOrNull()
		case "referrer":
			e.Referrer, err = d.strOrNull()
		case "viewport":
			err = d.viewport(e)
		default:
			err = d.skip(1)
		}
		if err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return nil
		}
		return errf("expected ',' or '}' in page at offset %d", d.i)
	}
}

func (d *decoder) viewport(e *Envelope) error {
	if d.peek() == 'n' {
		return d.lit("null")
	}
	if !d.eat('{') {
		return errf("page.viewport must be an object")
	}
	d.ws()
	if d.eat('}') {
		return nil
	}
	for {
		d.ws()
		key, err := d.key()
		if err != nil {
			return err
		}
		d.ws()
		if !d.eat(':') {
			return errf("expected ':' in viewport at offset %d", d.i)
		}
		d.ws()
		var n int64
		switch string(key) { // no allocation: the compiler compares the bytes
		case "w", "h":
			name := "page.viewport.h"
			if key[0] == 'w' {
				name = "page.viewport.w"
			}
			if n, err = d.int(name); err != nil {
				return err
			}
			if n < 0 || n > 1<<20 {
				return errf("%s out of range", name)
			}
			if key[0] == 'w' {
				e.ViewportW = int32(n)
			} else {
				e.ViewportH = int32(n)
			}
		default:
			if err = d.skip(2); err != nil {
				return err
			}
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return nil
		}
		return errf("expected ',' or '}' in viewport at offset %d", d.i)
	}
}

// events checks an array of objects and counts its elements.
func (d *decoder) events(maxEvents int) (int, error) {
	if !d.eat('[') {
		return 0, errf("events must be an array")
	}
	d.ws()
	if d.eat(']') {
		return 0, nil
	}
	n := 0
	for {
		d.ws()
		if d.peek() != '{' {
			return n, errf("events[%d] must be an object", n)
		}
		if err := d.skip(1); err != nil {
			return n, err
		}
		n++
		if maxEvents > 0 && n > maxEvents {
			return n, fmt.Errorf("%w (more than %d)", ErrTooManyEvents, maxEvents)
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return n, nil
		}
		return n, errf("expected ',' or ']' in events at offset %d", d.i)
	}
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

// key reads an object key. Unlike str it returns the bytes (a sub-slice of
// the input, or a copy when the key has escapes) so that matching keys
// allocates nothing.
func (d *decoder) key() ([]byte, error) {
	start := d.i
	escaped, err := d.skipString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		k := d.b[start+1 : d.i-1]
		if !utf8.Valid(k) {
			return nil, errf("string at offset %d is not valid UTF-8", start)
		}
		return k, nil
	}
	d.i = start
	s, err := d.str()
	return []byte(s), err
}

// str reads a JSON string into a Go string, which must be valid UTF-8 (it
// ends up in protobuf string fields).
func (d *decoder) str() (string, error) {
	start := d.i
	escaped, err := d.skipString()
	if err != nil {
		return "", err
	}
	raw := d.b[start:d.i]
	if !escaped {
		s := raw[1 : len(raw)-1]
		if !utf8.Valid(s) {
			return "", errf("string at offset %d is not valid UTF-8", start)
		}
		return string(s), nil
	}
	// Rare slow path: let encoding/json unescape (\uXXXX, surrogates).
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errf("invalid string at offset %d", start)
	}
	if !utf8.ValidString(s) || !utf8.Valid(raw) {
		return "", errf("string at offset %d is not valid UTF-8", start)
	}
	return s, nil
}

// skipString moves past one JSON string, validating escapes and rejecting
// raw control characters. It reports whether the string has escapes.
func (d *decoder) skipString() (escaped bool, err error) {
	if !d.eat('"') {
		return false, errf("expected string at offset %d", d.i)
	}
	b := d.b
	i := d.i
	for i < len(b) {
		// Eight bytes at a time while none is a quote, a backslash or a
		// control character (SWAR); the lowest flagged byte is exact.
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			m := hasZeroByte(v^(lsb*'"')) | hasZeroByte(v^(lsb*'\\')) | hasByteLess(v, 0x20)
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return escaped, errf("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return escaped, errf("unterminated string")
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return escaped, errf("invalid \\u escape at offset %d", i)
					}
				}
				i += 6
			default:
				return escaped, errf("invalid escape at offset %d", i)
			}
		default:
			return escaped, errf("control character in string at offset %d", i)
		}
	}
	return escaped, errf("unterminated string")
}

// int reads a JSON number that must be an integer fitting int64.
func (d *decoder) int(name string) (int64, error) {
	start := d.i
	if err := d.skipNumber(); err != nil {
		return 0, errf("%s must be an integer", name)
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, errf("%s must be an integer", name)
	}
	return n, nil
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

// skip moves past any JSON value, validating it.
func (d *decoder) skip(depth int) error {
	if depth > MaxDepth {
		return errf("nesting deeper than %d", MaxDepth)
	}
	switch c := d.peek(); c {
	case '"':
		_, err := d.skipString()
		return err
	case '{':
		d.i++
		d.ws()
		if d.eat('}') {
			return nil
		}
		for {
			d.ws()
			if _, err := d.skipString(); err != nil {
				return err
			}
			d.ws()
			if !d.eat(':') {
				return errf("expected ':' at offset %d", d.i)
			}
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				return nil
			}
			return errf("expected ',' or '}' at offset %d", d.i)
		}
	case '[':
		d.i++
		d.ws()
		if d.eat(']') {
			return nil
		}
		for {
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.eat(',') {
				continue
			}
			if d.eat(']') {
				return nil
			}
			return errf("expected ',' or ']' at offset %d", d.i)
		}
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
