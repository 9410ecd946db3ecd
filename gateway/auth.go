package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/siteaccess"
)

const (
	sessionCookie = "sl_session"
	csrfCookie    = "sl_csrf"
	csrfHeader    = "X-CSRF-Token"
)

// caller is what the gateway learnt about a request before routing it.
type caller struct {
	credential string
	ip         string
	secure     bool
	// user keys the caller's limits: its user and API key, else its IP.
	user string
}

type callerKey struct{}

// publicRoute reports the routes that answer without a credential.
func publicRoute(r *http.Request) bool {
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/signup", "POST /api/v1/auth/login", "GET /api/v1/config",
		// The link of an e-mail is the credential (notify's unsubscribe,
		// accounts' verify and reset tokens), or there is none yet.
		"POST /api/v1/unsubscribe", "POST /api/v1/auth/verify-email", "POST /api/v1/auth/resend-verification",
		"POST /api/v1/auth/forgot-password", "POST /api/v1/auth/reset-password":
		return true
	}
	return false
}

// mailingRoute reports the public routes whose only effect is an e-mail:
// besides the per-IP request limit they are held to the mailing limit, so
// nobody floods an inbox from one IP (accounts also limits per address).
func mailingRoute(r *http.Request) bool {
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/resend-verification", "POST /api/v1/auth/forgot-password":
		return true
	}
	return false
}

// maintenanceExempt are the writes still allowed in maintenance mode, so an
// operator can log in and turn it off.
func maintenanceExempt(r *http.Request) bool {
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/auth/login", "POST /api/v1/auth/logout", "PUT /api/v1/maintenance",
		// Notify's own database: turning an e-mail off needs no accounts.
		"POST /api/v1/unsubscribe":
		return true
	}
	return false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// apiHandler authenticates, applies limits and maintenance, then routes.
func (s *Service) apiHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(ctx, w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds %d", r.ContentLength, s.cfg.MaxBodyBytes))
			return
		}
		// A body without a declared length is cut at the limit as it is
		// read; errorHandler then answers 413.
		rt := &route{}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), rt: rt}
		c := caller{ip: s.clientIP(r), secure: r.TLS != nil || s.cfg.SecureCookies}
		limitKey := "ip:" + c.ip
		if !safeMethod(r.Method) && r.ContentLength != 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			// A cross-site form cannot send JSON without a preflight.
			writeError(ctx, w, http.StatusUnsupportedMediaType, "request bodies must be application/json")
			return
		}
		if msg, on := s.maintFile.state(); on {
			// The operator's file wins over accounts' switch and needs no
			// database; the public config still answers so the dashboard
			// can show the banner.
			if r.Method == http.MethodGet && r.URL.Path == "/api/v1/config" {
				s.maintenanceConfig(ctx, w, msg)
				return
			}
			w.Header().Set("Retry-After", "60")
			writeError(ctx, w, http.StatusServiceUnavailable, "maintenance: "+msg)
			return
		}
		if !publicRoute(r) {
			cred, fromCookie := credential(r)
			if cred == "" {
				writeError(ctx, w, http.StatusUnauthorized, "log in or send Authorization: Bearer <api key>")
				return
			}
			if fromCookie && !safeMethod(r.Method) && !validCSRF(r) {
				writeError(ctx, w, http.StatusForbidden, "missing or wrong "+csrfHeader+" header")
				return
			}
			p, err := s.authenticate(ctx, cred)
			switch {
			case err == nil:
			case unreachable(err):
				// Not the credential's fault: never 401, which would sign
				// the user out of the dashboard.
				w.Header().Set("Retry-After", unavailableRetryAfter)
				writeError(ctx, w, http.StatusServiceUnavailable, unavailableMessage(accountsv1.AccountsInternalService_Authenticate_FullMethodName, status.Convert(err).Message()))
				return
			case rpc.ServiceCredentialRefused(err):
				// The processes hold different service secrets: the
				// operator's to fix, never a reason to sign users out.
				s.logger().ErrorContext(ctx, "accounts refused the gateway's service credential: every process must read the same server.service-secret-file")
				writeStatus(ctx, w, http.StatusInternalServerError, codes.Internal, "the services do not trust each other (service credential refused); the operator must check server.service-secret-file")
				return
			case refused(err):
				writeError(ctx, w, http.StatusUnauthorized, "session expired or credential revoked: log in again")
				return
			default:
				writeStatus(ctx, w, http.StatusInternalServerError, codes.Internal, "could not check the credential; try again")
				return
			}
			c.credential = cred
			limitKey = "user:" + strconv.FormatInt(p.GetUserId(), 10) + ":" + strconv.FormatInt(p.GetApiKeyId(), 10)
		}
		lim := s.limiter
		if isAssetGet(r) {
			lim = s.assets
		}
		if wait, ok := lim.allow(limitKey); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeError(ctx, w, http.StatusTooManyRequests, "too many requests")
			return
		}
		if mailingRoute(r) {
			if wait, ok := s.mailing.allow("ip:" + c.ip); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				writeError(ctx, w, http.StatusTooManyRequests, "too many e-mails requested from this address; try again later")
				return
			}
		}
		if !safeMethod(r.Method) && !maintenanceExempt(r) {
			if m := s.maintenance(ctx); m.GetEnabled() {
				w.Header().Set("Retry-After", "60")
				writeError(ctx, w, http.StatusServiceUnavailable, "maintenance: "+m.GetMessage())
				return
			}
		}
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/auth/logout" {
			// The dashboard cannot read its HttpOnly cookie; log out the
			// credential this request came with.
			body, _ := json.Marshal(map[string]string{"sessionToken": c.credential})
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			// Evicted now and again on success (forwardResponse), so a
			// request racing the log-out cannot put it back for long.
			s.forget(c.credential)
		}
		c.user = limitKey
		ctx = context.WithValue(context.WithValue(ctx, callerKey{}, c), routeKey{}, rt)
		if staleReadable(r) {
			k := readKey{path: r.URL.Path}
			if c.credential != "" {
				k.cred = keyOf(c.credential)
			}
			s.reads.serveStaleable(w, r.WithContext(ctx), k, s.api)
		} else {
			s.api.ServeHTTP(w, r.WithContext(ctx))
		}
		if rt.pattern != "" {
			// The instrumentation names its span from r.Pattern when we return.
			r.Pattern = r.Method + " " + rt.pattern
		}
	})
}

// credential returns the request's credential and whether it came from the
// session cookie (which needs CSRF protection) rather than a header.
func credential(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok), false
		}
		return "", false
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		return ck.Value, true
	}
	return "", false
}

// validCSRF checks the double-submit token: header equals cookie.
func validCSRF(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	h := r.Header.Get(csrfHeader)
	return err == nil && ck.Value != "" && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(h)) == 1
}

// authenticate resolves a credential through the cache: fresh entries
// without asking accounts, stale ones only while accounts is unreachable.
// A refusal evicts the entry at once; another failure (Internal) keeps it.
func (s *Service) authenticate(ctx context.Context, cred string) (*accountsv1.Principal, error) {
	k := keyOf(cred)
	if p, ok := s.auth.lookup(k, s.auth.fresh); ok {
		return p, nil
	}
	p, expires, err := s.authenticateRemote(ctx, cred)
	switch {
	case err == nil:
		s.auth.put(k, p, expires)
		return p, nil
	case unreachable(err):
		if p, ok := s.auth.lookup(k, s.auth.stale); ok {
			return p, nil
		}
	case refused(err):
		s.forget(cred)
	}
	return nil, err
}

// refused reports an answer that says the credential itself is no good
// (not this process's service credential).
func refused(err error) bool {
	if rpc.ServiceCredentialRefused(err) {
		return false
	}
	c := status.Code(err)
	return c == codes.Unauthenticated || c == codes.InvalidArgument
}

// forget drops what the gateway remembers of a credential.
func (s *Service) forget(cred string) {
	k := keyOf(cred)
	s.auth.remove(k)
	s.reads.removeCredential(k)
}

// authenticateRemote asks accounts; expires is the session's expiry (zero
// for an API key).
func (s *Service) authenticateRemote(ctx context.Context, cred string) (_ *accountsv1.Principal, expires time.Time, _ error) {
	req, err := siteaccess.AuthenticateRequest(cred)
	if err != nil {
		return nil, time.Time{}, err
	}
	resp, err := s.accountsInternal.Authenticate(ctx, req)
	if err != nil {
		return nil, time.Time{}, err
	}
	if resp.GetExpireTime() != nil {
		expires = resp.GetExpireTime().AsTime()
	}
	return resp.GetPrincipal(), expires, nil
}

// maintenance returns accounts' switch, reused for MaintenanceCache. The
// lock is not held while asking, so a slow accounts delays only the writes
// that found the copy old, not every other request behind them.
func (s *Service) maintenance(ctx context.Context) *accountsv1.Maintenance {
	s.maintMu.Lock()
	m, fresh := s.maint, time.Since(s.maintFetched) < s.cfg.MaintenanceCache
	s.maintMu.Unlock()
	if fresh {
		return m
	}
	resp, err := s.accounts.GetPublicConfig(ctx, &accountsv1.GetPublicConfigRequest{})
	if err != nil {
		// Keep the last known state while accounts is unreachable.
		return m
	}
	s.maintMu.Lock()
	s.maint, s.maintFetched = resp.GetMaintenance(), time.Now()
	s.maintMu.Unlock()
	return resp.GetMaintenance()
}

// forwardCaller turns the authenticated caller into gRPC metadata; nothing
// else from the HTTP request reaches the services but the browser's
// User-Agent on log-in, sign-up and the e-mail links, under grpc-gateway's
// name for it (accounts tells a user about log-ins from new devices).
func forwardCaller(ctx context.Context, r *http.Request) metadata.MD {
	c, _ := ctx.Value(callerKey{}).(caller)
	md := metadata.Pairs("x-forwarded-for", c.ip)
	if c.credential != "" {
		md.Set("authorization", "Bearer "+c.credential)
	}
	if r != nil && strings.HasPrefix(r.URL.Path, "/api/v1/auth/") {
		if ua := r.Header.Get("User-Agent"); ua != "" {
			md.Set("grpcgateway-user-agent", truncateUA(ua))
		}
	}
	return md
}

// truncateUA bounds a forwarded User-Agent (at a UTF-8 boundary).
func truncateUA(ua string) string {
	const max = 512
	if len(ua) <= max {
		return ua
	}
	n := max
	for n > 0 && !utf8.RuneStart(ua[n]) {
		n--
	}
	return ua[:n]
}

// incomingHeaders forwards no HTTP header as metadata: forwardCaller decides.
func incomingHeaders(string) (string, bool) { return "", false }

// forwardResponse names the span after the route, and moves a new session token from the response body into an
// HttpOnly cookie (plus a readable CSRF cookie), and clears both on log-out.
func (s *Service) forwardResponse(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	recordRoute(ctx)
	c, _ := ctx.Value(callerKey{}).(caller)
	// A new session's token moves into the cookie, out of the body.
	take := func(m newSession) {
		expires := s.cookieExpiry(m.GetExpireTime().AsTime())
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: m.GetSessionToken(), Path: "/", Expires: expires,
			HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: randomToken(), Path: "/", Expires: expires,
			Secure: c.secure, SameSite: http.SameSiteStrictMode})
		r := m.ProtoReflect()
		r.Clear(r.Descriptor().Fields().ByName("session_token"))
	}
	switch m := m.(type) {
	case *accountsv1.SignUpResponse:
		// No token when the address must be verified first: no cookie.
		if m.GetSessionToken() != "" {
			take(m)
		}
	case *accountsv1.VerifyEmailResponse, *accountsv1.ResetPasswordResponse, *accountsv1.LogInResponse:
		take(m.(newSession))
	case *accountsv1.GetPublicConfigResponse:
		m.DemoEnabled = s.deps.Demo != nil
	case *accountsv1.RevokeApiKeyResponse:
		s.auth.removeAPIKey(m.GetApiKey().GetId())
	case *accountsv1.LogOutResponse:
		s.forget(c.credential)
		for _, name := range []string{sessionCookie, csrfCookie} {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: c.secure})
		}
	}
	return nil
}

// newSession is a response that opens a session: sign-up, e-mail
// verification, password reset, log-in.
type newSession interface {
	proto.Message
	GetSessionToken() string
	GetExpireTime() *timestamppb.Timestamp
}

func (s *Service) cookieExpiry(sessionExpiry time.Time) time.Time {
	if limit := time.Now().Add(s.cfg.SessionTTL); sessionExpiry.IsZero() || sessionExpiry.After(limit) {
		return limit
	}
	return sessionExpiry
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP is the caller's address: the TCP peer, or the one a trusted
// proxy (gateway.trusted-proxies) names in X-Forwarded-For.
func (s *Service) clientIP(r *http.Request) string {
	if ip := s.cfg.trusted.ClientIP(r); ip.IsValid() {
		return ip.String()
	}
	return r.RemoteAddr
}

// errorBody is every /api/v1 error: the gRPC code, a message for people and
// the trace id an operator can look up in Jaeger.
type errorBody struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	TraceID string `json:"traceId,omitempty"`
}

func (s *Service) errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	recordRoute(ctx)
	if bodyTooLarge(ctx) {
		writeError(ctx, w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	if errors.Is(err, errNotifyOff) {
		writeStatus(ctx, w, http.StatusServiceUnavailable, codes.Unavailable, errNotifyOff.Error())
		return
	}
	st := status.Convert(err)
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		w.Header().Set("Retry-After", unavailableRetryAfter)
		method, _ := runtime.RPCMethod(ctx)
		msg = unavailableMessage(method, msg)
	case codes.ResourceExhausted:
		w.Header().Set("Retry-After", loginRetryAfter)
	}
	writeStatus(ctx, w, runtime.HTTPStatusFromCode(st.Code()), st.Code(), msg)
}

func writeError(ctx context.Context, w http.ResponseWriter, httpStatus int, msg string) {
	writeStatus(ctx, w, httpStatus, httpToCode(httpStatus), msg)
}

func writeStatus(ctx context.Context, w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	body := errorBody{Code: int(code), Status: strings.ToUpper(strings.ReplaceAll(snake(code.String()), " ", "_")), Message: msg}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		body.TraceID = sc.TraceID().String()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(body)
}

func httpToCode(s int) codes.Code {
	switch s {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestEntityTooLarge:
		return codes.ResourceExhausted
	}
	return codes.InvalidArgument
}

// snake turns "NotFound" into "not_found".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}
