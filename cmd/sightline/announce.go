package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/term"
)

// announceURL prints, once the process serves, the one line a person
// starting Sightline by hand looks for among the JSON logs: where the
// dashboard is, and on a fresh instance what to do first. It prints only
// when this process serves the dashboard (GET /api/v1/config answers).
func announceURL(ctx context.Context, started <-chan struct{}, httpAddr string, w io.Writer) {
	select {
	case <-started:
	case <-ctx.Done():
		return
	}
	base := dashboardURL(httpAddr)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/api/v1/config", nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return // no gateway here (an ingest-only process, say)
	}
	var cfg struct {
		FirstRun bool `json:"firstRun"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&cfg); err != nil {
		return
	}
	hint := ""
	if cfg.FirstRun {
		hint = " (first run: sign up to create the operator account)"
	}
	fmt.Fprintf(w, "Sightline is running: open %s%s\n", base, hint)
}

// dashboardURL is the address a browser on this machine opens for the
// listener bound at addr: a wildcard host (0.0.0.0, ::) is localhost.
func dashboardURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() || host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// isTerminal reports whether w is a terminal (a person is watching).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
