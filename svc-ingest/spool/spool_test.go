package spool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-ingest/spool/spooltest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("SPOOL_CHILD_DIR") != "" {
		base, _ := strconv.Atoi(os.Getenv("SPOOL_CHILD_BASE"))
		child(os.Getenv("SPOOL_CHILD_DIR"), base)
		return
	}
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, dir string, mod ...func(*Options)) *Spool {
	t.Helper()
	o := Options{Dir: dir, MaxBytes: 1 << 30, SegmentBytes: 4 << 10}
	for _, f := range mod {
		f(&o)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func payload(i int) []byte { return fmt.Appendf(nil, "record-%08d-%s", i, make([]byte, i%300)) }

// readAll reads every available record without acknowledging.
func readAll(t *testing.T, s *Spool) []Record {
	t.Helper()
	var out []Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		recs, err := s.Read(ctx, 100, 1<<20)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, recs...)
	}
}

func TestAppendReadAckAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Append(ctx, payload(i)); err != nil {
				t.Errorf("Append: %v", err)
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Records != 200 || st.Segments < 3 || st.Oldest.IsZero() {
		t.Fatalf("stats after 200 appends: %+v", st)
	}
	recs := readAll(t, s)
	if len(recs) != 200 {
		t.Fatalf("read %d records, want 200", len(recs))
	}
	// Deliver the first 120 only.
	if err := s.Ack(recs[119].Next, 120); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 80 {
		t.Fatalf("after ack: %+v", st)
	}
	s.Close()

	s = open(t, dir)
	defer s.Close()
	if st := s.Stats(); st.Records != 80 {
		t.Fatalf("after reopen: %+v", st)
	}
	rest := readAll(t, s)
	if len(rest) != 80 {
		t.Fatalf("after reopen read %d, want 80", len(rest))
	}
	for i, r := range rest {
		if string(r.Payload) != string(recs[120+i].Payload) {
			t.Fatalf("record %d differs", i)
		}
	}
	if err := s.Ack(rest[len(rest)-1].Next, len(rest)); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.Records != 0 || st.Bytes != 0 || !st.Oldest.IsZero() || st.Segments != 1 {
		t.Fatalf("after full ack: %+v", st)
	}
	if segs := segments(t, dir); len(segs) != 1 {
		t.Fatalf("delivered segments not deleted: %v", segs)
	}
}

func TestGroupCommitSharesFsync(t *testing.T) {
	var mu sync.Mutex
	var commits, records int
	s := open(t, t.TempDir(), func(o *Options) {
		o.SegmentBytes = 64 << 20
		o.OnCommit = func(n, _ int, _ time.Duration) { mu.Lock(); commits++; records += n; mu.Unlock() }
	})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Append(context.Background(), payload(i)) }()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if records != 500 || commits >= 500 {
		t.Fatalf("500 concurrent appends took %d commits (%d records): no grouping", commits, records)
	}
	t.Logf("500 appends in %d fsyncs", commits)
}

func TestFullThenDrain(t *testing.T) {
	s := open(t, t.TempDir(), func(o *Options) { o.MaxBytes = 2000 })
	defer s.Close()
	ctx := context.Background()
	n := 0
	for ; ; n++ {
		err := s.Append(ctx, make([]byte, 100))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 2000/116 || !s.Full() && s.Stats().Bytes+116 <= 2000 {
		t.Fatalf("accepted %d records of 116 bytes under a 2000-byte bound", n)
	}
	recs, err := s.Read(ctx, 5, 1<<20)
	if err != nil || len(recs) != 5 {
		t.Fatal(err)
	}
	if err := s.Ack(recs[4].Next, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, make([]byte, 100)); err != nil {
		t.Fatalf("append after drain: %v", err)
	}
}

// fill writes n records (payload(0) on) into a spool in dir with 1 KiB
// segments, and closes it.
func fill(t *testing.T, dir string, n int) {
	t.Helper()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 1024 })
	for i := range n {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

// segments lists dir's segment files, oldest first.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segs)
	return segs
}

func lastSegment(t *testing.T, dir string) string {
	segs := segments(t, dir)
	// The newest segment is the empty one started at open; the data is in the one before.
	for i := len(segs) - 1; i >= 0; i-- {
		fi, _ := os.Stat(segs[i])
		if fi.Size() > segHeaderLen {
			return segs[i]
		}
	}
	t.Fatal("no segment with data")
	return ""
}

// overwrite writes b at off in the file at path (off at the end: appends),
// as a crash or a bad disk would: a damage that failed would make the
// recovery tests pass without testing anything.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(b, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestRecoveryDropsOnlyTornTail damages the newest segment the ways a crash
// can and checks that every earlier record survives.
func TestRecoveryDropsOnlyTornTail(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"torn write": func(t *testing.T, path string) {
			var h [recHeaderLen]byte
			binary.LittleEndian.PutUint32(h[:], 500)
			overwrite(t, path, fileSize(t, path), append(h[:], "partial payload"...))
		},
		"truncated file": func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)-7); err != nil {
				t.Fatal(err)
			}
		},
		"corrupted checksum": func(t *testing.T, path string) {
			overwrite(t, path, fileSize(t, path)-1, []byte{0xff})
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, func(o *Options) { o.SegmentBytes = 1 << 20 })
			for i := range 10 {
				if err := s.Append(context.Background(), payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			damage(t, lastSegment(t, dir))
			s = open(t, dir)
			defer s.Close()
			recs := readAll(t, s)
			want := 10
			if name != "torn write" {
				want = 9 // the damaged last record was the torn one
			}
			if len(recs) != want {
				t.Fatalf("recovered %d records, want %d", len(recs), want)
			}
			for i, r := range recs {
				if string(r.Payload) != string(payload(i)) {
					t.Fatalf("record %d corrupted", i)
				}
			}
			if s.Stats().TornBytes == 0 {
				t.Fatal("torn bytes not reported")
			}
			// The spool keeps working after recovery.
			if err := s.Append(context.Background(), payload(99)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCorruptionInSealedSegmentIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 30)
	overwrite(t, segments(t, dir)[0], segHeaderLen+recHeaderLen+2, []byte("XX")) // inside the first record's payload
	s := open(t, dir)
	defer s.Close()
	recs := readAll(t, s)
	if s.Stats().Corrupt != 1 || len(recs) == 0 || len(recs) >= 30 {
		t.Fatalf("corrupt=%d read=%d", s.Stats().Corrupt, len(recs))
	}
	if string(recs[len(recs)-1].Payload) != string(payload(29)) {
		t.Fatal("records after the corrupt segment were not delivered")
	}
}

func TestLockedByOneProcess(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
}

// child appends records from 16 goroutines and prints each id once its
// Append returned (acknowledged); the parent kills it with SIGKILL.
func child(dir string, base int) {
	s, err := Open(Options{Dir: dir, MaxBytes: 1 << 30, SegmentBytes: 32 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := base + g*1_000_000 + i
				if err := s.Append(context.Background(), payload(id)); err != nil {
					return
				}
				mu.Lock()
				fmt.Fprintln(out, id)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestKill9KeepsEveryAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SPOOL_CHILD_DIR="+dir, fmt.Sprintf("SPOOL_CHILD_BASE=%d", round*100_000_000))
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[int]bool{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			id, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatalf("child: %s", sc.Text())
			}
			acked[id] = true
			if len(acked) == 300 {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		s := open(t, dir)
		got := map[string]int{}
		for _, r := range readAll(t, s) {
			got[string(r.Payload)]++
		}
		for id := range acked {
			if got[string(payload(id))] != 1 {
				s.Close()
				t.Fatalf("round %d: acknowledged record %d found %d times", round, id, got[string(payload(id))])
			}
		}
		t.Logf("round %d: %d acknowledged, %d in spool, torn bytes %d", round, len(acked), len(got), s.Stats().TornBytes)
		s.Close()
	}
}

// TestAccountingUnderConcurrentReadAndAck delivers while appending and
// checks that the counts return to exactly zero (a reader may acknowledge
// records the moment their group is durable).
func TestAccountingUnderConcurrentReadAndAck(t *testing.T) {
	s := open(t, t.TempDir(), func(o *Options) { o.SegmentBytes = 8 << 10 })
	defer s.Close()
	const n = 2000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int)
	go func() {
		total := 0
		for total < n {
			recs, err := s.Read(ctx, 37, 1<<20)
			if err != nil {
				break
			}
			if err := s.Ack(recs[len(recs)-1].Next, len(recs)); err != nil {
				t.Error(err)
			}
			total += len(recs)
		}
		got <- total
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 8 {
				if err := s.Append(context.Background(), payload(g*1000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if total := <-got; total != n {
		t.Fatalf("read %d of %d", total, n)
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("after delivering everything: %+v", st)
	}
}

func TestZeroedRegionInSealedSegmentIsCounted(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 30)
	overwrite(t, segments(t, dir)[0], segHeaderLen, make([]byte, recHeaderLen)) // a zeroed sector over the first header
	s := open(t, dir)
	defer s.Close()
	recs := readAll(t, s)
	if s.Stats().Corrupt != 1 || len(recs) == 0 || string(recs[len(recs)-1].Payload) != string(payload(29)) {
		t.Fatalf("corrupt=%d read=%d", s.Stats().Corrupt, len(recs))
	}
}

// FuzzRecoverSegment opens a spool whose only segment holds arbitrary
// bytes after the header: Open must not fail or panic, and every record it
// yields must have passed its checksum (no garbage is ever delivered).
func FuzzRecoverSegment(f *testing.F) {
	var valid []byte
	for i := range 3 {
		p := payload(i)
		var h [recHeaderLen]byte
		binary.LittleEndian.PutUint32(h[0:4], uint32(len(p)))
		binary.LittleEndian.PutUint64(h[8:16], uint64(1_763_890_000_000_000_000+i))
		binary.LittleEndian.PutUint32(h[4:8], crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, p))
		valid = append(append(valid, h[:]...), p...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(append(append([]byte(nil), valid...), make([]byte, 64)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "0000000000000001.seg"), append([]byte(segMagic), data...), 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		recs, err := s.readAvailable(slices.Clone(s.segs), 1<<20, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(recs)) != s.Stats().Records {
			t.Fatalf("read %d records, stats say %d", len(recs), s.Stats().Records)
		}
		for _, r := range recs {
			if !bytes.Contains(data, r.Payload) {
				t.Fatal("a record that is not in the file")
			}
		}
	})
}

// TestOpenAccountsSealedSegmentsFromTheirIndex: a sealed segment is not
// read at open (damage inside one is found only when it is read), the
// counts are the same as a full scan's, also with the cursor inside a
// segment, and a segment whose index is gone is scanned and indexed again.
func TestOpenAccountsSealedSegmentsFromTheirIndex(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 2048 })
	for i := range 120 {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := readAll(t, s)
	// Acknowledge up to the middle of a segment.
	if err := s.Ack(recs[30].Next, 31); err != nil {
		t.Fatal(err)
	}
	want := s.Stats()
	s.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	if len(idx) < 5 {
		t.Fatalf("%d index files after sealing %d segments", len(idx), want.Segments)
	}
	check := func(s *Spool, what string) {
		t.Helper()
		got := s.Stats()
		if got.Records != want.Records || got.Bytes != want.Bytes || !got.Oldest.Equal(want.Oldest) {
			t.Fatalf("%s: stats %+v, want %+v", what, got, want)
		}
	}
	s = open(t, dir)
	check(s, "reopen with indexes")
	s.Close()

	// Damage the payload of a record in a sealed segment after the cursor's:
	// Open does not see it (it does not read the segment), the reader does,
	// counts it, skips the rest of that segment and takes its records off
	// the count.
	segs := segments(t, dir)
	overwrite(t, segs[2], segHeaderLen+recHeaderLen+2, []byte("XX"))
	s = open(t, dir)
	if s.Stats().Corrupt != 0 {
		t.Fatal("Open read a sealed, indexed segment")
	}
	check(s, "reopen after damage")
	got := readAll(t, s)
	if st := s.Stats(); st.Corrupt != 1 || int64(len(got)) != st.Records {
		t.Fatalf("after reading past the damage: read %d, stats %+v", len(got), st)
	}
	s.Close()

	// Without indexes: scanned, same counts, indexed again.
	dir2 := t.TempDir()
	s = open(t, dir2, func(o *Options) { o.SegmentBytes = 2048 })
	for i := range 120 {
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs = readAll(t, s)
	if err := s.Ack(recs[30].Next, 31); err != nil {
		t.Fatal(err)
	}
	want = s.Stats()
	s.Close()
	idx, _ = filepath.Glob(filepath.Join(dir2, "*.idx"))
	for _, p := range idx {
		os.Remove(p)
	}
	s = open(t, dir2)
	check(s, "reopen without indexes")
	s.Close()
	if again, _ := filepath.Glob(filepath.Join(dir2, "*.idx")); len(again) < len(idx) {
		t.Fatalf("%d indexes rewritten, want %d", len(again), len(idx))
	}
	// Everything delivered: segments and their indexes go.
	s = open(t, dir2)
	defer s.Close()
	rest := readAll(t, s)
	if len(rest) != 89 {
		t.Fatalf("read %d after reopen, want 89", len(rest))
	}
	if err := s.Ack(rest[len(rest)-1].Next, len(rest)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Fatalf("after delivering everything: %+v", st)
	}
	if left, _ := filepath.Glob(filepath.Join(dir2, "*.idx")); len(left) > 1 {
		t.Fatalf("indexes of delivered segments left: %v", left)
	}
}

// TestDeadLetters: a quarantined record is durable with its metadata,
// counted across restarts, listed and read without the lock, put back in
// the log by Replay (directly or by a request file) and pruned past the
// retention and the byte bound.
func TestDeadLetters(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	for i := range 3 {
		if err := s.Append(ctx, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := readAll(t, s)
	var ids []string
	for i, r := range recs {
		d, err := s.Quarantine(r, DeadLetter{Reason: "refused", Detail: "bad utf-8", Attempts: i + 1, SiteID: 5_000_000_001, SessionID: "s_a", Seq: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	// Read again after a crash (before the cursor was persisted): the
	// same record is not quarantined twice.
	if d, err := s.Quarantine(recs[1], DeadLetter{Reason: "refused"}); err != nil || d.ID != ids[1] {
		t.Fatalf("second quarantine of the same record: %+v, %v", d, err)
	}
	if err := s.Ack(recs[2].Next, 3); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.DeadRecords != 3 || st.DeadBytes != int64(len(recs[0].Payload)+len(recs[1].Payload)+len(recs[2].Payload)) || st.Records != 0 {
		t.Fatalf("stats after quarantining 3: %+v", st)
	}
	list, err := ListDead(dir) // while the spool is open: no lock needed
	if err != nil || len(list) != 3 {
		t.Fatalf("ListDead: %v, %v", list, err)
	}
	for i, d := range list {
		if d.ID != ids[i] || d.Reason != "refused" || d.Attempts != i+1 || d.Seq != int64(i) || d.SiteID != 5_000_000_001 ||
			!d.Received.Equal(recs[i].Time) || d.Quarantined.Before(d.Received) || d.Size != len(recs[i].Payload) {
			t.Fatalf("dead letter %d: %+v", i, d)
		}
	}
	if _, p, err := ReadDead(dir, ids[1]); err != nil || string(p) != string(payload(1)) {
		t.Fatalf("ReadDead: %q, %v", p, err)
	}
	if _, _, err := ReadDead(dir, "../cursor"); err == nil {
		t.Fatal("ReadDead accepted a path")
	}
	s.Close()

	s = open(t, dir)
	defer s.Close()
	if st := s.Stats(); st.DeadRecords != 3 {
		t.Fatalf("dead letters after reopen: %+v", st)
	}
	// Replay one directly, one by request.
	if n, err := s.Replay(ctx, ids[0]); err != nil || n != 1 {
		t.Fatalf("Replay: %d, %v", n, err)
	}
	if _, err := RequestReplay(dir, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := RequestReplay(dir, "0000000000000001"); err == nil {
		t.Fatal("a replay request for an unknown dead letter was accepted")
	}
	if n, err := s.ProcessReplays(ctx); err != nil || n != 1 {
		t.Fatalf("ProcessReplays: %d, %v", n, err)
	}
	if reqs, _ := os.ReadDir(replayDir(dir)); len(reqs) != 0 {
		t.Fatalf("replay request left: %v", reqs)
	}
	back := readAll(t, s)
	if len(back) != 2 || string(back[0].Payload) != string(payload(0)) || string(back[1].Payload) != string(payload(2)) {
		t.Fatalf("replayed records read back: %d", len(back))
	}
	if st := s.Stats(); st.DeadRecords != 1 || st.Records != 2 {
		t.Fatalf("after replaying 2: %+v", st)
	}

	// Prune: by age, then by size.
	if e, o, err := s.PruneDead(time.Now()); err != nil || e+o != 0 {
		t.Fatalf("pruned a fresh dead letter: %d %d %v", e, o, err)
	}
	if e, _, err := s.PruneDead(time.Now().Add(8 * 24 * time.Hour)); err != nil || e != 1 {
		t.Fatalf("retention prune: %d, %v", e, err)
	}
	if st := s.Stats(); st.DeadRecords != 0 || st.DeadBytes != 0 {
		t.Fatalf("after pruning: %+v", st)
	}
	s.opts.DeadMaxBytes = int64(len(back[1].Payload)) // room for the newer one only
	for _, r := range back {
		if _, err := s.Quarantine(r, DeadLetter{Reason: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, o, err := s.PruneDead(time.Now()); err != nil || o != 1 {
		t.Fatalf("size prune: %d, %v", o, err)
	}
	if list, _ := ListDead(dir); len(list) != 1 || string(list[0].ID) <= ids[2] {
		t.Fatalf("after size prune: %+v", list)
	}
}

// fillSpool writes about size bytes of undelivered records of recBytes each
// into a new spool in dir (concurrently, so group commit shares fsyncs),
// then acknowledges the first few so that the cursor stands inside the
// first segment, as after a delivery that stopped part-way.
func fillSpool(tb testing.TB, dir string, size int64, recBytes int) {
	tb.Helper()
	s, err := Open(Options{Dir: dir, MaxBytes: 4 << 30, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	rec := bytes.Repeat([]byte("x"), recBytes)
	n := int(size / int64(recHeaderLen+recBytes))
	spooltest.Fill(tb, s, rec, n)
	if n > 0 {
		recs, err := s.Read(context.Background(), 10, 1<<30)
		if err != nil {
			tb.Fatal(err)
		}
		if err := s.Ack(recs[len(recs)-1].Next, len(recs)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkOpenBacklog measures Open with an undelivered backlog against
// Open of an empty spool in the same run, alternating the two, and reports
// the ratio of their medians (ratio-to-empty): start-up must not grow with
// the backlog. "unindexed" removes the segment indexes first, which makes
// Open scan every undelivered record as it did before indexes existed (the
// reference). Files are in the page cache (both cases alike).
//
//	go test -run '^$' -bench BenchmarkOpenBacklog -benchtime 5x ./svc-ingest/spool/
func BenchmarkOpenBacklog(b *testing.B) {
	empty := b.TempDir()
	fillSpool(b, empty, 0, 0)
	for _, tc := range []struct {
		name      string
		size      int64
		unindexed bool
	}{{"128MiB", 128 << 20, false}, {"1GiB", 1 << 30, false}, {"1GiB-unindexed", 1 << 30, true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			fillSpool(b, dir, tc.size, 10<<10) // ~10 KiB: a typical chunk
			openClose := func(dir string) (time.Duration, Stats) {
				if tc.unindexed {
					idx, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
					for _, p := range idx {
						os.Remove(p)
					}
				}
				start := time.Now()
				s, err := Open(Options{Dir: dir, MaxBytes: 4 << 30, Logger: slog.New(slog.DiscardHandler)})
				d := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				st := s.Stats()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				return d, st
			}
			var withBacklog, withoutBacklog []time.Duration
			var st Stats
			b.ResetTimer()
			for b.Loop() {
				d0, _ := openClose(empty)
				d1, s := openClose(dir)
				withoutBacklog, withBacklog, st = append(withoutBacklog, d0), append(withBacklog, d1), s
			}
			if st.Bytes < tc.size*9/10 {
				b.Fatalf("backlog of %d bytes, want about %d", st.Bytes, tc.size)
			}
			median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
			m0, m1 := median(withoutBacklog), median(withBacklog)
			b.ReportMetric(float64(m1.Microseconds())/1000, "ms-open")
			b.ReportMetric(float64(m0.Microseconds())/1000, "ms-open-empty")
			b.ReportMetric(float64(m1)/float64(m0), "ratio-to-empty")
			b.ReportMetric(float64(st.Bytes>>20), "MiB-undelivered")
		})
	}
}

// BenchmarkAppendConcurrent appends ~10 KiB records (a typical chunk) from
// 64 goroutines at once, as the edge's handlers do under load, and
// reports appends per second, records per fdatasync and the mean commit
// time (OnCommit's). The figures depend on the disk: compare builds in one
// run, on one machine.
//
//	go test -run '^$' -bench BenchmarkAppendConcurrent -benchtime 20000x ./svc-ingest/spool/
func BenchmarkAppendConcurrent(b *testing.B) {
	var mu sync.Mutex
	var commits, records int
	var took time.Duration
	s, err := Open(Options{Dir: b.TempDir(), SegmentBytes: 64 << 20, MaxBytes: 64 << 30, Logger: slog.New(slog.DiscardHandler),
		OnCommit: func(n, _ int, d time.Duration) {
			mu.Lock()
			commits, records, took = commits+1, records+n, took+d
			mu.Unlock()
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := make([]byte, 10<<10)
	b.SetParallelism(32) // 64 goroutines on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64(records)/float64(max(commits, 1)), "records/fsync")
	b.ReportMetric(float64(took.Microseconds())/float64(max(commits, 1)), "µs/commit")
}
