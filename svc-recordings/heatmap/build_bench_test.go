package heatmap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// monthOfClicks is Sums like a month of bench-heatmaps' page: clicks over
// 150 elements (Zipf), in every place of their boxes.
func monthOfClicks(seed uint64) Sums {
	r := rand.New(rand.NewPCG(seed, 1))
	z := rand.NewZipf(r, 1.2, 1, 149)
	s := Sums{}
	for range 200_000 {
		e := z.Uint64()
		sel := fmt.Sprintf("body>main>section:nth-of-type(%d)>div.c-card>a.c-link-%d", e/10, e)
		rx, ry := int8(r.IntN(101)), int8(r.IntN(101))
		s.Add(Click, ClickCell(rx, ry, sel), Vec{N: 1, X: int64(r.IntN(1000)), Y: int64(r.IntN(5000)), K: 1, RX: int64(rx), RY: int64(ry)})
	}
	s.Add(Sessions, "", Vec{N: 5000})
	return s
}

// BenchmarkBuildClicks builds a month's click map (GetHeatmap's answer
// from its sums).
func BenchmarkBuildClicks(b *testing.B) {
	s := monthOfClicks(1)
	var cells int
	for b.Loop() {
		cells = len(Build(Click, s, 0).Clicks)
	}
	b.ReportMetric(float64(cells), "cells")
}
