package summary

import (
	"bytes"
	"strings"

	"github.com/sightlinehq/sightline/batch"
	"github.com/sightlinehq/sightline/svc-recordings/rrdom"
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

// snapshot reads a full snapshot's node: its ids replace the page view's.
func (k *nodeKinds) snapshot(node batch.Value) {
	if kind := node.Kind(); kind != batch.Object && kind != batch.Null {
		return // not a tree: the page view's kinds stay
	}
	k.set, k.added, k.reset, k.htmlIDs = nil, nil, true, nil
	w := kindsWalk{k: k}
	rrdom.Walk(rrdom.New(node), &w)
	w.done()
	k.labels(w.labels)
}

// mutation reads an incremental mutation: added subtrees, and elements
// made contenteditable.
func (k *nodeKinds) mutation(data batch.Value) {
	// Both parts below need a field word in the part they read, and the
	// adds and attributes are parts of data: with no word in data and no
	// editable node known, neither member is looked up (most mutations;
	// the lookups skipped the whole of each, adds included).
	if len(k.set) == 0 && !mayHoldFields(data) {
		return
	}
	if adds := data.Get("adds"); adds.Kind() == batch.Array && len(adds) > 2 && (len(k.set) > 0 || mayHoldFields(adds)) {
		w := kindsWalk{k: k}
		s := rrdom.New(adds)
		s.Array(func() {
			// rrweb writes parentId before node; a node first is read
			// once parentId is.
			var parent float64
			var later batch.Value
			seenParent, seenNode := false, false
			s.Object(func(key []byte) {
				switch string(key) {
				case "parentId":
					if !seenParent {
						parent, _ = batch.Value(s.Value()).Float()
						seenParent = true
					}
				case "node":
					if seenNode || s.Peek() != '{' {
						return
					}
					seenNode = true
					if seenParent {
						w.add(s, parent)
						return
					}
					later = s.Value()
				}
			})
			if later != nil {
				w.add(rrdom.New(later), parent)
			}
		})
		k.labels(w.labels)
	}
	if attrs := data.Get("attributes"); bytes.Contains(attrs, []byte("contenteditable")) {
		attrs.Each(func(a batch.Value) bool {
			if isContentEditable(a.Get("attributes").Get("contenteditable")) {
				id, _ := a.Get("id").Float()
				k.add(clampID(id))
			}
			return true
		})
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

// kindsWalk marks a subtree's editable fields (rrdom.Visitor): a form
// control that takes input, anything contenteditable, everything inside
// those, and labels around or for a field. rrweb writes a node's id after
// its children, so the ids to add are put in order as the walk goes (a
// node before its children, a label around a field after them) and added
// when the subtree is read (done).
type kindsWalk struct {
	k *nodeKinds
	// inside is whether the subtree's parent is editable.
	inside bool
	frames []kindsFrame
	ids    []float64
	labels []label
}

type kindsFrame struct {
	self, inside, holds, label bool
	slot                       int // in ids, -1: none
	htmlID, forID              batch.Value
}

// add walks one added subtree under parent.
func (w *kindsWalk) add(s *rrdom.Scanner, parent float64) {
	w.inside = w.k.editable(clampID(parent))
	rrdom.Walk(s, w)
	w.done()
}

func (w *kindsWalk) done() {
	for _, id := range w.ids {
		w.k.add(clampID(id))
	}
	w.ids = w.ids[:0]
}

// Enter implements rrdom.Visitor.
func (w *kindsWalk) Enter(n *rrdom.Node) bool {
	f := kindsFrame{inside: w.inside, slot: -1}
	if len(w.frames) > 0 {
		p := &w.frames[len(w.frames)-1]
		f.inside = p.self || p.inside
	}
	if n.Type == rrdom.Element {
		tag := strings.ToLower(n.TagName.Str())
		var typ, ce batch.Value
		seen := 0
		n.Attributes.Fields(func(key string, v batch.Value) bool {
			// The first of a name counts (as Get).
			switch {
			case key == "type" && seen&1 == 0:
				typ, seen = v, seen|1
			case key == "contenteditable" && seen&2 == 0:
				ce, seen = v, seen|2
			case key == "for" && seen&4 == 0:
				f.forID, seen = v, seen|4
			case key == "id" && seen&8 == 0:
				f.htmlID, seen = v, seen|8
			}
			return true
		})
		switch tag {
		case "input":
			f.self = !buttonLike(typ.Str())
		case "textarea", "select":
			f.self = true
		}
		if isContentEditable(ce) {
			f.self = true
		}
		f.label = tag == "label"
		if !f.self || tag == "" {
			f.htmlID = nil
		}
	}
	f.holds = f.self
	if f.self || f.inside {
		f.slot = len(w.ids)
		w.ids = append(w.ids, 0)
	}
	w.frames = append(w.frames, f)
	return true
}

// Leave implements rrdom.Visitor.
func (w *kindsWalk) Leave(n *rrdom.Node) {
	f := w.frames[len(w.frames)-1]
	w.frames = w.frames[:len(w.frames)-1]
	id, _ := n.ID.Float()
	if f.slot >= 0 {
		w.ids[f.slot] = id
	}
	if hid := f.htmlID.Str(); hid != "" && len(w.k.htmlIDs) < maxEditable {
		if w.k.htmlIDs == nil {
			w.k.htmlIDs = map[string]int32{}
		}
		w.k.htmlIDs[hid] = clampID(id)
	}
	if f.label {
		switch target := f.forID.Str(); {
		case f.holds:
			// A label around a field focuses it.
			w.ids = append(w.ids, id)
		case target != "" && len(w.labels) < maxEditable:
			w.labels = append(w.labels, label{id: clampID(id), target: target})
		}
	}
	if f.holds && len(w.frames) > 0 {
		w.frames[len(w.frames)-1].holds = true
	}
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
func isContentEditable(v batch.Value) bool {
	if len(v) == 0 || string(v) == "null" || string(v) == "false" {
		return false
	}
	return !strings.EqualFold(strings.TrimSpace(v.Str()), "false")
}
