// Package scrub removes personal data from text visitors type into
// Sightline's feedback widget and surveys, before it is stored: ingest
// scrubs every comment and text answer before it reaches the spool, and
// recordings scrubs again when it stores one (Text is idempotent, so the
// second pass changes nothing).
//
// What is replaced:
//   - e-mail addresses → "[email]";
//   - payment card numbers → "[card]": 13–19 digits, optionally grouped by
//     single spaces or dashes, that pass the Luhn check;
//   - international phone numbers → "[phone]": a "+" followed by 8–15
//     digits, optionally grouped by spaces, dashes, dots or parentheses.
//
// Plain digit runs that are not Luhn-valid cards are kept on purpose:
// visitors quote order, ticket and invoice numbers in feedback, and those
// are what makes a complaint actionable; a national phone number without
// "+" cannot be told from them.
package scrub

import (
	"regexp"
	"strings"
)

// Placeholders written in place of what is scrubbed. None contains a digit,
// "@" or "+", so scrubbed text never matches again.
const (
	Email = "[email]"
	Card  = "[card]"
	Phone = "[phone]"
)

// email is a pragmatic address pattern: a local part of letters, digits and
// ._%+-, "@", dot-separated labels and a top-level domain of letters.
// Go's regexp runs in linear time, so hostile input cannot make it slow.
var email = regexp.MustCompile(`[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}`)

// phone is a "+" and digits with the separators people write; the digit
// count is checked in code.
var phone = regexp.MustCompile(`\+[ ]?(?:\(\d+\)|\d)(?:[ .\-]?(?:\(\d+\)|\d))*`)

// Text returns s with e-mail addresses, card numbers and international
// phone numbers replaced by placeholders. It never grows a text by more
// than one byte per e-mail address replaced (an address of 6 bytes, such
// as "a@b.co", becomes the 7 of "[email]"); every other replacement is
// shorter than what it replaces.
func Text(s string) string {
	if !maybe(s) {
		return s
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = email.ReplaceAllLiteralString(s, Email)
	}
	s = cards(s)
	if strings.IndexByte(s, '+') >= 0 {
		s = phone.ReplaceAllStringFunc(s, func(m string) string {
			if n := digits(m); n >= 8 && n <= 15 {
				return Phone
			}
			return m
		})
	}
	return s
}

// maybe is a fast path: text without "@" and without a run of 8 digits
// (ignoring separators) has nothing to scrub.
func maybe(s string) bool {
	if strings.IndexByte(s, '@') >= 0 {
		return true
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n++; n >= 8 {
				return true
			}
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			n = 0
		}
	}
	return false
}

func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// group is one run of ASCII digits in s: s[start:end].
type group struct{ start, end int }

// cards replaces card numbers. A candidate is a maximal sequence of digit
// groups joined by single spaces or dashes; within it, from each group on,
// the longest run of whole groups holding 13–19 Luhn-valid digits is a card.
// One ungrouped run of more than 19 digits is not a card (nor part of one).
func cards(s string) string {
	var out strings.Builder
	last := 0 // s[:last] is written to out (or out is unused)
	var gs []group
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A sequence of groups starting at i.
		gs = gs[:0]
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			gs = append(gs, group{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
				j = k + 1
				continue
			}
			j = k
			break
		}
		// A digit run glued to letters (an id like "abc4111…") is kept.
		if i > 0 && isWordByte(s[i-1]) || j < len(s) && isWordByte(s[j]) {
			i = j
			continue
		}
		for g := 0; g < len(gs); {
			end := longestCard(s, gs[g:])
			if end == 0 {
				g++
				continue
			}
			if out.Len() == 0 && last == 0 {
				out.Grow(len(s))
			}
			out.WriteString(s[last:gs[g].start])
			out.WriteString(Card)
			last = gs[g+end-1].end
			g += end
		}
		i = j
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// longestCard answers how many of gs, from the first, form the longest
// Luhn-valid run of 13–19 digits (0: none).
func longestCard(s string, gs []group) int {
	n := 0
	best := 0
	for k, g := range gs {
		n += g.end - g.start
		if n > 19 {
			break
		}
		if n >= 13 && luhn(s, gs[:k+1]) {
			best = k + 1
		}
	}
	return best
}

func luhn(s string, gs []group) bool {
	sum, double := 0, false
	for k := len(gs) - 1; k >= 0; k-- {
		for i := gs[k].end - 1; i >= gs[k].start; i-- {
			d := int(s[i] - '0')
			if double {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isWordByte is an ASCII letter or underscore next to a digit run: such a
// run is part of a word (a token, a reference), not a number on its own.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
