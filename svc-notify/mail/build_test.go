package mail_test

import (
	"html"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/svc-notify/mail"
)

func TestBuildEveryKind(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.kind, func(t *testing.T) {
			m, err := mail.Build("job-1", "ada@example.com", "Ada Lovelace", s.data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != s.kind || m.ID != "job-1" || m.To != "ada@example.com" || m.ToName != "Ada Lovelace" {
				t.Errorf("message = %+v", m)
			}
			if m.Subject != s.subject {
				t.Errorf("subject = %q, want %q", m.Subject, s.subject)
			}
			if m.Unsubscribe != s.unsubscribe {
				t.Errorf("unsubscribe = %q, want %q", m.Unsubscribe, s.unsubscribe)
			}
			for _, l := range s.links {
				if !strings.Contains(m.Text, l) {
					t.Errorf("text lacks link %s", l)
				}
				if !strings.Contains(m.HTML, `href="`+html.EscapeString(l)+`"`) {
					t.Errorf("HTML lacks link %s", l)
				}
			}
			for _, p := range s.says {
				if !strings.Contains(m.Text, p) {
					t.Errorf("text lacks %q:\n%s", p, m.Text)
				}
			}
			checkHTMLSafe(t, m.HTML)
			if !strings.Contains(m.Text, "You get this e-mail because") || !strings.Contains(m.HTML, "You get this e-mail because") {
				t.Error("no footer saying why")
			}
			if s.unsubscribe != "" && !strings.Contains(m.Text, "Unsubscribe: "+s.unsubscribe) {
				t.Error("text part lacks the unsubscribe link")
			}
		})
	}
}

// checkHTMLSafe fails if the hostile sample text got into the HTML
// unescaped.
func checkHTMLSafe(t *testing.T, h string) {
	t.Helper()
	for _, bad := range []string{"<script", `'quotes'`, `"double"`, `"><script`} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML holds %q unescaped", bad)
		}
	}
}

func TestBuildHostileDigestIsEscaped(t *testing.T) {
	s := samples()[6]
	m, err := mail.Build("d", "ada@example.com", hostile, s.data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;quotes&#39;") {
		t.Errorf("site name not escaped as expected in:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "https://shop.example/cart?a=&lt;b&gt;") {
		t.Error("page URL not escaped")
	}
	if strings.ContainsAny(m.ToName, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		t.Error("a header value holds a line break")
	}
}

func TestBuildDigestWithoutAnswers(t *testing.T) {
	d := samples()[6].data.(mail.DigestData)
	d.NPS, d.FeedbackAnswers, d.SurveyAnswers, d.TopPages = nil, 0, 0, nil
	d.Frequency, d.Period = "weekly", "23–29 November 2026"
	m, err := mail.Build("d", "ada@example.com", "", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"Hi,", "in the week of 23–29 November 2026", "No page had frustrated visitors.",
		"Feedback: no answers", "Surveys:  no answers", "NPS:      no answers"} {
		if !strings.Contains(m.Text, p) {
			t.Errorf("text lacks %q:\n%s", p, m.Text)
		}
	}
	if !strings.HasSuffix(m.Subject, "] Weekly digest for 23–29 November 2026") {
		t.Errorf("subject = %q", m.Subject)
	}
	if !strings.Contains(m.HTML, "<td>no answers</td>") {
		t.Error("HTML lacks NPS's no answers")
	}
}

func TestBuildCapsTopPages(t *testing.T) {
	d := samples()[6].data.(mail.DigestData)
	d.TopPages = nil
	for range 50 {
		d.TopPages = append(d.TopPages, mail.DigestPage{URL: "https://shop.example/p", Sessions: 1, Link: base + "/x"})
	}
	m, err := mail.Build("d", "ada@example.com", "", d)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(m.Text, "https://shop.example/p"); n != 10 {
		t.Errorf("%d pages shown, want 10", n)
	}
}

func TestBuildRefuses(t *testing.T) {
	ok := mail.VerifyEmailData{Link: base + "/verify-email?token=x"}
	d := samples()[6].data.(mail.DigestData)
	d.UnsubscribeLink = ""
	cases := []struct {
		name   string
		id, to string
		data   mail.Data
		want   string
	}{
		{"no data", "a", "a@example.com", nil, "no data"},
		{"no id", "", "a@example.com", ok, "id"},
		{"long id", strings.Repeat("x", 300), "a@example.com", ok, "id"},
		{"named recipient", "a", "Ada <a@example.com>", ok, "bare e-mail address"},
		{"bad recipient", "a", "not an address", ok, "bare e-mail address"},
		{"missing link", "a", "a@example.com", mail.VerifyEmailData{}, "Link is required"},
		{"javascript link", "a", "a@example.com", mail.VerifyEmailData{Link: "javascript:alert(1)"}, "not an absolute http(s) URL"},
		{"relative link", "a", "a@example.com", mail.VerifyEmailData{Link: "/verify-email?token=x"}, "not an absolute http(s) URL"},
		{"quote in link", "a", "a@example.com", mail.VerifyEmailData{Link: base + `/x"onmouseover="alert(1)`}, "links must escape"},
		{"angle in link", "a", "a@example.com", mail.VerifyEmailData{Link: base + "/x>"}, "links must escape"},
		{"newline in link", "a", "a@example.com", mail.VerifyEmailData{Link: base + "/x\r\nBcc: a@b"}, "links must escape"},
		{"user in link", "a", "a@example.com", mail.VerifyEmailData{Link: "https://user@evil.example/"}, "not an absolute"},
		{"long link", "a", "a@example.com", mail.VerifyEmailData{Link: base + "/" + strings.Repeat("a", 5000)}, "longer than"},
		{"pointer", "a", "a@example.com", &ok, "not a pointer"},
		{"digest without unsubscribe", "a", "a@example.com", d, "UnsubscribeLink is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := mail.Build(c.id, c.to, "", c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func FuzzBuildDigest(f *testing.F) {
	f.Add(hostile, "https://shop.example/<x>", "Sunday", "Ada")
	f.Add("\x00\xff\r\n", "", "\u202e", "")
	f.Fuzz(func(t *testing.T, site, page, period, name string) {
		d := samples()[6].data.(mail.DigestData)
		d.SiteName, d.Period = site, period
		d.TopPages[0].URL = page
		m, err := mail.Build("d", "ada@example.com", name, d)
		if err != nil {
			t.Fatal(err) // only links are refused, and they are fixed here
		}
		// No template holds a script tag: one in the output came from input.
		if strings.Contains(strings.ToLower(m.HTML), "<script") {
			t.Errorf("HTML holds a script tag:\n%s", m.HTML)
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Errorf("subject %q has a line break", m.Subject)
		}
	})
}
