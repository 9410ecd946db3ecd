// Package dashclient is the dashboard's side of the REST API, for the
// benchmarks that run the real binary (bench-dashboard, bench-pipeline): a
// cookie jar holding the session and the CSRF header echoed from the
// sl_csrf cookie, as the dashboard sends it. Not safe for concurrent use.
package dashclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"time"
)

// Client is one dashboard user's session against base (http://host:port).
type Client struct {
	Base string
	hc   *http.Client
	csrf string
}

// New is a client with no session yet (sign up or log in first).
func New(base string) *Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Client{Base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// Do sends body (nil: none) as JSON and answers the status and the body.
func (c *Client) Do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == "sl_csrf" && ck.Value != "" {
			c.csrf = ck.Value
		}
	}
	return resp.StatusCode, out, err
}

// Must is Do requiring 200, decoding the answer into into (nil: ignored).
func (c *Client) Must(method, path string, body any, into any) error {
	code, out, err := c.Do(method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s %s = %d %s", method, path, code, out)
	}
	if into != nil {
		return json.Unmarshal(out, into)
	}
	return nil
}
