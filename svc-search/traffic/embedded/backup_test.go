package embedded

import (
	"context"
	"path/filepath"
	"testing"
)

// TestBackupAnswersAsTheStore: a checkpoint opens as a store that answers
// the overview, a breakdown and realtime as the store did when it was taken; the
// store takes hits after it, and a closed store refuses to back up.
func TestBackupAnswersAsTheStore(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	add(t, s, handData()...)
	want := dayAnswers(t, s)
	dir := filepath.Join(t.TempDir(), "traffic")
	if err := s.Backup(ctx, dir); err != nil {
		t.Fatal(err)
	}
	add(t, s, pv("s_after", "v_after", "p_after", "https://shop.example.com/after", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, filepath.Join(t.TempDir(), "closed")); err == nil {
		t.Error("a closed store backed up")
	}
	b := openStore(t, dir)
	defer b.Close()
	requireSameAnswers(t, "the backup", dayAnswers(t, b), want)
}
