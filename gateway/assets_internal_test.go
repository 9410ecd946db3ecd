package gateway

import "testing"

// TestPassiveType: only stylesheets, fonts and raster images keep their
// type; whatever could act as a document on our origin goes out as bytes.
func TestPassiveType(t *testing.T) {
	for in, want := range map[string]string{
		"text/css":                      "text/css",
		"text/css; charset=UTF-8":       "text/css; charset=UTF-8",
		"font/woff2":                    "font/woff2",
		"application/vnd.ms-fontobject": "application/vnd.ms-fontobject",
		"image/png":                     "image/png",
		"image/svg+xml":                 "application/octet-stream",
		"text/html":                     "application/octet-stream",
		"application/xhtml+xml":         "application/octet-stream",
		"text/xml":                      "application/octet-stream",
		"application/javascript":        "application/octet-stream",
		"text/javascript":               "application/octet-stream",
		"application/pdf":               "application/octet-stream",
		"":                              "application/octet-stream",
		"text/css\x00; x":               "application/octet-stream",
	} {
		if got := passiveType(in); got != want {
			t.Errorf("passiveType(%q) = %q, want %q", in, got, want)
		}
	}
}
