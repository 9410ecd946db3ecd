package assets

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"
)

// Kind is what a referenced resource is expected to be. The fetcher decides
// from the response's type; the kind only picks the Referer's meaning and
// the order of work.
type Kind uint8

// Kinds of resources.
const (
	KindImage Kind = iota
	KindCSS
	KindFont
)

func (k Kind) String() string {
	switch k {
	case KindCSS:
		return "css"
	case KindFont:
		return "font"
	}
	return "image"
}

// maxCSSRefs bounds the references read from one stylesheet or style text:
// a hostile sheet must not turn into unbounded fetches.
const maxCSSRefs = 1000

// cssRef is one reference inside CSS text: the bytes [start, end) hold the
// whole token (url(...), or the string of @import "..." or image-set("...")),
// raw is the reference as written (unescaped).
type cssRef struct {
	start, end int
	raw        string
	kind       Kind
	// quoted is true for a bare string token (its replacement is a string,
	// not url()).
	quoted bool
}

// cssRefs tokenizes CSS with a real CSS tokenizer (tdewolff/parse, which
// follows CSS Syntax Level 3), so comments, strings and escapes cannot
// fool it as they fool a regexp. It finds url() tokens, @import strings,
// and strings inside image-set(); url()s inside @font-face are fonts.
// Offsets index into b. At most maxCSSRefs are returned.
func cssRefs(b []byte) []cssRef {
	// The lexer reads past a copy: parse.NewInputBytes appends a NUL to its
	// buffer, which must not write into the caller's slice.
	in := make([]byte, len(b), len(b)+1)
	copy(in, b)
	lx := css.NewLexer(parse.NewInputBytes(in))
	var out []cssRef
	pos := 0
	// afterImport: the previous significant token was @import.
	afterImport := false
	// fontFace: depth of braces inside an @font-face block (0 when outside);
	// pendingFontFace: @font-face seen, its "{" not yet.
	fontFace, pendingFontFace := 0, false
	// imageSet: parenthesis depth inside image-set() (0 when outside).
	imageSet, parens := 0, 0
	for len(out) < maxCSSRefs {
		tt, data := lx.Next()
		if tt == css.ErrorToken {
			break
		}
		start := pos
		pos += len(data)
		switch tt {
		case css.WhitespaceToken, css.CommentToken:
			continue
		case css.AtKeywordToken:
			name := strings.ToLower(string(data[1:]))
			afterImport = name == "import"
			pendingFontFace = name == "font-face"
			continue
		case css.LeftBraceToken:
			if pendingFontFace {
				pendingFontFace, fontFace = false, 1
			} else if fontFace > 0 {
				fontFace++
			}
		case css.RightBraceToken:
			if fontFace > 0 {
				fontFace--
			}
		case css.FunctionToken:
			parens++
			fn := strings.ToLower(string(data[:len(data)-1]))
			if imageSet == 0 && (fn == "image-set" || fn == "-webkit-image-set") {
				imageSet = parens
			}
		case css.LeftParenthesisToken:
			parens++
		case css.RightParenthesisToken:
			if imageSet == parens {
				imageSet = 0
			}
			if parens > 0 {
				parens--
			}
		case css.URLToken:
			kind := KindImage
			switch {
			case afterImport:
				kind = KindCSS
			case fontFace > 0:
				kind = KindFont
			}
			// url(#id) names an element of the document using the
			// style (an SVG gradient or filter): nothing to fetch, and
			// it must stay relative to that document.
			if raw, ok := urlTokenValue(data); ok && !strings.HasPrefix(strings.TrimSpace(raw), "#") {
				out = append(out, cssRef{start: start, end: pos, raw: raw, kind: kind})
			}
		case css.StringToken:
			if afterImport || imageSet > 0 {
				kind := KindImage
				if afterImport {
					kind = KindCSS
				}
				out = append(out, cssRef{start: start, end: pos, raw: unescapeCSS(stringBody(data)), kind: kind, quoted: true})
			}
		}
		afterImport = false
	}
	return out
}

// stringBody is a string token without its quotes; a string left open
// at the end of the input has no closing one.
func stringBody(tok []byte) []byte {
	if len(tok) == 0 {
		return tok
	}
	body := tok[1:]
	if len(body) > 0 && body[len(body)-1] == tok[0] {
		body = body[:len(body)-1]
	}
	return body
}

// urlTokenValue reads the reference inside url(...), unquoted or quoted,
// without its escapes.
func urlTokenValue(tok []byte) (string, bool) {
	i := bytes.IndexByte(tok, '(')
	if i < 0 {
		return "", false
	}
	v := tok[i+1:]
	v = bytes.TrimSuffix(v, []byte(")"))
	v = bytes.Trim(v, " \t\n\r\f")
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	s := unescapeCSS(v)
	return s, s != ""
}

// unescapeCSS removes CSS escapes: a backslash then 1–6 hex digits and one
// optional whitespace, a backslash-newline (a continuation, removed), or a
// backslash then any other character (that character).
func unescapeCSS(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 == len(b) {
			sb.WriteByte(c)
			continue
		}
		i++
		j := i
		for j < len(b) && j-i < 6 && isHex(b[j]) {
			j++
		}
		if j > i {
			n, _ := strconv.ParseUint(string(b[i:j]), 16, 32)
			r := rune(n)
			if r == 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF) {
				r = '\uFFFD'
			}
			sb.WriteRune(r)
			if j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\f') {
				j++
			} else if j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
				j += 2
			}
			i = j - 1
			continue
		}
		if b[i] == '\n' || b[i] == '\f' {
			continue
		}
		sb.WriteByte(b[i])
	}
	return sb.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// quoteCSS writes s as a double-quoted CSS string, escaping what would end
// or break it.
func quoteCSS(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 2)
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c < 0x20 || c == 0x7F:
			sb.WriteString(`\` + strconv.FormatUint(uint64(c), 16) + " ")
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// rewriteCSS replaces every reference found by cssRefs with what target
// answers for it (false keeps the reference as written). A url() becomes
// url("..."), a bare string stays a string.
func rewriteCSS(b []byte, target func(raw string, kind Kind) (string, bool)) []byte {
	refs := cssRefs(b)
	if len(refs) == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+len(refs)*48)
	last := 0
	for _, r := range refs {
		t, ok := target(r.raw, r.kind)
		if !ok {
			continue
		}
		out = append(out, b[last:r.start]...)
		if r.quoted {
			out = append(out, quoteCSS(t)...)
		} else {
			out = append(out, "url("+quoteCSS(t)+")"...)
		}
		last = r.end
	}
	return append(out, b[last:]...)
}
