package summary

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/batch"
)

// sameKinds runs the events through the walk and the encoding/json
// reference side by side and fails at the first event after which they
// know different node kinds.
func sameKinds(t *testing.T, name string, events []byte) (editable int) {
	t.Helper()
	got, want := newNodeKinds(), newNodeKinds()
	it := batch.NewEvents(events)
	for n := 0; it.Next(); n++ {
		e := it.Event()
		switch {
		case e.Type == typeFullSnapshot:
			node := e.Data.Get("node")
			got.snapshot(node)
			want.refSnapshot(node)
		case e.Type == typeIncremental && e.Data.Get("source").Kind() == batch.Number:
			if src, _ := e.Data.Get("source").Float(); src == srcMutation {
				got.mutation(e.Data)
				want.refMutation(e.Data)
			}
		default:
			continue
		}
		if !slices.Equal(got.added, want.added) || got.reset != want.reset || !maps.Equal(got.set, want.set) ||
			!slices.Equal(slices.Sorted(maps.Keys(got.htmlIDs)), slices.Sorted(maps.Keys(want.htmlIDs))) {
			t.Fatalf("%s, event %d: walk added %v (reset %v, html ids %v), encoding/json %v (reset %v, html ids %v)\n%s",
				name, n, got.added, got.reset, slices.Sorted(maps.Keys(got.htmlIDs)), want.added, want.reset, slices.Sorted(maps.Keys(want.htmlIDs)), e.Data)
		}
	}
	return len(got.added)
}

// TestNodeKindsMatchReference: on the recorded pages (real Chromium,
// forms, labels and contenteditable included) the walk finds the fields
// the encoding/json reference did, in the same order.
func TestNodeKindsMatchReference(t *testing.T) {
	editable := 0
	for i, c := range loadRecording(t) {
		editable += sameKinds(t, fmt.Sprintf("chunk %d", i), c.Events)
	}
	if editable == 0 {
		t.Fatal("no editable node in the recording: the comparison says little")
	}
}

// FuzzNodeKinds: trees the fuzzer shapes (tags, attributes, nesting, the
// order rrweb's fields come in, mutations adding under fields) read the
// same with the walk as with the reference.
func FuzzNodeKinds(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		sameKinds(t, fmt.Sprint(a, b), genKindsEvents(rand.New(rand.NewPCG(a, b))))
	})
}

// TestNodeKindsRandomTrees is FuzzNodeKinds over many seeds in every run.
func TestNodeKindsRandomTrees(t *testing.T) {
	editable := 0
	for seed := range uint64(400) {
		editable += sameKinds(t, fmt.Sprint("seed ", seed), genKindsEvents(rand.New(rand.NewPCG(seed, 1))))
	}
	if editable == 0 {
		t.Fatal("the generator made no editable node")
	}
}

// genKindsEvents is a full snapshot and a few mutations of random trees
// of form controls, labels, contenteditable regions and plain elements.
func genKindsEvents(r *rand.Rand) []byte {
	id := 0
	var node func(depth int) string
	node = func(depth int) string {
		id++
		my := id
		if r.IntN(8) == 0 {
			return fmt.Sprintf(`{"type":3,"textContent":"t%d","id":%d}`, my, my)
		}
		tags := []string{"div", "input", "INPUT", "textarea", "select", "label", "span", "button", "p"}
		tag := tags[r.IntN(len(tags))]
		var attrs []string
		if r.IntN(2) == 0 {
			types := []string{`"text"`, `"button"`, `"Submit"`, `" hidden "`, `"email"`, `7`, `null`}
			attrs = append(attrs, `"type":`+types[r.IntN(len(types))])
		}
		if r.IntN(5) == 0 {
			ces := []string{`""`, `"true"`, `"false"`, `" FALSE "`, `true`, `false`, `null`, `"plaintext-only"`}
			attrs = append(attrs, `"contenteditable":`+ces[r.IntN(len(ces))])
		}
		if r.IntN(3) == 0 {
			attrs = append(attrs, fmt.Sprintf(`"id":"f%d"`, r.IntN(6)))
		}
		if r.IntN(3) == 0 {
			attrs = append(attrs, fmt.Sprintf(`"for":"f%d"`, r.IntN(6)))
		}
		if r.IntN(4) == 0 {
			attrs = append(attrs, `"class":"c\"x"`)
		}
		var kids []string
		if depth < 5 {
			for range r.IntN(4) {
				kids = append(kids, node(depth+1))
			}
		}
		fields := []string{`"type":2`, fmt.Sprintf(`"tagName":%q`, tag), `"attributes":{` + strings.Join(attrs, ",") + `}`}
		children := `"childNodes":[` + strings.Join(kids, ",") + `]`
		// rrweb's order (type, tagName, attributes, childNodes, id), or
		// the children first, or the id first.
		switch r.IntN(4) {
		case 0:
			fields = append([]string{children}, fields...)
			fields = append(fields, fmt.Sprintf(`"id":%d`, my))
		case 1:
			fields = append([]string{fmt.Sprintf(`"id":%d`, my)}, append(fields, children)...)
		default:
			fields = append(fields, children, fmt.Sprintf(`"id":%d`, my))
		}
		return "{" + strings.Join(fields, ",") + "}"
	}
	events := []string{fmt.Sprintf(`{"type":2,"timestamp":1,"data":{"node":{"type":0,"childNodes":[%s],"id":%d},"initialOffset":{"top":0,"left":0}}}`, node(0), 0)}
	for m := range r.IntN(4) {
		var adds []string
		for range r.IntN(3) + 1 {
			parent := r.IntN(id + 1)
			n := node(2)
			if r.IntN(3) == 0 {
				adds = append(adds, fmt.Sprintf(`{"node":%s,"parentId":%d,"nextId":null}`, n, parent))
			} else {
				adds = append(adds, fmt.Sprintf(`{"parentId":%d,"nextId":null,"node":%s}`, parent, n))
			}
		}
		var attrs []string
		if r.IntN(2) == 0 {
			attrs = append(attrs, fmt.Sprintf(`{"id":%d,"attributes":{"contenteditable":"true"}}`, r.IntN(id+1)))
		}
		events = append(events, fmt.Sprintf(`{"type":3,"timestamp":%d,"data":{"source":0,"texts":[],"attributes":[%s],"removes":[],"adds":[%s]}}`,
			m+2, strings.Join(attrs, ","), strings.Join(adds, ",")))
	}
	return []byte("[" + strings.Join(events, ",") + "]")
}
