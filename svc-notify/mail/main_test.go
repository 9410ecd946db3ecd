package mail_test

import (
	"testing"

	"github.com/sightlinehq/sightline/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
