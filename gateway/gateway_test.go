package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/leakcheck"
	"github.com/sightlinehq/sightline/internal/poll"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	"github.com/sightlinehq/sightline/gen/openapi"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// server is a whole sightline process, all in one, on loopback ports.
type server struct {
	base string
	grpc string
	cfg  app.Config
}

func startServer(t *testing.T, change func(*app.Config)) *server {
	t.Helper()
	var cfg app.Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	cfg.DataDir = t.TempDir()
	cfg.Server.HTTPListenAddress = "127.0.0.1:0"
	cfg.Server.GRPCListenAddress = "127.0.0.1:0"
	cfg.Admin.ListenAddress = "127.0.0.1:0"
	// Every tenant signs up and is logged in at once; e-mail verification
	// is svc-accounts' tests' (and the notify e2e's) business.
	cfg.Accounts.SignupVerifyEmail = false
	if change != nil {
		change(&cfg)
	}
	if cfg.Target != app.All && cfg.Server.ServiceSecretFile == "" {
		// Validate wants the file a mesh's processes share whenever some
		// module runs elsewhere.
		cfg.Server.ServiceSecretFile = filepath.Join(t.TempDir(), "service-secret")
		if err := os.WriteFile(cfg.Server.ServiceSecretFile, []byte(rpc.NewServiceSecret()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Started()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &server{base: "http://" + a.Addrs().HTTP, grpc: a.Addrs().GRPC, cfg: cfg}
}

// internalConn dials the server's gRPC listener with the service
// credential its modules share (server.service-secret-file, else the one in
// the data directory), as another process of the mesh does: internal
// services answer it. The caller closes it.
func (s *server) internalConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	secret, err := s.cfg.ServiceSecret(false)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(s.grpc, nil, rpc.ClientOptions{ServiceSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// client is one dashboard user (cookie jar) or API-key holder.
type client struct {
	t      *testing.T
	s      *server
	http   *http.Client
	bearer string
}

func (s *server) newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, s: s, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

type response struct {
	code int
	hdr  http.Header
	body []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.body)
	}
	return m
}

// do sends a request; for writes with a cookie session it adds the CSRF
// header from the sl_csrf cookie unless noCSRF.
func (c *client) do(method, path string, body any, noCSRF ...bool) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.s.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if method != http.MethodGet && len(noCSRF) == 0 {
		for _, ck := range c.http.Jar.Cookies(req.URL) {
			if ck.Name == "sl_csrf" {
				req.Header.Set("X-CSRF-Token", ck.Value)
			}
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, hdr: resp.Header, body: b}
}

func (c *client) must(method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.code != http.StatusOK {
		c.t.Fatalf("%s %s = %d %s", method, path, r.code, r.body)
	}
	return r.json(c.t)
}

// tenant is one organisation with a user, a site, an API key, an
// invitation and a recorded session.
type tenant struct {
	c                                      *client
	userID, orgID, siteID, keyID, inviteID string
	sessionID, surveyID, funnelID          string
	webhookID, deliveryID, ruleID          string
	// outboxID is an e-mail in notify's outbox (set by checkOperatorRoutes).
	outboxID     string
	sessionStart time.Time
}

var tenantN int

// int64Of parses an int64 the REST API answers as a string (ids, counts).
func int64Of(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("%q is not an int64: %v", id, err)
	}
	return n
}

func newTenant(t *testing.T, s *server) *tenant {
	t.Helper()
	tenantN++
	tn := &tenant{c: s.newClient(t)}
	email := fmt.Sprintf("owner%d-%d@example.com", tenantN, time.Now().UnixNano())
	r := tn.c.must("POST", "/api/v1/auth/signup", map[string]any{
		"email": email, "password": "correct horse battery staple", "name": "Owner", "organizationName": "Org " + email,
	})
	if tok, _ := r["sessionToken"].(string); tok != "" {
		t.Fatalf("signup response leaks the session token to JavaScript: %q", tok)
	}
	tn.userID = r["user"].(map[string]any)["id"].(string)
	tn.orgID = r["organization"].(map[string]any)["id"].(string)
	site := tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/sites", map[string]any{
		"name": "Shop", "domains": []string{fmt.Sprintf("shop%d.example.com", tenantN)},
	})
	tn.siteID = site["site"].(map[string]any)["id"].(string)
	key := tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/api-keys", map[string]any{"name": "ci", "role": "ROLE_MEMBER"})
	tn.keyID = key["apiKey"].(map[string]any)["id"].(string)
	inv := tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/invitations", map[string]any{"email": "new" + email, "role": "ROLE_VIEWER"})
	tn.inviteID = inv["invitation"].(map[string]any)["id"].(string)
	sv := tn.c.must("POST", "/api/v1/sites/"+tn.siteID+"/surveys", map[string]any{"survey": map[string]any{
		"name": "NPS", "status": "SURVEY_STATUS_ACTIVE", "questions": []any{
			map[string]any{"type": "QUESTION_TYPE_NPS", "text": "How likely are you to recommend us?"},
			map[string]any{"type": "QUESTION_TYPE_MULTIPLE_CHOICE", "text": "What did you use?", "choices": []any{
				map[string]any{"label": "Search"}, map[string]any{"label": "=HYPERLINK(\"http://evil\")"}}},
			map[string]any{"type": "QUESTION_TYPE_LONG_TEXT", "text": "Anything else?"},
		}}})
	tn.surveyID = sv["survey"].(map[string]any)["id"].(string)
	fn := tn.c.must("POST", "/api/v1/sites/"+tn.siteID+"/funnels", map[string]any{"funnel": map[string]any{
		"name": "Checkout", "steps": []any{
			map[string]any{"label": "Home", "page": map[string]any{"operator": "OPERATOR_EQUALS", "value": "/"}},
			map[string]any{"label": "Signed up", "event": "signup"},
		}}})
	tn.funnelID = fn["funnel"].(map[string]any)["id"].(string)
	hook := tn.c.must("POST", "/api/v1/sites/"+tn.siteID+"/webhooks", map[string]any{
		"url": "https://hooks.example.com/sightline", "events": []string{"session.ended"}})
	tn.webhookID = hook["webhook"].(map[string]any)["id"].(string)
	test := tn.c.must("POST", "/api/v1/sites/"+tn.siteID+"/webhooks/"+tn.webhookID+":test", map[string]any{})
	tn.deliveryID = test["delivery"].(map[string]any)["id"].(string)
	rule := tn.c.must("POST", "/api/v1/sites/"+tn.siteID+"/alert-rules", map[string]any{
		"rule": map[string]any{"enabled": true, "noData": map[string]any{"hours": 6}}})
	tn.ruleID = rule["rule"].(map[string]any)["id"].(string)

	// A recorded session, appended through recordings' internal gRPC API.
	conn := s.internalConn(t)
	defer conn.Close()
	siteID := int64Of(t, tn.siteID)
	tn.sessionID = fmt.Sprintf("s_tenant%dsession0000000000", tenantN)
	now := time.Now()
	tn.sessionStart = now
	_, err := recordingsv1.NewRecordingsInternalServiceClient(conn).AppendChunks(context.Background(), &recordingsv1.AppendChunksRequest{
		Chunks: []*recordingsv1.Chunk{{
			SiteId: siteID, SessionId: tn.sessionID, VisitorId: "v_visitor0000000000000000", PageViewId: "p_page00000000000000000000",
			Seq: 0, ClientTime: timestamppb.New(now), ServerTime: timestamppb.New(now), Url: "https://shop.example.com/",
			Events:     []byte(fmt.Sprintf(`[{"type":4,"data":{"href":"https://shop.example.com/","width":1280,"height":720},"timestamp":%d}]`, now.UnixMilli())),
			EventCount: 1,
		}},
	})
	if err != nil {
		t.Fatalf("append a session: %v", err)
	}
	return tn
}

// routes lists every REST route of the generated OpenAPI document.
// requireRoutes fails t for each route (method, path pattern) that is not
// in the route walks.
func requireRoutes(t *testing.T, want [][2]string) {
	t.Helper()
	rs := routes(t)
	for _, w := range want {
		if !slices.ContainsFunc(rs, func(r [2]string) bool {
			return r[0] == w[0] && param.ReplaceAllString(r[1], "X") == param.ReplaceAllString(w[1], "X")
		}) {
			t.Errorf("%s %s is not in the route walks", w[0], w[1])
		}
	}
}

func routes(t *testing.T) [][2]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for p, ops := range doc.Paths {
		for m := range ops {
			out = append(out, [2]string{strings.ToUpper(m), "/api" + strings.TrimPrefix(p, "/api")})
		}
	}
	// Routes the gateway serves itself, outside the generated document.
	out = append(out, [2]string{http.MethodGet, "/api/v1/sites/{site_id}/assets/{hash}"},
		[2]string{http.MethodGet, "/api/v1/sites/{site_id}/answers.csv"},
		[2]string{http.MethodGet, "/api/v1/sites/{site_id}/traffic/realtime:stream"})
	sort.Slice(out, func(i, j int) bool { return out[i][1]+out[i][0] < out[j][1]+out[j][0] })
	if len(out) < 30 {
		t.Fatalf("only %d routes in the OpenAPI document", len(out))
	}
	return out
}

var param = regexp.MustCompile(`\{([a-zA-Z_.]+)(=[^}]*)?\}`)

// fill substitutes a tenant's ids into a route's path parameters.
func fill(path string, tn *tenant) string {
	return param.ReplaceAllStringFunc(path, func(m string) string {
		name := param.FindStringSubmatch(m)[1]
		switch name {
		case "organization_id", "organizationId":
			return tn.orgID
		case "site_id", "siteId", "rule.site_id":
			return tn.siteID
		case "webhook_id", "webhookId":
			return tn.webhookID
		case "delivery_id", "deliveryId":
			return tn.deliveryID
		case "rule_id", "ruleId", "rule.id":
			return tn.ruleID
		case "id":
			return tn.outboxID
		case "api_key_id", "apiKeyId":
			return tn.keyID
		case "user_id", "userId":
			return tn.userID
		case "invitation_id", "invitationId":
			return tn.inviteID
		case "survey_id", "surveyId":
			return tn.surveyID
		case "funnel_id", "funnelId":
			return tn.funnelID
		case "session_id", "sessionId":
			return tn.sessionID
		case "visitor_id", "visitorId":
			return "v_visitor0000000000000000"
		case "domain":
			return "shop.example.com"
		}
		return "1"
	})
}

func TestOnlyPublicRoutesAnswerWithoutAuth(t *testing.T) {
	s := startServer(t, nil)
	anon := s.newClient(t)
	public := map[string]bool{"POST /api/v1/auth/signup": true, "POST /api/v1/auth/login": true, "GET /api/v1/config": true,
		// An e-mail's link carries the credential, or there is none yet.
		"POST /api/v1/unsubscribe": true, "POST /api/v1/auth/verify-email": true, "POST /api/v1/auth/resend-verification": true,
		"POST /api/v1/auth/forgot-password": true, "POST /api/v1/auth/reset-password": true}
	for _, r := range routes(t) {
		path := param.ReplaceAllString(r[1], "3000000001")
		resp := anon.do(r[0], path, map[string]any{})
		if public[r[0]+" "+r[1]] {
			if resp.code == http.StatusUnauthorized {
				t.Errorf("%s %s is public but answered 401", r[0], r[1])
			}
			continue
		}
		if resp.code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials = %d %s, want 401", r[0], r[1], resp.code, resp.body)
		}
	}
}

// TestTenantIsolation: for every route that names an object, a user of
// organisation B gets 404 for organisation A's object, while A does not.
func TestTenantIsolation(t *testing.T) {
	// The walk sends more requests than one caller's default burst.
	s := startServer(t, func(c *app.Config) { c.Gateway.RateBurst = 1000 })
	newTenant(t, s) // the instance's first user, made its operator: a and b are ordinary owners
	a, b := newTenant(t, s), newTenant(t, s)
	checked := 0
	var operatorRoutes [][2]string
	for _, r := range routes(t) {
		if strings.HasPrefix(r[1], "/api/v1/admin/") {
			operatorRoutes = append(operatorRoutes, r)
			continue
		}
		if !param.MatchString(r[1]) {
			continue
		}
		checked++
		path := fill(r[1], a)
		var body any
		if r[0] != http.MethodGet {
			body = map[string]any{}
		}
		got := b.c.do(r[0], path, body)
		if got.code != http.StatusNotFound {
			t.Errorf("B: %s %s = %d %s, want 404", r[0], path, got.code, got.body)
		}
		if strings.HasSuffix(r[1], ":stream") {
			// A stream never ends by itself: A reads its first event.
			if ev := a.c.firstEvent(path); !strings.HasPrefix(ev, "data: ") {
				t.Errorf("A: GET %s: first event %q", path, ev)
			}
			continue
		}
		if r[0] == http.MethodGet {
			if own := a.c.do(r[0], path, nil); own.code == http.StatusNotFound {
				t.Errorf("A: %s %s = 404 for its own object: %s", r[0], path, own.body)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d object routes", checked)
	}
	t.Logf("%d routes naming an object answer 404 to another organisation", checked)
	checkOperatorRoutes(t, s, operatorRoutes, a, b)
}

// checkOperatorRoutes: the instance's operator routes (/api/v1/admin/)
// answer only an operator's session; ordinary users of any organisation
// (owners included) and API keys, an operator's own included, get 403/404.
func checkOperatorRoutes(t *testing.T, s *server, rs [][2]string, tenants ...*tenant) {
	t.Helper()
	if len(rs) == 0 {
		t.Fatal("no operator routes in the OpenAPI document")
	}
	op := newOperator(t, s)
	// An e-mail in notify's outbox (the tenants' invitations) for the
	// routes naming one; they are written by jobs, so wait for the first.
	poll.Until(t, 10*time.Second, func() error {
		list := op.c.must("GET", "/api/v1/admin/outbox", nil)
		es, _ := list["emails"].([]any)
		if len(es) == 0 {
			return fmt.Errorf("no e-mail reached the outbox: %v", list)
		}
		tenants[0].outboxID = es[0].(map[string]any)["id"].(string)
		return nil
	})
	callers := map[string]*client{"admin API key of the operator": apiKeyClient(t, s, op)}
	for i, tn := range tenants {
		callers[fmt.Sprintf("owner of organisation %d", i+1)] = tn.c
		callers[fmt.Sprintf("admin API key of organisation %d", i+1)] = apiKeyClient(t, s, tn)
	}
	for _, r := range rs {
		path := fill(r[1], tenants[0])
		for name, c := range callers {
			got := c.do(r[0], path, nil)
			if got.code != http.StatusForbidden && got.code != http.StatusNotFound {
				t.Errorf("%s: %s %s = %d %s, want 403 or 404", name, r[0], path, got.code, got.body)
			}
		}
		// A write without a body gets past authorisation and is refused
		// as bad input (the limits RPCs require their limits).
		if got := op.c.do(r[0], path, nil); got.code != http.StatusOK && (r[0] == http.MethodGet || got.code != http.StatusBadRequest) {
			t.Errorf("operator: %s %s = %d %s, want 200", r[0], path, got.code, got.body)
		}
	}
	t.Logf("%d operator routes answer only the operator (%d other callers checked)", len(rs), len(callers))
}

// apiKeyClient calls with a new admin API key of tn's organisation.
func apiKeyClient(t *testing.T, s *server, tn *tenant) *client {
	t.Helper()
	key := tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/api-keys", map[string]any{"name": "ops", "role": "ROLE_ADMIN"})
	bot := s.newClient(t)
	bot.bearer = key["secret"].(string)
	return bot
}

// newOperator creates an instance operator the way an installation gets
// one (sightline admin create-user -operator) and logs them in.
func newOperator(t *testing.T, s *server) *tenant {
	t.Helper()
	adm, err := accounts.OpenAdmin(context.Background(), s.cfg.Accounts, s.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	email := fmt.Sprintf("ops-%d@example.com", time.Now().UnixNano())
	const pw = "operator horse battery staple"
	_, orgID, err := adm.CreateUser(context.Background(), email, pw, "Operators", true)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	op := &tenant{c: s.newClient(t), orgID: fmt.Sprint(orgID)}
	me := op.c.must("POST", "/api/v1/auth/login", map[string]any{"email": email, "password": pw})
	if u, _ := me["user"].(map[string]any); u["operator"] != true {
		t.Fatalf("the created operator logs in as %v", me)
	}
	return op
}

func TestCSRFOnCookieWrites(t *testing.T) {
	s := startServer(t, nil)
	tn := newTenant(t, s)
	path := "/api/v1/sites/" + tn.siteID
	if r := tn.c.do("PATCH", path, map[string]any{"name": "Renamed"}, true); r.code != http.StatusForbidden {
		t.Fatalf("cookie write without CSRF header = %d %s, want 403", r.code, r.body)
	}
	if r := tn.c.do("PATCH", path, map[string]any{"name": "Renamed"}); r.code != http.StatusOK {
		t.Fatalf("cookie write with CSRF header = %d %s", r.code, r.body)
	}
	// A form post (no JSON) is refused before anything else.
	req, _ := http.NewRequest("POST", s.base+"/api/v1/organizations/"+tn.orgID+"/sites", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := tn.c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post = %d, want 415", resp.StatusCode)
	}
}

func TestAPIKeyNeedsNoCSRF(t *testing.T) {
	s := startServer(t, nil)
	tn := newTenant(t, s)
	key := tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/api-keys", map[string]any{"name": "script", "role": "ROLE_ADMIN"})
	bot := s.newClient(t)
	bot.bearer = key["secret"].(string)
	if r := bot.do("PATCH", "/api/v1/sites/"+tn.siteID, map[string]any{"name": "By key"}); r.code != http.StatusOK {
		t.Fatalf("API key write = %d %s", r.code, r.body)
	}
	tn.c.must("DELETE", "/api/v1/organizations/"+tn.orgID+"/api-keys/"+key["apiKey"].(map[string]any)["id"].(string), nil)
	if r := bot.do("GET", "/api/v1/sites/"+tn.siteID, nil); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked API key = %d %s, want 401", r.code, r.body)
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	s := startServer(t, func(c *app.Config) { c.Gateway.RatePerUser = 0.5; c.Gateway.RateBurst = 5 })
	anon := s.newClient(t)
	var last response
	for i := 0; i < 6; i++ {
		last = anon.do("GET", "/api/v1/config", nil)
	}
	if last.code != http.StatusTooManyRequests || last.hdr.Get("Retry-After") == "" {
		t.Fatalf("6th request in a burst of 5 = %d (Retry-After %q), want 429 with Retry-After", last.code, last.hdr.Get("Retry-After"))
	}
}

// TestAssetRateBucket: a replay's burst of asset GETs has its own, larger
// bucket: a caller whose API budget is spent still loads assets, and
// assets are limited too.
func TestAssetRateBucket(t *testing.T) {
	s := startServer(t, func(c *app.Config) { c.Gateway.RatePerUser = 0.01; c.Gateway.RateBurst = 20 })
	tn := newTenant(t, s)
	var last response
	for i := 0; i < 25 && last.code != http.StatusTooManyRequests; i++ {
		last = tn.c.do("GET", "/api/v1/sites/"+tn.siteID, nil)
	}
	if last.code != http.StatusTooManyRequests {
		t.Fatalf("API budget never spent: last = %d", last.code)
	}
	asset := "/api/v1/sites/" + tn.siteID + "/assets/" + strings.Repeat("0", 64)
	if r := tn.c.do("GET", asset, nil); r.code != http.StatusNotFound {
		t.Fatalf("asset GET with the API budget spent = %d %s, want 404 (own bucket)", r.code, r.body)
	}
	n := 1
	for ; n < 1000; n++ {
		if last = tn.c.do("GET", asset, nil); last.code == http.StatusTooManyRequests {
			break
		}
	}
	if last.code != http.StatusTooManyRequests || n < 150 {
		t.Fatalf("asset GETs: 429 after %d (last %d), want a limit at about 10× the API burst of 20", n, last.code)
	}
}

func TestMaintenanceMode(t *testing.T) {
	s := startServer(t, nil)
	tn := newTenant(t, s)
	setMaintenance(t, s, "upgrading the database")
	var r response
	poll.Until(t, 5*time.Second, func() error {
		if r = tn.c.do("PATCH", "/api/v1/sites/"+tn.siteID, map[string]any{"name": "x"}); r.code != http.StatusServiceUnavailable {
			return fmt.Errorf("write in maintenance = %d %s", r.code, r.body)
		}
		return nil
	})
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" || !bytes.Contains(r.body, []byte("upgrading")) {
		t.Fatalf("write in maintenance = %d %s (Retry-After %q)", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	if r := tn.c.do("GET", "/api/v1/sites/"+tn.siteID, nil); r.code != http.StatusOK {
		t.Fatalf("read in maintenance = %d", r.code)
	}
	cfg := tn.c.must("GET", "/api/v1/config", nil)
	if m, _ := cfg["maintenance"].(map[string]any); m["enabled"] != true {
		t.Fatalf("public config does not show maintenance: %v", cfg)
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := startServer(t, nil)
	for _, p := range []string{"/", "/api/v1/config", "/api/v1/me"} {
		r := s.newClient(t).do("GET", p, nil)
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"} {
			if r.hdr.Get(h) == "" {
				t.Errorf("GET %s: no %s header", p, h)
			}
		}
	}
}

// TestViewerReadsButCannotDelete: a viewer of an organisation can watch its
// recordings but not delete them; recordings checks this itself through
// siteaccess, not only the gateway.
func TestViewerReadsButCannotDelete(t *testing.T) {
	s := startServer(t, nil)
	owner := newTenant(t, s)
	email := fmt.Sprintf("viewer-%d@example.com", time.Now().UnixNano())
	inv := owner.c.must("POST", "/api/v1/organizations/"+owner.orgID+"/invitations", map[string]any{"email": email, "role": "ROLE_VIEWER"})
	viewer := s.newClient(t)
	viewer.must("POST", "/api/v1/auth/signup", map[string]any{"email": email, "password": "correct horse battery staple", "organizationName": "Viewer's own"})
	viewer.must("POST", "/api/v1/invitations:accept", map[string]any{"token": inv["token"]})

	session := "/api/v1/sites/" + owner.siteID + "/sessions/" + owner.sessionID
	if r := viewer.do("GET", session, nil); r.code != http.StatusOK {
		t.Fatalf("viewer GET session = %d %s", r.code, r.body)
	}
	if r := viewer.do("DELETE", session, nil); r.code != http.StatusForbidden {
		t.Fatalf("viewer DELETE session = %d %s, want 403", r.code, r.body)
	}
	if r := owner.c.do("GET", session, nil); r.code != http.StatusOK {
		t.Fatalf("the viewer's refused delete removed the session: %d %s", r.code, r.body)
	}
	if r := owner.c.do("DELETE", session, nil); r.code != http.StatusOK {
		t.Fatalf("owner DELETE session = %d %s", r.code, r.body)
	}
	if r := owner.c.do("GET", session, nil); r.code != http.StatusNotFound {
		t.Fatalf("GET after delete = %d %s, want 404", r.code, r.body)
	}
}

// checkErrorBody requires the gateway's error format: JSON with the gRPC
// code, its name, a message and the request's trace id.
func checkErrorBody(t *testing.T, what string, r response) {
	t.Helper()
	var body struct {
		Code    *int
		Status  string
		Message string
		TraceID string
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Code == nil || body.Status == "" || body.Message == "" {
		t.Errorf("%s: error body %q is not the gateway's error format (%v)", what, r.body, err)
	}
	if id := r.hdr.Get("X-Trace-Id"); id != "" && body.TraceID != id {
		t.Errorf("%s: error body trace id %q, X-Trace-Id %q", what, body.TraceID, id)
	}
}

// TestWrongMethodIs405WithAllow: a known path with a method it does not
// serve is 405 with the methods it does in Allow, not 501.
func TestWrongMethodIs405WithAllow(t *testing.T) {
	s := startServer(t, nil)
	tn := newTenant(t, s)
	bot := apiKeyClient(t, s, tn)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/sites/" + tn.siteID, "DELETE, GET, PATCH"},
		{"TRACE", "/api/v1/me", "GET"},
		{"DELETE", "/api/v1/organizations/" + tn.orgID + "/sites", "GET, POST"},
		{"GET", "/api/v1/invitations:accept", "POST"},
		{"POST", "/api/v1/sites/" + tn.siteID + "/answers.csv", "GET"},
		{"PATCH", "/api/v1/sites/" + tn.siteID + "/surveys/" + tn.surveyID, "DELETE, GET, PUT"},
	} {
		var body any
		if tc.method == "PUT" {
			body = map[string]any{"name": "x"}
		}
		r := bot.do(tc.method, tc.path, body)
		if r.code != http.StatusMethodNotAllowed || r.hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d Allow %q %s; want 405 Allow %q", tc.method, tc.path, r.code, r.hdr.Get("Allow"), r.body, tc.allow)
			continue
		}
		checkErrorBody(t, tc.method+" "+tc.path, r)
	}
	// An unknown path stays 404.
	if r := bot.do("GET", "/api/v1/no-such-thing", nil); r.code != http.StatusNotFound {
		t.Errorf("GET of an unknown path = %d %s, want 404", r.code, r.body)
	}
}

// hiddenLength hides a body's length, so the request goes chunked.
type hiddenLength struct{ io.Reader }

// TestBodyOverTheLimitIs413: a JSON body over gateway.max-body-bytes is 413
// in the gateway's error format, whether its length is declared or not.
func TestBodyOverTheLimitIs413(t *testing.T) {
	s := startServer(t, nil)
	tn := newTenant(t, s)
	big, _ := json.Marshal(map[string]any{"name": strings.Repeat("x", 2<<20), "domains": []string{"a.example.com"}})
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = hiddenLength{body}
		}
		req, _ := http.NewRequest("POST", s.base+"/api/v1/organizations/"+tn.orgID+"/sites", body)
		req.Header.Set("Content-Type", "application/json")
		for _, ck := range tn.c.http.Jar.Cookies(req.URL) {
			if ck.Name == "sl_csrf" {
				req.Header.Set("X-CSRF-Token", ck.Value)
			}
		}
		resp, err := tn.c.http.Do(req)
		if err != nil {
			t.Fatalf("chunked=%t: %v", chunked, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{code: resp.StatusCode, hdr: resp.Header, body: b}
		if r.code != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MiB body (chunked=%t) = %d %.200s, want 413", chunked, r.code, r.body)
			continue
		}
		checkErrorBody(t, fmt.Sprintf("413 (chunked=%t)", chunked), r)
	}
	// A body under the limit still works.
	tn.c.must("POST", "/api/v1/organizations/"+tn.orgID+"/sites", map[string]any{"name": "Small", "domains": []string{"small.example.com"}})
}

// TestLoginLimitSaysWhenToRetry: accounts' log-in limit reaches the client
// as 429 with Retry-After.
func TestLoginLimitSaysWhenToRetry(t *testing.T) {
	s := startServer(t, nil)
	anon := s.newClient(t)
	var last response
	for i := 0; i < 40; i++ {
		last = anon.do("POST", "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "wrong password, again"})
		if last.code == http.StatusTooManyRequests {
			break
		}
	}
	if last.code != http.StatusTooManyRequests {
		t.Fatalf("40 failed log-ins: last = %d %s, want 429", last.code, last.body)
	}
	ra, err := strconv.Atoi(last.hdr.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("log-in 429 Retry-After = %q, want a positive number of seconds", last.hdr.Get("Retry-After"))
	}
	checkErrorBody(t, "log-in 429", last)
}
