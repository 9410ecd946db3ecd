package benchrun

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 5}, {95, 10}, {90, 9}, {10, 1}, {0, 1}, {100, 10}} {
		if got := Pct(ds, c.p); got != c.want {
			t.Errorf("Pct(%d) = %d, want %d", c.p, got, c.want)
		}
	}
	if ds[0] != 5 {
		t.Error("Pct sorted its input")
	}
	if Ms(1234567*time.Nanosecond) != "1.23ms" {
		t.Errorf("Ms = %s", Ms(1234567*time.Nanosecond))
	}
}

func TestZipfSkew(t *testing.T) {
	z := NewZipf(10, 1.1)
	r := rand.New(rand.NewPCG(1, 2))
	var counts [10]int
	for range 20000 {
		counts[z.Draw(r)]++
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] > counts[i-1]+200 {
			t.Fatalf("rank %d drawn %d times, rank %d %d: not skewed", i, counts[i], i-1, counts[i-1])
		}
	}
	if counts[0] < 5*counts[9] {
		t.Fatalf("first rank %d, last %d: too flat", counts[0], counts[9])
	}
}

func TestPaths(t *testing.T) {
	p := Paths([]string{"/", "/pricing"}, 6, "/docs/page-%d")
	want := []string{"/", "/pricing", "/docs/page-2", "/product/3", "/blog/post-4", "/docs/page-5"}
	if len(p) != len(want) {
		t.Fatalf("%v", p)
	}
	for i := range want {
		if p[i] != want[i] {
			t.Fatalf("%v, want %v", p, want)
		}
	}
}

func TestWorkDir(t *testing.T) {
	d, done, err := WorkDir("", "benchrun-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatal(err)
	}
	done()
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Fatalf("temporary directory left: %v", err)
	}
	named := t.TempDir()
	d, done, err = WorkDir(named, "x")
	if err != nil || d != named {
		t.Fatalf("%s, %v", d, err)
	}
	done()
	if _, err := os.Stat(named); err != nil {
		t.Fatalf("named directory removed: %v", err)
	}
}

func TestBatches(t *testing.T) {
	var got [][]int
	b := NewBatches(3, func(batch []int) error {
		got = append(got, slices.Clone(batch))
		return nil
	}, func(int) {})
	for i := range 7 {
		if err := b.Add(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	want := [][]int{{0, 1, 2}, {3, 4, 5}, {6}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	boom := errors.New("boom")
	b = NewBatches(2, func([]int) error { return boom }, func(int) {})
	if err := b.Add(1); err != nil {
		t.Fatalf("a batch not yet full flushed: %v", err)
	}
	if err := b.Add(2); !errors.Is(err, boom) {
		t.Fatalf("Add of a full batch = %v, want the flush's error", err)
	}
}

func TestMeasuredWorkDir(t *testing.T) {
	if _, _, err := MeasuredWorkDir(999, t.TempDir(), "x"); err == nil || err.Error() != "-n must be at least 1000" {
		t.Fatalf("-n 999: %v, want the -n refusal", err)
	}
	named := t.TempDir()
	d, done, err := MeasuredWorkDir(1000, named, "x")
	if err != nil || d != named {
		t.Fatalf("-n 1000: %s, %v", d, err)
	}
	done()
}
