package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what Build accepts, so hostile data (a site named with a
// megabyte of text, a page list without end) cannot make a huge e-mail.
const (
	maxIDLen      = 256
	maxLinkLen    = 4096
	maxSubjectLen = 200 // runes, after rendering
	maxTopPages   = 10  // rows shown; more are dropped
	maxBodyBytes  = 1 << 20
	maxShownRunes = 120 // a name or URL shown in text is cut here
)

//go:embed templates
var templateFS embed.FS

// kinds are the templates, in the order of Message.Kind's comment.
var kinds = []string{"verify_email", "password_reset", "invitation", "new_login",
	"signup_existing", "alert", "digest", "webhook_disabled"}

// tmplSet is one kind's parsed templates: "subject" and "layout" in text,
// "layout" in HTML.
type tmplSet struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// parsed parses every kind's templates once; they are fixed at build time,
// so a parse error is a programming error caught by any test.
var parsed = sync.OnceValue(func() map[string]tmplSet {
	m := make(map[string]tmplSet, len(kinds))
	for _, k := range kinds {
		t := texttemplate.Must(texttemplate.New(k).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.txt.tmpl", "templates/"+k+".txt.tmpl"))
		h := htmltemplate.Must(htmltemplate.New(k).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html.tmpl", "templates/"+k+".html.tmpl"))
		m[k] = tmplSet{text: t, html: h}
	}
	return m
})

// view is what the templates see: the kind's data as D, plus what the
// layout needs.
type view struct {
	D any
	// Name greets the recipient ("Hi Ada,"), empty for a plain "Hi,".
	Name        string
	Unsubscribe string
	// Subject, rendered first, titles the HTML part.
	Subject string
}

// Build renders one e-mail of d's kind to the recipient: the subject, a
// text part and an HTML part. Every link in d must be an absolute http(s)
// URL; everything shown is escaped in the HTML part.
func Build(id, to, toName string, d Data) (Message, error) {
	if d == nil {
		return Message{}, errors.New("mail: build: no data")
	}
	kind := d.kind()
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
		return Message{}, fmt.Errorf("mail: build %s: the id must be 1..%d bytes of UTF-8", kind, maxIDLen)
	}
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Address != to {
		return Message{}, fmt.Errorf("mail: build %s: recipient %q is not a bare e-mail address", kind, to)
	}
	unsubscribe, err := checkLinks(d)
	if err != nil {
		return Message{}, fmt.Errorf("mail: build %s: %w", kind, err)
	}
	v := view{D: d, Name: oneLine(greetName(d, toName)), Unsubscribe: unsubscribe}
	if p, ok := d.(DigestData); ok && len(p.TopPages) > maxTopPages {
		p.TopPages = p.TopPages[:maxTopPages]
		v.D = p
	}
	t := parsed()[kind]
	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Message{}, fmt.Errorf("mail: build %s: subject: %w", kind, err)
	}
	v.Subject = cut(oneLine(subject.String()), maxSubjectLen)
	if err := t.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: build %s: text: %w", kind, err)
	}
	if err := t.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: build %s: html: %w", kind, err)
	}
	if text.Len()+html.Len() > maxBodyBytes {
		return Message{}, fmt.Errorf("mail: build %s: the e-mail would be over %d bytes", kind, maxBodyBytes)
	}
	return Message{
		ID: id, To: to, ToName: oneLine(toName), Kind: kind,
		Subject:     v.Subject,
		Text:        text.String(),
		HTML:        html.String(),
		Unsubscribe: unsubscribe,
	}, nil
}

// greetName is the name the e-mail greets: the data's when it has one,
// else the recipient's.
func greetName(d Data, toName string) string {
	var name string
	switch d := d.(type) {
	case VerifyEmailData:
		name = d.Name
	case PasswordResetData:
		name = d.Name
	case NewLoginData:
		name = d.Name
	case SignUpExistingData:
		name = d.Name
	}
	if name == "" {
		return toName
	}
	return name
}

// checkLinks checks every link of d (required ones are set, all are
// absolute http(s) URLs) and returns the unsubscribe link of a digest or
// an alert.
func checkLinks(d Data) (unsubscribe string, err error) {
	type link struct {
		name, url string
		required  bool
	}
	var links []link
	switch d := d.(type) {
	case VerifyEmailData:
		links = []link{{"Link", d.Link, true}}
	case PasswordResetData:
		links = []link{{"Link", d.Link, true}}
	case InvitationData:
		links = []link{{"Link", d.Link, true}}
	case NewLoginData:
		links = []link{{"ResetLink", d.ResetLink, true}}
	case SignUpExistingData:
		links = []link{{"LoginLink", d.LoginLink, true}, {"ResetLink", d.ResetLink, true}}
	case AlertData:
		links = []link{{"Link", d.Link, true}, {"SettingsLink", d.SettingsLink, true},
			{"UnsubscribeLink", d.UnsubscribeLink, true}}
		unsubscribe = d.UnsubscribeLink
	case DigestData:
		links = []link{{"RecordingsLink", d.RecordingsLink, true}, {"SettingsLink", d.SettingsLink, true},
			{"UnsubscribeLink", d.UnsubscribeLink, true}}
		for i, p := range d.TopPages {
			if i == maxTopPages {
				break
			}
			links = append(links, link{fmt.Sprintf("TopPages[%d].Link", i), p.Link, true})
		}
		unsubscribe = d.UnsubscribeLink
	case WebhookDisabledData:
		links = []link{{"SettingsLink", d.SettingsLink, true}}
	default:
		return "", fmt.Errorf("data of type %T: pass the value, not a pointer", d)
	}
	for _, l := range links {
		if l.url == "" {
			if l.required {
				return "", fmt.Errorf("%s is required", l.name)
			}
			continue
		}
		if err := checkLink(l.url); err != nil {
			return "", fmt.Errorf("%s: %w", l.name, err)
		}
	}
	return unsubscribe, nil
}

// checkLink accepts an absolute http(s) URL that can sit between angle
// brackets in a header and inside an HTML attribute unchanged.
func checkLink(s string) error {
	if len(s) > maxLinkLen {
		return fmt.Errorf("link longer than %d bytes", maxLinkLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>"'\`+"`", r)
	}); i >= 0 {
		return fmt.Errorf("link %q has a character %q links must escape", cut(s, 80), s[i])
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("link %q: %w", cut(s, 80), err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("link %q is not an absolute http(s) URL", cut(s, 80))
	}
	return nil
}

// oneLine folds s into one line: control characters (CR and LF, which
// could forge headers, among them) become spaces, runs of space one.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// cut shortens s to at most n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

var funcs = map[string]any{
	// show is how any name or URL is shown: on one line, cut short.
	"show": func(s string) string { return cut(oneLine(s), maxShownRunes) },
	// subjectName is a site's name in a subject line, shorter still.
	"subjectName": func(s string) string { return cut(oneLine(s), 60) },
	"count":       count,
	// btn names a link and its label for the HTML "button" template.
	"btn": func(link, label string) struct{ Link, Label string } {
		return struct{ Link, Label string }{link, label}
	},
	"plural": func(n int64, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"duration": duration,
	"int64":    func(n int32) int64 { return int64(n) },
	"datetime": func(t time.Time) string {
		return t.UTC().Format("Monday 2 January 2006 at 15:04 UTC")
	},
	"rating": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"nps": func(n *int32) string {
		if n == nil {
			return ""
		}
		if *n > 0 {
			return "+" + strconv.Itoa(int(*n))
		}
		return strconv.Itoa(int(*n))
	},
	"title": func(s string) string {
		if s == "" {
			return s
		}
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
}

// count writes n with thousands separators: 12,345.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// duration says d in words, rounded down to its largest unit: "1 hour",
// "30 minutes", "2 days".
func duration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d >= 48*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	default:
		return "a few seconds"
	}
}
