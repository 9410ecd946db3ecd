package traffic_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

func TestFunnelSteps(t *testing.T) {
	got := traffic.FunnelSteps([]int64{4, 2, 0, 0}, []int64{3, 1, 0, 0})
	want := []*trafficv1.FunnelStepResult{
		{Sessions: 4, Conversion: 1, StepConversion: 1},
		{Sessions: 2, Conversion: 0.5, StepConversion: 0.5, Dropped: 2, DroppedRecorded: 2},
		{Sessions: 0, Conversion: 0, StepConversion: 0, Dropped: 2, DroppedRecorded: 1},
		{},
	}
	if len(got) != len(want) {
		t.Fatalf("%d steps, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("step %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Nobody entered: no conversion, the first step's step conversion is
	// still 1; without recorded counts DroppedRecorded is left to the
	// caller.
	empty := traffic.FunnelSteps([]int64{0, 0}, nil)
	if !proto.Equal(empty[0], &trafficv1.FunnelStepResult{StepConversion: 1}) || !proto.Equal(empty[1], &trafficv1.FunnelStepResult{}) {
		t.Fatalf("empty funnel %v", empty)
	}
}
