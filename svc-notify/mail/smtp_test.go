package mail_test

import (
	"context"
	"errors"
	"mime"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
)

func newSMTP(t *testing.T, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crlf turns a template's LF line ends into the CRLF of a mail part.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestSMTPEveryKind(t *testing.T) {
	srv := mailtest.NewServer(t)
	sender := newSMTP(t, srv.SMTPConfig())
	ctx := t.Context()
	for i, s := range samples() {
		t.Run(s.kind, func(t *testing.T) {
			id := "notify." + s.kind + ".9000000001"
			m, err := mail.Build(id, "ada@example.com", "Ada Lovelace", s.data)
			if err != nil {
				t.Fatal(err)
			}
			if err := sender.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(t, i+1, 5*time.Second)[i]
			if got.MailFrom != "sightline@example.test" || len(got.RcptTo) != 1 || got.RcptTo[0] != "ada@example.com" {
				t.Errorf("envelope from %q to %q", got.MailFrom, got.RcptTo)
			}
			h := got.Header
			if f := h.Get("From"); f != `"Sightline" <sightline@example.test>` {
				t.Errorf("From = %q", f)
			}
			if got.ToName != "Ada Lovelace" || got.To != "ada@example.com" {
				t.Errorf("To = %q <%s>", got.ToName, got.To)
			}
			if got.Subject != m.Subject {
				t.Errorf("Subject = %q, want %q", got.Subject, m.Subject)
			}
			if mid := h.Get("Message-ID"); mid != "<"+id+"@example.test>" {
				t.Errorf("Message-ID = %q", mid)
			}
			if _, err := h.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "multipart/alternative" {
				t.Errorf("Content-Type = %q", h.Get("Content-Type"))
			}
			if h.Get("Auto-Submitted") != "auto-generated" || got.Kind != s.kind {
				t.Errorf("Auto-Submitted %q, kind %q", h.Get("Auto-Submitted"), got.Kind)
			}
			if s.unsubscribe != "" {
				if lu := h.Get("List-Unsubscribe"); lu != "<"+s.unsubscribe+">" {
					t.Errorf("List-Unsubscribe = %q", lu)
				}
				if lp := h.Get("List-Unsubscribe-Post"); lp != "List-Unsubscribe=One-Click" {
					t.Errorf("List-Unsubscribe-Post = %q", lp)
				}
			} else if h.Get("List-Unsubscribe") != "" {
				t.Errorf("List-Unsubscribe on a %s e-mail", s.kind)
			}
			if got.Text != crlf(m.Text) {
				t.Errorf("text part differs:\n%q\nwant\n%q", got.Text, crlf(m.Text))
			}
			if got.HTML != crlf(m.HTML) {
				t.Errorf("HTML part differs")
			}
			links := got.Links()
			for _, l := range s.links {
				if !strings.Contains(got.Text, l) {
					t.Errorf("text part lacks %s", l)
				}
				found := false
				for _, g := range links {
					found = found || g == l
				}
				if !found {
					t.Errorf("HTML part has no link to %s (has %q)", l, links)
				}
			}
			checkHTMLSafe(t, got.HTML)
		})
	}
}

func TestSMTPSameIDSameMessageID(t *testing.T) {
	srv := mailtest.NewServer(t)
	sender := newSMTP(t, srv.SMTPConfig())
	long := "verify:" + strings.Repeat("é", 80) // not dot-atom text: hashed
	m, err := mail.Build(long, "ada@example.com", "", samples()[0].data)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := sender.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Wait(t, 2, 5*time.Second)
	a, b := got[0].Header.Get("Message-ID"), got[1].Header.Get("Message-ID")
	if a != b || !strings.HasPrefix(a, "<h") || !strings.HasSuffix(a, "@example.test>") || strings.ContainsAny(a, "é:") {
		t.Errorf("Message-IDs %q and %q", a, b)
	}
}

func TestSMTPPermanentAndTransient(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Reject("gone@example.com", 550)
	srv.Reject("busy@example.com", 451)
	sender := newSMTP(t, srv.SMTPConfig())
	send := func(to string) error {
		m, err := mail.Build("x-"+to, to, "", samples()[0].data)
		if err != nil {
			t.Fatal(err)
		}
		return sender.Send(t.Context(), m)
	}
	if err := send("gone@example.com"); !errors.Is(err, mail.ErrPermanent) {
		t.Errorf("550: err = %v, want ErrPermanent", err)
	} else if !strings.Contains(err.Error(), "550") {
		t.Errorf("550: err = %v does not say the code", err)
	}
	if err := send("busy@example.com"); err == nil || errors.Is(err, mail.ErrPermanent) {
		t.Errorf("451: err = %v, want a transient error", err)
	}
	if err := send("ok@example.com"); err != nil {
		t.Errorf("after refusals: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server kept %d messages, want 1", n)
	}

	srv.RejectData(554)
	if err := send("spam@example.com"); !errors.Is(err, mail.ErrPermanent) {
		t.Errorf("554 to DATA: err = %v, want ErrPermanent", err)
	}
	srv.RejectData(452)
	if err := send("full@example.com"); err == nil || errors.Is(err, mail.ErrPermanent) {
		t.Errorf("452 to DATA: err = %v, want a transient error", err)
	}
	srv.RejectData(0)

	// Nobody listening: transient.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.SMTPConfig()
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	m, _ := mail.Build("y", "ok@example.com", "", samples()[0].data)
	if err := newSMTP(t, cfg).Send(t.Context(), m); err == nil || errors.Is(err, mail.ErrPermanent) {
		t.Errorf("refused connection: err = %v, want a transient error", err)
	}
}

func TestSMTPAuthAndTLS(t *testing.T) {
	m, err := mail.Build("a", "ada@example.com", "", samples()[0].data)
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t)

	cfg := srv.SMTPConfig()
	cfg.Password = "wrong"
	if err := newSMTP(t, cfg).Send(t.Context(), m); err == nil || errors.Is(err, mail.ErrPermanent) {
		t.Errorf("wrong password: err = %v, want a transient error", err)
	}
	cfg = srv.SMTPConfig()
	cfg.Username = ""
	if err := newSMTP(t, cfg).Send(t.Context(), m); err == nil {
		t.Error("no credentials: sent anyway")
	}
	cfg = srv.SMTPConfig()
	cfg.RootCAs = nil // the system's roots do not know the test certificate
	if err := newSMTP(t, cfg).Send(t.Context(), m); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown certificate: err = %v", err)
	}
	cfg.InsecureSkipVerify = true
	if err := newSMTP(t, cfg).Send(t.Context(), m); err != nil {
		t.Errorf("InsecureSkipVerify: %v", err)
	}

	// A server without STARTTLS: "starttls" refuses to go on in clear,
	// "starttls-opportunistic" sends.
	plain := mailtest.NewServer(t, mailtest.WithoutTLS(), mailtest.WithoutAuth())
	cfg = plain.SMTPConfig()
	cfg.TLS = "starttls"
	if err := newSMTP(t, cfg).Send(t.Context(), m); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("starttls without STARTTLS: err = %v", err)
	}
	cfg.TLS = "starttls-opportunistic"
	if err := newSMTP(t, cfg).Send(t.Context(), m); err != nil {
		t.Errorf("opportunistic: %v", err)
	}
	if err := newSMTP(t, plain.SMTPConfig()).Send(t.Context(), m); err != nil {
		t.Errorf("none: %v", err)
	}
	if n := len(plain.Messages()); n != 2 {
		t.Errorf("plain server got %d messages, want 2", n)
	}

	implicit := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	if err := newSMTP(t, implicit.SMTPConfig()).Send(t.Context(), m); err != nil {
		t.Errorf("implicit TLS: %v", err)
	}
	if got := implicit.Wait(t, 1, 5*time.Second); got[0].Subject != m.Subject {
		t.Errorf("implicit TLS: subject %q", got[0].Subject)
	}
}

// silent accepts connections and never answers.
func silent(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().(*net.TCPAddr).Port
}

func TestSMTPTimeout(t *testing.T) {
	m, err := mail.Build("t", "ada@example.com", "", samples()[0].data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mail.SMTPConfig{Host: "127.0.0.1", Port: silent(t), From: "sightline@example.test", Timeout: 300 * time.Millisecond}
	start := time.Now()
	err = newSMTP(t, cfg).Send(t.Context(), m)
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Errorf("silent server: err = %v after %v, want an error within the 300 ms timeout", err, took)
	}
	if errors.Is(err, mail.ErrPermanent) {
		t.Errorf("a timeout is not permanent: %v", err)
	}

	// The context ends first: Send gives up then, not at Timeout.
	cfg.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = newSMTP(t, cfg).Send(ctx, m)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Errorf("context deadline: err = %v after %v", err, took)
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	for _, cfg := range []mail.SMTPConfig{
		{From: "a@example.com"},
		{Host: "h", From: "a@example.com", TLS: "ssl"},
		{Host: "h", From: "a@example.com", Port: 70000},
		{Host: "h", From: "Sightline <a@example.com>"},
		{Host: "h"},
	} {
		if _, err := mail.NewSMTP(cfg); err == nil {
			t.Errorf("NewSMTP(%+v) took it", cfg)
		}
	}
}

func TestSMTPRefusesUnbuiltMessage(t *testing.T) {
	srv := mailtest.NewServer(t)
	err := newSMTP(t, srv.SMTPConfig()).Send(t.Context(), mail.Message{ID: "x", To: "a@example.com"})
	if err == nil || !strings.Contains(err.Error(), "Build") {
		t.Errorf("err = %v", err)
	}
}

func TestSMTPNonASCIIHeaders(t *testing.T) {
	srv := mailtest.NewServer(t)
	d := samples()[6].data.(mail.DigestData)
	d.SiteName, d.Frequency, d.Period = "Café “Zoë”", "weekly", "23–29 November 2026"
	m, err := mail.Build("w", "zoe@example.com", "Zoë Ümlaut, Jr.", d)
	if err != nil {
		t.Fatal(err)
	}
	if err := newSMTP(t, srv.SMTPConfig()).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if got.Subject != "[Café “Zoë”] Weekly digest for 23–29 November 2026" || got.ToName != "Zoë Ümlaut, Jr." {
		t.Errorf("subject %q, to name %q", got.Subject, got.ToName)
	}
	for _, line := range strings.Split(string(got.Raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d bytes", len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("raw 8-bit byte in %q", line)
			}
		}
	}
}
