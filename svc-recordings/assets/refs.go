package assets

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-recordings/rrdom"
)

// Ref is one resource a recorded page needed: an absolute http(s) URL
// (normalized by NormalizeURL) and what the page used it as.
type Ref struct {
	URL  string
	Kind Kind
	// Referer is the page (or stylesheet) that referenced it.
	Referer string
}

// Limits of one chunk's extraction: a hostile chunk must not turn into
// unbounded work.
const (
	maxRefsPerChunk = 2000
	// MaxURLBytes is the longest URL looked up or fetched.
	MaxURLBytes = 4096
	maxSrcset   = 32
)

// rrweb event types, incremental sources and node types.
const (
	evFullSnapshot = 2
	evIncremental  = 3
	evMeta         = 4
	srcMutation    = 0
	srcFont        = 10
)

// Extract finds the resources a chunk's events reference: in full
// snapshots and mutation adds, stylesheet links, img src/srcset, source
// srcset, video poster, style attributes' url()s, style text (and rrweb's
// _cssText) url()s and @imports; attribute mutations of the same; and
// rrweb font events. Relative URLs resolve against pageURL, or the
// snapshot's own href (meta event) when it has one. The events were
// accepted by the batch contract, so they are valid JSON; anything else in
// them is ignored, never an error.
//
// Nodes are read in place with batch.Value (one pass over each object, no
// decoding into maps and structs): encoding/json here was most of asset
// capture's CPU, which a busy server's workers take from appends
// (BenchmarkExtract).
//
// Most chunks of a real page (pointer moves, scrolls, inputs, text) hold
// no reference at all; mayRefer turns those away for the cost of a few
// byte searches, without walking their nodes.
func Extract(events []byte, pageURL string) []Ref {
	if !mayRefer(events) {
		return nil
	}
	return extract(events, pageURL)
}

// mayRefer is false only when events cannot hold a reference extract
// finds. Each is found under one of these: a link's href; an img, source
// or video's src, srcset or poster (an attribute mutation's names are
// read in any case); style text, a style attribute or _cssText with
// url(), @import or image-set (css); a font event's fontSource. A \u
// escape can spell any of them otherwise, so a chunk with one is read.
// FuzzExtract holds extract to this.
//
// The commonest come first: a chunk that refers to something usually says
// src or href early, and its search ends there.
func mayRefer(events []byte) bool {
	if containsFold(events, "src") {
		return true
	}
	for _, w := range [...]string{"href", "url", "@import", "image-set", "fontSource", `\u`} {
		if bytes.Contains(events, []byte(w)) {
			return true
		}
	}
	return containsFold(events, "poster")
}

// containsFold is bytes.Contains ignoring ASCII case; word is lower-case
// ASCII letters. The next place of each case of its first letter is
// searched for once, so a long chunk costs two scans, not one per match.
func containsFold(b []byte, word string) bool {
	lo, up := word[0], word[0]-'a'+'A'
	nextLo, nextUp := -1, -1 // -1: to search from i; len(b): none
	for i := 0; i+len(word) <= len(b); {
		if nextLo < i {
			nextLo = indexFrom(b, i, lo)
		}
		if nextUp < i {
			nextUp = indexFrom(b, i, up)
		}
		j := min(nextLo, nextUp)
		if j+len(word) > len(b) {
			return false
		}
		if bytes.EqualFold(b[j:j+len(word)], []byte(word)) {
			return true
		}
		i = j + 1
	}
	return false
}

// indexFrom is the index of c in b at or after i, or len(b).
func indexFrom(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return len(b)
}

// extract is Extract without mayRefer.
func extract(events []byte, pageURL string) []Ref {
	r := newRefs(pageURL)
	it := batch.NewEvents(events)
	for it.Next() && !r.full() {
		r.Event(it.Event())
	}
	return r.x.out
}

// Refs is Extract fed event by event, for a caller that walks a chunk's
// events already (recordings reads them for the chunk's summary): the
// same references, without a second walk of the events.
type Refs struct{ x extractor }

// NewRefs answers the collector of the chunk's references, nil when
// events cannot hold any (mayRefer): the caller then feeds it nothing.
func NewRefs(events []byte, pageURL string) *Refs {
	if !mayRefer(events) {
		return nil
	}
	return newRefs(pageURL)
}

func newRefs(pageURL string) *Refs {
	r := &Refs{x: extractor{seen: map[string]bool{}}}
	r.x.setBase(pageURL)
	return r
}

func (r *Refs) full() bool { return len(r.x.out) >= maxRefsPerChunk }

// Event reads the chunk's next event (in order: a meta event's href is
// the base of the references after it).
func (r *Refs) Event(ev batch.Event) {
	if r.full() {
		return
	}
	x := &r.x
	switch ev.Type {
	case evMeta:
		if href := ev.Data.Get("href").Str(); href != "" {
			x.setBase(href)
		}
	case evFullSnapshot:
		// The node where it is: Get would read the whole tree
		// once more to find its end.
		rrdom.WalkNode(rrdom.New(ev.Data), x)
	case evIncremental:
		// Only mutations and fonts refer to resources; pointer moves,
		// scrolls and inputs (most events of a chunk) are not walked.
		// rrweb writes the source first, so it is found at once.
		if src, ok := ev.Data.Get("source").Float(); ok && src != srcMutation && src != srcFont {
			return
		}
		x.incremental(ev.Data)
	}
}

// Refs answers the references read so far.
func (r *Refs) Refs() []Ref { return r.x.out }

type extractor struct {
	base    *url.URL
	baseStr string
	out     []Ref
	seen    map[string]bool
	// tags are the tags of the nodes being walked, outermost first.
	tags []tag
}

func (x *extractor) setBase(s string) {
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		x.base, x.baseStr = u, u.String()
	}
}

// add resolves raw against the page and keeps it when it is http(s).
func (x *extractor) add(raw string, kind Kind) {
	if x.base == nil || len(x.out) >= maxRefsPerChunk {
		return
	}
	u, ok := Resolve(x.base, raw)
	if !ok || x.seen[u] {
		return
	}
	x.seen[u] = true
	x.out = append(x.out, Ref{URL: u, Kind: kind, Referer: x.baseStr})
}

// tag is the element names extraction tells apart.
type tag uint8

const (
	tagOther tag = iota
	tagLink
	tagImg
	tagSource
	tagVideo
	tagStyle
)

// tagOf reads a tagName as strings.ToLower would, copying nothing for
// the ASCII names of every real page.
func tagOf(v batch.Value) tag {
	b := strBytes(v)
	var buf [6]byte
	name := buf[:0]
	for _, c := range b {
		if c >= utf8.RuneSelf {
			// Unicode lower-casing can shorten a name (the Kelvin sign
			// is k): the rare slow way.
			name = []byte(strings.ToLower(string(b)))
			break
		}
		if len(name) == len(buf) {
			return tagOther
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name = append(name, c)
	}
	switch string(name) {
	case "link":
		return tagLink
	case "img":
		return tagImg
	case "source":
		return tagSource
	case "video":
		return tagVideo
	case "style":
		return tagStyle
	}
	return tagOther
}

// strBytes is a string value's text: its bytes in the chunk when it has no
// escapes, else unescaped (Str); nil for any other kind.
func strBytes(v batch.Value) []byte {
	if v.Kind() != batch.String || len(v) < 2 {
		return nil
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body
	}
	return []byte(v.Str())
}

// Enter implements rrdom.Visitor: an element's references, a style's
// text; children are read while the chunk's limit is not reached.
func (x *extractor) Enter(n *rrdom.Node) bool {
	t := tagOf(n.TagName)
	switch n.Type {
	case rrdom.Element:
		x.element(t, n.Attributes)
	case rrdom.Text:
		if n.IsStyle || len(x.tags) > 0 && x.tags[len(x.tags)-1] == tagStyle {
			x.css(strBytes(n.TextContent))
		}
	}
	x.tags = append(x.tags, t)
	return len(x.out) < maxRefsPerChunk
}

// Leave implements rrdom.Visitor.
func (x *extractor) Leave(*rrdom.Node) { x.tags = x.tags[:len(x.tags)-1] }

func (x *extractor) element(t tag, attrs batch.Value) {
	var rel, href, as, src, srcset, poster, cssText, style batch.Value
	hasCSSText := false
	attrs.Fields(func(k string, v batch.Value) bool {
		switch k {
		case "rel":
			rel = v
		case "href":
			href = v
		case "as":
			as = v
		case "src":
			src = v
		case "srcset":
			srcset = v
		case "poster":
			poster = v
		case "_cssText":
			cssText, hasCSSText = v, true
		case "style":
			style = v
		}
		return true
	})
	switch t {
	case tagLink:
		rel := " " + strings.ToLower(rel.Str()) + " "
		href := href.Str()
		switch {
		case strings.Contains(rel, " stylesheet "), href != "" && hasCSSText:
			x.add(href, KindCSS)
		case strings.Contains(rel, " preload ") || strings.Contains(rel, " prefetch "):
			switch strings.ToLower(as.Str()) {
			case "style":
				x.add(href, KindCSS)
			case "font":
				x.add(href, KindFont)
			case "image":
				x.add(href, KindImage)
			}
		}
	case tagImg:
		x.add(src.Str(), KindImage)
		x.srcset(srcset.Str())
	case tagSource:
		x.srcset(srcset.Str())
	case tagVideo:
		x.add(poster.Str(), KindImage)
	}
	// rrweb keeps a stylesheet's text (link or style) in _cssText, with
	// url()s already absolute.
	x.css(strBytes(cssText))
	x.css(strBytes(style))
}

// attrs reads an attribute mutation's changed attributes.
func (x *extractor) attrs(a batch.Value) {
	a.Fields(func(k string, v batch.Value) bool {
		switch strings.ToLower(k) {
		case "src", "poster":
			x.add(v.Str(), KindImage)
		case "srcset":
			x.srcset(v.Str())
		case "style", "_csstext":
			x.css(strBytes(v))
		}
		return true
	})
}

// incremental reads a mutation's adds (nodes) and then its attribute
// changes, or a font event, in one pass over the event's data when its
// source comes first (as rrweb writes it); adds seen before the source are
// read again after it.
func (x *extractor) incremental(data batch.Value) {
	var source float64
	var adds, changes, fontSource, buffer batch.Value
	seenSource, added := false, false
	d := rrdom.New(data)
	d.Object(func(k []byte) {
		switch string(k) {
		case "source":
			source, _ = batch.Value(d.Value()).Float()
			seenSource = true
		case "adds":
			if seenSource && source == srcMutation && !added {
				added = true
				x.adds(d)
				return
			}
			adds = d.Value()
		case "attributes":
			changes = d.Value()
		case "fontSource":
			fontSource = d.Value()
		case "buffer":
			buffer = d.Value()
		}
	})
	switch source {
	case srcMutation:
		if !added {
			x.adds(rrdom.New(adds))
		}
		batch.Value(changes).Each(func(c batch.Value) bool {
			x.attrs(c.Get("attributes"))
			return len(x.out) < maxRefsPerChunk
		})
	case srcFont:
		x.font(fontSource, buffer)
	}
}

// adds walks the nodes of a mutation's adds array.
func (x *extractor) adds(s *rrdom.Scanner) {
	s.Array(func() {
		s.Object(func(k []byte) {
			if string(k) == "node" && len(x.out) < maxRefsPerChunk {
				x.tags = x.tags[:0]
				rrdom.Walk(s, x)
			}
		})
	})
}

// font reads rrweb's font event: a FontFace created from a URL has
// fontSource `url(...)` (a buffer source is the bytes themselves).
func (x *extractor) font(fontSource, buffer batch.Value) {
	if string(buffer) == "true" {
		return
	}
	src := fontSource.Str()
	found := false
	for _, r := range cssRefs([]byte(src)) {
		x.add(r.raw, KindFont)
		found = true
	}
	if !found && !strings.ContainsAny(src, "( ") {
		x.add(src, KindFont)
	}
}

// css reads url()s and @imports of style text.
func (x *extractor) css(text []byte) {
	if len(text) == 0 || !bytes.Contains(text, []byte("url")) && !bytes.Contains(text, []byte("@import")) && !bytes.Contains(text, []byte("image-set")) {
		return
	}
	for _, r := range cssRefs(text) {
		x.add(r.raw, r.kind)
	}
}

// srcset reads the URLs of a srcset attribute ("a.png 1x, b.png 2x").
func (x *extractor) srcset(s string) {
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		if n++; n > maxSrcset {
			return
		}
		f := strings.Fields(part)
		if len(f) > 0 {
			x.add(f[0], KindImage)
		}
	}
}

// Resolve makes raw absolute against base and normalizes it; ok is false
// for anything but an http(s) URL of at most MaxURLBytes (data:, blob:,
// javascript: and the like are not fetched).
func Resolve(base *url.URL, raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxURLBytes {
		return "", false
	}
	ref, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	u := ref
	if base != nil {
		u = base.ResolveReference(ref)
	}
	return normalize(u)
}

// NormalizeURL is the form under which a URL is recorded and looked up:
// absolute http(s), scheme and host lower-case, no default port, no
// fragment, an empty path as "/".
func NormalizeURL(raw string) (string, bool) {
	if len(raw) > MaxURLBytes {
		return "", false
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", false
	}
	return normalize(u)
}

func normalize(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	v := *u
	v.Scheme = scheme
	v.Host = strings.ToLower(u.Host)
	if port := v.Port(); (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		v.Host = strings.TrimSuffix(v.Host, ":"+port)
	}
	v.Fragment, v.RawFragment = "", ""
	if v.Path == "" && v.RawPath == "" {
		v.Path = "/"
	}
	s := v.String()
	if len(s) > MaxURLBytes {
		return "", false
	}
	return s, true
}
