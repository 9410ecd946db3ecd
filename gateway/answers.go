package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sightlinehq/sightline/gen/openapi"
	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// apiRoute is one path of the REST API with the methods it answers.
type apiRoute struct {
	segments []string // "" for a path parameter
	methods  []string // sorted
}

// apiRoutes are read from the OpenAPI document, which is generated from the
// same HTTP rules as the handlers, so the Allow header cannot drift from
// what the API serves.
var apiRoutes = func() []apiRoute {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		panic(fmt.Sprintf("gateway: the embedded OpenAPI document does not parse: %v", err))
	}
	var out []apiRoute
	for p, ops := range doc.Paths {
		rt := apiRoute{segments: strings.Split(strings.Trim(p, "/"), "/")}
		for i, seg := range rt.segments {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				rt.segments[i] = ""
			}
		}
		for m := range ops {
			rt.methods = append(rt.methods, strings.ToUpper(m))
		}
		slices.Sort(rt.methods)
		out = append(out, rt)
	}
	// The gateway's own routes, outside the generated document.
	for _, p := range []string{assetRoute, answersCSVRoute, realtimeStreamRoute} {
		rt := apiRoute{segments: strings.Split(strings.Trim(p, "/"), "/"), methods: []string{http.MethodGet}}
		for i, seg := range rt.segments {
			if strings.HasPrefix(seg, "{") {
				rt.segments[i] = ""
			}
		}
		out = append(out, rt)
	}
	return out
}()

// allowedMethods lists the methods the API answers on path (nil for a path
// it does not serve).
func allowedMethods(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, rt := range apiRoutes {
		if len(rt.segments) != len(segs) {
			continue
		}
		match := true
		for i, seg := range rt.segments {
			if (seg == "" && segs[i] == "") || (seg != "" && seg != segs[i]) {
				match = false
				break
			}
		}
		if match {
			out = append(out, rt.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routingError answers a request no handler matched: 405 with Allow for a
// known path with another method (grpc-gateway's default is 501
// UNIMPLEMENTED, which says the server lacks a feature, not that the client
// chose the wrong method), and grpc-gateway's answers otherwise.
func (s *Service) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		if allow := allowedMethods(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeStatus(ctx, w, http.StatusMethodNotAllowed, codes.Unimplemented,
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// limitedBody notes when a request body ran past gateway.max-body-bytes, so
// that the error handler answers 413 rather than the 400 the JSON decoder's
// error would give.
type limitedBody struct {
	io.ReadCloser
	rt *route
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && errors.As(err, &mbe) {
		b.rt.bodyTooLarge = true
	}
	return n, err
}

// bodyTooLarge reports whether the request's body was cut at the limit.
func bodyTooLarge(ctx context.Context) bool {
	rt, ok := ctx.Value(routeKey{}).(*route)
	return ok && rt.bodyTooLarge
}

// loginRetryAfter is the Retry-After of a service's ResourceExhausted
// answer (accounts' log-in limit, whose message says "wait a minute"): the
// services send no delay of their own, and a client told nothing retries at
// once.
const loginRetryAfter = "60"

// unavailableRetryAfter is the Retry-After of a 503 for an unreachable
// service or database: short, since outages are usually blips and the
// dashboard recovers by itself on the next try.
const unavailableRetryAfter = "5"

// unavailableMessage says which part is unavailable, from the gRPC method
// that failed and the service's message, without internals (addresses,
// driver errors): a gRPC client's own Unavailable carries "dial tcp ...".
func unavailableMessage(method, serviceMsg string) string {
	const collecting = "; recordings are still being collected. Try again shortly."
	if strings.Contains(serviceMsg, "accounts database") {
		// Recordings and search check callers with accounts, so its
		// database can be the cause behind any service.
		return "the accounts database is unreachable" + collecting
	}
	// Full method names are "/sightline.<service>.v1.<Service>/<Method>".
	if rest, ok := strings.CutPrefix(method, "/sightline."); ok {
		if part, _, ok := strings.Cut(rest, "."); ok && part != "" {
			return "the " + part + " service is unreachable" + collecting
		}
	}
	return "a Sightline service is unreachable" + collecting
}

// maintenanceConfig answers GET /api/v1/config while the maintenance file
// exists: accounts' config when it answers, else the version alone, with
// the file's banner either way.
func (s *Service) maintenanceConfig(ctx context.Context, w http.ResponseWriter, msg string) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cfg, err := s.accounts.GetPublicConfig(cctx, &accountsv1.GetPublicConfigRequest{})
	if err != nil {
		cfg = &accountsv1.GetPublicConfigResponse{Version: s.deps.Version}
	}
	cfg.Maintenance = &accountsv1.Maintenance{Enabled: true, Message: msg}
	body, err := protojson.Marshal(cfg)
	if err != nil {
		writeStatus(ctx, w, http.StatusInternalServerError, codes.Internal, "could not encode the config")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}
