package assets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sightlinehq/sightline/netguard"
)

// Outcomes of a fetch (the fetches metric's "outcome" attribute).
const (
	OutcomeStored      = "stored"
	OutcomeUnchanged   = "unchanged"
	OutcomeRefusedSSRF = "refused_ssrf"
	OutcomeTooLarge    = "too_large"
	OutcomeBadType     = "bad_type"
	OutcomeHTTPError   = "http_error"
	OutcomeTimeout     = "timeout"
	OutcomeOverQuota   = "over_quota"
	OutcomeError       = "error"
)

// FetchError is a fetch that brought nothing storable, with its outcome.
type FetchError struct {
	Outcome string
	Err     error
}

func (e *FetchError) Error() string { return "assets: fetch: " + e.Outcome + ": " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// FetcherConfig bounds what the fetcher does.
type FetcherConfig struct {
	AllowPrivate bool
	// AllowTargets are non-public ranges fetched all the same (an
	// operator's internal sites).
	AllowTargets   []netip.Prefix
	ConnectTimeout time.Duration
	// Timeout bounds a whole fetch, redirects and body included.
	Timeout      time.Duration
	MaxRedirects int
	MaxCSSBytes  int64
	MaxFontBytes int64
	MaxImgBytes  int64
	// PerHost bounds concurrent fetches to one host.
	PerHost int
	// UserAgent names Sightline (sites can tell our fetches apart).
	UserAgent string
	// Resolver looks up hosts (nil: the system's).
	Resolver Resolver
	// afterGuard: see netguard.Config.AfterGuard (tests only).
	afterGuard func(address string) error
}

// Fetched is a resource as served.
type Fetched struct {
	// URL is the final URL after redirects (a stylesheet's base).
	URL         string
	ContentType string
	Kind        Kind
	Body        []byte
}

// Fetcher fetches page resources from the sites' origins. It is
// hostile-input code: every URL comes from a recorded page.
type Fetcher struct {
	cfg    FetcherConfig
	client *http.Client

	mu    sync.Mutex
	hosts map[string]*hostSlot
}

type hostSlot struct {
	sem  chan struct{}
	refs int
}

// NewFetcher builds a fetcher: no proxy (a proxy would connect where the
// guard cannot see), no cookie jar, the dial guard on every connection
// including each redirect's.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = 3
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = 2
	}
	g := netguard.NewDialer(netguard.Config{
		Resolver: cfg.Resolver, AllowPrivate: cfg.AllowPrivate, Allow: cfg.AllowTargets,
		ConnectTimeout: cfg.ConnectTimeout, Forbidden: ErrForbiddenTarget, Prefix: "assets",
		AfterGuard: cfg.afterGuard,
	})
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   cfg.PerHost,
		IdleConnTimeout:       30 * time.Second,
	}
	f := &Fetcher{cfg: cfg, hosts: map[string]*hostSlot{}}
	f.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a %s URL", ErrForbiddenTarget, req.URL.Scheme)
			}
			// The guard checks the new host when it is dialled.
			return nil
		},
	}
	return f
}

// Close drops idle connections.
func (f *Fetcher) Close() { f.client.CloseIdleConnections() }

func (f *Fetcher) acquire(ctx context.Context, host string) (func(), error) {
	f.mu.Lock()
	s := f.hosts[host]
	if s == nil {
		s = &hostSlot{sem: make(chan struct{}, f.cfg.PerHost)}
		f.hosts[host] = s
	}
	s.refs++
	f.mu.Unlock()
	release := func() {
		f.mu.Lock()
		if s.refs--; s.refs == 0 {
			delete(f.hosts, host)
		}
		f.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// Fetch GETs rawURL (an absolute http(s) URL) with referer as Referer and
// returns the body when its type is one we keep and its size is under that
// type's cap. A refusal is a *FetchError carrying the outcome.
func (f *Fetcher) Fetch(ctx context.Context, rawURL, referer string) (*Fetched, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FetchError{OutcomeRefusedSSRF, fmt.Errorf("%w: not an http(s) URL", ErrForbiddenTarget)}
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	release, err := f.acquire(ctx, u.Host)
	if err != nil {
		return nil, classify(err)
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &FetchError{OutcomeError, err}
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "text/css,font/woff2,font/woff,image/avif,image/webp,image/*;q=0.8,*/*;q=0.1")
	if ref, ok := NormalizeURL(referer); ok {
		req.Header.Set("Referer", ref)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &FetchError{OutcomeHTTPError, fmt.Errorf("status %d", resp.StatusCode)}
	}
	final := resp.Request.URL.String()
	kind, ctype, ok := acceptType(resp.Header.Get("Content-Type"), resp.Request.URL)
	if !ok {
		return nil, &FetchError{OutcomeBadType, fmt.Errorf("content type %q", resp.Header.Get("Content-Type"))}
	}
	limit := f.limit(kind)
	if resp.ContentLength > limit {
		return nil, &FetchError{OutcomeTooLarge, fmt.Errorf("%d bytes declared, the %s limit is %d", resp.ContentLength, kind, limit)}
	}
	// The cap holds while reading: a length may be absent or false, and a
	// compressed body is counted as decompressed.
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, classify(err)
	}
	if int64(len(body)) > limit {
		return nil, &FetchError{OutcomeTooLarge, fmt.Errorf("more than the %s limit of %d bytes", kind, limit)}
	}
	if !sniffOK(kind, body) {
		return nil, &FetchError{OutcomeBadType, fmt.Errorf("%s body does not look like one (sniffed %s)", kind, http.DetectContentType(body))}
	}
	return &Fetched{URL: final, ContentType: ctype, Kind: kind, Body: body}, nil
}

func (f *Fetcher) limit(k Kind) int64 {
	switch k {
	case KindCSS:
		return f.cfg.MaxCSSBytes
	case KindFont:
		return f.cfg.MaxFontBytes
	}
	return f.cfg.MaxImgBytes
}

// classify turns a transport error into an outcome.
func classify(err error) *FetchError {
	var ne net.Error
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		return &FetchError{OutcomeRefusedSSRF, err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &FetchError{OutcomeTimeout, err}
	}
	return &FetchError{OutcomeHTTPError, err}
}

var fontExts = map[string]string{
	".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf",
	".eot": "application/vnd.ms-fontobject",
}

// acceptType decides from the served Content-Type what the resource is and
// the type it is stored (and later served) with. Accepted: text/css;
// font/*, application/font-*, application/x-font-*,
// application/vnd.ms-fontobject, and application/octet-stream with a font
// file extension; image/* but SVG (an SVG document can run script and
// would be served from our origin).
func acceptType(header string, u *url.URL) (Kind, string, bool) {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return 0, "", false
	}
	switch {
	case mt == "text/css":
		ct := "text/css"
		if cs := params["charset"]; cs != "" {
			ct = mime.FormatMediaType(ct, map[string]string{"charset": strings.ToLower(cs)})
		}
		return KindCSS, ct, ct != ""
	case strings.HasPrefix(mt, "font/"), strings.HasPrefix(mt, "application/font-"),
		strings.HasPrefix(mt, "application/x-font-"), mt == "application/vnd.ms-fontobject":
		return KindFont, mt, true
	case mt == "application/octet-stream", mt == "binary/octet-stream":
		if ct, ok := fontExts[strings.ToLower(path.Ext(u.Path))]; ok {
			return KindFont, ct, true
		}
	case strings.HasPrefix(mt, "image/") && !strings.Contains(mt, "svg") && !strings.Contains(mt, "xml"):
		return KindImage, mt, true
	}
	return 0, "", false
}

// sniffOK checks that the body is not something else under the declared
// type: markup (HTML, XML, SVG) or a script is never kept, whatever the
// header said; CSS must sniff as text.
func sniffOK(k Kind, body []byte) bool {
	head := bytes.TrimLeft(body[:min(len(body), 512)], "\xef\xbb\xbf \t\r\n\f")
	if len(head) > 0 && head[0] == '<' {
		return false
	}
	sniffed := http.DetectContentType(body)
	switch k {
	case KindCSS:
		return strings.HasPrefix(sniffed, "text/plain")
	default:
		return !strings.HasPrefix(sniffed, "text/html") && !strings.HasPrefix(sniffed, "text/xml") &&
			!strings.HasPrefix(sniffed, "application/javascript")
	}
}
