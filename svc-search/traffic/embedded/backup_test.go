package embedded

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
)

// TestBackupAnswersAsTheStore: a checkpoint opens as a store that answers
// the overview and a breakdown as the store did when it was taken; the
// store takes hits after it, and a closed store refuses to back up.
func TestBackupAnswersAsTheStore(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	add(t, s, handData()...)
	answers := func(s *Store) []proto.Message {
		ov, err := s.Overview(ctx, day(), trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR)
		if err != nil {
			t.Fatal(err)
		}
		bd, err := s.Breakdown(ctx, day(), trafficv1.TrafficDimension_TRAFFIC_DIMENSION_EXIT_PAGE, 5)
		if err != nil {
			t.Fatal(err)
		}
		return []proto.Message{ov, bd}
	}
	want := answers(s)
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
	got := answers(b)
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("backup answers\n%v\nthe store answered\n%v", got[i], want[i])
		}
	}
	if want[0].(*trafficv1.GetTrafficOverviewResponse).GetCurrent().GetSessions() != 3 {
		t.Fatalf("store's overview = %v", want[0])
	}
}
