package spool

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitPrepared waits until the next segment's file is ready for the writer.
func waitPrepared(t *testing.T, s *Spool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(s.prepared) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the next segment was not prepared within 10s")
		}
	}
}

// TestRollUsesThePreparedSegment: the segment a roll starts is the file
// prepared in the background (full of zeros, durably) once the one before
// was half full, and the records written into it read back across a
// restart.
func TestRollUsesThePreparedSegment(t *testing.T) {
	dir := t.TempDir()
	const segBytes = 64 << 10
	s := open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	if _, err := os.Stat(s.prepPath()); !os.IsNotExist(err) {
		t.Fatalf("an idle spool prepares a segment: %v", err)
	}
	n := 0
	for ; s.Stats().Bytes < segBytes/2; n++ { // preparing starts at half
		if err := s.Append(context.Background(), payload(n)); err != nil {
			t.Fatal(err)
		}
	}
	waitPrepared(t, s)
	prepared, err := os.Stat(s.prepPath())
	if err != nil {
		t.Fatal(err)
	}
	if prepared.Size() != segBytes {
		t.Fatalf("prepared segment holds %d bytes, want %d", prepared.Size(), segBytes)
	}
	first := len(segments(t, dir))
	for len(segments(t, dir)) == first {
		if err := s.Append(context.Background(), payload(n)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	segs := segments(t, dir)
	fi, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(prepared, fi) {
		t.Fatal("the new segment is not the prepared file")
	}
	s.Close()
	if _, err := os.Stat(s.prepPath()); !os.IsNotExist(err) {
		t.Fatalf("Close left the prepared file behind: %v", err)
	}
	s = open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	defer s.Close()
	recs := readAll(t, s)
	if len(recs) != n {
		t.Fatalf("read %d records after restart, appended %d", len(recs), n)
	}
	for i, r := range recs {
		if string(r.Payload) != string(payload(i)) {
			t.Fatalf("record %d: %q", i, r.Payload)
		}
	}
}

// TestStalePreparedFileIsNeverDelivered: a prepared file left by a crash
// (here one holding valid records, the worst case) is discarded at open:
// the segments started afterwards hold only what was appended.
func TestStalePreparedFileIsNeverDelivered(t *testing.T) {
	dir := t.TempDir()
	var stale []byte
	stale = append(stale, segMagic...)
	for i := range 20 {
		p := []byte("stale-record")
		var h [recHeaderLen]byte
		binary.LittleEndian.PutUint32(h[0:4], uint32(len(p)))
		binary.LittleEndian.PutUint64(h[8:16], uint64(1_763_890_000_000_000_000+i))
		binary.LittleEndian.PutUint32(h[4:8], crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, p))
		stale = append(append(stale, h[:]...), p...)
	}
	const segBytes = 4 << 10
	stale = append(stale, make([]byte, segBytes-len(stale))...)
	s := open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	s.Close()
	if err := os.WriteFile(s.prepPath(), stale, 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	for i := range 100 { // several rolls
		if err := s.Append(context.Background(), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	defer s.Close()
	recs := readAll(t, s)
	if len(recs) != 100 {
		t.Fatalf("read %d records, appended 100", len(recs))
	}
	for i, r := range recs {
		if string(r.Payload) != string(payload(i)) {
			t.Fatalf("record %d: %q", i, r.Payload)
		}
	}
}

// resident is how many of path's pages are in the page cache (mincore on
// a mapping of it).
func resident(t *testing.T, path string) (in, pages int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Munmap(m); err != nil {
			t.Error(err)
		}
	}()
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		in += int(v & 1)
	}
	return in, len(vec)
}

// diskDir is a fresh directory whose pages can leave the page cache: the
// test's temporary directory, or, where that is tmpfs (whose page cache is
// the storage), one beside the package's sources.
func diskDir(t *testing.T) string {
	t.Helper()
	onTmpfs := func(dir string) bool {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		return st.Type == unix.TMPFS_MAGIC
	}
	if dir := t.TempDir(); !onTmpfs(dir) {
		return dir
	}
	dir, err := os.MkdirTemp(".", "disk-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if onTmpfs(dir) {
		t.Fatalf("no directory off tmpfs to test page-cache residency in (%s and the sources are both on tmpfs)", os.TempDir())
	}
	return dir
}

// TestSealedSegmentAheadOfTheReaderLeavesTheCache: a segment sealed before
// the consumer reached it is dropped from the page cache (a backlog does not
// fill memory, and the next segment's zeros reuse its pages); one the
// consumer reads in is kept, and a dropped one still reads back whole.
func TestSealedSegmentAheadOfTheReaderLeavesTheCache(t *testing.T) {
	dir := diskDir(t)
	const segBytes = 256 << 10
	s := open(t, dir, func(o *Options) { o.SegmentBytes = segBytes })
	defer s.Close()
	ctx := context.Background()
	appendUntil := func(n *int, segs int) {
		for len(segments(t, dir)) < segs {
			if err := s.Append(ctx, payload(*n)); err != nil {
				t.Fatal(err)
			}
			*n++
		}
	}
	n := 0
	// The consumer has read nothing: it is at the start of the first
	// segment, which stays cached; the second is sealed ahead of it.
	appendUntil(&n, 3)
	s.bgWG.Wait() // the drop is done beside the writer
	segs := segments(t, dir)
	if in, pages := resident(t, segs[0]); in < pages/2 {
		t.Errorf("%s, the reader's: only %d of %d pages cached", filepath.Base(segs[0]), in, pages)
	}
	if in, pages := resident(t, segs[1]); in > 0 {
		t.Errorf("%s, sealed ahead of the reader: %d of %d pages still cached", filepath.Base(segs[1]), in, pages)
	}
	// The consumer reads every record so far: it is in the newest segment,
	// which stays cached when it is sealed.
	read := 0
	for read < n {
		recs, err := s.Read(ctx, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if string(r.Payload) != string(payload(read)) {
				t.Fatalf("record %d reads back as %q", read, r.Payload)
			}
			read++
		}
	}
	appendUntil(&n, 4)
	s.bgWG.Wait()
	if in, pages := resident(t, segs[2]); in < pages/2 {
		t.Errorf("%s, sealed while the reader was in it: only %d of %d pages cached", filepath.Base(segs[2]), in, pages)
	}
}
