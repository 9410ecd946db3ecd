package summary

import (
	"fmt"
	"strconv"

	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// Heat is stored with every chunk's stats: its moves and scrolls as flat
// integer arrays ("mv": page, x, y, n per move; "sc": page, bottom, doc,
// fold per scroll) rather than objects, which made the stats of a batch
// with pointer movement several times larger (more bytes to write and
// compact on every append). Stats written in the object form ("m", "s")
// still read.
type heatJSON struct {
	Pages   []string `json:"pg,omitempty"`
	Moves   []Move   `json:"m,omitempty"`
	Scrolls []Scroll `json:"s,omitempty"`
	MV      []int32  `json:"mv,omitempty"`
	SC      []int32  `json:"sc,omitempty"`
	Snap    uint8    `json:"sn,omitempty"`
}

// MarshalJSON writes the flat form.
func (h Heat) MarshalJSON() ([]byte, error) {
	return h.appendJSON(make([]byte, 0, 64+len(h.Moves)*16+len(h.Scrolls)*24))
}

// appendJSON appends MarshalJSON's bytes to b.
func (h *Heat) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	open := len(b)
	sep := func() {
		if len(b) > open {
			b = append(b, ',')
		}
	}
	if len(h.Pages) > 0 {
		var err error
		// A pointer: the slice as an interface would be allocated.
		if b, err = storedjson.Append(append(b, `"pg":`...), &h.Pages); err != nil {
			return nil, err
		}
	}
	ints := func(name string, n int, row func(i int) [4]int32) {
		if n == 0 {
			return
		}
		sep()
		b = append(append(append(b, '"'), name...), `":[`...)
		for i := range n {
			for j, x := range row(i) {
				if i > 0 || j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(x), 10)
			}
		}
		b = append(b, ']')
	}
	ints("mv", len(h.Moves), func(i int) [4]int32 {
		m := h.Moves[i]
		return [4]int32{int32(m.Page), m.X, m.Y, m.N}
	})
	ints("sc", len(h.Scrolls), func(i int) [4]int32 {
		s := h.Scrolls[i]
		return [4]int32{int32(s.Page), s.Bottom, s.Doc, s.Fold}
	})
	if h.Snap != 0 {
		sep()
		b = strconv.AppendUint(append(b, `"sn":`...), uint64(h.Snap), 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads either form.
func (h *Heat) UnmarshalJSON(b []byte) error {
	var j heatJSON
	if err := storedjson.Unmarshal(b, &j); err != nil {
		return err
	}
	if len(j.MV)%4 != 0 || len(j.SC)%4 != 0 {
		return fmt.Errorf("summary: heat: flat arrays of %d and %d numbers", len(j.MV), len(j.SC))
	}
	page := func(x int32) (uint8, error) {
		if x < 0 || x > 255 {
			return 0, fmt.Errorf("summary: heat: page index %d", x)
		}
		return uint8(x), nil
	}
	*h = Heat{Pages: j.Pages, Moves: j.Moves, Scrolls: j.Scrolls, Snap: j.Snap}
	for i := 0; i < len(j.MV); i += 4 {
		p, err := page(j.MV[i])
		if err != nil {
			return err
		}
		h.Moves = append(h.Moves, Move{Page: p, X: j.MV[i+1], Y: j.MV[i+2], N: j.MV[i+3]})
	}
	for i := 0; i < len(j.SC); i += 4 {
		p, err := page(j.SC[i])
		if err != nil {
			return err
		}
		h.Scrolls = append(h.Scrolls, Scroll{Page: p, Bottom: j.SC[i+1], Doc: j.SC[i+2], Fold: j.SC[i+3]})
	}
	return nil
}
