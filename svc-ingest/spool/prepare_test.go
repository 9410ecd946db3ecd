package spool

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"
	"time"
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
