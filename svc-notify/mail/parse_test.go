package mail_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/svc-notify/mail"
)

func TestParseBase64AndSinglePart(t *testing.T) {
	raw := "Subject: =?utf-8?q?Caf=C3=A9?=\r\nTo: \"A\" <a@example.com>\r\nX-Sightline-Kind: digest\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>\r\n--b--\r\n"
	p, err := mail.Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Café" || p.To != "a@example.com" || p.ToName != "A" || p.Kind != "digest" || p.Text != "hello" || p.HTML != "<p>café</p>" {
		t.Errorf("Parse = %+v", p)
	}
	p, err = mail.Parse(strings.NewReader("Subject: x\r\nContent-Type: text/plain\r\n\r\nbody"))
	if err != nil || p.Text != "body" {
		t.Errorf("single part: %+v, %v", p, err)
	}
	for _, bad := range []string{"", "no header end", "Content-Type: multipart/alternative\r\n\r\n",
		"Content-Type: ;;\r\n\r\n"} {
		if _, err := mail.Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) took it", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	m, err := mail.Build("f", "ada@example.com", "Ada", samples()[6].data)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--"))
	f.Add([]byte(m.Text))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := mail.Parse(bytes.NewReader(b))
		if err == nil && len(p.Text)+len(p.HTML) > 2*len(b)+16 {
			t.Errorf("parts of %d bytes from %d", len(p.Text)+len(p.HTML), len(b))
		}
	})
}

func BenchmarkBuildDigest(b *testing.B) {
	d := samples()[6].data
	for b.Loop() {
		if _, err := mail.Build("d", "ada@example.com", "Ada", d); err != nil {
			b.Fatal(err)
		}
	}
}
