package store

import (
	"fmt"
	"testing"

	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// TestChunkSnapshots: the full snapshot's page, then each route's page
// (its last change, newest first), none twice, at most maxRouteSnaps
// routes; nothing with heatmaps off.
func TestChunkSnapshots(t *testing.T) {
	const o = "https://shop.example.com"
	chunk := func(heat *summary.Heat, navs ...summary.Nav) *Chunk {
		return &Chunk{Seq: 4, PageViewID: "p_x", Stats: summary.ChunkStats{
			URL: o + "/p/1?utm=x", ServerMs: 9000, FullSnapshotMs: 100, ViewportW: 800, ViewportH: 600,
			Heat: heat, Navs: navs,
		}}
	}
	type want struct {
		page, url string
		ms        int64
	}
	check := func(what string, got []ChunkSnap, ws ...want) {
		t.Helper()
		if len(got) != len(ws) {
			t.Fatalf("%s: %d snapshots %+v, want %d", what, len(got), got, len(ws))
		}
		for i, w := range ws {
			g := got[i]
			if g.Page != w.page || g.Snap.URL != w.url || g.Snap.FullSnapshotMs != w.ms || g.Snap.SessionID != "s_x" || g.Snap.Seq != 4 || g.Snap.PageViewID != "p_x" || g.Snap.ServerMs != 9000 || g.Snap.ViewportW != 800 {
				t.Errorf("%s: snapshot %d = %+v, want %+v", what, i, g, w)
			}
		}
	}
	full := &summary.Heat{Pages: []string{o + "/p/1", o + "/cart"}, Snap: 1}
	navs := []summary.Nav{{T: 200, URL: o + "/cart?step=1"}, {T: 300, URL: o + "/p/1"}, {T: 400, URL: o + "/cart?step=2"}, {T: 500, URL: "not a url"}, {T: 0, URL: o + "/zero"}}
	check("load and routes", ChunkSnapshots("s_x", chunk(full, navs...)),
		want{o + "/p/1", o + "/p/1?utm=x", 100}, want{o + "/cart", o + "/cart?step=2", 400})
	check("routes only", ChunkSnapshots("s_x", chunk(&summary.Heat{Pages: []string{o + "/cart"}}, navs...)),
		want{o + "/cart", o + "/cart?step=2", 400}, want{o + "/p/1", o + "/p/1", 300})
	check("heatmaps off", ChunkSnapshots("s_x", chunk(nil, navs...)))
	var many []summary.Nav
	for i := range 20 {
		many = append(many, summary.Nav{T: int64(1000 + i), URL: fmt.Sprintf("%s/r/%d", o, i)})
	}
	got := ChunkSnapshots("s_x", chunk(full, many...))
	if len(got) != 1+maxRouteSnaps || got[1].Page != o+"/r/19" || got[maxRouteSnaps].Page != fmt.Sprintf("%s/r/%d", o, 20-maxRouteSnaps) {
		t.Errorf("20 routes: %d snapshots, the newest first: %+v", len(got), got)
	}
}
