package devicetype

import (
	"testing"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
)

// TestEveryClassNamed: every enum value but UNSPECIFIED has a name that
// parses back to it, and nothing else parses.
func TestEveryClassNamed(t *testing.T) {
	for v := range sessionsv1.DeviceType_name {
		d := sessionsv1.DeviceType(v)
		n := Name(d)
		if d == sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED {
			if n != "" {
				t.Errorf("UNSPECIFIED named %q", n)
			}
			continue
		}
		if n == "" {
			t.Errorf("%v has no name", d)
		}
		if back, ok := Parse(n); !ok || back != d {
			t.Errorf("Parse(%q) = %v, %v; want %v", n, back, ok, d)
		}
	}
	for _, bad := range []string{"", "Desktop", " mobile", "phone", "unspecified"} {
		if d, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) = %v", bad, d)
		}
	}
	if Name(sessionsv1.DeviceType(99)) != "" {
		t.Error("an unknown value has a name")
	}
}
