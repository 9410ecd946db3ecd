package ingest

import (
	"strings"
	"testing"
)

// TestBootstrapEndpointsFollowPublicURL: with a public URL configured
// (server.public-url or ingest.public-url), every endpoint the bootstrap
// hands the tracker starts with it, whatever Host the script was fetched
// through (an internal address behind a proxy); without one, they follow
// the request's own origin.
func TestBootstrapEndpointsFollowPublicURL(t *testing.T) {
	endpoints := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for _, k := range []string{"endpoint", "answerEndpoint", "feedbackUrl", "hitEndpoint"} {
			if v, ok := m[k].(string); ok && v != "" {
				out[k] = v
			}
		}
		return out
	}
	t.Run("configured", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.PublicURL = "https://rec.example.com/sightline/" })
		m, _, _ := e.getBootstrap(siteKey)
		eps := endpoints(m)
		if len(eps) < 2 {
			t.Fatalf("bootstrap has endpoints %v, want at least the batch and answer ones", eps)
		}
		for k, v := range eps {
			if !strings.HasPrefix(v, "https://rec.example.com/sightline/") || strings.Contains(v, "sightline//") {
				t.Errorf("%s = %q, want it under https://rec.example.com/sightline/", k, v)
			}
		}
		if eps["endpoint"] != "https://rec.example.com/sightline/i/v1/batch" {
			t.Errorf("endpoint = %q", eps["endpoint"])
		}
	})
	t.Run("from the request", func(t *testing.T) {
		e := newEnv(t, nil)
		m, _, _ := e.getBootstrap(siteKey)
		for k, v := range endpoints(m) {
			if !strings.HasPrefix(v, e.srv.URL+"/") {
				t.Errorf("%s = %q, want it under the request's origin %s", k, v, e.srv.URL)
			}
		}
	})
}
