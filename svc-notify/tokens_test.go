package notify

import (
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sightlinehq/sightline/platform/config"
)

func TestUnsubscribeTokens(t *testing.T) {
	key, err := loadKey("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{key: key}
	for _, u := range []Unsubscribe{
		{Kind: UnsubscribeDigest, UserID: 1, SiteID: 2},
		{Kind: UnsubscribeAlert, UserID: 1 << 40, SiteID: 1<<63 - 1, RuleID: 3_000_000_000},
	} {
		tok := s.unsubscribeToken(u)
		if len(tok) > maxTokenLen || strings.ContainsAny(tok, "+/=?&") {
			t.Errorf("token %q: too long or not URL-safe", tok)
		}
		got, err := s.parseUnsubscribeToken(tok)
		if err != nil || got != u {
			t.Errorf("round trip of %+v: %+v, %v", u, got, err)
		}
		// Every single-character change is refused.
		for i := range tok {
			for _, c := range []byte{'A', '0', '_', '.'} {
				if tok[i] == c {
					continue
				}
				bad := tok[:i] + string(c) + tok[i+1:]
				if got, err := s.parseUnsubscribeToken(bad); err == nil && got != u {
					t.Fatalf("forged %q parsed as %+v", bad, got)
				}
			}
		}
		other := &Service{key: []byte("another key of enough bytes!!")}
		if _, err := other.parseUnsubscribeToken(tok); err == nil {
			t.Error("a token verified under another key")
		}
	}
	// Bodies that are well signed but malformed are refused too.
	sign := func(body []byte) string {
		return tokenVersion + base64.RawURLEncoding.EncodeToString(append(body, s.tokenMAC(body)...))
	}
	for name, body := range map[string][]byte{
		"unknown kind":       {'x', 1, 2, 0},
		"digest with a rule": {'d', 1, 2, 3},
		"alert without rule": {'a', 1, 2, 0},
		"zero user":          {'d', 0, 2, 0},
		"trailing bytes":     {'d', 1, 2, 0, 9},
		"truncated varint":   {'d', 1, 0x80, 0x80},
	} {
		if _, err := s.parseUnsubscribeToken(sign(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, tok := range []string{"", "1.", "2." + strings.Repeat("A", 30), "1.!!!!", "1." + strings.Repeat("A", 200), "1.AAAA"} {
		if _, err := s.parseUnsubscribeToken(tok); err == nil {
			t.Errorf("%q accepted", tok)
		}
	}
}

func FuzzParseUnsubscribeToken(f *testing.F) {
	s := &Service{key: []byte("0123456789abcdef0123456789abcdef")}
	f.Add(s.unsubscribeToken(Unsubscribe{Kind: UnsubscribeAlert, UserID: 1, SiteID: 2, RuleID: 3}))
	f.Add("1.")
	f.Fuzz(func(t *testing.T, tok string) {
		u, err := s.parseUnsubscribeToken(tok)
		if err == nil && s.unsubscribeToken(u) != tok {
			t.Fatalf("%q parsed as %+v, which signs differently", tok, u)
		}
	})
}

func TestKeyMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := loadKey("", dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) || len(k) != keyBytes {
			t.Fatal("processes starting at once got different keys")
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "notify.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("notify.key: %v %v, want mode 0600", fi, err)
	}
	again, err := loadKey("", dir)
	if err != nil || string(again) != string(keys[0]) {
		t.Fatal("the key changed on restart")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(short, ""); err == nil || !strings.Contains(err.Error(), "notify.secret-file") {
		t.Errorf("a short secret file: %v", err)
	}
	if _, err := loadKey(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("a missing secret file was accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	var def Config
	def.RegisterFlags(flag.NewFlagSet("notify", flag.ContinueOnError))
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for key, f := range map[string]func(*Config){
		"notify.database-url":                   func(c *Config) { c.DatabaseURL = config.NewSecret("mysql:x") },
		"notify.dashboard-url":                  func(c *Config) { c.DashboardURL = "ftp://x" },
		"notify.smtp.port":                      func(c *Config) { c.SMTP.Host, c.SMTP.Port = "mail", 0 },
		"notify.smtp.password-file":             func(c *Config) { c.SMTP.Host, c.SMTP.Username = "mail", "u" },
		"notify.smtp.from":                      func(c *Config) { c.SMTP.From = "not an address" },
		"notify.smtp.from-name":                 func(c *Config) { c.SMTP.FromName = "a\r\nBcc: x" },
		"notify.smtp.tls":                       func(c *Config) { c.SMTP.TLS = "ssl" },
		"notify.smtp.timeout":                   func(c *Config) { c.SMTP.Timeout = 0 },
		"notify.outbox.max-files":               func(c *Config) { c.OutboxMaxFiles = 0 },
		"notify.workers":                        func(c *Config) { c.Workers = 0 },
		"notify.webhook.timeout":                func(c *Config) { c.Webhook.Timeout = 0 },
		"notify.webhook.max-per-site":           func(c *Config) { c.Webhook.MaxPerSite = 0 },
		"notify.webhook.disable-after":          func(c *Config) { c.Webhook.DisableAfter = minRetrySpan - 1 },
		"notify.alerts.interval":                func(c *Config) { c.Alerts.Interval = 0 },
		"notify.alerts.max-rules-per-user-site": func(c *Config) { c.Alerts.MaxRulesPerUserSite = 0 },
		"notify.digest.hour":                    func(c *Config) { c.Digest.Hour = 24 },
		"notify.session-end.interval":           func(c *Config) { c.SessionEndInterval = 0 },
		"notify.retention.interval":             func(c *Config) { c.RetentionInterval = 0 },
		"notify.retention":                      func(c *Config) { c.Retention = 0 },
		"notify.rescue-after":                   func(c *Config) { c.RescueAfter = 0 },
		"notify.poll-interval":                  func(c *Config) { c.PollInterval = 0 },
	} {
		c := def
		f(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s: %v, want an error naming it", key, err)
		}
	}
}
