package batch

import (
	"strings"
	"testing"
)

// pageNoStrings is a page object whose values need no Go string: what is
// left to allocate is the walk itself.
const pageNoStrings = `{ "url" : null, "referrer":null,"viewport":{"w":1280, "h":720,"dpr":2},"x":[1,{"y":true}],"z":{}}`

// TestMemberAllocatesNothing: walking objects — the envelope's page and
// its viewport, and a plain walk of nested members — allocates nothing.
func TestMemberAllocatesNothing(t *testing.T) {
	var e Envelope
	allocs := testing.AllocsPerRun(1000, func() {
		d := decoder{b: []byte(pageNoStrings)}
		e = Envelope{}
		if err := d.page(&e); err != nil || d.i != len(d.b) {
			t.Fatalf("page: %v at %d", err, d.i)
		}
	})
	if allocs != 0 {
		t.Errorf("page: %v allocations per call, want 0", allocs)
	}
	if e.ViewportW != 1280 || e.ViewportH != 720 {
		t.Fatalf("viewport %dx%d, want 1280x720", e.ViewportW, e.ViewportH)
	}

	want := [...]string{"url", "referrer", "viewport", "x", "z"}
	in := []byte(pageNoStrings)
	var n int
	var wrong bool
	allocs = testing.AllocsPerRun(1000, func() {
		d := decoder{b: in}
		n = 0
		o := members{name: "page"}
		for key, ok := d.member(&o); ok; key, ok = d.member(&o) {
			wrong = wrong || n >= len(want) || string(key) != want[n]
			n++
			if d.skip(1) != nil {
				wrong = true
			}
		}
		wrong = wrong || o.err != nil || d.i != len(in)
	})
	if wrong || n != len(want) {
		t.Fatalf("walked %d members (wrong: %v), want %q", n, wrong, want)
	}
	if allocs != 0 {
		t.Errorf("member: %v allocations per walk, want 0", allocs)
	}
}

// TestMemberRefusals: a malformed object is refused with a message naming
// the object, wherever it sits.
func TestMemberRefusals(t *testing.T) {
	head := `{"v":1,"siteKey":"k_a","sessionId":"s_abcdefgh","visitorId":"v_abcdefgh","pageViewId":"p_abcdefgh","seq":0,`
	events := `"events":[{"type":4,"timestamp":0}]`
	for _, c := range []struct{ name, body, want string }{
		{"envelope trailing comma", head + events + `,}`, "expected a key in envelope"},
		{"envelope key not a string", head + `seq:1,` + events + `}`, "expected a key in envelope"},
		{"envelope missing colon", head + `"seq" 1,` + events + `}`, "expected ':' in envelope"},
		{"envelope missing comma", head + `"truncated":true ` + events + `}`, "expected ',' or '}' in envelope"},
		{"envelope unterminated", head + events, "expected ',' or '}' in envelope"},
		{"empty envelope", `{ }`, "empty envelope"},
		{"not an object", `[]`, "body is not a JSON object"},
		{"page not an object", head + `"page":[],` + events + `}`, "page must be an object"},
		{"page missing colon", head + `"page":{"url" "x"},` + events + `}`, "expected ':' in page"},
		{"viewport not an object", head + `"page":{"viewport":7},` + events + `}`, "page.viewport must be an object"},
		{"viewport missing comma", head + `"page":{"viewport":{"w":1 "h":2}},` + events + `}`, "expected ',' or '}' in page.viewport"},
		{"event trailing comma", head + `"events":[{"type":4,"timestamp":0,}]}`, "expected a key in events[]"},
		{"event not an object", head + `"events":[{"type":4,"timestamp":0},[]]}`, "events[1] must be an object"},
		{"unknown key escaped badly", head + `"\q":1,` + events + `}`, "invalid escape"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body), 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode(%s): %v, want %q", c.body, err, c.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%T, want *Error", err)
			}
		})
	}
	// The same walk reads an answer's objects.
	if _, err := DecodeAnswer([]byte(`{"v":1,"page":{"url":"x",}}`)); err == nil || !strings.Contains(err.Error(), "expected a key in page") {
		t.Fatalf("answer: %v", err)
	}
}

// BenchmarkMember walks a page object with its viewport, as Decode does.
func BenchmarkMember(b *testing.B) {
	in := []byte(pageNoStrings)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var e Envelope
	for b.Loop() {
		d := decoder{b: in}
		if err := d.page(&e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSkipAllocatesNothing: skip checks every byte of the events' data,
// escaped keys included, without allocating (its walks leave keys unread).
func TestSkipAllocatesNothing(t *testing.T) {
	in := []byte(`{"\u0061":[1,{"b\n":[true,null,"x\"y"]},[]],"c":{},"d":-1.5e3}`)
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		d := decoder{b: in}
		if err = d.skip(1); err == nil && d.i != len(in) {
			err = errf("stopped at %d", d.i)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("skip: %v allocations per call, want 0", allocs)
	}
}

// TestSkipStringFaults: each way a string is refused has its message and
// offset, and skipFast's stringEnd refuses the same strings.
func TestSkipStringFaults(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		{`"plain"`, ""},
		{`"a\"b\\c\/\u00e9\n"`, ""},
		{"\"caf\xc3\xa9 long enough for eight\"", ""},
		{`"abc`, "unterminated string"},
		{`"abc\`, "unterminated string"},
		{`"ab\u12`, "unterminated string"},
		{`"0123456789\u12x4"`, `invalid \u escape at offset 11`},
		{`"ab\q"`, "invalid escape at offset 3"},
		{"\"0123456789\x01\"", "control character in string at offset 11"},
		{"\"0123456789\xff\"", "string at offset 11 is not valid UTF-8"},
	} {
		d := decoder{b: []byte(c.in)}
		_, err := d.skipString()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.msg) || (c.msg == "") != (err == nil) {
			t.Errorf("skipString(%q) = %v, want %q", c.in, err, c.msg)
		}
		end := stringEnd([]byte(c.in), 1)
		if (end < 0) != (err != nil) || (err == nil && end != len(c.in)) {
			t.Errorf("stringEnd(%q) = %d, skipString's error %v", c.in, end, err)
		}
	}
}
