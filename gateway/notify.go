package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"google.golang.org/grpc"
)

// errNotifyOff answers the notification routes of a gateway without
// notify (neither in this process nor remote.notify).
var errNotifyOff = errors.New("notifications are not configured: run notify in this process or set remote.notify")

// notifyOff stands in for notify's connection when there is none, so its
// routes answer 503 with errNotifyOff rather than 404.
type notifyOff struct{}

func (notifyOff) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return errNotifyOff
}

func (notifyOff) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errNotifyOff
}

// oneClickUnsubscribe answers RFC 8058 one-click unsubscribes. Digest and
// alert e-mails carry the dashboard's /unsubscribe?token=… page as their
// List-Unsubscribe URL with List-Unsubscribe-Post; mail providers then POST
// "List-Unsubscribe=One-Click" to that URL, without a cookie or a page. The
// request is replayed as the JSON API's POST /api/v1/unsubscribe, so it
// goes through the same limits, maintenance rules and errors. A GET of the
// page (a person, or a scanner prefetching links) changes nothing.
func (s *Service) oneClickUnsubscribe(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
			http.Error(w, `expected the form body "List-Unsubscribe=One-Click" (RFC 8058)`, http.StatusBadRequest)
			return
		}
		body, _ := json.Marshal(map[string]string{"token": r.URL.Query().Get("token")})
		req := r.Clone(r.Context())
		req.URL = &url.URL{Path: "/api/v1/unsubscribe"}
		req.RequestURI = req.URL.Path
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", "application/json")
		api.ServeHTTP(w, req)
	})
}
