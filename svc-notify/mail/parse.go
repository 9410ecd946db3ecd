package mail

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
)

// Parsed is an e-mail read back: the outbox's files, what a test SMTP
// server received.
type Parsed struct {
	Header mail.Header
	// To is the first recipient's address, Subject the decoded subject,
	// Kind the X-Sightline-Kind header.
	To, ToName, Subject, Kind string
	// Text and HTML are the decoded parts of a multipart/alternative body
	// (a single-part body fills the one of its type).
	Text, HTML string
}

// maxPartBytes bounds each decoded part read back.
const maxPartBytes = 4 << 20

// Parse reads one RFC 5322 message as the senders here write it.
func Parse(r io.Reader) (Parsed, error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return Parsed{}, fmt.Errorf("mail: parse: %w", err)
	}
	p := parseHeader(msg.Header)
	ct := msg.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return Parsed{}, fmt.Errorf("mail: parse: content type %q: %w", ct, err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodePart(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		p.fill(mediaType, body)
		return p, nil
	}
	if params["boundary"] == "" {
		return Parsed{}, errors.New("mail: parse: multipart without a boundary")
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Parsed{}, fmt.Errorf("mail: parse: %w", err)
		}
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return Parsed{}, fmt.Errorf("mail: parse: part content type: %w", err)
		}
		// multipart.Reader decodes quoted-printable itself and drops the
		// header; base64 is left to us.
		body, err := decodePart(part, part.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		p.fill(pt, body)
	}
	return p, nil
}

// parseHeader decodes the headers a summary needs, leniently: a header
// that does not parse is left empty.
func parseHeader(h mail.Header) Parsed {
	p := Parsed{Header: h, Kind: h.Get(KindHeader)}
	dec := new(mime.WordDecoder)
	if s, err := dec.DecodeHeader(h.Get("Subject")); err == nil {
		p.Subject = s
	} else {
		p.Subject = h.Get("Subject")
	}
	if to, err := h.AddressList("To"); err == nil && len(to) > 0 {
		p.To, p.ToName = to[0].Address, to[0].Name
	}
	return p
}

func (p *Parsed) fill(mediaType, body string) {
	switch mediaType {
	case "text/plain":
		p.Text = body
	case "text/html":
		p.HTML = body
	}
}

func decodePart(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(strings.TrimSpace(cte), "base64") {
		r = base64.NewDecoder(base64.StdEncoding, r) // skips CR and LF itself
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPartBytes+1))
	if err != nil {
		return "", fmt.Errorf("mail: parse: part: %w", err)
	}
	if len(b) > maxPartBytes {
		return "", fmt.Errorf("mail: parse: a part is over %d bytes", maxPartBytes)
	}
	return string(b), nil
}

// parseHeaderOnly reads just the header of a message.
func parseHeaderOnly(r io.Reader) (Parsed, error) {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return Parsed{}, fmt.Errorf("mail: parse: %w", err)
	}
	if msg.Header.Get("Message-ID") == "" || msg.Header.Get(KindHeader) == "" {
		return Parsed{}, errors.New("mail: parse: not an e-mail of Sightline's (no Message-ID or kind)")
	}
	return parseHeader(msg.Header), nil
}
