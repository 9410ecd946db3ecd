package dashclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSessionAndCSRF checks what the gateway requires of a cookie session:
// the session cookie sent back, and the sl_csrf cookie's value echoed in
// X-CSRF-Token once the server set it; a non-200 is an error naming it.
func TestSessionAndCSRF(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/login":
			if r.Header.Get("X-CSRF-Token") != "" || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"u":"a"}` {
				http.Error(w, "bad login request", http.StatusBadRequest)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "sl_session", Value: "s1", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "sl_csrf", Value: "c1", Path: "/"})
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/write":
			ck, err := r.Cookie("sl_session")
			if err != nil || ck.Value != "s1" || r.Header.Get("X-CSRF-Token") != "c1" {
				http.Error(w, "no session or csrf", http.StatusForbidden)
				return
			}
			_, _ = io.WriteString(w, `{"n":"7"}`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL)
	if err := c.Must("POST", "/write", map[string]any{}, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("write before log-in: %v, want a 403 error", err)
	}
	var ok struct{ OK bool }
	if err := c.Must("POST", "/login", map[string]any{"u": "a"}, &ok); err != nil || !ok.OK {
		t.Fatalf("login: %v %+v", err, ok)
	}
	var out struct{ N string }
	if err := c.Must("POST", "/write", map[string]any{}, &out); err != nil || out.N != "7" {
		t.Fatalf("write after log-in: %v %+v", err, out)
	}
}
