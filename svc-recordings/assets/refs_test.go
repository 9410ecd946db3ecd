package assets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/loadgen"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// corpus is the chunks extraction is checked and measured on: the
// whole-pipeline load's batches (a first batch with a full snapshot of
// product cards, then incremental ones whose mutations add cards with
// images), batches captured from real browsers, and the tests' snapshot.
type corpusChunk struct {
	name, page string
	events     []byte
}

func corpus(t testing.TB) []corpusChunk {
	t.Helper()
	var out []corpusChunk
	sites := []loadgen.Site{{Key: "k1", Origin: "https://shop1.example.com"}, {Key: "k2", Origin: "https://shop2.example.com"}}
	for _, size := range []int{10 << 10, 60 << 10} {
		b, err := loadgen.NewBatches(sites, size, 10, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			bt := b.Next()
			raw, err := bt.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			env, err := batch.Decode(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, corpusChunk{fmt.Sprintf("loadgen %d KB #%d (seq %d)", size>>10, i, bt.Seq), env.URL, env.Events})
		}
	}
	files, _ := filepath.Glob("../../svc-ingest/testdata/*.json")
	files = append(files, "../testdata/chromium-batch.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		env, err := batch.Decode(raw, 0)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, corpusChunk{f, env.URL, env.Events})
	}
	out = append(out, corpusChunk{"snapshotEvents", "https://a.example/", snapshotEvents("https://shop.example.com")})
	return out
}

// TestExtractAgreesWithReference: reading nodes in place finds the same
// references, in the same order, as decoding them with encoding/json did —
// on the load's batches, real browsers' batches and the cases below.
func TestExtractAgreesWithReference(t *testing.T) {
	cases := corpus(t)
	for i, ev := range []string{
		// Upper-case tags and attribute mutations, escaped keys and values,
		// style text under <style>, preload kinds, a buffer font.
		`[{"type":2,"data":{"node":{"type":2,"tagName":"IMG","attributes":{"src":"a\/b.png","srcset":"c.png 1x,  d.png 2x"},"childNodes":[]}},"timestamp":1}]`,
		`[{"type":2,"data":{"node":{"type":2,"tagName":"STYLE","attributes":{},"childNodes":[{"type":3,"textContent":"p{background:url(\"x.png\")} @import 'y.css';"}]}},"timestamp":1}]`,
		`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"Preload","as":"FONT","href":"f.woff2"},"childNodes":[
		  {"type":2,"tagName":"link","attributes":{"rel":"prefetch","as":"image","href":"p.png"}},
		  {"type":2,"tagName":"link","attributes":{"rel":"preload","as":"style","href":"s.css"}},
		  {"type":2,"tagName":"link","attributes":{"href":"inl.css","_cssText":null}},
		  {"type":2,"tagName":"video","attributes":{"poster":"v.jpg","src":"not-an-image.mp4"}},
		  {"type":2,"tagName":"source","attributes":{"srcset":"s1.webp"}},
		  {"type":2,"tagName":"script","attributes":{"src":"app.js"}},
		  {"type":2,"tagName":"div","attributes":{"style":"background:image-set(\"i1.png\" 1x)"}},
		  {"type":3,"textContent":"url(not-style.png)"},
		  {"type":3,"textContent":"url(is-style.png)","isStyle":true}]}},"timestamp":1}]`,
		`[{"type":3,"data":{"source":0,"attributes":[{"id":1,"attributes":{"SRC":"m.png","style":"x:url(n.png)","srcset":"o.png 2x","_cssText":"q{src:url(q.woff)}"}}],"adds":[{"parentId":1,"node":{"type":2,"tagName":"img","attributes":{"src":"added.png"}}}]},"timestamp":1}]`,
		`[{"type":3,"data":{"source":10,"family":"F","fontSource":"https://fonts.example/f.woff2","buffer":false},"timestamp":1},
		  {"type":3,"data":{"source":10,"family":"G","fontSource":"AAEC","buffer":true},"timestamp":1}]`,
		`[{"type":4,"data":{"href":"https://other.example/dir/page"},"timestamp":1},{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"src":"rel.png"}}},"timestamp":2}]`,
		// Attribute names in another case, a font's bare URL, an escape
		// in CSS.
		`[{"type":3,"data":{"source":0,"attributes":[{"id":1,"attributes":{"sRc":"mixed.png","PosTer":"p2.png"}}]},"timestamp":1}]`,
		`[{"type":3,"data":{"source":10,"fontSource":"f.woff2"},"timestamp":1}]`,
		`[{"type":3,"data":{"source":0,"attributes":[{"id":1,"attributes":{"style":"a:\u0075rl(e.png)"}}]},"timestamp":1}]`,
	} {
		cases = append(cases, corpusChunk{fmt.Sprintf("case %d", i), "https://a.example/page/", []byte(ev)})
	}
	// The load writes rrweb's field order (a mutation's source before its
	// adds); the same chunks with every object's keys sorted put adds
	// first, which Extract reads again once it knows the source.
	for _, c := range cases {
		if !strings.HasPrefix(c.name, "loadgen") {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(c.events))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sorted, err := json.Marshal(v) // maps: keys sorted
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(sorted, c.events) {
			t.Fatalf("%s: sorting its keys changed nothing", c.name)
		}
		cases = append(cases, corpusChunk{c.name + ", keys sorted", c.page, sorted})
	}
	found := 0
	for _, c := range cases {
		got, want := Extract(c.events, c.page), extractReference(c.events, c.page)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: refs differ\n got %v\nwant %v", c.name, got, want)
		}
		found += len(got)
		// Recordings feeds Refs from its summary's walk of the events:
		// the same references.
		var fed []Ref
		if r := NewRefs(c.events, c.page); r != nil {
			if _, err := summary.ExtractEach(&recordingsv1.Chunk{Url: c.page, Events: c.events}, 0, 0, true, r.Event); err != nil {
				t.Fatalf("%s: summary: %v", c.name, err)
			}
			fed = r.Refs()
		}
		if !reflect.DeepEqual(fed, got) {
			t.Errorf("%s: refs fed by the summary's walk differ\n got %v\nwant %v", c.name, fed, got)
		}
	}
	if found < 100 {
		t.Fatalf("only %d references in the corpus: the comparison says little", found)
	}
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExtract measures Extract against the encoding/json reference
// on the same chunks in the same run; it reports both per chunk and their
// ratio (thread CPU). load: the whole-pipeline load's batches (a snapshot
// or image-adding mutations in nearly every one); captured: real
// browsers' batches (one snapshot, three of pointer moves and inputs).
func BenchmarkExtract(b *testing.B) {
	all := corpus(b)
	var load, captured []corpusChunk
	for _, c := range all {
		if strings.HasPrefix(c.name, "loadgen") {
			load = append(load, c)
		} else if strings.HasSuffix(c.name, ".json") {
			captured = append(captured, c)
		}
	}
	b.Run("load", func(b *testing.B) { benchExtract(b, load) })
	b.Run("captured", func(b *testing.B) { benchExtract(b, captured) })
}

func benchExtract(b *testing.B, cases []corpusChunk) {
	var raw int
	for _, c := range cases {
		raw += len(c.events)
	}
	// Extract; extract, which walks every chunk (as Extract did before
	// mayRefer); and the encoding/json reference.
	fs := []func([]byte, string) []Ref{Extract, extract, extractReference}
	spent := make([]time.Duration, len(fs))
	// CPU of this thread, not wall time: other processes share the machine.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := range b.N {
		// Rotate which goes first: the machine is shared.
		for k := range fs {
			k = (k + i) % len(fs)
			t := threadCPU()
			for _, c := range cases {
				fs[k](c.events, c.page)
			}
			spent[k] += threadCPU() - t
		}
	}
	n := float64(b.N * len(cases))
	b.ReportMetric(float64(spent[0].Nanoseconds())/n/1e3, "µs/chunk")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n/1e3, "walk-µs/chunk")
	b.ReportMetric(float64(spent[2].Nanoseconds())/n/1e3, "ref-µs/chunk")
	b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "×walk")
	b.ReportMetric(spent[0].Seconds()/spent[2].Seconds(), "×ref")
	b.ReportMetric(float64(raw)/float64(len(cases)), "B/chunk")
}

// TestMayRefer: each way a chunk can reference a resource keeps it (with
// extract finding the reference: the word is needed), and chunks of
// pointer moves, scrolls and text are turned away.
func TestMayRefer(t *testing.T) {
	for _, c := range []struct {
		events string
		want   bool
	}{
		{`[{"type":2,"data":{"node":{"type":2,"tagName":"link","attributes":{"rel":"stylesheet","href":"a.css"}}},"timestamp":1}]`, true},
		{`[{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"src":"a.png"}}},"timestamp":1}]`, true},
		{`[{"type":2,"data":{"node":{"type":2,"tagName":"video","attributes":{"poster":"a.png"}}},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":0,"adds":[],"attributes":[{"id":1,"attributes":{"SRC":"a.png"}}]},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":0,"adds":[],"attributes":[{"id":1,"attributes":{"Poster":"a.png"}}]},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":0,"adds":[],"attributes":[{"id":1,"attributes":{"style":"b:url(a.png)"}}]},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":0,"adds":[{"node":{"type":3,"isStyle":true,"textContent":"@import \"a.css\";"}}]},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":0,"adds":[{"node":{"type":3,"isStyle":true,"textContent":"a{b:image-set(\"a.png\" 1x)}"}}]},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":10,"fontSource":"a.woff"},"timestamp":1}]`, true},
		{`[{"type":2,"data":{"node":{"type":2,"tagName":"img","attributes":{"\u0073rc":"a.png"}}},"timestamp":1}]`, true},
		{`[{"type":3,"data":{"source":1,"positions":[{"x":1,"y":2,"id":3,"timeOffset":0}]},"timestamp":1},{"type":3,"data":{"source":3,"id":1,"x":0,"y":40},"timestamp":2}]`, false},
		{`[{"type":3,"data":{"source":0,"texts":[{"id":4,"value":"Sold out: 2 left"}],"attributes":[{"id":5,"attributes":{"class":"open"}}],"removes":[],"adds":[]},"timestamp":1}]`, false},
		{`[{"type":3,"data":{"source":5,"text":"S","isChecked":false,"id":9},"timestamp":1}]`, false},
	} {
		ev := []byte(c.events)
		if got := mayRefer(ev); got != c.want {
			t.Errorf("mayRefer(%s) = %v, want %v", c.events, got, c.want)
		}
		if refs := extract(ev, "https://a.example/"); c.want != (len(refs) > 0) {
			t.Errorf("extract(%s) found %+v; the case wants references %v", c.events, refs, c.want)
		}
	}
	for _, c := range []struct {
		b, w string
		want bool
	}{
		{"", "src", false}, {"sr", "src", false}, {"src", "src", true}, {"xxSRc", "src", true},
		{"ssssrSrC", "src", true}, {"sSsSr", "src", false}, {"Srx sr", "src", false}, {"posTER", "poster", true},
	} {
		if got := containsFold([]byte(c.b), c.w); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", c.b, c.w, got, c.want)
		}
	}
}
