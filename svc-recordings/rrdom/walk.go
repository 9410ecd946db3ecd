package rrdom

import "github.com/sightlinehq/sightline/batch"

// rrweb's node types Walk tells apart.
const (
	Element = 2
	Text    = 3
)

// Node is one serialized node's own fields as Walk read them; TagName,
// Attributes and TextContent are the values as written (nil when absent),
// valid as long as the scanned bytes are.
type Node struct {
	Type        float64
	TagName     batch.Value
	Attributes  batch.Value
	TextContent batch.Value
	IsStyle     bool
	// ID is known to Leave: rrweb writes it after childNodes. (Read
	// by those who need it: most walks do not.)
	ID batch.Value
}

// Visitor is what Walk calls at each node of a tree, depth first.
type Visitor interface {
	// Enter is called before the node's children, once its type (and,
	// for an element, tag name and attributes; for text, its content)
	// are read: rrweb writes them first, so children are then read where
	// they are; when a node writes its children first they are read
	// again after the node. Enter answering false skips the children.
	Enter(n *Node) bool
	// Leave is called after the children, with every field read.
	Leave(n *Node)
}

// Walk reads the serialized node at the scanner's cursor and its subtree.
func Walk(s *Scanner, v Visitor) {
	w := walker{v: v}
	w.walk(s, 0)
}

// walker keeps the nodes being read, one per depth, so that handing one
// to the Visitor allocates nothing per node.
type walker struct {
	v     Visitor
	nodes []Node
}

func (w *walker) node(depth int) *Node {
	// Re-read after every call that walks children: they may grow nodes.
	return &w.nodes[depth]
}

func (w *walker) walk(s *Scanner, depth int) {
	if depth == len(w.nodes) {
		w.nodes = append(w.nodes, Node{})
	}
	w.nodes[depth] = Node{}
	seenType, seenTag, seenAttrs, entered, descend := false, false, false, false, false
	deferred := -1 // where childNodes are when they came before the node's own fields
	enter := func() {
		if !entered {
			entered = true
			descend = w.v.Enter(w.node(depth))
		}
	}
	s.Object(func(k []byte) {
		n := w.node(depth)
		switch string(k) {
		case "type":
			n.Type, _ = batch.Value(s.Value()).Float()
			seenType = true
		case "id":
			n.ID = s.Value()
		case "tagName":
			n.TagName, seenTag = s.Value(), true
		case "attributes":
			n.Attributes, seenAttrs = s.Value(), true
		case "textContent":
			n.TextContent = s.Value()
		case "isStyle":
			n.IsStyle = string(s.Value()) == "true"
		case "childNodes":
			if !entered && seenType && (n.Type != Element && n.Type != Text || seenTag && seenAttrs) {
				enter()
			}
			if entered {
				w.children(s, depth, descend)
				return
			}
			deferred = s.i
			s.Value()
		}
	})
	enter()
	if deferred >= 0 {
		c := Scanner{b: s.b, i: deferred}
		w.children(&c, depth, descend)
	}
	w.v.Leave(w.node(depth))
}

// children walks a childNodes array (skips it when descend is false).
func (w *walker) children(s *Scanner, depth int, descend bool) {
	if !descend {
		s.Value()
		return
	}
	s.Array(func() { w.walk(s, depth+1) })
}

// WalkNode walks the "node" member of an object at the cursor (a full
// snapshot's data), skipping the rest.
func WalkNode(s *Scanner, v Visitor) {
	s.Object(func(k []byte) {
		if string(k) == "node" && s.Peek() == '{' {
			Walk(s, v)
		}
	})
}
