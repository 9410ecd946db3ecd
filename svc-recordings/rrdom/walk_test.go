package rrdom

import (
	"fmt"
	"strings"
	"testing"
)

// trace records a walk: "+tag" at Enter (with the id known then), "-id"
// at Leave; Enter answers false for tags named in skip.
type trace struct {
	out  []string
	skip string
}

func (tr *trace) Enter(n *Node) bool {
	id, _ := n.ID.Float()
	tr.out = append(tr.out, fmt.Sprintf("+%s%s/%v", n.TagName.Str(), n.TextContent.Str(), id))
	return tr.skip == "" || n.TagName.Str() != tr.skip
}

func (tr *trace) Leave(n *Node) {
	id, _ := n.ID.Float()
	tr.out = append(tr.out, fmt.Sprintf("-%v", id))
}

func TestWalkOrder(t *testing.T) {
	for _, c := range []struct{ name, in, skip, want string }{
		{"rrweb's order: children read where they are, the id after them (a node without children enters at its end)",
			`{"type":2,"tagName":"div","attributes":{},"childNodes":[{"type":3,"textContent":"a","id":2},{"type":2,"tagName":"b","attributes":{"x":"}"},"childNodes":[],"id":3}],"id":1}`, "",
			"+div/0 +a/2 -2 +b/0 -3 -1"},
		{"children before the node's own fields: read after them",
			`{"childNodes":[{"type":3,"id":2,"textContent":"a"}],"id":1,"type":2,"tagName":"div","attributes":{}}`, "",
			"+div/1 +a/2 -2 -1"},
		{"an element without attributes enters at its end",
			`{"type":2,"tagName":"p","childNodes":[{"type":3,"textContent":"t","id":5}],"id":4}`, "",
			"+p/4 +t/5 -5 -4"},
		{"Enter false skips the subtree",
			`{"type":2,"tagName":"div","attributes":{},"childNodes":[{"type":2,"tagName":"skip","attributes":{},"childNodes":[{"type":3,"textContent":"x","id":9}],"id":8},{"type":3,"textContent":"y","id":10}],"id":7}`, "skip",
			"+div/0 +skip/0 -8 +y/10 -10 -7"},
		{"children that are no objects, and no array",
			`{"type":2,"tagName":"div","attributes":{},"childNodes":[null,5,"s",[1]],"id":1}`, "",
			"+div/0 +/0 -0 +/0 -0 +/0 -0 +/0 -0 -1"},
		{"childNodes not an array", `{"type":0,"childNodes":{"type":2},"id":1}`, "", "+/0 -1"},
	} {
		tr := &trace{skip: c.skip}
		s := New([]byte(c.in))
		Walk(s, tr)
		if got := strings.Join(tr.out, " "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if s.i != len(c.in) {
			t.Errorf("%s: the walk stopped at %d of %d", c.name, s.i, len(c.in))
		}
	}
}

// FuzzWalk: any bytes (not only what the batch contract accepts) end the
// walk without a panic, every Enter matched by a Leave.
func FuzzWalk(f *testing.F) {
	f.Add([]byte(`{"type":2,"tagName":"div","attributes":{},"childNodes":[{"type":3,"textContent":"a","id":2}],"id":1}`))
	f.Add([]byte(`{"childNodes":[{"childNodes":[{"x":"\"}"}]}],"type":2}`))
	f.Add([]byte(`{"childNodes":[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &counter{}
		Walk(New(b), c)
		WalkNode(New(b), c)
		if c.depth != 0 {
			t.Fatalf("%d Enter without Leave", c.depth)
		}
	})
}

type counter struct{ depth int }

func (c *counter) Enter(*Node) bool { c.depth++; return true }
func (c *counter) Leave(*Node)      { c.depth-- }
