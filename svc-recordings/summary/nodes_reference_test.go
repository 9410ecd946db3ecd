package summary

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sightlinehq/sightline/batch"
)

// The node kinds as they were read with encoding/json: the reference the
// in-place walk (nodes.go) is checked against.

// refNode is the part of an rrweb serialized node this needs. Numbers are
// float64 and attributes raw, so an odd value never fails the decode of
// the whole tree (which would only lose the field kinds anyway).
type refNode struct {
	ID         float64    `json:"id"`
	Type       float64    `json:"type"`
	TagName    string     `json:"tagName"`
	Attributes refAttrs   `json:"attributes"`
	ChildNodes []*refNode `json:"childNodes"`
}

type refAttrs struct {
	Type            json.RawMessage `json:"type"`
	ContentEditable json.RawMessage `json:"contenteditable"`
	For             json.RawMessage `json:"for"`
	HTMLID          json.RawMessage `json:"id"`
}

const refElement = 2

// snapshot reads a full snapshot: its ids replace the page view's.
func (k *nodeKinds) refSnapshot(v batch.Value) {
	var root refNode
	if json.Unmarshal(v, &root) != nil {
		return
	}
	k.set, k.added, k.reset, k.htmlIDs = nil, nil, true, nil
	var labels []label
	k.refWalk(&root, false, &labels)
	k.labels(labels)
}

// mutation reads an incremental mutation: added subtrees, and elements
// made contenteditable.
func (k *nodeKinds) refMutation(data batch.Value) {
	if adds := data.Get("adds"); adds.Kind() == batch.Array && len(adds) > 2 && (len(k.set) > 0 || mayHoldFields(adds)) {
		var list []struct {
			ParentID float64  `json:"parentId"`
			Node     *refNode `json:"node"`
		}
		if json.Unmarshal(adds, &list) == nil {
			var labels []label
			for _, a := range list {
				if a.Node != nil {
					k.refWalk(a.Node, k.editable(clampID(a.ParentID)), &labels)
				}
			}
			k.labels(labels)
		}
	}
	if attrs := data.Get("attributes"); bytes.Contains(attrs, []byte("contenteditable")) {
		var list []struct {
			ID         float64  `json:"id"`
			Attributes refAttrs `json:"attributes"`
		}
		if json.Unmarshal(attrs, &list) == nil {
			for _, a := range list {
				if refContentEditable(a.Attributes.ContentEditable) {
					k.add(clampID(a.ID))
				}
			}
		}
	}
}

// walk marks n's subtree (inside answers whether an ancestor is editable)
// and answers whether it holds an editable form control.
func (k *nodeKinds) refWalk(n *refNode, inside bool, labels *[]label) bool {
	if n == nil {
		return false
	}
	id := clampID(n.ID)
	tag := strings.ToLower(n.TagName)
	self := false
	if n.Type == refElement {
		switch tag {
		case "input":
			self = !buttonLike(refRawString(n.Attributes.Type))
		case "textarea", "select":
			self = true
		}
		if refContentEditable(n.Attributes.ContentEditable) {
			self = true
		}
	}
	if self || inside {
		k.add(id)
	}
	if self && tag != "" {
		if hid := refRawString(n.Attributes.HTMLID); hid != "" && len(k.htmlIDs) < maxEditable {
			if k.htmlIDs == nil {
				k.htmlIDs = map[string]int32{}
			}
			k.htmlIDs[hid] = id
		}
	}
	holds := self
	for _, c := range n.ChildNodes {
		if k.refWalk(c, self || inside, labels) {
			holds = true
		}
	}
	if n.Type == refElement && tag == "label" {
		switch f := refRawString(n.Attributes.For); {
		case holds:
			// A label around a field focuses it.
			k.add(id)
		case f != "" && len(*labels) < maxEditable:
			*labels = append(*labels, label{id: id, target: f})
		}
	}
	return holds
}

// isContentEditable: contenteditable="" / "true" / "plaintext-only"
// (anything but "false"); rrweb records a bare attribute as "" or true.
func refContentEditable(v json.RawMessage) bool {
	if len(v) == 0 || string(v) == "null" || string(v) == "false" {
		return false
	}
	return !strings.EqualFold(strings.TrimSpace(refRawString(v)), "false")
}

// rawString reads a JSON string; other kinds read as "".
func refRawString(v json.RawMessage) string {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}
