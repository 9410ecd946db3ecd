package assets

import "bytes"

// scanner walks one JSON value of events the batch contract already
// checked (valid JSON, bounded depth), in place and in one pass: a
// serialized DOM tree is read top-down, each node's children where they
// are, instead of finding a value's end before reading it at every level
// (which reads a node once per ancestor). It never panics on other input:
// past the end every read stops.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the next significant byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// skipString moves past the string starting at s.i (a quote). Short
// strings (keys, tag names, numbers' neighbours) are looped over; a long
// one is searched for its quote.
func (s *scanner) skipString() {
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

// value moves past the next value and answers it.
func (s *scanner) value() []byte {
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

// object calls fn with each member's key (as written, escapes included;
// rrweb writes none in the keys read here), positioned at its value, which
// fn must read or skip (value). Anything but an object is skipped.
func (s *scanner) object(fn func(key []byte)) {
	if s.peek() != '{' {
		s.value()
		return
	}
	s.i++
	for {
		switch s.peek() {
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
		k := s.value()
		if len(k) < 2 || s.peek() != ':' {
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

// array calls fn positioned at each element, which fn must read or skip.
// Anything but an array is skipped.
func (s *scanner) array(fn func()) {
	if s.peek() != '[' {
		s.value()
		return
	}
	s.i++
	for {
		switch s.peek() {
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
func (s *scanner) moved(before int) bool {
	if s.i == before {
		s.value()
	}
	if s.i == before {
		s.i = len(s.b)
		return false
	}
	return true
}
