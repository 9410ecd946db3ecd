package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/netguard"
)

// Sender defaults.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 10
	DefaultUserAgent        = "Sightline-Webhooks/1"
	// maxReadBytes is how much of a response is read at most: past the kept
	// part it is drained so the connection can be reused, within reason.
	maxReadBytes = 64 << 10
)

// Sender posts deliveries. It is safe for concurrent use; set its fields
// before the first Send.
//
// It is SSRF-safe by construction when AllowPrivate is false: the URL is
// checked with CheckURL, and every address a host resolves to is checked
// again when dialling (and in the socket's Control hook just before
// connect), so a name that resolves to a private address — at check time
// or later, DNS rebinding — is never connected to. Redirects are not
// followed at all: a 3xx answer is a failed attempt saying so (a webhook
// URL should be the final one, and a redirect is the easiest way to bounce
// a request somewhere else). Proxies from the environment are not used (a
// proxy would connect where the guard cannot see).
type Sender struct {
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (tests, internal receivers; notify.webhook.allow-private).
	AllowPrivate bool
	// Timeout bounds one attempt: connect, TLS, request, response and the
	// body read (DefaultTimeout when 0).
	Timeout time.Duration
	// MaxResponseBytes is how much of the receiver's answer Result keeps
	// (DefaultMaxResponseBytes when 0); at most 64 KiB is ever read.
	MaxResponseBytes int
	// UserAgent is sent with each delivery (DefaultUserAgent when empty).
	UserAgent string
	// Resolver looks up hosts (nil: the system's). Only consulted when
	// AllowPrivate is false; otherwise the transport dials as usual.
	Resolver Resolver

	// rootCAs and afterGuard are test hooks: a TLS test server's
	// certificate, and a look at each address the guard let through.
	rootCAs    *x509.CertPool
	afterGuard func(address string) error

	once   sync.Once
	client *http.Client
}

func (s *Sender) init() {
	s.once.Do(func() {
		if s.Timeout <= 0 {
			s.Timeout = DefaultTimeout
		}
		if s.MaxResponseBytes <= 0 {
			s.MaxResponseBytes = DefaultMaxResponseBytes
		}
		if s.MaxResponseBytes > maxReadBytes {
			s.MaxResponseBytes = maxReadBytes
		}
		if s.UserAgent == "" {
			s.UserAgent = DefaultUserAgent
		}
		tr := &http.Transport{
			Proxy:                  nil,
			ForceAttemptHTTP2:      true,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.rootCAs},
			TLSHandshakeTimeout:    s.Timeout,
			ResponseHeaderTimeout:  s.Timeout,
			MaxIdleConns:           256,
			MaxIdleConnsPerHost:    64,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}
		if s.AllowPrivate {
			d := &net.Dialer{Timeout: s.Timeout, KeepAlive: 30 * time.Second}
			tr.DialContext = d.DialContext
		} else {
			tr.DialContext = netguard.NewDialer(netguard.Config{
				Resolver: s.Resolver, ConnectTimeout: s.Timeout, KeepAlive: 30 * time.Second,
				Forbidden: ErrForbiddenTarget, Prefix: "webhook", AfterGuard: s.afterGuard,
			}).DialContext
		}
		s.client = &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	})
}

// Close drops idle connections.
func (s *Sender) Close() {
	s.init()
	s.client.CloseIdleConnections()
}

// Send makes one delivery attempt: a POST of r.Body (JSON) signed with
// r.Secrets, with the webhook-id, webhook-timestamp and webhook-signature
// headers. The result is a success (2xx), a permanent failure (invalid or
// refused target, malformed secret, 410 Gone: the receiver asks for no
// more deliveries) or a transient one (everything else: connection errors,
// timeouts, 3xx, 4xx, 5xx), to be retried after Backoff.
func (s *Sender) Send(ctx context.Context, r Request) Result {
	s.init()
	start := time.Now()
	res := s.send(ctx, r)
	res.Duration = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, r Request) Result {
	if err := CheckURL(r.URL, s.AllowPrivate); err != nil {
		return Result{Err: err, Permanent: true}
	}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	sig, err := Sign(r.Secrets, r.MessageID, ts, r.Body)
	if err != nil {
		return Result{Err: err, Permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("webhook: build request: %w", err), Permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.UserAgent)
	req.Header.Set(HeaderID, r.MessageID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Err: s.describe(ctx, err), Permanent: errors.Is(err, ErrForbiddenTarget)}
	}
	defer resp.Body.Close()
	kept, readErr := readCapped(resp.Body, s.MaxResponseBytes, maxReadBytes)
	res := Result{StatusCode: resp.StatusCode, Response: kept}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		// The receiver answered; a body cut short by the timeout does not
		// undo the success.
		return res
	case code == http.StatusGone:
		res.Err = errors.New("receiver answered 410 Gone: it asks for no more deliveries")
		res.Permanent = true
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if len(loc) > 200 {
			loc = loc[:200] + "…"
		}
		res.Err = fmt.Errorf("receiver answered %d %s (to %q): redirects are not followed, use the final URL", code, http.StatusText(code), loc)
	default:
		res.Err = fmt.Errorf("receiver answered %d %s", code, http.StatusText(code))
	}
	if readErr != nil && ctx.Err() != nil {
		res.Err = fmt.Errorf("%w (body read timed out)", res.Err)
	}
	return res
}

// describe turns a transport error into a message for the delivery log
// (without net/url's "Post <url>:" prefix: the log shows the URL).
func (s *Sender) describe(ctx context.Context, err error) error {
	err = unwrapURLError(err)
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("webhook: no answer within %s: %w", s.Timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("webhook: %w", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readCapped reads at most limit bytes of body and keeps the first keep of
// them as valid UTF-8.
func readCapped(body io.Reader, keep, limit int) (string, error) {
	buf := make([]byte, keep)
	n, err := io.ReadFull(body, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	} else if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(body, int64(limit-keep)))
	}
	return validPrefix(buf[:n]), err
}

// validPrefix returns b as valid UTF-8 of at most len(b) bytes: a rune cut
// at the end is dropped, invalid bytes become "?".
func validPrefix(b []byte) string {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b) {
				break // a rune cut by the cap
			}
			out = append(out, '?')
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return string(out)
}
