package summary

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/loadgen"
	"github.com/sightlinehq/sightline/svc-recordings/storedjson"
)

// BenchmarkExtract reduces the batch captured from real Chromium.
func BenchmarkExtract(b *testing.B) {
	raw, err := os.ReadFile("../testdata/chromium-batch.json")
	if err != nil {
		b.Fatal(err)
	}
	var env struct {
		Events json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		b.Fatal(err)
	}
	c := &recordingsv1.Chunk{Events: env.Events, PageViewId: "p_x"}
	b.SetBytes(int64(len(env.Events)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Extract(c, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractLoad reduces what bench-pipeline sends (internal/
// loadgen, 10 KB): sessions of ten batches, the first with a snapshot of
// product cards, the rest pointer moves, scrolls, clicks and mutations
// that add cards. Mutations are most of their bytes, which the Chromium
// batch above has one of: per byte the load cost 1.4-2.0× as much in four
// paired runs of the two.
func BenchmarkExtractLoad(b *testing.B) {
	bs, err := loadgen.NewBatches([]loadgen.Site{{Key: "k1", Origin: "https://shop1.example.com"}}, 10<<10, 10, 1, 3)
	if err != nil {
		b.Fatal(err)
	}
	var chunks []*recordingsv1.Chunk
	var n int64
	for range 50 {
		bt := bs.Next()
		raw, err := bt.Envelope()
		if err != nil {
			b.Fatal(err)
		}
		env, err := batch.Decode(raw, 0)
		if err != nil {
			b.Fatal(err)
		}
		chunks = append(chunks, &recordingsv1.Chunk{Events: env.Events, PageViewId: "p_x", Url: env.URL})
		n += int64(len(env.Events))
	}
	b.SetBytes(n) // every chunk, each iteration
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range chunks {
			if _, err := ExtractEach(c, 1, 0, true, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(chunks))/1e3, "µs/chunk")
}

// BenchmarkExtractFullSnapshot reduces the recorded chunks (testdata/
// frustration.json), full snapshots included: what reading node kinds costs.
func BenchmarkExtractFullSnapshot(b *testing.B) {
	chunks := loadRecording(b)
	var n int64
	for _, c := range chunks {
		n += int64(len(c.Events))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range chunks {
			if _, err := Extract(c, 1, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkExtractHeat reduces a tracker batch carrying what heatmaps read
// (sl:view, ten mousemove events of six positions, scrolls, two clicks
// with their sl:click) with heatmaps on and off, in one run: the
// difference is what reading it costs an append (issue 13 weighs
// aggregation against appending without it).
func BenchmarkExtractHeat(b *testing.B) {
	c := heatBatch()
	for _, mode := range []struct {
		name    string
		extract func(*recordingsv1.Chunk, int64, int64) (ChunkStats, error)
	}{{"heat", Extract}, {"without-heat", ExtractWithoutHeat}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.Events)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := mode.extract(c, 1, 0)
				if err != nil {
					b.Fatal(err)
				}
				if mode.name == "heat" && (st.Heat == nil || len(st.Heat.Moves) == 0 || st.Clicks[1].H.Sel == "") {
					b.Fatalf("no heat read: %+v", st.Heat)
				}
			}
		})
	}
}

// heatBatch is a tracker batch carrying what heatmaps read: sl:view, ten
// mousemove events of six positions, scrolls, two clicks with their
// sl:click.
func heatBatch() *recordingsv1.Chunk {
	type event struct {
		t    int64
		json string
	}
	var evs []event
	add := func(t int64, typ int, data string) {
		evs = append(evs, event{t, fmt.Sprintf(`{"type":%d,"timestamp":%d,"data":%s}`, typ, t, data)})
	}
	ts := int64(1763890000000)
	add(ts, 5, `{"tag":"sl:view","payload":{"x":0,"y":1200,"w":1440,"h":4200,"v":900,"d":1}}`)
	rng := rand.New(rand.NewPCG(1, 2))
	mx, my := 700, 400
	for i := range 10 {
		t := ts + int64(i)*500 + 40
		var pos []string
		for k := range 6 {
			mx = min(max(mx+rng.IntN(61)-30, 0), 1439)
			my = min(max(my+rng.IntN(51)-25, 0), 899)
			pos = append(pos, fmt.Sprintf(`{"x":%d,"y":%d,"id":%d,"timeOffset":%d}`, mx, my, 5+rng.IntN(300), -400+k*80))
		}
		add(t, 3, `{"source":1,"positions":[`+strings.Join(pos, ",")+`]}`)
		if i%4 == 0 {
			add(t+100, 3, fmt.Sprintf(`{"source":3,"id":1,"x":0,"y":%d}`, 1200+i*90))
		}
		if i%3 == 1 {
			add(t+150, 3, `{"source":0,"texts":[{"id":40,"value":"in stock"}],"attributes":[],"removes":[],"adds":[]}`)
		}
	}
	for c := range 2 {
		t := ts + int64(c)*900 + 300
		add(t, 3, fmt.Sprintf(`{"source":2,"type":2,"id":%d,"x":%d,"y":%d}`, 100+c, 300+c*200, 500))
		add(t+1, 5, fmt.Sprintf(`{"tag":"sl:click","payload":{"id":%d,"s":"body>main>section:nth-of-type(2)>div.c-card>a.c-link-%d","rx":48,"ry":55}}`, 100+c, c))
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.t, b.t) })
	var js []string
	for _, e := range evs {
		js = append(js, e.json)
	}
	return &recordingsv1.Chunk{Events: []byte("[" + strings.Join(js, ",") + "]"), PageViewId: "p_x", Url: "https://shop.example.com/product/espresso-machine"}
}

// BenchmarkStatsMarshal encodes the stats of heatBatch and of the recorded
// session as an append stores them: through the struct's encoder with the
// heat's MarshalJSON (what Marshal did before) and with the heat written
// last by its own encoder into a reused buffer (AppendMarshal), in one run.
func BenchmarkStatsMarshal(b *testing.B) {
	st, err := Extract(heatBatch(), 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	stats := []ChunkStats{st}
	for _, c := range loadRecording(b) {
		st, err := Extract(c, 1, 0)
		if err != nil {
			b.Fatal(err)
		}
		stats = append(stats, st)
	}
	b.Run("struct-encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range stats {
				out := stats[i]
				out.Clicks = compactAnchors(&stats[i])
				if _, err := storedjson.Marshal(&out); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("heat-last", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for i := range stats {
				if buf, err = stats[i].AppendMarshal(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
