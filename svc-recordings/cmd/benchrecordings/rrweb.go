package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Synthetic rrweb sessions shaped like what @rrweb/record emits for a
// content/shop page: a full snapshot (inlined CSS, ~1500 nodes) per page
// load, mouse-move batches every 500 ms while the visitor moves, scrolls,
// DOM mutations (text, attributes, added/removed nodes), inputs and clicks.
// Used until captured real-browser batches exist in svc-ingest/testdata.

type ev = map[string]any

var words = strings.Fields(`the quick brown fox jumps over lazy dog pricing plans features
customers support checkout cart product shipping returns account sign login newsletter
team enterprise monthly yearly discount free trial start now learn more about contact`)

type domGen struct {
	r  *rand.Rand
	id int
}

func (g *domGen) text(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[g.r.IntN(len(words))])
	}
	return b.String()
}

func (g *domGen) node(depth int) ev {
	g.id++
	tags := []string{"div", "div", "div", "span", "a", "p", "li", "ul", "section", "button", "img", "h2"}
	tag := tags[g.r.IntN(len(tags))]
	n := ev{"type": 2, "tagName": tag, "id": g.id, "attributes": ev{
		"class": fmt.Sprintf("c-%s %s-%d u-%d", tag, words[g.r.IntN(len(words))], g.r.IntN(40), g.r.IntN(12)),
	}}
	if tag == "a" {
		n["attributes"].(ev)["href"] = "/" + words[g.r.IntN(len(words))] + "/" + words[g.r.IntN(len(words))]
	}
	if tag == "img" {
		n["attributes"].(ev)["src"] = fmt.Sprintf("https://cdn.shop.example/img/%x.webp", g.r.Uint64())
		n["childNodes"] = []any{}
		return n
	}
	var kids []any
	if depth < 6 {
		for range g.r.IntN(5) + 1 {
			kids = append(kids, g.node(depth+1))
		}
	}
	if g.r.IntN(3) == 0 || len(kids) == 0 {
		g.id++
		kids = append(kids, ev{"type": 3, "textContent": g.text(g.r.IntN(12) + 1), "id": g.id})
	}
	n["childNodes"] = kids
	return n
}

func (g *domGen) css() string {
	var b strings.Builder
	for i := range 600 {
		fmt.Fprintf(&b, ".c-%s.%s-%d{margin:%dpx %dpx;padding:%dpx;color:#%06x;display:flex;font:14px/1.4 system-ui}",
			words[i%len(words)], words[(i*7)%len(words)], i%40, g.r.IntN(32), g.r.IntN(32), g.r.IntN(16), g.r.IntN(1<<24))
	}
	return b.String()
}

func (g *domGen) snapshot(ts int64) ev {
	g.id = 4
	var body []any
	for len(body) < 40 && g.id < 1500 {
		body = append(body, g.node(0))
	}
	html := ev{"type": 2, "tagName": "html", "id": 2, "attributes": ev{"lang": "en"}, "childNodes": []any{
		ev{"type": 2, "tagName": "head", "id": 3, "attributes": ev{}, "childNodes": []any{
			ev{"type": 2, "tagName": "style", "id": 4, "attributes": ev{"_cssText": g.css()}, "childNodes": []any{}},
		}},
		ev{"type": 2, "tagName": "body", "id": 5, "attributes": ev{}, "childNodes": body},
	}}
	return ev{"type": 2, "timestamp": ts, "data": ev{
		"node":          ev{"type": 0, "id": 1, "childNodes": []any{ev{"type": 1, "name": "html", "publicId": "", "systemId": "", "id": 6}, html}},
		"initialOffset": ev{"top": 0, "left": 0},
	}}
}

// syntheticSession returns the events batches (one per chunk, every
// chunkEvery ms) of a session lasting minutes, a new page every 5 minutes.
func syntheticSession(seed uint64, minutes int, chunkEveryMs int64) (batches [][]byte, urls []string) {
	r := rand.New(rand.NewPCG(seed, 99))
	g := &domGen{r: r}
	start := int64(1763890000000)
	end := start + int64(minutes)*60_000
	var cur []ev
	page := ""
	nextChunk := start + chunkEveryMs
	mx, my := 400.0, 300.0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		b, _ := json.Marshal(cur)
		batches = append(batches, b)
		urls = append(urls, page)
		cur = cur[:0]
	}
	active := true
	for t := start; t < end; t += 500 {
		if (t-start)%300_000 == 0 {
			page = fmt.Sprintf("https://shop.example.com/%s/%s?ref=%d", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(100))
			cur = append(cur, ev{"type": 4, "timestamp": t, "data": ev{"href": page, "width": 1440, "height": 900}}, g.snapshot(t+3))
		}
		if r.IntN(20) == 0 {
			active = !active
		}
		if active {
			var pos []any
			for i := range 8 {
				mx = min(max(mx+r.NormFloat64()*25, 0), 1440)
				my = min(max(my+r.NormFloat64()*20, 0), 900)
				pos = append(pos, ev{"x": int(mx), "y": int(my), "id": 5 + r.IntN(1500), "timeOffset": -500 + i*60})
			}
			cur = append(cur, ev{"type": 3, "timestamp": t + 490, "data": ev{"source": 1, "positions": pos}})
			if r.IntN(6) == 0 {
				cur = append(cur, ev{"type": 3, "timestamp": t + 120, "data": ev{"source": 3, "id": 1, "x": 0, "y": r.IntN(4000)}})
			}
			if r.IntN(20) == 0 {
				cur = append(cur,
					ev{"type": 3, "timestamp": t + 200, "data": ev{"source": 2, "type": 1, "id": 5 + r.IntN(1500), "x": int(mx), "y": int(my)}},
					ev{"type": 3, "timestamp": t + 260, "data": ev{"source": 2, "type": 0, "id": 5 + r.IntN(1500), "x": int(mx), "y": int(my)}},
					ev{"type": 3, "timestamp": t + 261, "data": ev{"source": 2, "type": 2, "id": 5 + r.IntN(1500), "x": int(mx), "y": int(my)}})
			}
			if r.IntN(40) == 0 {
				cur = append(cur, ev{"type": 3, "timestamp": t + 300, "data": ev{"source": 5, "text": "*****", "isChecked": false, "id": 5 + r.IntN(1500)}})
			}
		}
		if r.IntN(3) == 0 {
			// Timers, carousels, lazy content: small mutations.
			g.id++
			cur = append(cur, ev{"type": 3, "timestamp": t + 350, "data": ev{"source": 0,
				"texts":      []any{ev{"id": 5 + r.IntN(1500), "value": g.text(3)}},
				"attributes": []any{ev{"id": 5 + r.IntN(1500), "attributes": ev{"class": fmt.Sprintf("c-div is-%s", words[r.IntN(len(words))])}}},
				"removes":    []any{},
				"adds":       []any{ev{"parentId": 5 + r.IntN(1500), "nextId": nil, "node": ev{"type": 2, "tagName": "li", "id": 5000 + g.id, "attributes": ev{"class": "c-li"}, "childNodes": []any{}}}},
			}})
		}
		if t+500 >= nextChunk {
			flush()
			nextChunk += chunkEveryMs
		}
	}
	flush()
	return batches, urls
}
