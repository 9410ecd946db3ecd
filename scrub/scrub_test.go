package scrub

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"The checkout button does nothing.", "The checkout button does nothing."},
		// E-mail addresses.
		{"mail me at jane.doe+shop@example.co.uk please", "mail me at [email] please"},
		{"JANE@EXAMPLE.COM", "[email]"},
		{"a@b.co", "[email]"},
		{"müller@bücher.de und x_y%z@sub-d.example.org", "[email] und [email]"},
		{"<jane@example.com>, bob@example.net.", "<[email]>, [email]."},
		{"twitter @handle and user@localhost stay", "twitter @handle and user@localhost stay"},
		// Card numbers: Luhn-valid, 13–19 digits, spaces or dashes.
		{"card 4111111111111111 declined", "card [card] declined"},
		{"4111 1111 1111 1111", "[card]"},
		{"4111-1111-1111-1111 exp 12/27", "[card] exp 12/27"},
		{"amex 3782 822463 10005!", "amex [card]!"},
		{"4111 1111 1111 1111 123", "[card] 123"}, // card then CVC
		{"4222222222222", "[card]"},               // 13 digits
		{"6011000990139424,5555555555554444", "[card],[card]"},
		// Not cards: Luhn-invalid, too short, too long, part of a word.
		{"order 4111111111111112", "order 4111111111111112"},
		{"order #123456789012", "order #123456789012"},
		{"41111111111111111111111", "41111111111111111111111"},
		{"token abc4111111111111111", "token abc4111111111111111"},
		{"4111111111111111x", "4111111111111111x"},
		// International phone numbers.
		{"call +44 20 7946 0958 today", "call [phone] today"},
		{"+1 (555) 123-4567", "[phone]"},
		{"+49.30.1234567.", "[phone]."},
		{"+1 234", "+1 234"},                             // too few digits
		{"+1234567890123456789", "+1234567890123456789"}, // 19 digits: no phone, no card (Luhn)
		{"+1 4111 1111 1111 1111", "+1 [card]"},
		{"price 2+2=4, 0044 20 7946 0958", "price 2+2=4, 0044 20 7946 0958"},
		// Together.
		{"x@y.com 4111111111111111 +33 1 23 45 67 89", "[email] [card] [phone]"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Text(Text(c.in)); got != Text(c.in) {
			t.Errorf("Text not idempotent on %q: %q then %q", c.in, Text(c.in), got)
		}
	}
}

func TestLuhn(t *testing.T) {
	for in, want := range map[string]bool{
		"4111111111111111": true, "4111111111111112": false, "79927398713": true, "79927398710": false,
		"378282246310005": true, "0000000000000": true,
	} {
		if got := luhn(in, []group{{0, len(in)}}); got != want {
			t.Errorf("luhn(%s) = %v, want %v", in, got, want)
		}
	}
}

// FuzzText: never panics, idempotent, valid UTF-8 in gives valid UTF-8 out,
// grows by at most a byte per e-mail placeholder, and leaves no e-mail
// address or Luhn-valid 16-digit run behind.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"", "a@b.co", "4111 1111 1111 1111 123", "+44 20 7946 0958", "x@y.com 4111111111111111 +33 1 23 45 67 89",
		"4111111111111111@example.com", "+4111111111111111", "a@b@c.de", "1234-5678 9012 3456", "++1 (2)(3) 4.5-6 789",
		"é@é.éé 4111111111111111é", strings.Repeat("1 ", 40), strings.Repeat("a@b.co", 10),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if again := Text(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", s, out, again)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q: %q", s, out)
		}
		n := strings.Count(out, Email)
		if len(out) > len(s)+n {
			t.Fatalf("grew: %d → %d bytes (%d e-mail placeholders): %q → %q", len(s), len(out), n, s, out)
		}
		if utf8.ValidString(s) && utf8.RuneCountInString(out) > utf8.RuneCountInString(s)+n {
			t.Fatalf("grew in runes: %q → %q", s, out)
		}
		if email.MatchString(out) {
			t.Fatalf("e-mail address left in %q (from %q)", out, s)
		}
	})
}

func BenchmarkText(b *testing.B) {
	plain := strings.Repeat("The checkout page is slow and the button moved. ", 40)
	pii := strings.Repeat("mail jane@example.com, card 4111 1111 1111 1111. ", 40)
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			Text(plain)
		}
	})
	b.Run("pii", func(b *testing.B) {
		for b.Loop() {
			Text(pii)
		}
	})
}
