// Package loadgen drives ingest's HTTP intake as browsers do, for the
// whole-pipeline benchmarks: tracker batches (an rrweb full snapshot, then
// incremental events; gzip'd like the tracker sends them; new and continuing
// sessions on several sites) posted at a constant offered rate, every answer
// and its latency recorded.
package loadgen

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Site is one site of the instance under load.
type Site struct {
	Key    string // the site key (?k=)
	Origin string // e.g. https://shop1.example.com, one of the site's domains
}

// Batch is one request's worth.
type Batch struct {
	Site    int // index into the sites given to NewBatches
	Session string
	Seq     int
	Body    []byte // gzip'd envelope
	RawLen  int    // envelope bytes before gzip
}

// Envelope is the batch's JSON as ingest reads it (Body inflated).
func (b Batch) Envelope() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b.Body))
	if err != nil {
		return nil, fmt.Errorf("loadgen: inflate batch: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: inflate batch: %w", err)
	}
	return raw, nil
}

// Batches makes the batches of a population of sessions: each site keeps
// Live sessions open; a session sends PerSession batches (seq 0 holds the
// Meta and full snapshot events, the rest incremental events) and then
// ends, a new one taking its place. Safe for concurrent use.
type Batches struct {
	sites      []Site
	perSession int
	variants   [][]variant // [site][seq]
	run        string      // prefix of this generator's ids, so runs never collide

	mu     sync.Mutex
	rnd    *rand.Rand
	live   [][]*session // [site][slot]
	site   int          // next site, round robin
	serial int64
}

type session struct {
	id, visitor, pageView string
	seq                   int
}

// variant is the shared part of every batch of one site and seq: the
// envelope without its per-session fields, deflated up to a sync flush, so
// that a batch costs its generator one small stored block and a CRC update
// instead of compressing the whole body (the driver shares the machine with
// the server it measures).
type variant struct {
	deflated []byte // sync-flushed, not final
	crc      uint32 // of the uncompressed shared part
	rawLen   int
}

// NewBatches builds the shared parts: batches of about size bytes of JSON
// (before gzip), for sessions of perSession batches, live of them open per
// site. seed fixes the generated content and the session order.
func NewBatches(sites []Site, size, perSession, live int, seed uint64) (*Batches, error) {
	if len(sites) == 0 || size < 2048 || size > 4<<20 || perSession < 1 || live < 1 {
		return nil, fmt.Errorf("loadgen: need sites, 2 KiB ≤ size ≤ 4 MiB, perSession ≥ 1, live ≥ 1 (got %d sites, size %d, perSession %d, live %d)",
			len(sites), size, perSession, live)
	}
	b := &Batches{sites: sites, perSession: perSession, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		run: strconv.FormatUint(seed%1e6, 36)}
	base := time.Now().UnixMilli()
	for i, s := range sites {
		var vs []variant
		for seq := range perSession {
			g := &events{rnd: rand.New(rand.NewPCG(seed+uint64(i), uint64(seq))), ts: base + int64(seq)*5000, nextID: 1000 + seq*5000}
			page := s.Origin + "/products?category=" + strconv.Itoa(i)
			raw, err := g.envelope(s.Key, page, seq == 0, size)
			if err != nil {
				return nil, err
			}
			v, err := deflateShared(raw)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
		b.variants = append(b.variants, vs)
		b.live = append(b.live, make([]*session, live))
	}
	return b, nil
}

// Next is the next batch: the next site in turn, one of its live sessions
// at random.
func (b *Batches) Next() Batch {
	b.mu.Lock()
	site := b.site
	b.site = (b.site + 1) % len(b.sites)
	slot := b.rnd.IntN(len(b.live[site]))
	s := b.live[site][slot]
	if s == nil || s.seq == b.perSession {
		b.serial++
		id := fmt.Sprintf("%s_%d_%012d", b.run, site, b.serial)
		s = &session{id: "s_" + id, visitor: "v_" + id, pageView: "p_" + id}
		b.live[site][slot] = s
	}
	seq := s.seq
	s.seq++
	b.mu.Unlock()
	// The per-session fields close the object: key order is free in JSON.
	tail := fmt.Appendf(nil, `"sessionId":%q,"visitorId":%q,"pageViewId":%q,"seq":%d,"clientTime":%d}`,
		s.id, s.visitor, s.pageView, seq, time.Now().UnixMilli())
	v := b.variants[site][seq]
	return Batch{Site: site, Session: s.id, Seq: seq, Body: v.gzip(tail), RawLen: v.rawLen + len(tail)}
}

// Sites is the sites batches are made for.
func (b *Batches) Sites() []Site { return b.sites }

func deflateShared(raw []byte) (variant, error) {
	var buf bytes.Buffer
	// The level browsers' CompressionStream("gzip") uses (zlib's default).
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return variant{}, fmt.Errorf("loadgen: deflate: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return variant{}, fmt.Errorf("loadgen: deflate: %w", err)
	}
	// A sync flush ends on a byte boundary with the stream still open, so
	// the tail can follow as a final stored block.
	if err := w.Flush(); err != nil {
		return variant{}, fmt.Errorf("loadgen: deflate: %w", err)
	}
	return variant{deflated: buf.Bytes(), crc: crc32.ChecksumIEEE(raw), rawLen: len(raw)}, nil
}

// gzip is one gzip member (RFC 1952) holding the shared part then tail.
func (v variant) gzip(tail []byte) []byte {
	out := make([]byte, 0, 10+len(v.deflated)+5+len(tail)+8)
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff) // deflate, no flags, no mtime, OS unknown
	out = append(out, v.deflated...)
	// Final stored block: BFINAL=1, BTYPE=00, then LEN and its complement.
	out = append(out, 1)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(tail)))
	out = binary.LittleEndian.AppendUint16(out, ^uint16(len(tail)))
	out = append(out, tail...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Update(v.crc, crc32.IEEETable, tail))
	return binary.LittleEndian.AppendUint32(out, uint32(v.rawLen+len(tail)))
}

// events writes rrweb events of a product-listing page: pseudo-random
// words, prices and coordinates, so that they gzip about as well as real
// recordings do (4–8×), not as a repeated template would.
type events struct {
	rnd    *rand.Rand
	ts     int64
	nextID int
}

var words = strings.Fields(`the a of and to in for on with your our new sale free shipping
	cart checkout account sign in search menu product products price size colour colours black white
	blue red green grey navy cotton linen wool leather organic classic slim relaxed fit jacket shirt
	dress trousers shoes boots sneakers bag wallet watch scarf hat sold out only left in stock add to
	wishlist reviews rating stars delivery returns days warranty details description material care
	machine wash recommended similar items customers also bought compare filter sort by popularity
	newest lowest highest discount code apply subscribe newsletter privacy terms cookies help contact`)

func (g *events) text(n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if g.rnd.IntN(8) == 0 {
			fmt.Fprintf(&sb, "%d.%02d", g.rnd.IntN(500), g.rnd.IntN(100))
			continue
		}
		sb.WriteString(words[g.rnd.IntN(len(words))])
	}
	return sb.String()
}

func (g *events) id() int { g.nextID++; return g.nextID }

// node is a JSON object whose fields are written in the order given, as
// rrweb's are (JSON.stringify keeps insertion order): a mutation's
// "source" first and its "adds" last, a DOM node's "id" after its
// children. A Go map would sort the keys, putting "adds" before "source",
// which no recorder writes and which defeats the one-pass reads of
// recordings and asset capture: the bench would charge every batch for a
// field order real batches do not have.
type node []field

type field struct {
	k string
	v any
}

// MarshalJSON writes the fields in order.
func (n node) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range n {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(f.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// set replaces the value of field k.
func (n node) set(k string, v any) {
	for i := range n {
		if n[i].k == k {
			n[i].v = v
			return
		}
	}
	panic("loadgen: no field " + k)
}

// element is rrweb's serialized element: type, tagName, attributes,
// childNodes, then id.
func (g *events) element(tag string, attrs map[string]string, children ...node) node {
	if children == nil {
		children = []node{}
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	return node{{"type", 2}, {"tagName", tag}, {"attributes", attrs}, {"childNodes", children}, {"id", g.id()}}
}

func (g *events) textNode(s string) node {
	return node{{"type", 3}, {"textContent", s}, {"id", g.id()}}
}

func (g *events) card() node {
	// A catalogue of 500 products a site: the images repeat across
	// sessions as a real site's do (recordings captures each once).
	sku := fmt.Sprintf("sku-%04d", g.rnd.IntN(500))
	return g.element("div", map[string]string{"class": "product-card", "data-sku": sku},
		g.element("img", map[string]string{"src": "/img/" + sku + ".jpg", "alt": g.text(3), "width": "240", "height": "320"}),
		g.element("h2", map[string]string{"class": "product-title"}, g.textNode(g.text(4))),
		g.element("p", map[string]string{"class": "product-description"}, g.textNode(g.text(12+g.rnd.IntN(20)))),
		g.element("span", map[string]string{"class": "price"}, g.textNode(fmt.Sprintf("€%d.%02d", g.rnd.IntN(300), g.rnd.IntN(100)))),
		g.element("button", map[string]string{"class": "btn add-to-cart", "type": "button"}, g.textNode("Add to cart")))
}

// incremental is the next incremental event: mouse moves, clicks,
// scrolls, inputs and DOM mutations in about the mix a browsing visitor
// makes, each with rrweb's field order; a click comes with the tracker's
// sl:click after it.
func (g *events) incremental() []node {
	g.ts += int64(20 + g.rnd.IntN(120))
	var data node
	switch r := g.rnd.IntN(20); {
	case r < 10:
		pos := make([]node, 1+g.rnd.IntN(8))
		for i := range pos {
			pos[i] = node{{"x", g.rnd.IntN(1280)}, {"y", g.rnd.IntN(720)}, {"id", 1000 + g.rnd.IntN(400)}, {"timeOffset", -g.rnd.IntN(500)}}
		}
		data = node{{"source", 1}, {"positions", pos}}
	case r < 13:
		data = node{{"source", 3}, {"id", 1}, {"x", 0}, {"y", g.rnd.IntN(6000)}}
	case r < 15:
		id := 1000 + g.rnd.IntN(400)
		data = node{{"source", 2}, {"type", 2}, {"id", id}, {"x", g.rnd.IntN(1280)}, {"y", g.rnd.IntN(720)}}
		click := node{{"type", 3}, {"data", data}, {"timestamp", g.ts}}
		return []node{click, g.slClick(id)}
	case r < 16:
		id := 1000 + g.rnd.IntN(400)
		data = node{{"source", 5}, {"text", strings.Repeat("*", 1+g.rnd.IntN(12))}, {"isChecked", false}, {"id", id}}
	default:
		parent := 1000 + g.rnd.IntN(400)
		data = node{{"source", 0}, {"texts", []node{{{"id", 1000 + g.rnd.IntN(400)}, {"value", g.text(3 + g.rnd.IntN(6))}}}},
			{"attributes", []node{{{"id", 1000 + g.rnd.IntN(400)}, {"attributes", map[string]string{"class": "product-card is-" + words[g.rnd.IntN(len(words))]}}}}},
			{"removes", []node{}},
			{"adds", []node{{{"parentId", parent}, {"nextId", nil}, {"node", g.card()}}}}}
	}
	return []node{{{"type", 3}, {"data", data}, {"timestamp", g.ts}}}
}

// slClick is the tracker's sl:click after rrweb's click on node id: the
// element's selector path (a product card's button, as heat.ts writes
// it) and where in its box the pointer was, sent a task later.
func (g *events) slClick(id int) node {
	g.ts++
	sel := fmt.Sprintf("html>body>main>div:nth-of-type(%d)>button", 1+id%48)
	return node{{"type", 5}, {"data", node{{"tag", "sl:click"}, {"payload", node{
		{"id", id}, {"s", sel}, {"rx", g.rnd.IntN(101)}, {"ry", g.rnd.IntN(101)}}}}}, {"timestamp", g.ts}}
}

// envelope is the shared part of a batch of about size bytes: a JSON
// object left open after "events":[...], for the per-session fields.
func (g *events) envelope(key, page string, first bool, size int) ([]byte, error) {
	room := size - 400 // the envelope's other fields and the tail
	// The tracker opens every batch with sl:view (heatmaps place the
	// batch's pointer positions and scrolls with it); the document is
	// unknown (-1) in a batch that starts with a new snapshot.
	doc := 1
	if first {
		doc = -1
	}
	evs := []node{{{"type", 5}, {"data", node{{"tag", "sl:view"}, {"payload", node{
		{"x", 0}, {"y", g.rnd.IntN(6000)}, {"w", 1280}, {"h", 6720}, {"v", 720}, {"d", doc}}}}}, {"timestamp", g.ts}}}
	if first {
		evs = append(evs, node{{"type", 4}, {"data", node{{"href", page}, {"width", 1280}, {"height", 720}}}, {"timestamp", g.ts}})
		// The snapshot takes about three quarters of a first batch, the
		// events right after it the rest.
		cards := []node{}
		body := g.element("body", map[string]string{"class": "page-products"})
		for est := 0; est < room*3/4; {
			c := g.card()
			b, err := json.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("loadgen: snapshot: %w", err)
			}
			est += len(b) + 1
			cards = append(cards, c)
		}
		body.set("childNodes", []node{
			g.element("header", map[string]string{"class": "site-header"}, g.element("nav", nil, g.textNode(g.text(10)))),
			g.element("main", map[string]string{"class": "grid"}, cards...),
		})
		html := g.element("html", map[string]string{"lang": "en"},
			g.element("head", nil, g.element("title", nil, g.textNode("Products - "+g.text(2))),
				g.element("link", map[string]string{"rel": "stylesheet", "href": "/assets/app.3e8f1a.css"})), body)
		doc := node{{"type", 0}, {"childNodes", []node{
			{{"type", 1}, {"name", "html"}, {"publicId", ""}, {"systemId", ""}, {"id", 2}}, html}}, {"id", 1}}
		evs = append(evs, node{{"type", 2}, {"data", node{{"node", doc}, {"initialOffset", node{{"left", 0}, {"top", 0}}}}}, {"timestamp", g.ts}})
	}
	n := 0
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("loadgen: event: %w", err)
		}
		n += len(b) + 1
	}
	for n < room {
		for _, e := range g.incremental() {
			b, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("loadgen: event: %w", err)
			}
			n += len(b) + 1
			evs = append(evs, e)
		}
	}
	head, err := json.Marshal(node{{"v", 1}, {"siteKey", key}, {"truncated", false},
		{"page", node{{"url", page}, {"referrer", "https://www.google.com/"}, {"viewport", node{{"w", 1280}, {"h", 720}}}}}})
	if err != nil {
		return nil, fmt.Errorf("loadgen: envelope: %w", err)
	}
	list, err := json.Marshal(evs)
	if err != nil {
		return nil, fmt.Errorf("loadgen: events: %w", err)
	}
	out := append(head[:len(head)-1], `,"events":`...)
	out = append(out, list...)
	return append(out, ','), nil
}
