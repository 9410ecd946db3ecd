package accounts

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCheckString pins the one free-text rule behind checkName (names),
// checkLine (funnels) and checkText (feedback and survey prompts, which
// alone may span lines).
func TestCheckString(t *testing.T) {
	for _, tc := range []struct {
		name                string
		v                   string
		max                 int
		required, multiline bool
		want, err           string
	}{
		{"trimmed", "  a b \t", 10, true, false, "a b", ""},
		{"newline in multiline", "a\nb", 10, true, true, "a\nb", ""},
		{"newline in one line", "a\nb", 10, true, false, "", "f contains control characters"},
		{"nul in multiline", "a\x00b", 10, true, true, "", "f contains control characters"},
		{"carriage return in multiline", "a\rb", 10, false, true, "", "f contains control characters"},
		{"empty required", "   ", 10, true, true, "", "f must not be empty"},
		{"empty optional", "", 10, false, false, "", ""},
		{"invalid utf-8", "a\xffb", 10, true, false, "", "f is not valid UTF-8"},
		{"max runes", strings.Repeat("é", 10), 10, true, false, strings.Repeat("é", 10), ""},
		{"too long", strings.Repeat("é", 11), 10, true, false, "", "f is longer than 10 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkString("f", tc.v, tc.max, tc.required, tc.multiline)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("checkString(%q) = %q, %v; want %q", tc.v, got, err, tc.want)
				}
				return
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("checkString(%q) error = %v; want InvalidArgument %q", tc.v, err, tc.err)
			}
		})
	}
}
