package heatmap

import (
	"cmp"
	"slices"
	"strings"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// MaxCells is the most cells GetHeatmap answers; MaxElements the most
// elements it ranks.
const (
	MaxCells    = 100_000
	MaxElements = 200
)

// Sums adds up the rows a store reads (many days, pages and devices) per
// kind and cell. Values are pointers so that adding a row to a cell seen
// before is one map lookup (a month of rows is mostly such).
type Sums map[Kind]map[string]*Vec

// Add adds one row.
func (s Sums) Add(kind Kind, cell string, v Vec) {
	m := s[kind]
	if m == nil {
		m = make(map[string]*Vec, 1024)
		s[kind] = m
	}
	if p := m[cell]; p != nil {
		*p = p.Add(v, 1)
		return
	}
	m[cell] = &v
}

// Get answers the sum at (kind, cell).
func (s Sums) Get(kind Kind, cell string) Vec {
	if p := s[kind][cell]; p != nil {
		return *p
	}
	return Vec{}
}

// Reads lists the kinds Build needs the sums of to answer a map of kind:
// the kind, its sessions, and with a click map the rage and dead clicks it
// counts beside its own.
func Reads(kind Kind) []Kind {
	switch kind {
	case Click:
		return []Kind{Click, Sessions, Rage, Dead}
	case Rage:
		return []Kind{Rage, Sessions, Dead}
	case Dead:
		return []Kind{Dead, Sessions, Rage}
	}
	return []Kind{kind, Sessions}
}

// Build renders the answer for kind from sums of the kinds Reads lists;
// maxCells ≤ 0 means MaxCells. Cells with a count ≤ 0 (never in a
// consistent store) are left out.
func Build(kind Kind, s Sums, maxCells int) *recordingsv1.GetHeatmapResponse {
	if maxCells <= 0 || maxCells > MaxCells {
		maxCells = MaxCells
	}
	out := &recordingsv1.GetHeatmapResponse{Sessions: s.Get(Sessions, "").N}
	switch kind {
	case Click, Rage, Dead:
		buildClicks(out, s[kind], maxCells)
		rage, rages := clicksBySelector(s[Rage])
		dead, deads := clicksBySelector(s[Dead])
		out.RageClicks, out.DeadClicks = rages, deads
		if kind == Click {
			for _, e := range out.Elements {
				e.RageClicks, e.DeadClicks = rage[e.Selector], dead[e.Selector]
			}
		}
	case Move:
		for c, v := range s[Move] {
			x, y, ok := ParseMoveCell(c)
			if !ok || v.N <= 0 {
				continue
			}
			out.Total += v.N
			out.Cells = append(out.Cells, &recordingsv1.HeatmapCell{X: x, Y: y, Count: v.N})
		}
		slices.SortFunc(out.Cells, func(a, b *recordingsv1.HeatmapCell) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Y, b.Y), cmp.Compare(a.X, b.X))
		})
		if len(out.Cells) > maxCells {
			out.Cells, out.Truncated = out.Cells[:maxCells], true
		}
	case Scroll:
		out.Scroll = buildScroll(s[Scroll])
		out.Total = out.Scroll.PageViews
	}
	return out
}

// clicksBySelector counts a click map's clicks per element and in all, as
// buildClicks counts them.
func clicksBySelector(cells map[string]*Vec) (map[string]int64, int64) {
	per := map[string]int64{}
	var total int64
	for c, v := range cells {
		if _, _, sel, ok := ParseClickCell(c); ok && v.N > 0 {
			per[sel] += v.N
			total += v.N
		}
	}
	return per, total
}

func buildClicks(out *recordingsv1.GetHeatmapResponse, cells map[string]*Vec, maxCells int) {
	per := map[string]int64{}
	for c, v := range cells {
		rx, ry, sel, ok := ParseClickCell(c)
		if !ok || v.N <= 0 {
			continue
		}
		out.Total += v.N
		per[sel] += v.N
		// The cell's clicks' centroid; a cell holds only clicks inside it.
		cx, cy := int32((v.RX+v.N/2)/v.N), int32((v.RY+v.N/2)/v.N)
		if cx < int32(rx) || cx >= int32(rx)+ClickStep || cy < int32(ry) || cy >= int32(ry)+ClickStep {
			cx, cy = int32(rx), int32(ry) // (never in a consistent store)
		}
		hc := &recordingsv1.HeatmapClick{Selector: sel, Rx: min(cx, 100), Ry: min(cy, 100), Count: v.N}
		if v.K > 0 {
			hc.X, hc.Y, hc.Positioned = int32(v.X/v.K), int32(v.Y/v.K), true
		}
		out.Clicks = append(out.Clicks, hc)
	}
	slices.SortFunc(out.Clicks, clickOrder)
	if len(out.Clicks) > maxCells {
		out.Clicks, out.Truncated = out.Clicks[:maxCells], true
	}
	for sel, n := range per {
		out.Elements = append(out.Elements, &recordingsv1.HeatmapElement{Selector: sel, Count: n, Share: float64(n) / float64(out.Total)})
	}
	slices.SortFunc(out.Elements, func(a, b *recordingsv1.HeatmapElement) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Selector, b.Selector)
	})
	if len(out.Elements) > MaxElements {
		out.Elements = out.Elements[:MaxElements]
	}
}

// clickOrder ranks click cells: most clicks first, then by selector and
// place, so that equal counts come in a stable order. The selectors are
// compared only when the counts are equal (cmp.Or compares them all: in
// BenchmarkBuildClicks' profile the sort was 0.71 s of Build's 1.10 s, its
// string comparisons 0.28 s).
func clickOrder(a, b *recordingsv1.HeatmapClick) int {
	if c := cmp.Compare(b.Count, a.Count); c != 0 {
		return c
	}
	if c := strings.Compare(a.Selector, b.Selector); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Ry, b.Ry), cmp.Compare(a.Rx, b.Rx))
}

func buildScroll(cells map[string]*Vec) *recordingsv1.ScrollMap {
	var at [101]int64
	var views int64
	for c, v := range cells {
		if len(c) != 1 || c[0] > 100 || v.N <= 0 {
			continue
		}
		at[c[0]] += v.N
		views += v.N
	}
	sm := &recordingsv1.ScrollMap{PageViews: views, Reached: make([]float64, 101)}
	if views == 0 {
		return sm
	}
	var deeper int64
	for d := 100; d >= 0; d-- {
		deeper += at[d]
		sm.Reached[d] = float64(deeper) / float64(views)
		if sm.HalfDepth == 0 && 2*deeper >= views {
			sm.HalfDepth = int32(d)
		}
	}
	if f := cells[FoldCell]; f != nil && f.N > 0 {
		sm.AverageFold, sm.AverageHeight = int32(f.X/f.N), int32(f.Y/f.N)
	}
	return sm
}

// Plain copies the sums into plain values (tests compare them).
func (s Sums) Plain() map[Kind]map[string]Vec {
	out := make(map[Kind]map[string]Vec, len(s))
	for k, cells := range s {
		m := make(map[string]Vec, len(cells))
		for c, v := range cells {
			m[c] = *v
		}
		out[k] = m
	}
	return out
}
