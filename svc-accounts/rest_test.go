package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// restClient speaks JSON to the REST routes of api.http.yaml, served by the
// generated handler in front of the test's gRPC server (the gateway adds
// cookies, CSRF and limits on top; its own tests walk the routes).
type restClient struct {
	t    *testing.T
	base string
	tok  string
}

func newREST(t *testing.T, e *env) func(tok string) *restClient {
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
		MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: false},
	}))
	if err := accountsv1.RegisterAccountsServiceHandlerClient(context.Background(), mux, e.client); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return func(tok string) *restClient { return &restClient{t: t, base: srv.URL, tok: tok} }
}

func (c *restClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, out
}

func (c *restClient) must(method, path, body string, want int) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: status %d (%v), want %d", method, path, code, out, want)
	}
	return out
}

// TestFunnelAndTimeZoneRoutes drives the funnel and settings routes the
// dashboard uses, in the JSON it sends.
func TestFunnelAndTimeZoneRoutes(t *testing.T) {
	e := newEnv(t, BackendSQLite, nil)
	rest := newREST(t, e)
	owner := e.signUp("rest@a.example")
	viewer := e.join(owner, owner.org, "viewer@a.example", accountsv1.Role_ROLE_VIEWER)
	mallory := e.signUp("mallory@b.example")
	site := e.shop(owner)
	base := "/api/v1/sites/" + jsonID(site.GetId()) + "/funnels"
	o, v, m := rest(owner.token), rest(viewer.token), rest(mallory.token)

	cr := o.must("POST", base, `{"funnel":{"name":" Checkout ","steps":[
		{"label":"Cart","page":{"operator":"OPERATOR_PREFIX","value":"/cart"}},
		{"event":"purchase"}]}}`, http.StatusOK)
	f := cr["funnel"].(map[string]any)
	id, _ := f["id"].(string) // int64 is a JSON string
	steps, _ := f["steps"].([]any)
	if id == "" || f["name"] != "Checkout" || len(steps) != 2 || f["createTime"] == nil ||
		steps[0].(map[string]any)["page"].(map[string]any)["value"] != "/cart" || steps[1].(map[string]any)["event"] != "purchase" {
		t.Fatalf("created = %v", cr)
	}
	if l := v.must("GET", base, "", http.StatusOK); len(l["funnels"].([]any)) != 1 {
		t.Fatalf("list = %v", l)
	}
	if g := v.must("GET", base+"/"+id, "", http.StatusOK); g["funnel"].(map[string]any)["name"] != "Checkout" {
		t.Fatalf("get = %v", g)
	}
	up := o.must("PUT", base+"/"+id, `{"funnel":{"name":"Checkout 2","steps":[{"event":"cart"},{"event":"purchase"},{"event":"refund"}]}}`, http.StatusOK)
	if uf := up["funnel"].(map[string]any); uf["id"] != id || uf["name"] != "Checkout 2" || len(uf["steps"].([]any)) != 3 {
		t.Fatalf("updated = %v", up)
	}
	// Refusals: a viewer writes (403), bad input (400 naming the field),
	// another organisation (404, like a missing funnel).
	v.must("PUT", base+"/"+id, `{"funnel":{"name":"x","steps":[{"event":"a"},{"event":"b"}]}}`, http.StatusForbidden)
	if b := o.must("POST", base, `{"funnel":{"name":"x","steps":[{"event":"a"}]}}`, http.StatusBadRequest); !strings.Contains(b["message"].(string), "funnel.steps") {
		t.Fatalf("bad input answered %v", b)
	}
	m.must("GET", base+"/"+id, "", http.StatusNotFound)
	m.must("GET", base, "", http.StatusNotFound)
	m.must("DELETE", base+"/"+id, "", http.StatusNotFound)
	o.must("DELETE", base+"/"+id, "", http.StatusOK)
	o.must("GET", base+"/"+id, "", http.StatusNotFound)

	// The time zone through the settings route, with an update mask.
	settings := "/api/v1/sites/" + jsonID(site.GetId()) + "/settings"
	s := o.must("PATCH", settings, `{"settings":{"timeZone":"Europe/Berlin"},"updateMask":"timeZone"}`, http.StatusOK)
	if s["settings"].(map[string]any)["timeZone"] != "Europe/Berlin" || s["settings"].(map[string]any)["recordingEnabled"] != true {
		t.Fatalf("settings after setting the zone = %v", s)
	}
	if g := v.must("GET", settings, "", http.StatusOK); g["settings"].(map[string]any)["timeZone"] != "Europe/Berlin" {
		t.Fatalf("settings = %v", g)
	}
	if b := o.must("PATCH", settings, `{"settings":{"timeZone":"Local"},"updateMask":"timeZone"}`, http.StatusBadRequest); !strings.Contains(b["message"].(string), "time_zone") {
		t.Fatalf("zone Local answered %v", b)
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }
