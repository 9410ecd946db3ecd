package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 reports type errors as "line N: message" without the key path. To
// name the key, the document is walked once and every key and value node is
// indexed by line; an error is then matched to the node it is about.

type pathNode struct {
	path  string
	key   bool // the node is a mapping key (rather than a value)
	node  *yaml.Node
	depth int
}

type pathIndex struct {
	byLine map[int][]pathNode
}

func indexPaths(root *yaml.Node) *pathIndex {
	idx := &pathIndex{byLine: map[int][]pathNode{}}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth)
			}
			return
		case yaml.AliasNode:
			if n.Alias != nil {
				walk(n.Alias, path, depth)
			}
			return
		}
		if path != "" {
			idx.byLine[n.Line] = append(idx.byLine[n.Line], pathNode{path: path, node: n, depth: depth})
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinPath(path, k.Value)
				idx.byLine[k.Line] = append(idx.byLine[k.Line], pathNode{path: p, key: true, node: k, depth: depth + 1})
				walk(v, p, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, path+"["+strconv.Itoa(i)+"]", depth+1)
			}
		}
	}
	walk(root, "", 0)
	return idx
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

var (
	lineRe     = regexp.MustCompile(`^line (\d+): (.*)$`)
	notFoundRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	dupKeyRe   = regexp.MustCompile(`^mapping key "((?:[^"\\]|\\.)*)" already defined`)
	unmarshRe  = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into ")
	columnRe   = regexp.MustCompile(`^column (\d+): (.*)$`)
)

// describe turns one yaml.v3 type error message into an error naming the
// key path.
func (idx *pathIndex) describe(msg string) error {
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	cands := idx.byLine[line]

	pick := func(match func(pathNode) bool) (string, bool) {
		for _, c := range cands {
			if match(c) {
				return c.path, true
			}
		}
		return "", false
	}

	var (
		path  string
		found bool
		what  = rest
	)
	switch {
	case notFoundRe.MatchString(rest):
		name := notFoundRe.FindStringSubmatch(rest)[1]
		path, found = pick(func(c pathNode) bool { return c.key && c.node.Value == name })
		what = "unknown field"
	case dupKeyRe.MatchString(rest):
		name, _ := strconv.Unquote(`"` + dupKeyRe.FindStringSubmatch(rest)[1] + `"`)
		path, found = pick(func(c pathNode) bool { return c.key && c.node.Value == name })
		what = "duplicate key"
	case unmarshRe.MatchString(rest):
		sm := unmarshRe.FindStringSubmatch(rest)
		tag, val := sm[1], sm[2]
		path, found = pick(func(c pathNode) bool {
			if c.key || c.node.ShortTag() != tag {
				return false
			}
			return c.node.Kind != yaml.ScalarNode || val == "" || strings.HasPrefix(c.node.Value, strings.TrimSuffix(val, "..."))
		})
	case columnRe.MatchString(rest):
		// From typeError: the exact node is known.
		sm := columnRe.FindStringSubmatch(rest)
		col, _ := strconv.Atoi(sm[1])
		what = sm[2]
		path, found = pick(func(c pathNode) bool { return !c.key && c.node.Column == col })
	default:
		// Errors from other custom unmarshalers are about a value node on
		// that line; take the deepest one.
		best := -1
		for _, c := range cands {
			if !c.key && c.depth > best {
				best, path, found = c.depth, c.path, true
			}
		}
	}
	if !found {
		return fmt.Errorf("line %d: %s", line, rest)
	}
	return fmt.Errorf("field %s: %s (line %d)", path, what, line)
}

// typeError reports a bad value from a custom UnmarshalYAML in the form
// yaml.v3 uses for its own errors, so that the key path can be found.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}
