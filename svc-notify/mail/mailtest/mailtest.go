// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp)
// on 127.0.0.1 for tests: by default with STARTTLS (a self-signed
// certificate made for the test) and AUTH PLAIN required, keeping every
// message it receives, parsed. Point a mail.SMTP at it with SMTPConfig.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sightlinehq/sightline/svc-notify/mail"
)

// Server is a running test SMTP server; NewServer stops it when the test
// ends.
type Server struct {
	// Host and Port are where it listens (Host is "127.0.0.1"); Addr is
	// both.
	Host string
	Port int
	Addr string
	// Username and Password are the credentials it requires (unless
	// WithoutAuth).
	Username, Password string
	// RootCAs trusts the server's certificate; CertPEM is the certificate,
	// for a process configured with a CA file. Nil without TLS.
	RootCAs *x509.CertPool
	CertPEM []byte

	opts options
	srv  *smtp.Server

	mu         sync.Mutex
	msgs       []Message
	reject     map[string]*smtp.SMTPError
	rejectData *smtp.SMTPError
	changed    chan struct{} // closed and replaced on every new message
}

// Message is one message the server received: the envelope, the raw
// bytes, and the message parsed (headers, subject, both parts).
type Message struct {
	// MailFrom and RcptTo are the envelope; the header's To is
	// Parsed.To.
	MailFrom string
	RcptTo   []string
	Raw      []byte
	mail.Parsed
}

// Links returns the href of every link in the HTML part, unescaped, in
// order.
func (m Message) Links() []string {
	var out []string
	for _, sub := range hrefRE.FindAllStringSubmatch(m.HTML, -1) {
		out = append(out, html.UnescapeString(sub[1]))
	}
	return out
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

type options struct{ noTLS, noAuth, implicitTLS bool }

// Option changes NewServer's defaults.
type Option func(*options)

// WithoutTLS offers no STARTTLS (and then accepts AUTH in the clear):
// for a client configured with TLS "none".
func WithoutTLS() Option { return func(o *options) { o.noTLS = true } }

// WithImplicitTLS speaks TLS from the first byte (port 465 style): for a
// client configured with TLS "tls".
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// WithoutAuth accepts mail without AUTH.
func WithoutAuth() Option { return func(o *options) { o.noAuth = true } }

// NewServer starts a server on 127.0.0.1:0 and stops it at the test's end.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		Host: "127.0.0.1", Username: "sightline", Password: "test-password",
		reject: map[string]*smtp.SMTPError{}, changed: make(chan struct{}),
	}
	for _, o := range opts {
		o(&s.opts)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 16 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = s.opts.noTLS
	if !s.opts.noTLS {
		cert, certPEM, err := selfSigned()
		if err != nil {
			t.Fatalf("mailtest: certificate: %v", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.CertPEM = certPEM
		s.RootCAs = x509.NewCertPool()
		s.RootCAs.AppendCertsFromPEM(certPEM)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	if s.opts.implicitTLS && srv.TLSConfig != nil {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.Addr = l.Addr().String()
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		// Close forgets a listener Serve has not registered yet.
		l.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("mailtest: serve: %v", err)
		}
	})
	return s
}

// SMTPConfig is a mail.SMTPConfig that reaches this server: STARTTLS
// trusting its certificate (TLS "none" WithoutTLS, "tls" WithImplicitTLS), its credentials
// (none WithoutAuth), a 5 s timeout, from sightline@example.test.
func (s *Server) SMTPConfig() mail.SMTPConfig {
	c := mail.SMTPConfig{
		Host: s.Host, Port: s.Port, From: "sightline@example.test", FromName: "Sightline",
		TLS: "starttls", RootCAs: s.RootCAs, Timeout: 5 * time.Second, HELO: "client.test",
	}
	switch {
	case s.opts.noTLS:
		c.TLS = "none"
	case s.opts.implicitTLS:
		c.TLS = "tls"
	}
	if !s.opts.noAuth {
		c.Username, c.Password = s.Username, s.Password
	}
	return c
}

// Reject makes the server answer RCPT TO addr with code (e.g. 550 for a
// permanent refusal, 451 for a temporary one).
func (s *Server) Reject(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	class := code / 100
	s.reject[strings.ToLower(addr)] = &smtp.SMTPError{
		Code: code, EnhancedCode: smtp.EnhancedCode{class, 1, 1},
		Message: fmt.Sprintf("mailtest: %s refused with %d", addr, code),
	}
}

// RejectData makes the server answer every message's DATA with code
// (e.g. 554 "rejected as spam", 452 "out of space"); 0 accepts again.
func (s *Server) RejectData(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectData = nil
	if code != 0 {
		s.rejectData = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 6, 0},
			Message: fmt.Sprintf("mailtest: message refused with %d", code)}
	}
}

// Messages returns what the server received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until the server has received at least n messages and
// returns them; it fails the test after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("mailtest: %d messages after %v, want %d", got, timeout, n)
			return nil
		}
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.noAuth {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.Username || password != ss.s.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.s.opts.noAuth && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	rej := ss.s.reject[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if rej != nil {
		return rej
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	rej := ss.s.rejectData
	ss.s.mu.Unlock()
	if rej != nil {
		return rej
	}
	p, err := mail.Parse(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message: "mailtest: cannot parse the message: " + err.Error()}
	}
	m := Message{MailFrom: ss.from, RcptTo: append([]string(nil), ss.to...), Raw: raw, Parsed: p}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	close(ss.s.changed)
	ss.s.changed = make(chan struct{})
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}
