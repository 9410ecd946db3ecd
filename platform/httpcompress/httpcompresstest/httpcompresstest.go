// Package httpcompresstest fetches HTTP answers as a browser does, with
// the Accept-Encoding the test names, and decodes them itself, so a test
// sees which encoding the server chose (Go's transport would decode gzip
// silently and never ask for zstd).
package httpcompresstest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Fetch sends method to url with Accept-Encoding accept (none when empty)
// and answers the response, its body as sent and that body decoded by its
// Content-Encoding (none, gzip or zstd; any other fails the test).
func Fetch(t testing.TB, method, url, accept string) (resp *http.Response, sent, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	resp, err = (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if sent, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
		body = sent
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(sent))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		zr, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		if body, err = zr.DecodeAll(sent, nil); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("%s %s: Content-Encoding %q", method, url, enc)
	}
	return resp, sent, body
}
