package spool

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestAppendAll: the records of one AppendAll are stored in order in one
// group commit (one fsync), across a segment boundary too, and survive a
// reopen; a group that does not fit stores none of its records.
func TestAppendAll(t *testing.T) {
	dir := t.TempDir()
	commits := 0
	s := open(t, dir, func(o *Options) {
		o.MaxBytes, o.SegmentBytes = 4000, 600
		o.OnCommit = func(records, _ int, _ time.Duration) { commits++ }
	})
	ctx := context.Background()
	var group [][]byte
	for i := range 5 {
		group = append(group, payload(i))
	}
	if err := s.AppendAll(ctx, group); err != nil {
		t.Fatal(err)
	}
	if commits != 1 {
		t.Errorf("%d group commits for one AppendAll, want 1", commits)
	}
	big := [][]byte{make([]byte, 1000), make([]byte, 1000), make([]byte, 1000), make([]byte, 1000)}
	if err := s.AppendAll(ctx, big); !errors.Is(err, ErrFull) {
		t.Fatalf("AppendAll over MaxBytes = %v, want ErrFull", err)
	}
	if st := s.Stats(); st.Records != 5 {
		t.Fatalf("%d records after a refused group, want 5", st.Records)
	}
	// Across a segment boundary (600 bytes).
	var second [][]byte
	for i := 5; i < 10; i++ {
		second = append(second, bytes.Repeat([]byte{byte('a' + i)}, 200))
	}
	if err := s.AppendAll(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	recs := readAll(t, s)
	if len(recs) != 10 {
		t.Fatalf("%d records after reopen, want 10", len(recs))
	}
	for i, r := range recs {
		want := append(group, second...)[i]
		if !bytes.Equal(r.Payload, want) {
			t.Fatalf("record %d differs", i)
		}
	}
}
