package summary

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sightlinehq/sightline/batch"
)

// maxEditable bounds the editable node ids one chunk reports and one page
// view keeps in the fold: far more form fields than a page shows.
const maxEditable = 2000

// nodeKinds learns, from a chunk's full snapshots and mutations, which rrweb
// node ids are editable fields: a click into one is never dead (the caret
// or the field's own UI is the reaction, and rrweb records none of it).
// rrweb never reuses an id within a page view, so ids only accumulate.
type nodeKinds struct {
	set   map[int32]struct{}
	added []int32
	reset bool
	// htmlIDs maps an element's id attribute to its rrweb id when that
	// element is an editable field, so <label for> can be resolved.
	htmlIDs map[string]int32
}

func newNodeKinds() *nodeKinds { return &nodeKinds{} }

// rrNode is the part of an rrweb serialized node this needs. Numbers are
// float64 and attributes raw, so an odd value never fails the decode of
// the whole tree (which would only lose the field kinds anyway).
type rrNode struct {
	ID         float64   `json:"id"`
	Type       float64   `json:"type"`
	TagName    string    `json:"tagName"`
	Attributes rrAttrs   `json:"attributes"`
	ChildNodes []*rrNode `json:"childNodes"`
}

type rrAttrs struct {
	Type            json.RawMessage `json:"type"`
	ContentEditable json.RawMessage `json:"contenteditable"`
	For             json.RawMessage `json:"for"`
	HTMLID          json.RawMessage `json:"id"`
}

const rrElement = 2

func (k *nodeKinds) editable(id int32) bool {
	_, ok := k.set[id]
	return ok && id != 0
}

func (k *nodeKinds) add(id int32) {
	if id == 0 || len(k.added) >= maxEditable || k.editable(id) {
		return
	}
	if k.set == nil {
		k.set = map[int32]struct{}{}
	}
	k.set[id] = struct{}{}
	k.added = append(k.added, id)
}

// snapshot reads a full snapshot: its ids replace the page view's.
func (k *nodeKinds) snapshot(v batch.Value) {
	var root rrNode
	if json.Unmarshal(v, &root) != nil {
		return
	}
	k.set, k.added, k.reset, k.htmlIDs = nil, nil, true, nil
	var labels []label
	k.walk(&root, false, &labels)
	k.labels(labels)
}

// mutation reads an incremental mutation: added subtrees, and elements
// made contenteditable.
func (k *nodeKinds) mutation(data batch.Value) {
	if adds := data.Get("adds"); adds.Kind() == batch.Array && len(adds) > 2 && (len(k.set) > 0 || mayHoldFields(adds)) {
		var list []struct {
			ParentID float64 `json:"parentId"`
			Node     *rrNode `json:"node"`
		}
		if json.Unmarshal(adds, &list) == nil {
			var labels []label
			for _, a := range list {
				if a.Node != nil {
					k.walk(a.Node, k.editable(clampID(a.ParentID)), &labels)
				}
			}
			k.labels(labels)
		}
	}
	if attrs := data.Get("attributes"); bytes.Contains(attrs, []byte("contenteditable")) {
		var list []struct {
			ID         float64 `json:"id"`
			Attributes rrAttrs `json:"attributes"`
		}
		if json.Unmarshal(attrs, &list) == nil {
			for _, a := range list {
				if isContentEditable(a.Attributes.ContentEditable) {
					k.add(clampID(a.ID))
				}
			}
		}
	}
}

// fieldWords are in the JSON of any added subtree that holds a field (rrweb
// writes tag names in lower case): most mutations hold none and are not
// decoded at all.
var fieldWords = [][]byte{[]byte(`"input"`), []byte(`"textarea"`), []byte(`"select"`), []byte(`"label"`), []byte("contenteditable")}

func mayHoldFields(b []byte) bool {
	for _, w := range fieldWords {
		if bytes.Contains(b, w) {
			return true
		}
	}
	return false
}

type label struct {
	id     int32
	target string
}

// walk marks n's subtree (inside answers whether an ancestor is editable)
// and answers whether it holds an editable form control.
func (k *nodeKinds) walk(n *rrNode, inside bool, labels *[]label) bool {
	if n == nil {
		return false
	}
	id := clampID(n.ID)
	tag := strings.ToLower(n.TagName)
	self := false
	if n.Type == rrElement {
		switch tag {
		case "input":
			self = !buttonLike(rawString(n.Attributes.Type))
		case "textarea", "select":
			self = true
		}
		if isContentEditable(n.Attributes.ContentEditable) {
			self = true
		}
	}
	if self || inside {
		k.add(id)
	}
	if self && tag != "" {
		if hid := rawString(n.Attributes.HTMLID); hid != "" && len(k.htmlIDs) < maxEditable {
			if k.htmlIDs == nil {
				k.htmlIDs = map[string]int32{}
			}
			k.htmlIDs[hid] = id
		}
	}
	holds := self
	for _, c := range n.ChildNodes {
		if k.walk(c, self || inside, labels) {
			holds = true
		}
	}
	if n.Type == rrElement && tag == "label" {
		switch f := rawString(n.Attributes.For); {
		case holds:
			// A label around a field focuses it.
			k.add(id)
		case f != "" && len(*labels) < maxEditable:
			*labels = append(*labels, label{id: id, target: f})
		}
	}
	return holds
}

// labels marks <label for> elements whose field is known.
func (k *nodeKinds) labels(ls []label) {
	for _, l := range ls {
		if _, ok := k.htmlIDs[l.target]; ok {
			k.add(l.id)
		}
	}
}

// buttonLike: input types that act as buttons, so a click can be dead.
func buttonLike(typ string) bool {
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "button", "submit", "reset", "image", "hidden":
		return true
	}
	return false
}

// isContentEditable: contenteditable="" / "true" / "plaintext-only"
// (anything but "false"); rrweb records a bare attribute as "" or true.
func isContentEditable(v json.RawMessage) bool {
	if len(v) == 0 || string(v) == "null" || string(v) == "false" {
		return false
	}
	return !strings.EqualFold(strings.TrimSpace(rawString(v)), "false")
}

// rawString reads a JSON string; other kinds read as "".
func rawString(v json.RawMessage) string {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}
