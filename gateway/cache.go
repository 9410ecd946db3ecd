package gateway

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// credKey is what the caches keep of a credential: its SHA-256, so a dump
// of the gateway's memory holds no usable token.
type credKey [sha256.Size]byte

func keyOf(cred string) credKey { return sha256.Sum256([]byte(cred)) }

// authCache remembers recently validated credentials. An entry younger
// than fresh is used without asking accounts (fresh is therefore the delay
// before a revocation made elsewhere takes effect here); an older one,
// up to stale, only when accounts answers Unavailable, so that a database
// outage of minutes signs nobody out. The principal carries the caller's
// memberships, so roles are served from here too.
type authCache struct {
	fresh, stale time.Duration
	now          func() time.Time
	entries      *lru.Cache[credKey, authEntry]
}

type authEntry struct {
	principal *accountsv1.Principal
	validated time.Time
	expires   time.Time // the session's own expiry; zero for an API key
}

func newAuthCache(size int, fresh, stale time.Duration) *authCache {
	c, _ := lru.New[credKey, authEntry](size) // size is validated positive
	return &authCache{fresh: fresh, stale: stale, now: time.Now, entries: c}
}

// lookup returns the cached principal for k if it is younger than maxAge.
func (c *authCache) lookup(k credKey, maxAge time.Duration) (*accountsv1.Principal, bool) {
	e, ok := c.entries.Get(k)
	now := c.now()
	if !ok || now.Sub(e.validated) >= maxAge || (!e.expires.IsZero() && !now.Before(e.expires)) {
		return nil, false
	}
	return e.principal, true
}

func (c *authCache) put(k credKey, p *accountsv1.Principal, expires time.Time) {
	c.entries.Add(k, authEntry{principal: p, validated: c.now(), expires: expires})
}

func (c *authCache) remove(k credKey) { c.entries.Remove(k) }

// removeAPIKey evicts every entry of an API key revoked through this
// gateway (the gateway never sees the key again, only its id). Revocations
// are rare, so a scan of the bounded cache is fine.
func (c *authCache) removeAPIKey(id int64) {
	for _, k := range c.entries.Keys() {
		if e, ok := c.entries.Peek(k); ok && e.principal.GetApiKeyId() == id {
			c.entries.Remove(k)
		}
	}
}

// unreachable reports an answer that says accounts (or its database) could
// not be asked, as opposed to one that refused the credential.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// readCache keeps the last good answer of a few dashboard reads per caller
// (the caller's profile, an organisation's site list, the public config),
// served only when the service answers 503, up to stale old.
type readCache struct {
	stale   time.Duration
	now     func() time.Time
	entries *lru.Cache[readKey, readEntry]
}

type readKey struct {
	cred credKey // zero for public routes
	path string
}

type readEntry struct {
	body   []byte
	stored time.Time
}

func newReadCache(size int, stale time.Duration) *readCache {
	c, _ := lru.New[readKey, readEntry](size)
	return &readCache{stale: stale, now: time.Now, entries: c}
}

// staleReadable reports the GET routes whose last answer may be served
// stale while their service is unavailable: what the dashboard needs to
// show a signed-in page with the banner.
func staleReadable(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := r.URL.Path
	if p == "/api/v1/me" || p == "/api/v1/config" {
		return true
	}
	// /api/v1/organizations/{id}/sites
	rest, ok := strings.CutPrefix(p, "/api/v1/organizations/")
	if !ok {
		return false
	}
	id, tail, ok := strings.Cut(rest, "/")
	return ok && id != "" && !strings.Contains(id, "/") && tail == "sites"
}

func (c *readCache) removeCredential(k credKey) {
	for _, rk := range c.entries.Keys() {
		if rk.cred == k {
			c.entries.Remove(rk)
		}
	}
}

// bufferedResponse holds a response back so that a 503 can be replaced by
// the last good answer. Headers go to the real writer's map.
type bufferedResponse struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.w.Header() }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// serveStaleable runs next for a stale-readable route: a 200 is kept, a 503
// is replaced by the kept answer while it is younger than the stale bound
// (marked with X-Sightline-Stale: its age in seconds).
func (c *readCache) serveStaleable(w http.ResponseWriter, r *http.Request, k readKey, next http.Handler) {
	buf := &bufferedResponse{w: w}
	next.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	switch buf.status {
	case http.StatusOK:
		c.entries.Add(k, readEntry{body: bytes.Clone(buf.body.Bytes()), stored: c.now()})
	case http.StatusServiceUnavailable:
		if e, ok := c.entries.Get(k); ok {
			if age := c.now().Sub(e.stored); age < c.stale {
				h := w.Header()
				h.Del("Retry-After")
				h.Set("Content-Type", "application/json")
				h.Set("X-Sightline-Stale", strconvSeconds(age))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(e.body)
				return
			}
		}
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
}

// maintenanceFile reads the operator's maintenance file: while it exists
// the dashboard API is in maintenance with its content as the banner. It
// is read at most once a second, and needs no database, so it works while
// accounts' database is being upgraded.
type maintenanceFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time
	on      bool
	message string
}

// maxMaintenanceMessage bounds the banner read from the file.
const maxMaintenanceMessage = 500

const defaultMaintenanceMessage = "Sightline is under maintenance; recordings are still being collected"

func (m *maintenanceFile) state() (string, bool) {
	if m == nil || m.path == "" {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := m.now(); now.Sub(m.checked) >= time.Second {
		m.checked = now
		m.message, m.on = readMaintenanceFile(m.path)
	}
	return m.message, m.on
}

// readMaintenanceFile reports whether the file exists and its banner. A
// file that exists but cannot be read still means maintenance: the
// operator asked for it.
func readMaintenanceFile(path string) (string, bool) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		return defaultMaintenanceMessage, true
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxMaintenanceMessage))
	msg := strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
	if msg == "" {
		msg = defaultMaintenanceMessage
	}
	return msg, true
}

func strconvSeconds(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) }
