// Package rrdom reads rrweb's serialized DOM trees (full snapshots,
// mutation adds) in place, in one pass, inside events the batch contract
// already checked: asset extraction and the summary's node kinds walk
// every snapshot of every chunk, where decoding into structs (encoding/json)
// or finding each value's end before reading it was most of their CPU.
package rrdom

import "bytes"

// Scanner walks one JSON value of events the batch contract already
// checked (valid JSON, bounded depth), in place and in one pass: a
// serialized DOM tree is read top-down, each node's children where they
// are, instead of finding a value's end before reading it at every level
// (which reads a node once per ancestor). It never panics on other input:
// past the end every read stops.
type Scanner struct {
	b []byte
	i int
}

// New is a scanner at the start of b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek is the next significant byte, 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// skipString moves past the string starting at s.i (a quote). Short
// strings (keys, tag names, numbers' neighbours) are looped over; a long
// one is searched for its quote.
func (s *Scanner) skipString() {
	i := s.i + 1
	for n := 0; i < len(s.b) && n < 24; n++ {
		switch s.b[i] {
		case '"':
			s.i = i + 1
			return
		case '\\':
			i++
		}
		i++
	}
	for i < len(s.b) {
		j := bytes.IndexByte(s.b[i:], '"')
		if j < 0 {
			break
		}
		i += j + 1
		// An odd run of backslashes before it escapes the quote.
		n := 0
		for k := i - 2; k >= 0 && s.b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			s.i = i
			return
		}
	}
	s.i = len(s.b)
}

// Value moves past the next value and answers it.
func (s *Scanner) Value() []byte {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil
	}
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}

// Object calls fn with each member's key (as written, escapes included;
// rrweb writes none in the keys read here), positioned at its value, which
// fn must read or skip (Value). Anything but an object is skipped.
func (s *Scanner) Object(fn func(key []byte)) {
	if s.Peek() != '{' {
		s.Value()
		return
	}
	s.i++
	for {
		switch s.Peek() {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		case '"':
		default:
			s.i = len(s.b)
			return
		}
		k := s.Value()
		if len(k) < 2 || s.Peek() != ':' {
			s.i = len(s.b)
			return
		}
		s.i++
		before := s.i
		fn(k[1 : len(k)-1])
		if !s.moved(before) {
			return
		}
	}
}

// Array calls fn positioned at each element, which fn must read or skip.
// Anything but an array is skipped.
func (s *Scanner) Array(fn func()) {
	if s.Peek() != '[' {
		s.Value()
		return
	}
	s.i++
	for {
		switch s.Peek() {
		case ']':
			s.i++
			return
		case ',':
			s.i++
			continue
		case 0:
			return
		}
		before := s.i
		fn()
		if !s.moved(before) {
			return
		}
	}
}

// moved skips the value at before when fn left it, and is false (the
// scan ended) when even that does not move: not JSON.
func (s *Scanner) moved(before int) bool {
	if s.i == before {
		s.Value()
	}
	if s.i == before {
		s.i = len(s.b)
		return false
	}
	return true
}
