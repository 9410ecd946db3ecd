package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// ErrPermanent marks a send the server refused for good (a 5xx answer to
// the recipient or the message): retrying cannot help. Network errors and
// 4xx answers are plain errors, worth retrying.
var ErrPermanent = errors.New("mail: permanent failure")

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	Host string
	// Port defaults by TLS: 465 for "tls", 587 for "starttls" and
	// "starttls-opportunistic", 25 for "none".
	Port int
	// Username, when set, authenticates (PLAIN or LOGIN, or SCRAM when the
	// server offers it); Password is read by the caller from a file.
	Username, Password string
	From, FromName     string
	// TLS is "starttls" (the default: STARTTLS required),
	// "starttls-opportunistic", "tls" (implicit TLS) or "none".
	TLS string
	// Timeout bounds the connection and each command (default 30 s).
	Timeout time.Duration
	// HELO is the name the client greets with (default: the host name).
	HELO string
	// InsecureSkipVerify skips the server certificate's check: tests only.
	InsecureSkipVerify bool
	// RootCAs verify the server's certificate (default: the system's).
	RootCAs *x509.CertPool
}

func (c *SMTPConfig) defaults() {
	if c.TLS == "" {
		c.TLS = "starttls"
	}
	if c.Port == 0 {
		switch c.TLS {
		case "tls":
			c.Port = 465
		case "none":
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
}

// SMTP sends each message over its own connection to the server: e-mails
// are sent one job at a time, so a pool would save little.
type SMTP struct {
	cfg  SMTPConfig
	from from
	tls  *tls.Config
}

// NewSMTP checks cfg and returns the sender; it connects on Send only.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.defaults()
	if cfg.Host == "" {
		return nil, errors.New("mail: smtp: no host")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: smtp: port %d out of range", cfg.Port)
	}
	switch cfg.TLS {
	case "starttls", "starttls-opportunistic", "tls", "none":
	default:
		return nil, fmt.Errorf(`mail: smtp: tls %q is not "starttls", "starttls-opportunistic", "tls" or "none"`, cfg.TLS)
	}
	f, err := newFrom(cfg.From, cfg.FromName)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: %w", err)
	}
	return &SMTP{cfg: cfg, from: f, tls: &tls.Config{
		ServerName:         cfg.Host,
		RootCAs:            cfg.RootCAs,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // tests only, documented
		MinVersion:         tls.VersionTLS12,
	}}, nil
}

// Send implements Sender: one connection, one message, QUIT.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg, err := s.from.encode(m, time.Now())
	if err != nil {
		return err
	}
	// go-mail bounds each command by Timeout but does not watch ctx after
	// dialling; closing the connection when ctx ends stops a stalled send.
	var (
		stopMu sync.Mutex
		stop   func() bool
	)
	defer func() {
		stopMu.Lock()
		if stop != nil {
			stop()
		}
		stopMu.Unlock()
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: s.cfg.Timeout}
		var conn net.Conn
		var err error
		if s.cfg.TLS == "tls" {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		stopMu.Lock()
		stop = context.AfterFunc(ctx, func() { conn.Close() })
		stopMu.Unlock()
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(dial),
	}
	switch s.cfg.TLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "starttls-opportunistic":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default: // "tls" is encrypted by dial; "none" is not at all
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		// PLAIN and LOGIN refuse to send a password over an unencrypted
		// connection (except to localhost): a "none" server cannot get it.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: smtp %s: %w", m.Kind, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("mail: smtp: send %s to %s: %w (%w)", m.Kind, s.addr(), cerr, err)
		}
		if permanent(err) {
			return fmt.Errorf("mail: smtp: send %s to %s: %w: %w", m.Kind, s.addr(), ErrPermanent, err)
		}
		return fmt.Errorf("mail: smtp: send %s to %s: %w", m.Kind, s.addr(), err)
	}
	return nil
}

func (s *SMTP) addr() string { return net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)) }

// permanent reports whether err is the server's 5xx refusal of the
// recipient or of the message. A 5xx to MAIL FROM or AUTH is left
// transient: that is the configuration's fault, and an operator can fix
// it before the retries run out.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.IsTemp() {
		return false
	}
	code := se.ErrorCode()
	if code < 500 || code > 599 {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}
