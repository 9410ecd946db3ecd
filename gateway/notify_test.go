package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
)

// Without notify (not a target, no remote.notify) its routes answer 503
// with the reason, public or not, and the rest of the API works.
func TestNotifyRoutesWithoutNotify(t *testing.T) {
	s := startServer(t, func(c *app.Config) { c.Target = "accounts,search,recordings,ingest,gateway" })
	c := s.newClient(t)
	r := c.must("POST", "/api/v1/auth/signup", map[string]any{"email": "solo@example.com", "password": "correct horse battery staple", "organizationName": "Solo"})
	org := r["organization"].(map[string]any)["id"].(string)
	site := c.must("POST", "/api/v1/organizations/"+org+"/sites", map[string]any{"name": "Shop"})["site"].(map[string]any)["id"].(string)
	for _, rt := range [][2]string{
		{"GET", "/api/v1/sites/" + site + "/webhooks"},
		{"GET", "/api/v1/sites/" + site + "/digest"},
		{"GET", "/api/v1/admin/outbox"},
		{"POST", "/api/v1/unsubscribe"},
	} {
		var body any
		if rt[0] == "POST" {
			body = map[string]any{"token": "1.x"}
		}
		got := c.do(rt[0], rt[1], body)
		if got.code != http.StatusServiceUnavailable || !strings.Contains(string(got.body), "notifications are not configured") {
			t.Errorf("%s %s = %d %s, want 503 naming the reason", rt[0], rt[1], got.code, got.body)
		}
	}
	if got := c.do("GET", "/api/v1/sites/"+site, nil); got.code != http.StatusOK {
		t.Fatalf("GET site without notify = %d %s", got.code, got.body)
	}
}

// The e-mail links' pages are the dashboard's: every one serves the
// single-page app, not a 404.
func TestNotifyPagesServeTheDashboard(t *testing.T) {
	s := startServer(t, nil)
	c := s.newClient(t)
	for _, p := range []string{"/verify-email?token=abc", "/reset-password?token=abc", "/forgot-password", "/unsubscribe?token=1.abc",
		"/invitations/accept?token=abc", "/admin/outbox", "/sites/12/settings/notifications", "/sites/12/settings/webhooks", "/login"} {
		got := c.do("GET", p, nil)
		if got.code != http.StatusOK || !strings.HasPrefix(got.hdr.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s = %d %s, want the dashboard", p, got.code, got.hdr.Get("Content-Type"))
		}
	}
}

// The public routes that only send e-mail are held to the mailing limit
// per IP, below the general one.
func TestMailingRoutesLimitedPerIP(t *testing.T) {
	s := startServer(t, nil)
	c := s.newClient(t)
	limited := 0
	for i := 0; i < 12; i++ {
		got := c.do("POST", "/api/v1/auth/forgot-password", map[string]any{"email": fmt.Sprintf("nobody%d@example.com", i)})
		switch got.code {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited++
			if got.hdr.Get("Retry-After") == "" || !strings.Contains(string(got.body), "e-mails") {
				t.Errorf("429 without Retry-After or reason: %v %s", got.hdr, got.body)
			}
		default:
			t.Fatalf("forgot-password #%d = %d %s", i, got.code, got.body)
		}
	}
	if limited != 2 {
		t.Fatalf("%d of 12 requests limited, want 2 (a burst of 10)", limited)
	}
	// Log-in is not an e-mail route: it still answers.
	if got := c.do("POST", "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "wrong password here"}); got.code == http.StatusTooManyRequests {
		t.Fatalf("log-in limited by the mailing limit: %s", got.body)
	}
}
