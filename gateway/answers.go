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

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/sightlinehq/sightline/gen/openapi"
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
