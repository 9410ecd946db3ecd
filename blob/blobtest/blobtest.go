// Package blobtest is the one conformance suite of blob.Store: every
// backend runs Run against a real instance (files on disk, a real
// S3-compatible server).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/internal/testseed"
)

// Run runs the suite. open returns an empty store for one subtest (for a
// shared server: a fresh bucket); the suite closes it.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Replace", testReplace},
		{"NotFound", testNotFound},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"ListPrefix", testListPrefix},
		{"ListPaging", testListPaging},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"BadKeys", testBadKeys},
		{"BadContentType", testBadContentType},
		{"FailedPutKeepsPrevious", testFailedPut},
		{"SizeMismatch", testSizeMismatch},
		{"ConcurrentKeys", testConcurrentKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"Cancelled", testCancelled},
		{"Model", testModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s blob.Store, key string, data []byte, ct string) {
	t.Helper()
	if err := s.Put(ctxOf(t), key, bytes.NewReader(data), int64(len(data)), ct); err != nil {
		t.Fatalf("Put %q: %v", key, err)
	}
}

// get reads key whole; ok is false for ErrNotFound.
func get(t *testing.T, s blob.Store, key string) (data []byte, info blob.Info, ok bool) {
	t.Helper()
	rc, info, err := s.Get(ctxOf(t), key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, blob.Info{}, false
	}
	if err != nil {
		t.Fatalf("Get %q: %v", key, err)
	}
	defer rc.Close()
	data, err = io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %q: read: %v", key, err)
	}
	return data, info, true
}

func list(t *testing.T, s blob.Store, prefix string) []blob.Info {
	t.Helper()
	var out []blob.Info
	for info, err := range s.List(ctxOf(t), prefix) {
		if err != nil {
			t.Fatalf("List %q: %v", prefix, err)
		}
		out = append(out, info)
	}
	return out
}

func keys(infos []blob.Info) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Key
	}
	return out
}

// wantGone fails unless key holds no object (Stat and Get say ErrNotFound).
func wantGone(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if _, err := s.Stat(ctxOf(t), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat %q: got %v, want ErrNotFound", key, err)
	}
	if rc, _, err := s.Get(ctxOf(t), key); !errors.Is(err, blob.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("Get %q: got %v, want ErrNotFound", key, err)
	}
}

// wantObject fails unless key holds exactly data with content type ct.
func wantObject(t *testing.T, s blob.Store, key string, data []byte, ct string) {
	t.Helper()
	got, info, ok := get(t, s, key)
	if !ok {
		t.Fatalf("Get %q: not found", key)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get %q: %d bytes (sha %x), want %d (sha %x)", key, len(got), sha256.Sum256(got), len(data), sha256.Sum256(data))
	}
	if info.Key != key || info.Size != int64(len(data)) || info.ContentType != ct {
		t.Fatalf("Get %q: info %+v, want key %q size %d type %q", key, info, key, len(data), ct)
	}
	st, err := s.Stat(ctxOf(t), key)
	if err != nil {
		t.Fatalf("Stat %q: %v", key, err)
	}
	if st.Key != key || st.Size != int64(len(data)) || st.ContentType != ct {
		t.Fatalf("Stat %q: %+v, want key %q size %d type %q", key, st, key, len(data), ct)
	}
}

// S3 reports modification times to the second.
const clockSlack = 2 * time.Second

func testRoundTrip(t *testing.T, s blob.Store) {
	before := time.Now()
	data := []byte("body { color: #123456 }\n\x00\xff binary too")
	put(t, s, "site-1/css/main.css", data, "text/css; charset=utf-8")
	after := time.Now()
	wantObject(t, s, "site-1/css/main.css", data, "text/css; charset=utf-8")
	st, _ := s.Stat(ctxOf(t), "site-1/css/main.css")
	if st.ModTime.Before(before.Add(-clockSlack)) || st.ModTime.After(after.Add(clockSlack)) {
		t.Fatalf("ModTime %v not within [%v, %v]", st.ModTime, before, after)
	}
	// An empty content type is stored as the generic one.
	put(t, s, "site-1/font.woff2", []byte("wOF2"), "")
	wantObject(t, s, "site-1/font.woff2", []byte("wOF2"), "application/octet-stream")
	// Unknown size streams too.
	if err := s.Put(ctxOf(t), "site-1/img.png", strings.NewReader("\x89PNG"), -1, "image/png"); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "site-1/img.png", []byte("\x89PNG"), "image/png")
	// Every character ValidKey allows, and the longest key.
	odd := "A-Z_a.z/0-9/..x/x../._-"
	put(t, s, odd, []byte("odd"), "text/plain")
	wantObject(t, s, odd, []byte("odd"), "text/plain")
	long := strings.Repeat("k", 200) + "/" + strings.Repeat("l", 200) + "/" + strings.Repeat("m", blob.MaxKeyLen-402)
	put(t, s, long, []byte("long"), "text/plain")
	wantObject(t, s, long, []byte("long"), "text/plain")
}

func testReplace(t *testing.T, s blob.Store) {
	put(t, s, "a/b", []byte("first, longer version"), "text/plain")
	put(t, s, "a/b", []byte("second"), "text/css")
	wantObject(t, s, "a/b", []byte("second"), "text/css")
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"a/b"}) {
		t.Fatalf("List after replace: %q", got)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	wantGone(t, s, "nothing/here")
	put(t, s, "a/b/c", []byte("x"), "text/plain")
	// Neither a parent "directory" nor a key it is a prefix of is an object.
	for _, k := range []string{"a", "a/b", "a/b/c/d", "a/b/cc"} {
		wantGone(t, s, k)
	}
	// A key and a key below it are independent objects.
	put(t, s, "a/b", []byte("parent"), "text/plain")
	wantObject(t, s, "a/b", []byte("parent"), "text/plain")
	wantObject(t, s, "a/b/c", []byte("x"), "text/plain")
	if err := s.Delete(ctxOf(t), "a/b/c"); err != nil {
		t.Fatal(err)
	}
	wantGone(t, s, "a/b/c")
	wantObject(t, s, "a/b", []byte("parent"), "text/plain")
}

func testDeleteIdempotent(t *testing.T, s blob.Store) {
	put(t, s, "d/x", []byte("x"), "text/plain")
	put(t, s, "d/y", []byte("y"), "text/plain")
	for range 2 {
		if err := s.Delete(ctxOf(t), "d/x"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantGone(t, s, "d/x")
	}
	if err := s.Delete(ctxOf(t), "never/was"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	wantObject(t, s, "d/y", []byte("y"), "text/plain")
	if got := keys(list(t, s, "d/")); !slices.Equal(got, []string{"d/y"}) {
		t.Fatalf("List after delete: %q", got)
	}
	// Writing again after a delete works (a backend may have pruned the
	// now-empty parents).
	if err := s.Delete(ctxOf(t), "d/y"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "d/x", []byte("again"), "text/plain")
	wantObject(t, s, "d/x", []byte("again"), "text/plain")
}

func testListPrefix(t *testing.T, s blob.Store) {
	// Keys chosen so that key order differs from a per-directory walk:
	// '-' and '.' sort before '/', digits and letters after.
	all := []string{
		"a", "a-1", "a.b", "a/b", "a/b-x", "a/b.c", "a/b/c", "a/b/c/d", "a/bc", "a/bc/d", "a0", "ab/c", "b/a", "z",
	}
	shuffled := slices.Clone(all)
	testseed.Rand(t, 11).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, k := range shuffled {
		put(t, s, k, bytes.Repeat([]byte{'x'}, i), "text/plain")
	}
	sizes := map[string]int64{}
	for i, k := range shuffled {
		sizes[k] = int64(i)
	}
	for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "a/bc", "a/b/c/d", "a/b/c/d/", "b", "c", "zz", "a//", "../", "/a", "a/b/c/d/e/f/g"} {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		got := list(t, s, prefix)
		if !slices.Equal(keys(got), want) {
			t.Fatalf("List(%q) = %q, want %q", prefix, keys(got), want)
		}
		for _, in := range got {
			if in.Size != sizes[in.Key] {
				t.Fatalf("List(%q): %s size %d, want %d", prefix, in.Key, in.Size, sizes[in.Key])
			}
			if in.ContentType != "" {
				t.Fatalf("List(%q): %s content type %q, want none", prefix, in.Key, in.ContentType)
			}
			if in.ModTime.IsZero() {
				t.Fatalf("List(%q): %s has no ModTime", prefix, in.Key)
			}
		}
	}
	// Stopping early is allowed and releases the listing.
	n := 0
	for _, err := range s.List(ctxOf(t), "a") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
}

func testListPaging(t *testing.T, s blob.Store) {
	// S3 pages listings at 1,000 keys.
	const n = 2345
	var want []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		k := fmt.Sprintf("p/%02d/%05d", i%7, i)
		want = append(want, k)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.Put(ctxOf(t), k, strings.NewReader(k), int64(len(k)), "text/plain"); err != nil {
				mu.Lock()
				t.Errorf("Put %s: %v", k, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	put(t, s, "q", []byte("outside the prefix"), "text/plain")
	slices.Sort(want)
	got := keys(list(t, s, "p/"))
	if !slices.Equal(got, want) {
		t.Fatalf("List: %d keys, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	got = keys(list(t, s, "p/03/"))
	var want3 []string
	for _, k := range want {
		if strings.HasPrefix(k, "p/03/") {
			want3 = append(want3, k)
		}
	}
	if !slices.Equal(got, want3) {
		t.Fatalf("List(p/03/): %d keys, want %d", len(got), len(want3))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testEmptyObject(t *testing.T, s blob.Store) {
	put(t, s, "empty", nil, "text/plain")
	wantObject(t, s, "empty", []byte{}, "text/plain")
	if err := s.Put(ctxOf(t), "empty2", strings.NewReader(""), -1, "text/plain"); err != nil {
		t.Fatal(err)
	}
	wantObject(t, s, "empty2", []byte{}, "text/plain")
	got := list(t, s, "empty")
	if len(got) != 2 || got[0].Size != 0 || got[1].Size != 0 {
		t.Fatalf("List: %+v", got)
	}
}

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newPattern(seed byte, n int64) *patternReader {
	var s [32]byte
	s[0] = seed
	return &patternReader{rng: rand.NewChaCha8(s), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	n, _ := p.rng.Read(b)
	p.n -= int64(n)
	return n, nil
}

func patternSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	if _, err := io.Copy(h, newPattern(seed, n)); err != nil {
		panic(err)
	}
	return [32]byte(h.Sum(nil))
}

func testLargeObject(t *testing.T, s blob.Store) {
	const size = 8 << 20
	for i, sz := range []int64{size, -1} {
		key := fmt.Sprintf("large/%d", i)
		if err := s.Put(ctxOf(t), key, newPattern(byte(i), size), sz, "font/woff2"); err != nil {
			t.Fatalf("Put size %d: %v", sz, err)
		}
		rc, info, err := s.Get(ctxOf(t), key)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != size || info.Size != size || [32]byte(h.Sum(nil)) != patternSum(byte(i), size) {
			t.Fatalf("Put size %d: read back %d bytes (info %d), digest match %v", sz, n, info.Size, [32]byte(h.Sum(nil)) == patternSum(byte(i), size))
		}
	}
}

// BadKeys are keys ValidKey rejects; every backend must refuse them.
var BadKeys = []string{
	"", "/", "/x", "x/", "a//b", ".", "..", "../x", "a/../b", "a/./b", "a/..", "./a",
	"a b", "a\\b", "a\x00b", "a\nb", "ä", "caf\u00e9/x", "a?b", "a#b", "a%2Fb", "a*", "~a",
	strings.Repeat("x", blob.MaxKeyLen+1),
}

func testBadKeys(t *testing.T, s blob.Store) {
	for _, k := range BadKeys {
		if blob.ValidKey(k) {
			t.Fatalf("ValidKey(%q) = true", k)
		}
		if err := s.Put(ctxOf(t), k, strings.NewReader("x"), 1, "text/plain"); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Put(%q): %v, want ErrBadKey", k, err)
		}
		if rc, _, err := s.Get(ctxOf(t), k); !errors.Is(err, blob.ErrBadKey) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get(%q): %v, want ErrBadKey", k, err)
		}
		if _, err := s.Stat(ctxOf(t), k); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Stat(%q): %v, want ErrBadKey", k, err)
		}
		if err := s.Delete(ctxOf(t), k); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Delete(%q): %v, want ErrBadKey", k, err)
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("bad keys wrote %q", keys(got))
	}
}

func testBadContentType(t *testing.T, s blob.Store) {
	for _, ct := range []string{"text/plain\r\nX-Evil: 1", "text/\x00plain", strings.Repeat("t", 1000), "text/plain; name=\"\u00e9\""} {
		if err := s.Put(ctxOf(t), "ct", strings.NewReader("x"), 1, ct); err == nil {
			t.Errorf("Put with content type %q succeeded", ct)
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("bad content types wrote %q", keys(got))
	}
}

// failingReader yields n bytes of b and then fails.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testFailedPut(t *testing.T, s blob.Store) {
	boom := errors.New("reader broke")
	for _, sz := range []int64{1 << 20, -1} {
		// Nothing there before: nothing after.
		r := &failingReader{r: newPattern(1, 512<<10), err: boom}
		if err := s.Put(ctxOf(t), "fail/new", r, sz, "text/plain"); err == nil {
			t.Fatalf("Put (size %d) with a failing reader succeeded", sz)
		}
		wantGone(t, s, "fail/new")
		// An object there before: the same object after.
		put(t, s, "fail/old", []byte("previous"), "text/css")
		r = &failingReader{r: newPattern(2, 512<<10), err: boom}
		if err := s.Put(ctxOf(t), "fail/old", r, sz, "text/plain"); err == nil {
			t.Fatalf("Put (size %d) with a failing reader succeeded", sz)
		}
		wantObject(t, s, "fail/old", []byte("previous"), "text/css")
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"fail/old"}) {
		t.Fatalf("List: %q", got)
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	for _, tc := range []struct {
		size int64
		data string
	}{{10, "short"}, {3, "longer than three"}, {0, "x"}, {1, ""}, {-2, "x"}} {
		if err := s.Put(ctxOf(t), "size/new", strings.NewReader(tc.data), tc.size, "text/plain"); err == nil {
			t.Errorf("Put of %d bytes with size %d succeeded", len(tc.data), tc.size)
		}
		wantGone(t, s, "size/new")
	}
	put(t, s, "size/old", []byte("kept"), "text/plain")
	if err := s.Put(ctxOf(t), "size/old", strings.NewReader("0123456789"), 5, "text/plain"); err == nil {
		t.Errorf("Put of 10 bytes with size 5 succeeded")
	}
	if err := s.Put(ctxOf(t), "size/old", strings.NewReader("0123"), 5, "text/plain"); err == nil {
		t.Errorf("Put of 4 bytes with size 5 succeeded")
	}
	wantObject(t, s, "size/old", []byte("kept"), "text/plain")
}

func testConcurrentKeys(t *testing.T, s blob.Store) {
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("c/%d/%d", i%4, i)
			data := bytes.Repeat([]byte{byte(i)}, 1000+i*517)
			if err := s.Put(ctxOf(t), k, bytes.NewReader(data), int64(len(data)), "application/x-test"); err != nil {
				t.Errorf("Put %s: %v", k, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range n {
		wantObject(t, s, fmt.Sprintf("c/%d/%d", i%4, i), bytes.Repeat([]byte{byte(i)}, 1000+i*517), "application/x-test")
	}
	if got := list(t, s, "c/"); len(got) != n {
		t.Fatalf("List: %d keys, want %d", len(got), n)
	}
}

// testConcurrentSameKey races writers of whole objects (each a run of one
// byte, its content type naming the byte) with readers: every read must see
// one writer's complete object, and the end state one writer's.
func testConcurrentSameKey(t *testing.T, s blob.Store) {
	const writers, rounds = 8, 6
	ctx := ctxOf(t)
	objOf := func(w int) ([]byte, string) {
		return bytes.Repeat([]byte{byte('a' + w)}, 200<<10+w*1000), fmt.Sprintf("application/x-writer-%d", w)
	}
	check := func(data []byte, ct string) error {
		if len(data) == 0 {
			return fmt.Errorf("empty object")
		}
		w := int(data[0] - 'a')
		want, wantCT := objOf(w)
		if !bytes.Equal(data, want) || ct != wantCT {
			return fmt.Errorf("mixed object: %d bytes starting %q, content type %q", len(data), data[0], ct)
		}
		return nil
	}
	put(t, s, "same", bytes.Repeat([]byte{'a'}, 200<<10), "application/x-writer-0")
	stop := make(chan struct{})
	var readers sync.WaitGroup
	reads := 0
	var readMu sync.Mutex
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, info, err := s.Get(ctx, "same")
				if err != nil {
					t.Errorf("Get during writes: %v", err)
					return
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Errorf("read during writes: %v", err)
					return
				}
				if err := check(data, info.ContentType); err != nil {
					t.Error(err)
					return
				}
				if info.Size != int64(len(data)) {
					t.Errorf("Get: info size %d, read %d", info.Size, len(data))
					return
				}
				readMu.Lock()
				reads++
				readMu.Unlock()
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				data, ct := objOf(w)
				if err := s.Put(ctx, "same", bytes.NewReader(data), int64(len(data)), ct); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	data, info, ok := get(t, s, "same")
	if !ok {
		t.Fatal("object gone after concurrent writes")
	}
	if err := check(data, info.ContentType); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads during %d writes", reads, writers*rounds)
}

func testCancelled(t *testing.T, s blob.Store) {
	put(t, s, "k", []byte("v"), "text/plain")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "cancelled", strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if rc, _, err := s.Get(ctx, "k"); err == nil {
		rc.Close()
		t.Error("Get with a cancelled context succeeded")
	}
	if _, err := s.Stat(ctx, "k"); err == nil {
		t.Error("Stat with a cancelled context succeeded")
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete with a cancelled context succeeded")
	}
	var listErr error
	for _, err := range s.List(ctx, "") {
		if err != nil {
			listErr = err
			break
		}
	}
	if listErr == nil {
		t.Error("List with a cancelled context ended without an error")
	}
	// Cancelled while the reader is being consumed.
	ctx, cancel = context.WithCancel(context.Background())
	r := &cancelAfter{r: newPattern(3, 4<<20), n: 1 << 20, cancel: cancel}
	if err := s.Put(ctx, "cancelled", r, 4<<20, "text/plain"); err == nil {
		t.Error("Put cancelled midway succeeded")
	}
	wantGone(t, s, "cancelled")
	wantObject(t, s, "k", []byte("v"), "text/plain")
}

// cancelAfter cancels its context once n bytes were read, then keeps going.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// testModel runs random operations against the store and a map, and
// compares every answer.
func testModel(t *testing.T, s blob.Store) {
	rng := testseed.Rand(t, 12)
	segs := []string{"a", "b", "a-", "a.", "ab", "0"}
	randKey := func() string {
		parts := make([]string, 1+rng.IntN(3))
		for i := range parts {
			parts[i] = segs[rng.IntN(len(segs))]
		}
		return strings.Join(parts, "/")
	}
	type obj struct {
		data []byte
		ct   string
	}
	model := map[string]obj{}
	ctx := ctxOf(t)
	for i := range 400 {
		switch op := rng.IntN(10); {
		case op < 4:
			k := randKey()
			o := obj{data: make([]byte, rng.IntN(3000)), ct: fmt.Sprintf("application/x-%d", rng.IntN(5))}
			for j := range o.data {
				o.data[j] = byte(rng.Uint32())
			}
			size := int64(len(o.data))
			if rng.IntN(3) == 0 {
				size = -1
			}
			if err := s.Put(ctx, k, bytes.NewReader(o.data), size, o.ct); err != nil {
				t.Fatalf("op %d Put %s: %v", i, k, err)
			}
			model[k] = o
		case op < 6:
			k := randKey()
			if err := s.Delete(ctx, k); err != nil {
				t.Fatalf("op %d Delete %s: %v", i, k, err)
			}
			delete(model, k)
		case op < 8:
			k := randKey()
			want, ok := model[k]
			if !ok {
				wantGone(t, s, k)
				continue
			}
			wantObject(t, s, k, want.data, want.ct)
		default:
			prefix := randKey()
			prefix = prefix[:rng.IntN(len(prefix)+1)]
			var want []string
			for _, k := range slices.Sorted(maps.Keys(model)) {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			got := list(t, s, prefix)
			if !slices.Equal(keys(got), want) {
				t.Fatalf("op %d List(%q) = %q, want %q", i, prefix, keys(got), want)
			}
			for _, in := range got {
				if in.Size != int64(len(model[in.Key].data)) {
					t.Fatalf("op %d List(%q): %s size %d, want %d", i, prefix, in.Key, in.Size, len(model[in.Key].data))
				}
			}
		}
	}
	if got, want := keys(list(t, s, "")), slices.Sorted(maps.Keys(model)); !slices.Equal(got, want) {
		t.Fatalf("final List = %q, want %q", got, want)
	}
}
