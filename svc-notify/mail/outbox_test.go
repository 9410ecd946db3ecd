package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-notify/mail"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
)

func newOutbox(t testing.TB, dir string, max int) (*mail.Outbox, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	o, err := mail.NewOutbox(mail.OutboxConfig{Dir: dir, From: "sightline@example.test", FromName: "Sightline",
		MaxFiles: max, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return o, &logs
}

func emlFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestOutboxRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 0)
	ctx := t.Context()
	var sent []mail.Message
	for i, s := range samples() {
		m, err := mail.Build(fmt.Sprint("job-", i), fmt.Sprintf("user%d@example.com", i), "User", s.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	list, next, err := o.List(ctx, 0, "")
	if err != nil || next != "" || len(list) != len(sent) {
		t.Fatalf("List = %d e-mails, next %q, err %v; want %d", len(list), next, err, len(sent))
	}
	name := regexp.MustCompile(`^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{24}\.eml$`)
	for i, s := range list {
		m := sent[len(sent)-1-i] // newest first
		if !name.MatchString(s.ID) || s.To != m.To || s.Subject != m.Subject || s.Kind != m.Kind {
			t.Errorf("List[%d] = %+v, want %s to %s %q", i, s, m.Kind, m.To, m.Subject)
		}
		if time.Since(s.Time) > time.Minute || s.Time.Location() != time.UTC {
			t.Errorf("List[%d].Time = %v", i, s.Time)
		}
		full, err := o.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.Summary != s || full.Text != crlf(m.Text) || full.HTML != crlf(m.HTML) {
			t.Errorf("Get(%s) = %+v, text or HTML differ", s.ID, full.Summary)
		}
	}
}

// The outbox writes the very bytes the SMTP path sends, but for the Date.
func TestOutboxSameMIMEAsSMTP(t *testing.T) {
	srv := mailtest.NewServer(t)
	sender := newSMTP(t, srv.SMTPConfig())
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 0)
	m, err := mail.Build("digest.1", "ada@example.com", "Ada", samples()[6].data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	fromSMTP := srv.Wait(t, 1, 5*time.Second)[0]
	raw, err := os.ReadFile(emlFiles(t, dir)[0])
	if err != nil {
		t.Fatal(err)
	}
	fromOutbox, err := mail.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
		"Auto-Submitted", "X-Sightline-Kind", "Mime-Version"} {
		if a, b := fromSMTP.Header.Get(h), fromOutbox.Header.Get(h); a != b || a == "" {
			t.Errorf("%s: SMTP %q, outbox %q", h, a, b)
		}
	}
	if fromSMTP.Text != fromOutbox.Text || fromSMTP.HTML != fromOutbox.HTML {
		t.Error("parts differ")
	}
}

func TestOutboxIdempotent(t *testing.T) {
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 0)
	ctx := t.Context()
	build := func(id, name string) mail.Message {
		m, err := mail.Build(id, "ada@example.com", name, samples()[2].data) // greets the recipient
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := o.Send(ctx, build("same", "First")); err != nil {
		t.Fatal(err)
	}
	first := emlFiles(t, dir)
	time.Sleep(2 * time.Millisecond) // a new file would get a later name
	if err := o.Send(ctx, build("same", "Second")); err != nil {
		t.Fatal(err)
	}
	if got := emlFiles(t, dir); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("files %v after a re-send, want %v", got, first)
	}
	// After a restart too.
	o2, _ := newOutbox(t, dir, 0)
	if err := o2.Send(ctx, build("same", "Third")); err != nil {
		t.Fatal(err)
	}
	if got := emlFiles(t, dir); len(got) != 1 || got[0] != first[0] {
		t.Fatalf("files %v after a re-send past a restart, want %v", got, first)
	}
	full, err := o2.Get(ctx, filepath.Base(first[0]))
	if err != nil || !strings.Contains(full.Text, "Hi Third,") {
		t.Errorf("the re-send did not replace the file: %v\n%s", err, full.Text)
	}
	if err := o2.Send(ctx, build("other", "x")); err != nil {
		t.Fatal(err)
	}
	if got := emlFiles(t, dir); len(got) != 2 {
		t.Errorf("%d files, want 2", len(got))
	}
}

func TestOutboxRefusesBadIDs(t *testing.T) {
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 0)
	// A file outside the outbox that a traversal would reach.
	secret := filepath.Join(filepath.Dir(dir), "secret.eml")
	if err := os.WriteFile(secret, []byte("Subject: secret\r\n\r\nsecret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secret) })
	for _, id := range []string{"", "../secret.eml", "..", "/etc/passwd", "secret.eml",
		"20261130T071200.000000Z-../../secret.eml", "20261130T071200.000000Z-0123456789abcdef01234567.eml/",
		"20261130T071200.000000Z-0123456789ABCDEF01234567.eml", "20261130T071200.000000Z-0123456789abcdef01234567.eml\x00",
		".tmp-123"} {
		if _, err := o.Get(t.Context(), id); !errors.Is(err, mail.ErrInvalidID) {
			t.Errorf("Get(%q): err = %v, want ErrInvalidID", id, err)
		}
	}
	if _, err := o.Get(t.Context(), "20261130T071200.000000Z-0123456789abcdef01234567.eml"); !errors.Is(err, mail.ErrNotFound) {
		t.Errorf("absent id: err = %v, want ErrNotFound", err)
	}
	if _, _, err := o.List(t.Context(), 10, "../x"); !errors.Is(err, mail.ErrInvalidID) {
		t.Errorf("bad page token: err = %v", err)
	}
}

func TestOutboxPrunesAndPages(t *testing.T) {
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 5)
	ctx := t.Context()
	for i := range 8 {
		m, err := mail.Build(fmt.Sprint("m", i), fmt.Sprintf("u%d@example.com", i), "", samples()[0].data)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(emlFiles(t, dir)); n != 5 {
		t.Fatalf("%d files kept, want 5", n)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		list, next, err := o.List(ctx, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			got = append(got, s.To)
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("no end of pages")
		}
		token = next
	}
	if want := "u7@example.com u6@example.com u5@example.com u4@example.com u3@example.com"; strings.Join(got, " ") != want {
		t.Errorf("pages gave %v, want %s", got, want)
	}
	// A smaller limit at open prunes at once.
	newOutbox(t, dir, 2)
	if n := len(emlFiles(t, dir)); n != 2 {
		t.Errorf("%d files after reopening with MaxFiles 2", n)
	}
}

func TestOutboxSkipsHostileFiles(t *testing.T) {
	dir := t.TempDir()
	o, _ := newOutbox(t, dir, 0)
	m, err := mail.Build("good", "ada@example.com", "", samples()[0].data)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("20200101T000000.000000Z-aaaaaaaaaaaaaaaaaaaaaaaa.eml", []byte("\x00\xff garbage without a header end"))
	write("20200101T000001.000000Z-bbbbbbbbbbbbbbbbbbbbbbbb.eml", bytes.Repeat([]byte("X-Big: y\r\n"), 600_000))
	write("20200101T000002.000000Z-cccccccccccccccccccccccc.eml", []byte("Subject: not ours\r\n\r\nbody"))
	write("notes.txt", []byte("ignored"))
	write(".tmp-4242", []byte("Subject: half writ")) // a crashed write
	if err := os.Mkdir(filepath.Join(dir, "20200101T000003.000000Z-dddddddddddddddddddddddd.eml"), 0o700); err != nil {
		t.Fatal(err)
	}
	o, logs := newOutbox(t, dir, 0)
	if _, err := os.Stat(filepath.Join(dir, ".tmp-4242")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed write's temporary file is still there: %v", err)
	}
	list, next, err := o.List(t.Context(), 10, "")
	if err != nil || next != "" || len(list) != 1 || list[0].To != "ada@example.com" {
		t.Fatalf("List = %+v, %q, %v; want the one good e-mail", list, next, err)
	}
	if n := strings.Count(logs.String(), "skipping a file"); n != 3 {
		t.Errorf("%d skips logged, want 3:\n%s", n, logs)
	}
	if _, err := o.Get(t.Context(), "20200101T000001.000000Z-bbbbbbbbbbbbbbbbbbbbbbbb.eml"); err == nil {
		t.Error("Get read a huge file")
	}
	if _, err := o.Get(t.Context(), "20200101T000000.000000Z-aaaaaaaaaaaaaaaaaaaaaaaa.eml"); err == nil {
		t.Error("Get parsed garbage")
	}
}

// crashWriter is the child process of TestOutboxKilledMidWrite (see
// TestMain): it writes e-mails into dir until killed.
func crashWriter(dir string) {
	o, err := mail.NewOutbox(mail.OutboxConfig{Dir: dir, From: "sightline@example.test"})
	if err != nil {
		panic(err)
	}
	// A big HTML part makes each write long enough to be killed in.
	d := samples()[6].data.(mail.DigestData)
	for i := 0; ; i++ {
		m, err := mail.Build(fmt.Sprint("crash-", i), "ada@example.com", "Ada", d)
		if err != nil {
			panic(err)
		}
		m.HTML += strings.Repeat("<p>filler</p>\n", 40_000)
		if err := o.Send(context.Background(), m); err != nil {
			panic(err)
		}
	}
}

func TestOutboxKilledMidWrite(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(emlFiles(t, dir)) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(7 * time.Millisecond) // land somewhere inside a write
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	written := emlFiles(t, dir)
	if len(written) < 3 {
		t.Fatalf("the writer wrote %d e-mails before it was killed", len(written))
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	t.Logf("killed after %d e-mails, %d writes unfinished", len(written), len(tmps))
	o, logs := newOutbox(t, dir, 0)
	tmps, _ = filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left after reopening: %v", tmps)
	}
	list, _, err := o.List(t.Context(), mail.MaxOutboxPage, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(written) || logs.Len() != 0 {
		t.Errorf("List gave %d of %d e-mails; logs: %s", len(list), len(written), logs)
	}
	for _, s := range list {
		full, err := o.Get(t.Context(), s.ID)
		if err != nil || !strings.HasSuffix(strings.TrimSpace(full.HTML), "<p>filler</p>") {
			t.Errorf("%s is not whole: %v", s.ID, err)
		}
	}
}
