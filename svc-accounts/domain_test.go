package accounts

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with OWASP parameters", h)
	}
	h2, _ := hashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	if ok, err := verifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("verify right password = %v, %v", ok, err)
	}
	if ok, _ := verifyPassword(h, "correct horse batterx"); ok {
		t.Fatal("wrong password verified")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		strings.Replace(h, "m=19456", "m=4194304", 1), strings.Replace(h, "t=2", "t=1000", 1), h[:len(h)-10] + "!!!"} {
		if ok, err := verifyPassword(bad, "correct horse battery"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestTokens(t *testing.T) {
	a, b := randomToken(sessionPrefix), randomToken(sessionPrefix)
	if a == b || !wellFormed(a, sessionPrefix) || wellFormed(a, apiKeyPrefix) || wellFormed(a+"x", sessionPrefix) {
		t.Fatalf("tokens %q %q", a, b)
	}
	k := newSiteKey()
	if !strings.HasPrefix(k, "k_") || len(k) < 22 || checkSiteKey(k) != nil {
		t.Fatalf("site key %q", k)
	}
}
