package wireid_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sightlinehq/sightline/wireid"
)

func TestURLSafe(t *testing.T) {
	all := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	if !wireid.URLSafe(all) || !wireid.URLSafe("") {
		t.Fatal("the URL-safe alphabet (or nothing) was refused")
	}
	for c := range 256 {
		s := "s_abc" + string(byte(c))
		if got, want := wireid.URLSafe(s), strings.IndexByte(all, byte(c)) >= 0; got != want {
			t.Errorf("URLSafe(%q) = %v, want %v", s, got, want)
		}
	}
	// What base64url mints (as the tracker and accounts do) is URL-safe.
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	if !wireid.URLSafe(base64.RawURLEncoding.EncodeToString(b)) {
		t.Fatal("base64url output refused")
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"s_abcdef":                     true,
		"s_abcde":                      false, // 7 bytes
		strings.Repeat("a", 64):        true,
		strings.Repeat("a", 65):        false,
		"v_0123456789-_ABCxyz":         true,
		"v_0123456789.ABCxyz":          false,
		"p_0123456789 ABCxyz":          false,
		"p_01234567ü":                  false,
		"":                             false,
		"s_abc\x00defgh":               false,
		"k_" + strings.Repeat("Z", 24): true,
	} {
		if got := wireid.Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}
