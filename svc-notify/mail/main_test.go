package mail_test

import (
	"os"
	"testing"

	"github.com/sightlinehq/sightline/internal/leakcheck"
)

// crashDirEnv makes the test binary the outbox writer that
// TestOutboxKilledMidWrite kills.
const crashDirEnv = "MAIL_OUTBOX_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashWriter(dir)
		return
	}
	leakcheck.VerifyTestMain(m)
}
