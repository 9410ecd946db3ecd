package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published example.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix   = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func headers(id string, unix int64, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(unix, 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignMatchesSpecificationVector(t *testing.T) {
	got, err := Sign([]string{vectorSecret}, vectorID, time.Unix(vectorUnix, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("Sign = %q, want the specification's %q", got, vectorSig)
	}
	// The bare base64 (no prefix) is the same key.
	got, err = Sign([]string{strings.TrimPrefix(vectorSecret, SecretPrefix)}, vectorID, time.Unix(vectorUnix, 0), []byte(vectorBody))
	if err != nil || got != vectorSig {
		t.Fatalf("Sign without prefix = %q, %v", got, err)
	}
}

func TestVerifySpecificationVector(t *testing.T) {
	h := headers(vectorID, vectorUnix, vectorSig)
	now := time.Unix(vectorUnix, 0).Add(4 * time.Minute)
	if err := Verify(vectorSecret, h, []byte(vectorBody), now, 0); err != nil {
		t.Fatalf("Verify(vector): %v", err)
	}
	cases := map[string]struct {
		h    http.Header
		body string
		now  time.Time
	}{
		"body changed":       {h, `{"test": 2432232315}`, now},
		"id changed":         {headers("msg_other", vectorUnix, vectorSig), vectorBody, now},
		"timestamp changed":  {headers(vectorID, vectorUnix+1, vectorSig), vectorBody, time.Unix(vectorUnix, 0)},
		"too old":            {h, vectorBody, time.Unix(vectorUnix, 0).Add(5*time.Minute + time.Second)},
		"in the future":      {h, vectorBody, time.Unix(vectorUnix, 0).Add(-5*time.Minute - time.Second)},
		"no signature":       {headers(vectorID, vectorUnix, ""), vectorBody, now},
		"other scheme only":  {headers(vectorID, vectorUnix, "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), vectorBody, now},
		"not base64":         {headers(vectorID, vectorUnix, "v1,!!!"), vectorBody, now},
		"timestamp not unix": {func() http.Header { x := h.Clone(); x.Set(HeaderTimestamp, "yesterday"); return x }(), vectorBody, now},
		"huge timestamp":     {headers(vectorID, 1<<62, vectorSig), vectorBody, now},
		"huge negative":      {headers(vectorID, -1<<62, vectorSig), vectorBody, now},
	}
	for name, c := range cases {
		err := Verify(vectorSecret, c.h, []byte(c.body), c.now, 0)
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: Verify = %v, want ErrSignature", name, err)
		}
	}
	// A wrong signature next to the right one: any match is enough.
	mixed := headers(vectorID, vectorUnix, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= garbage v1a,xyz "+vectorSig)
	if err := Verify(vectorSecret, mixed, []byte(vectorBody), now, 0); err != nil {
		t.Fatalf("Verify(mixed): %v", err)
	}
	// A custom tolerance.
	if err := Verify(vectorSecret, h, []byte(vectorBody), now, time.Minute); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify beyond a 1 min tolerance = %v", err)
	}
}

func TestRotatedSecretsBothVerify(t *testing.T) {
	oldS, newS, other := NewSecret(), NewSecret(), NewSecret()
	now := time.Now()
	body := []byte(`{"type":"webhook.test"}`)
	sig, err := Sign([]string{newS, oldS}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(sig, " "); len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("two secrets signed as %q", sig)
	}
	h := headers("msg_1", now.Unix(), sig)
	for _, s := range []string{newS, oldS} {
		if err := Verify(s, h, body, now, 0); err != nil {
			t.Errorf("Verify with one of the two secrets: %v", err)
		}
	}
	if err := Verify(other, h, body, now, 0); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify with a third secret = %v", err)
	}
}

func TestSecrets(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("NewSecret: %q, %q", a, b)
	}
	key, err := ParseSecret(a)
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret(NewSecret()) = %d bytes, %v", len(key), err)
	}
	for _, bad := range []string{
		"", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", // "short": 5 bytes
		"whsec_" + strings.Repeat("QUFB", 30), // 90 bytes
		"whsec_" + strings.Repeat("A", 100000),
	} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%.30q) accepted", bad)
		}
	}
	if _, err := Sign(nil, "msg_1", time.Now(), nil); err == nil {
		t.Error("Sign with no secret succeeded")
	}
	if _, err := Sign([]string{a, "whsec_bad"}, "msg_1", time.Now(), nil); err == nil {
		t.Error("Sign with a malformed second secret succeeded")
	}
	if _, err := Sign([]string{a}, "", time.Now(), nil); err == nil {
		t.Error("Sign with no message id succeeded")
	}
	if err := Verify("whsec_bad", headers("msg_1", 1, "v1,x"), nil, time.Unix(1, 0), 0); err == nil {
		t.Error("Verify with a malformed secret succeeded")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(vectorID, strconv.Itoa(vectorUnix), vectorSig, []byte(vectorBody))
	f.Add("", "", "", []byte{})
	f.Add("x", "-99999999999999999999", "v1, v1,,, v2", []byte("{"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := Verify(vectorSecret, h, body, time.Unix(vectorUnix, 0), 0)
		if err == nil {
			// Only a real signature passes.
			unix, _ := strconv.ParseInt(ts, 10, 64)
			want, _ := Sign([]string{vectorSecret}, id, time.Unix(unix, 0), body)
			if !strings.Contains(" "+strings.Join(strings.Fields(sig), " ")+" ", " "+want+" ") {
				t.Fatalf("Verify accepted %q for id %q ts %q", sig, id, ts)
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	secrets := []string{NewSecret(), NewSecret()}
	body := []byte(strings.Repeat(`{"k":"v"},`, 150)) // ~1.5 KB, a session.ended's size
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(secrets, "msg_2kQ9bA7", now, body); err != nil {
			b.Fatal(err)
		}
	}
}
