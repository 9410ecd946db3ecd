package mail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// KindHeader carries Message.Kind, so the outbox (and tests) can tell the
// template of an e-mail read back.
const KindHeader = "X-Sightline-Kind"

// from is the sender of every e-mail, shared by the SMTP and outbox paths.
type from struct {
	addr, name string
	// domain names the Message-ID's right side.
	domain string
}

func newFrom(addr, name string) (from, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return from{}, fmt.Errorf("mail: from address %q is not a bare e-mail address", addr)
	}
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	return from{addr: addr, name: oneLine(name), domain: domain}, nil
}

// encode makes the go-mail message both senders write: multipart/
// alternative text + HTML, a Message-ID stable per Message.ID, the kind,
// and the unsubscribe headers of digests and alerts.
func (f from) encode(m Message, date time.Time) (*gomail.Msg, error) {
	if m.Text == "" || m.HTML == "" || m.Subject == "" {
		return nil, fmt.Errorf("mail: message %q has no subject or body: make it with Build", m.ID)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(f.name, f.addr); err != nil {
		return nil, fmt.Errorf("mail: from %q: %w", f.addr, err)
	}
	if err := msg.AddToFormat(oneLine(m.ToName), m.To); err != nil {
		return nil, fmt.Errorf("mail: to %q: %w", m.To, err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageIDWithValue(messageID(m.ID) + "@" + f.domain)
	msg.SetDateWithValue(date)
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(KindHeader, oneLine(m.Kind))
	if m.Unsubscribe != "" {
		if err := checkLink(m.Unsubscribe); err != nil {
			return nil, fmt.Errorf("mail: unsubscribe: %w", err)
		}
		// RFC 8058 one-click: mail providers POST to the link; the page
		// behind it unsubscribes on POST without a log-in.
		msg.SetListUnsubscribe(m.Unsubscribe)
		msg.SetListUnsubscribePost()
		msg.SetBulk()
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// messageID is the left side of a Message-ID for id: id itself when it is
// short dot-atom text (readable in logs), else a hash of it — stable
// either way, so a re-sent job carries the same Message-ID.
func messageID(id string) string {
	ok := len(id) > 0 && len(id) <= 64 && id[0] != '.' && id[len(id)-1] != '.' && !strings.Contains(id, "..")
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
	}
	if ok {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:16])
}
