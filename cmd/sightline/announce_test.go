package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/poll"
)

// TestPrintURL: `sightline serve --print-url` (what `make run` passes)
// prints the dashboard's real address in one plain line among the JSON
// logs, saying to sign up while the instance has no user, and not after.
func TestPrintURL(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dir, "--print-url")
	want := fmt.Sprintf("\nSightline is running: open http://%s (first run: sign up to create the operator account)\n", p.addrs.HTTP)
	poll.Until(t, 10*time.Second, func() error {
		if !strings.Contains(p.logs.String(), want) {
			return fmt.Errorf("no line %q in\n%s", want, p.logs)
		}
		return nil
	})
	code, body := rawPost(t, visitor(t, "http://"+p.addrs.HTTP), "/api/v1/auth/signup",
		map[string]any{"email": "first@example.com", "password": testPassword, "organizationName": "First"})
	if code != http.StatusOK {
		t.Fatalf("sign-up = %d %s", code, body)
	}
	p.stop()

	again := startServe(t, nil, "--data-dir", dir, "--print-url")
	want = fmt.Sprintf("\nSightline is running: open http://%s\n", again.addrs.HTTP)
	poll.Until(t, 10*time.Second, func() error {
		if !strings.Contains(again.logs.String(), want) {
			return fmt.Errorf("no line %q in\n%s", want, again.logs)
		}
		return nil
	})
}

func TestDashboardURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8080":   "http://localhost:8080",
		"[::]:8080":      "http://localhost:8080",
		":8080":          "http://localhost:8080",
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"[::1]:9000":     "http://[::1]:9000",
		"10.1.2.3:80":    "http://10.1.2.3:80",
	} {
		if got := dashboardURL(addr); got != want {
			t.Errorf("dashboardURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
