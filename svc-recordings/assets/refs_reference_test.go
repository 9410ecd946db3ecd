package assets

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-recordings/rrdom"
)

// The extraction before it read batch.Values in place: full snapshots and
// mutations decoded by encoding/json into nodes. Kept as the reference the
// current Extract must agree with (TestExtractAgreesWithReference) and is
// measured against (BenchmarkExtract).

// node is what extraction reads of an rrweb serialized node.
type refNode struct {
	Type        int                        `json:"type"`
	TagName     string                     `json:"tagName"`
	Attributes  map[string]json.RawMessage `json:"attributes"`
	ChildNodes  []refNode                  `json:"childNodes"`
	TextContent string                     `json:"textContent"`
	IsStyle     bool                       `json:"isStyle"`
}

func (n *refNode) attr(name string) string {
	raw, ok := n.Attributes[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// extractReference finds the resources a chunk's events reference: in full
// snapshots and mutation adds, stylesheet links, img src/srcset, source
// srcset, video poster, style attributes' url()s, style text (and rrweb's
// _cssText) url()s and @imports; attribute mutations of the same; and
// rrweb font events. Relative URLs resolve against pageURL, or the
// snapshot's own href (meta event) when it has one. The events were
// accepted by the batch contract, so they are valid JSON; anything else in
// them is ignored, never an error.
func extractReference(events []byte, pageURL string) []Ref {
	x := refExtractor{seen: map[string]bool{}}
	x.setBase(pageURL)
	it := batch.NewEvents(events)
	for it.Next() && len(x.out) < maxRefsPerChunk {
		ev := it.Event()
		switch ev.Type {
		case evMeta:
			if href := ev.Data.Get("href").Str(); href != "" {
				x.setBase(href)
			}
		case evFullSnapshot:
			var n refNode
			if raw := ev.Data.Get("node"); raw.Kind() == batch.Object && json.Unmarshal(raw, &n) == nil {
				x.walk(&n, "")
			}
		case evIncremental:
			src, _ := ev.Data.Get("source").Float()
			switch src {
			case srcMutation:
				x.mutation(ev.Data)
			case srcFont:
				x.font(ev.Data)
			}
		}
	}
	return x.out
}

type refExtractor struct {
	base *url.URL
	out  []Ref
	seen map[string]bool
}

func (x *refExtractor) setBase(s string) {
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		x.base = u
	}
}

// add resolves raw against the page and keeps it when it is http(s).
func (x *refExtractor) add(raw string, kind Kind) {
	if x.base == nil || len(x.out) >= maxRefsPerChunk {
		return
	}
	u, ok := Resolve(x.base, raw)
	if !ok || x.seen[u] {
		return
	}
	x.seen[u] = true
	x.out = append(x.out, Ref{URL: u, Kind: kind, Referer: x.base.String()})
}

// walk visits a node and its children; parent is the parent's tag name.
func (x *refExtractor) walk(n *refNode, parent string) {
	switch n.Type {
	case rrdom.Element:
		x.element(n)
	case rrdom.Text:
		if n.IsStyle || parent == "style" {
			x.css(n.TextContent)
		}
	}
	for i := range n.ChildNodes {
		x.walk(&n.ChildNodes[i], strings.ToLower(n.TagName))
	}
}

func (x *refExtractor) element(n *refNode) {
	tag := strings.ToLower(n.TagName)
	switch tag {
	case "link":
		rel := " " + strings.ToLower(n.attr("rel")) + " "
		href := n.attr("href")
		switch {
		case strings.Contains(rel, " stylesheet "), href != "" && n.Attributes["_cssText"] != nil:
			x.add(href, KindCSS)
		case strings.Contains(rel, " preload ") || strings.Contains(rel, " prefetch "):
			switch strings.ToLower(n.attr("as")) {
			case "style":
				x.add(href, KindCSS)
			case "font":
				x.add(href, KindFont)
			case "image":
				x.add(href, KindImage)
			}
		}
	case "img":
		x.add(n.attr("src"), KindImage)
		x.srcset(n.attr("srcset"))
	case "source":
		x.srcset(n.attr("srcset"))
	case "video":
		x.add(n.attr("poster"), KindImage)
	}
	// rrweb keeps a stylesheet's text (link or style) in _cssText, with
	// url()s already absolute.
	x.css(n.attr("_cssText"))
	x.css(n.attr("style"))
}

// attrs reads an attribute mutation's changed attributes.
func (x *refExtractor) attrs(a batch.Value) {
	a.Fields(func(k string, v batch.Value) bool {
		switch strings.ToLower(k) {
		case "src", "poster":
			x.add(v.Str(), KindImage)
		case "srcset":
			x.srcset(v.Str())
		case "style", "_csstext":
			if v.Kind() == batch.String {
				x.css(v.Str())
			}
		}
		return true
	})
}

// mutation reads adds (nodes) and attribute changes of a mutation event.
func (x *refExtractor) mutation(d batch.Value) {
	var m struct {
		Adds []struct {
			Node refNode `json:"node"`
		} `json:"adds"`
		Attributes []struct {
			Attributes json.RawMessage `json:"attributes"`
		} `json:"attributes"`
	}
	if json.Unmarshal(d, &m) != nil {
		return
	}
	for i := range m.Adds {
		x.walk(&m.Adds[i].Node, "")
	}
	for _, a := range m.Attributes {
		x.attrs(batch.Value(a.Attributes))
	}
}

// font reads rrweb's font event: a FontFace created from a URL has
// fontSource `url(...)` (a buffer source is the bytes themselves).
func (x *refExtractor) font(d batch.Value) {
	if d.Get("buffer").Kind() == batch.Bool && string(d.Get("buffer")) == "true" {
		return
	}
	src := d.Get("fontSource").Str()
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
func (x *refExtractor) css(text string) {
	if text == "" || !strings.Contains(text, "url") && !strings.Contains(text, "@import") && !strings.Contains(text, "image-set") {
		return
	}
	for _, r := range cssRefs([]byte(text)) {
		x.add(r.raw, r.kind)
	}
}

// srcset reads the URLs of a srcset attribute ("a.png 1x, b.png 2x").
func (x *refExtractor) srcset(s string) {
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
