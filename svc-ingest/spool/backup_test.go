package spool

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/sightlinehq/sightline/internal/busy"
)

// TestBackupHoldsUndeliveredRecords: a backup taken while appends go on
// holds, from the consumer's cursor, every record appended before it began
// and then a gap-free run of those appended meanwhile, plus the dead
// letters; records acknowledged before it are not in it.
func TestBackupHoldsUndeliveredRecords(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "spool"))
	const first, acked = 200, 120
	for i := range first {
		if err := s.Append(ctx, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := readAll(t, s)
	if len(recs) != first {
		t.Fatalf("read %d records, appended %d", len(recs), first)
	}
	if _, err := s.Quarantine(recs[3], DeadLetter{Reason: "refused", SessionID: "s_dead"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(recs[acked-1].Next, acked); err != nil {
		t.Fatal(err)
	}

	// Appends go on while the backup copies (4 KiB segments: it spans
	// many, some sealed meanwhile).
	dir := filepath.Join(t.TempDir(), "backup")
	busy.During(t, func(i int) error { return s.Append(ctx, payload(first+i)) }, func() error { return s.Backup(ctx, dir) })
	if err := s.Backup(ctx, dir); err == nil {
		t.Error("a second backup into the same directory succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	b := open(t, dir)
	defer b.Close()
	got := readAll(t, b)
	if len(got) < first-acked {
		t.Fatalf("backup holds %d records, want at least the %d unacknowledged before it began", len(got), first-acked)
	}
	for i, r := range got {
		if want := payload(acked + i); !bytes.Equal(r.Payload, want) {
			t.Fatalf("backup record %d = %.20q, want %.20q (records must follow the cursor without a gap)", i, r.Payload, want)
		}
	}
	if st := b.Stats(); st.Records != int64(len(got)) {
		t.Errorf("backup spool counts %d records, reads %d", st.Records, len(got))
	}
	dead, err := ListDead(dir)
	if err != nil || len(dead) != 1 || dead[0].SessionID != "s_dead" {
		t.Errorf("backup's dead letters = %+v, %v; want the one quarantined", dead, err)
	}
	t.Logf("backup holds %d records (%d unacknowledged when it began)", len(got), first-acked)
}
