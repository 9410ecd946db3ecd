package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contract "github.com/sightlinehq/sightline/batch"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/limits"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
	"github.com/sightlinehq/sightline/tracker"
)

// RegisterHTTP mounts the public endpoints (/s/, /static/, /i/v1/).
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc("GET /s/{file}", s.serveBootstrap)
	mux.HandleFunc("GET /static/{file}", s.serveStatic)
	mux.HandleFunc("POST /i/v1/batch", s.serveBatch)
	mux.HandleFunc("OPTIONS /i/v1/batch", s.servePreflight)
	mux.HandleFunc("POST /i/v1/answer", s.serveAnswer)
	mux.HandleFunc("OPTIONS /i/v1/answer", s.servePreflight)
	mux.HandleFunc("POST /i/v1/hit", s.serveHit)
	mux.HandleFunc("OPTIONS /i/v1/hit", s.servePreflight)
}

const configPlaceholder = `"__SIGHTLINE_CONFIG__"`

func (s *Service) initScripts() {
	s.recorderPath = "/static/recorder." + contentHash(tracker.Recorder) + ".js"
	s.feedbackPath = "/static/feedback." + contentHash(tracker.Feedback) + ".js"
}

// bootstrapSettings is the object inlined into the bootstrap (wire-format.md).
type bootstrapSettings struct {
	SiteKey         string   `json:"siteKey"`
	Endpoint        string   `json:"endpoint"`
	RecorderURL     string   `json:"recorderUrl"`
	SampleRate      float64  `json:"sampleRate"`
	Recording       bool     `json:"recording"`
	RespectDNT      bool     `json:"respectDnt"`
	RequireConsent  bool     `json:"requireConsent"`
	MaskAllText     bool     `json:"maskAllText"`
	MaskSelectors   []string `json:"maskSelectors"`
	BlockSelectors  []string `json:"blockSelectors"`
	UnmaskSelectors []string `json:"unmaskSelectors"`
	Flags           []string `json:"flags"`
	RecordCanvas    bool     `json:"recordCanvas"`
	// Feedback and surveys (bootstrap.go): the answer endpoint, the
	// widget bundle, the widget (null when off) and the surveys that may
	// show now.
	AnswerEndpoint string        `json:"answerEndpoint"`
	FeedbackURL    string        `json:"feedbackUrl"`
	Feedback       *feedbackJSON `json:"feedback"`
	Surveys        []surveyJSON  `json:"surveys"`
	// HitEndpoint takes the traffic beacons (hits.go; the tracker adds
	// ?k=<site key>); "" when this ingest has no traffic spool.
	HitEndpoint string `json:"hitEndpoint"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// baseURL is where browsers reach this ingest.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); (p == "https" || p == "http") && s.fromTrustedProxy(r) {
		scheme = p
	}
	return scheme + "://" + r.Host
}

func (s *Service) serveBootstrap(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutSuffix(r.PathValue("file"), ".js")
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if !ok {
		http.NotFound(w, r)
		return
	}
	site, err := s.sites.Get(r.Context(), key)
	switch {
	case errors.Is(err, siteconfig.ErrNotFound):
		h.Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "/* sightline: site not found */\n")
		return
	case err != nil:
		h.Set("Cache-Control", "no-store")
		h.Set("Retry-After", "10")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "/* sightline: configuration temporarily unavailable */\n")
		return
	}
	st := site.GetSettings()
	base := s.baseURL(r)
	cfg := bootstrapSettings{
		SiteKey: site.GetSiteKey(), Endpoint: base + "/i/v1/batch", // the tracker adds ?k=<site key>
		RecorderURL: base + s.recorderPath, SampleRate: 1, Recording: true, RespectDNT: true,
		Flags:          nonNil(site.GetFeatureFlags()),
		AnswerEndpoint: base + "/i/v1/answer", FeedbackURL: base + s.feedbackPath,
		Feedback: feedbackSettings(st.GetFeedback()), Surveys: s.surveys(r.Context(), site, time.Now()),
	}
	if s.hitSpool != nil {
		cfg.HitEndpoint = base + "/i/v1/hit"
	}
	if st != nil {
		cfg.SampleRate, cfg.Recording, cfg.RespectDNT = st.GetSampleRate(), st.GetRecordingEnabled(), st.GetRespectDoNotTrack()
		cfg.RequireConsent, cfg.MaskAllText, cfg.RecordCanvas = st.GetRequireConsent(), st.GetMaskAllText(), st.GetRecordCanvas()
		cfg.MaskSelectors, cfg.BlockSelectors, cfg.UnmaskSelectors = st.GetMaskSelectors(), st.GetBlockSelectors(), st.GetUnmaskSelectors()
	}
	cfg.MaskSelectors, cfg.BlockSelectors, cfg.UnmaskSelectors = nonNil(cfg.MaskSelectors), nonNil(cfg.BlockSelectors), nonNil(cfg.UnmaskSelectors)
	js, err := json.Marshal(cfg)
	if err != nil {
		http.Error(w, "ingest: render bootstrap", http.StatusInternalServerError)
		return
	}
	// Inside a <script>, "</script>" in a selector must not end the element.
	js = bytes.ReplaceAll(js, []byte("</"), []byte(`<\/`))
	body := bytes.Replace(tracker.Bootstrap, []byte(configPlaceholder), js, 1)
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=60")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// serveStatic serves the recorder and the feedback bundle under their
// content-hashed names.
func (s *Service) serveStatic(w http.ResponseWriter, r *http.Request) {
	var file []byte
	switch r.URL.Path {
	case s.recorderPath:
		file = tracker.Recorder
	case s.feedbackPath:
		file = tracker.Feedback
	default:
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*") // a public, immutable file
	h.Set("Content-Length", strconv.Itoa(len(file)))
	w.Write(file)
}

// clientIP is the visitor's address: the peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one.
func (s *Service) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !s.trusted(ip) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ip // garbage from an untrusted hop: stop at what we know
			}
			a = a.Unmap()
			if !s.trusted(a) {
				return a
			}
			ip = a
		}
	}
	return ip
}

func (s *Service) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr().Unmap())
}

func (s *Service) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// rateKey groups IPv6 clients by /64 (one host's usual allocation).
func rateKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// originHost returns the host of an Origin header ("" when absent).
func originHost(origin string) (string, bool) {
	if origin == "" {
		return "", true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	return u.Hostname(), true
}

func (s *Service) servePreflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	host, ok := originHost(origin)
	if origin == "" || !ok {
		http.Error(w, "ingest: preflight without a valid Origin", http.StatusForbidden)
		return
	}
	site, err := s.sites.Get(r.Context(), r.URL.Query().Get("k"))
	switch {
	case errors.Is(err, siteconfig.ErrNotFound):
		http.Error(w, "ingest: unknown site (pass ?k=<site key>)", http.StatusNotFound)
		return
	case err != nil:
		w.Header().Set("Retry-After", "10")
		http.Error(w, "ingest: site configuration unavailable", http.StatusServiceUnavailable)
		return
	}
	if !siteconfig.MatchDomain(site.GetDomains(), host) {
		http.Error(w, "ingest: origin not allowed for this site", http.StatusForbidden)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, traceparent, tracestate")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// answer is the outcome of one batch.
type answer struct {
	code       int
	msg        string
	retryAfter time.Duration
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Service) serveBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b := s.newBatch(w, r, start)
	// A slow body is cut at a deadline proportionate to what it may send
	// (readBody answers 408), not only at the server's read timeout.
	// net/http lifts it once the body is in, so it never cuts the handler.
	if err := http.NewResponseController(w).SetReadDeadline(start.Add(s.bodyDeadline(r.ContentLength, s.cfg.MaxBodyBytes))); err != nil {
		s.log.DebugContext(r.Context(), "cannot set the body read deadline", "error", err)
	}
	b.originHost, b.originOK = originHost(b.origin)
	a := s.intake(r, b)
	if b.span == nil {
		b.ctx, b.span = s.startSpan(r, start, "", "ingest.batch")
	}
	span := b.span
	if b.env.SessionID != "" {
		span.SetAttributes(attribute.String("sightline.session_id", b.env.SessionID), attribute.Int64("sightline.seq", b.env.Seq),
			attribute.Int("sightline.events", b.env.EventCount))
	}
	s.reply(b, a, "batch")
	if a.code >= 400 {
		s.rejected.Add(1)
	}
	if attr, ok := s.m.codeAttrs[a.code]; ok {
		s.m.batches.Add(b.ctx, 1, attr)
	} else {
		s.m.batches.Add(b.ctx, 1)
	}
	span.End()
	b.release()
}

// reply writes the answer to one intake request (a batch or an answer):
// status, CORS, and for a refusal its message, trace id and Retry-After.
func (s *Service) reply(b *batch, a answer, what string) {
	span, w := b.span, b.w
	span.SetAttributes(attribute.Int("http.response.status_code", a.code))
	if b.site != nil {
		span.SetAttributes(attribute.Int64("sightline.site_id", b.site.GetSiteId()))
	}
	h := w.Header()
	s.corsHeaders(b.r, b, a)
	if a.code < 400 {
		w.WriteHeader(a.code)
		return
	}
	span.SetStatus(codes.Error, a.msg)
	if sc := span.SpanContext(); sc.HasTraceID() {
		h.Set("Sightline-Trace-Id", sc.TraceID().String())
	}
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((a.retryAfter+time.Second-1)/time.Second)))
	}
	if a.code >= 500 {
		s.log.WarnContext(b.ctx, what+" refused", "status", a.code, "reason", a.msg)
	} else {
		s.log.DebugContext(b.ctx, what+" refused", "status", a.code, "reason", a.msg)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(a.code)
	io.WriteString(w, "ingest: "+a.msg+"\n")
}

// release returns the request's body buffer to the pool.
func (b *batch) release() {
	if b.buf != nil && b.buf.Cap() <= 1<<20 {
		b.buf.Reset()
		bufPool.Put(b.buf)
	}
	*b = batch{}
	batchPool.Put(b)
}

// batchPool recycles the per-request state: it escapes to the heap (the
// intake steps take it through closures), and one allocation of its size
// per batch showed in BenchmarkServeBatch.
var batchPool = sync.Pool{New: func() any { return new(batch) }}

// newBatch starts one request's state; release ends it.
func (s *Service) newBatch(w http.ResponseWriter, r *http.Request, start time.Time) *batch {
	b := batchPool.Get().(*batch)
	*b = batch{w: w, r: r, start: start, query: r.URL.Query(), origin: r.Header.Get("Origin")}
	return b
}

// batch carries one request through intake (a batch, or an answer: see
// answerIntake).
type batch struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	ctx   context.Context
	span  trace.Span
	site  *siteconfig.Site
	env   contract.Envelope
	buf   *bytes.Buffer
	// The request's query, Origin header and the Origin's host, parsed once.
	query      url.Values
	origin     string
	originHost string
	originOK   bool
}

// startSpan starts the intake span at the request's start, continuing the
// envelope's traceparent or else the request's headers.
func (s *Service) startSpan(r *http.Request, start time.Time, envTraceparent, name string) (context.Context, trace.Span) {
	ctx := r.Context()
	var parent context.Context
	if envTraceparent != "" {
		parent = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": envTraceparent})
	}
	if parent == nil || !trace.SpanContextFromContext(parent).IsValid() {
		parent = s.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return s.tracer.Start(parent, name, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
}

func (s *Service) refuse(ctx context.Context, code int, limit string, retryAfter time.Duration, format string, args ...any) answer {
	if limit != "" {
		s.hit(ctx, limit)
	}
	return answer{code: code, msg: fmt.Sprintf(format, args...), retryAfter: retryAfter}
}

// checkSite applies the checks that need the site: origin, site rate, DNT.
func (s *Service) checkSite(b *batch) *answer {
	host := ""
	if b.origin != "" {
		if !b.originOK {
			return &answer{code: http.StatusForbidden, msg: "invalid Origin header"}
		}
		host = b.originHost
	} else if b.env.URL != "" {
		// No Origin (not a browser, or an old one): judge by the page URL.
		if u, err := url.Parse(b.env.URL); err == nil {
			host = u.Hostname()
		}
	}
	if !siteconfig.MatchDomain(b.site.GetDomains(), host) {
		return &answer{code: http.StatusForbidden, msg: fmt.Sprintf("origin %q is not one of the site's domains", host)}
	}
	return nil
}

// corsHeaders lets the tracker read every answer. An allowed origin is
// echoed (on errors too, so that the tracker sees 413/429/503 and
// Retry-After rather than a network error). Refusals of a foreign origin or
// an unknown site get "*": the page may read that it was refused — and stop
// retrying — but no credentials are allowed and the body is only the
// refusal message.
func (s *Service) corsHeaders(r *http.Request, b *batch, a answer) {
	origin := b.origin
	if origin == "" {
		return
	}
	h := b.w.Header()
	if b.site == nil {
		if k := b.query.Get("k"); k != "" {
			if site, err := s.sites.Get(r.Context(), k); err == nil {
				b.site = site
			}
		}
	}
	allow := ""
	if host := b.originHost; b.originOK && host != "" && b.site != nil && siteconfig.MatchDomain(b.site.GetDomains(), host) {
		allow = origin
	} else if a.code >= 400 {
		allow = "*"
	}
	if allow == "" {
		return
	}
	h["Access-Control-Allow-Origin"] = []string{allow}
	h["Access-Control-Expose-Headers"] = exposeHeaders
	h["Vary"] = append(h["Vary"], "Origin")
}

// exposeHeaders is shared by every answer (net/http only reads it).
var exposeHeaders = []string{"Retry-After, Sightline-Trace-Id"}

func (s *Service) intake(r *http.Request, b *batch) answer {
	ip, checkedOrigin, a := s.admitByKey(r, b, s.batchSiteChecks)
	if a != nil {
		return *a
	}
	ctx, now := b.ctx, b.start
	body, a := s.readRequest(ctx, r, b, s.batchLimits)
	if a != nil {
		return *a
	}
	// The batch contract: what passes here is what recordings stores.
	env, err := contract.Decode(body, s.cfg.MaxEventsPerBatch)
	if err != nil {
		if errors.Is(err, contract.ErrTooManyEvents) {
			return s.refuse(ctx, http.StatusRequestEntityTooLarge, "events_per_batch", 0, "more than %d events in one batch", s.cfg.MaxEventsPerBatch)
		}
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	b.env = env
	b.ctx, b.span = s.startSpan(r, b.start, env.Traceparent, "ingest.batch")
	ctx = b.ctx
	if a := s.admitByBody(ctx, r, b, checkedOrigin, s.batchSiteChecks); a != nil {
		return *a
	}

	sk := limits.SessionKey{Site: b.site.GetSiteId(), Session: env.SessionID}
	limit, isNew := s.sessions.Check(sk, int64(len(body)), now)
	if limit != "" {
		return s.refuse(ctx, http.StatusRequestEntityTooLarge, limit, 0, "session exceeds its %s limit", strings.TrimPrefix(limit, "session_"))
	}
	if isNew {
		var perDay int64
		if p := b.site.GetPlan(); p != nil {
			perDay = p.GetSessionsPerDay()
		}
		if err := s.quota.Take(ctx, b.site.GetSiteId(), perDay, now); err != nil {
			return s.refuse(ctx, http.StatusTooManyRequests, "quota_site", limits.UntilMidnightUTC(now), "the site's daily session quota is used up")
		}
	}

	payload, release, err := s.chunk(ctx, r, b, ip, now)
	if err != nil {
		return answer{code: http.StatusBadRequest, msg: err.Error()}
	}
	err = s.spool.Append(ctx, payload)
	release()
	if err != nil {
		if errors.Is(err, spool.ErrFull) {
			return s.refuse(ctx, http.StatusServiceUnavailable, "spool_full", s.cfg.RetryAfter, "spool full, retry later")
		}
		s.log.ErrorContext(ctx, "spool append failed", "error", err)
		return answer{code: http.StatusServiceUnavailable, msg: "could not store the batch, retry later", retryAfter: s.cfg.RetryAfter}
	}
	s.sessions.Record(sk, int64(len(body)), now)
	s.accepted.Add(1)
	return answer{code: http.StatusNoContent}
}

// siteChecks are an endpoint's own checks of a known site (its rate, its
// privacy rules): before the body when ?k= names the site, after it
// otherwise.
type siteChecks func(ctx context.Context, r *http.Request, b *batch, now time.Time) *answer

func (s *Service) batchSiteChecks(ctx context.Context, r *http.Request, b *batch, now time.Time) *answer {
	if a := s.checkSiteRate(ctx, b, now); a != nil {
		return a
	}
	return s.dropByPrivacy(ctx, r, b)
}

// admitByKey runs the checks that need no body, cheapest first: the
// per-IP rate, then, when ?k= names the site, the site, the origin and
// the endpoint's own checks. checkedOrigin reports whether the Origin
// header was checked.
func (s *Service) admitByKey(r *http.Request, b *batch, checks siteChecks) (ip netip.Addr, checkedOrigin bool, a *answer) {
	ctx := r.Context()
	b.ctx = ctx
	// The per-IP rate comes first: it is the cheapest defence.
	ip = s.clientIP(r)
	if ok, wait := s.ipRate.Allow(rateKey(ip), b.start); !ok {
		a := s.refuse(ctx, http.StatusTooManyRequests, "rate_ip", wait, "too many requests from this address")
		return ip, false, &a
	}
	// Reject on the site key before reading the body when it is given.
	k := b.query.Get("k")
	if k == "" {
		return ip, false, nil
	}
	if a := s.lookupSite(ctx, b, k); a != nil {
		return ip, false, a
	}
	if b.origin != "" {
		if a := s.checkSite(b); a != nil {
			return ip, false, a
		}
		checkedOrigin = true
	}
	return ip, checkedOrigin, checks(ctx, r, b, b.start)
}

// readRequest checks the body's type, encoding and declared length, then
// reads it within lim.
func (s *Service) readRequest(ctx context.Context, r *http.Request, b *batch, lim bodyLimits) ([]byte, *answer) {
	enc, a := bodyEncoding(r, b.query)
	if a != nil {
		return nil, a
	}
	if r.ContentLength > lim.raw {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "%s of %d bytes exceeds %d", lim.noun, r.ContentLength, lim.raw)
		return nil, &a
	}
	b.buf = bufPool.Get().(*bytes.Buffer)
	return s.readBody(ctx, r, enc, b.buf, lim)
}

// admitByBody runs, once the decoded body (b.env) names the site, the
// checks admitByKey could not: the site, the origin (page.url standing in
// for a missing Origin header) and the endpoint's own checks.
func (s *Service) admitByBody(ctx context.Context, r *http.Request, b *batch, checkedOrigin bool, checks siteChecks) *answer {
	siteFromBody := b.site == nil
	if siteFromBody {
		if a := s.lookupSite(ctx, b, b.env.SiteKey); a != nil {
			return a
		}
	} else if b.env.SiteKey != b.site.GetSiteKey() {
		return &answer{code: http.StatusBadRequest, msg: "siteKey in the body differs from ?k="}
	}
	if !checkedOrigin {
		if b.origin == "" && b.env.URL == "" {
			return &answer{code: http.StatusForbidden, msg: "no Origin header and no page.url to check against the site's domains"}
		}
		if a := s.checkSite(b); a != nil {
			return a
		}
	}
	if siteFromBody { // the checks done before the body when ?k= is given
		return checks(ctx, r, b, b.start)
	}
	return nil
}

// bodyEncoding checks the request's Content-Type and returns its encoding
// (Content-Encoding or ?ce=).
func bodyEncoding(r *http.Request, q url.Values) (string, *answer) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "", "text/plain", "application/json", "application/octet-stream":
	default:
		return "", &answer{code: http.StatusUnsupportedMediaType, msg: "unsupported Content-Type " + strconv.Quote(ct) + " (use text/plain, application/json or application/octet-stream)"}
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if ce := strings.ToLower(q.Get("ce")); ce != "" {
		if enc != "" && enc != "identity" && enc != ce {
			return "", &answer{code: http.StatusUnsupportedMediaType, msg: "Content-Encoding and ?ce= disagree"}
		}
		enc = ce
	}
	switch enc {
	case "", "identity", "gzip", "deflate":
	default:
		return "", &answer{code: http.StatusUnsupportedMediaType, msg: "unsupported encoding " + strconv.Quote(enc) + " (use gzip or deflate)"}
	}
	return enc, nil
}

func (s *Service) lookupSite(ctx context.Context, b *batch, key string) *answer {
	site, err := s.sites.Get(ctx, key)
	switch {
	case errors.Is(err, siteconfig.ErrNotFound):
		return &answer{code: http.StatusNotFound, msg: "unknown site key"}
	case err != nil:
		s.log.WarnContext(ctx, "site config unavailable", "error", err)
		return &answer{code: http.StatusServiceUnavailable, msg: "site configuration unavailable, retry later", retryAfter: s.cfg.RetryAfter}
	}
	b.site = site
	return nil
}

func (s *Service) checkSiteRate(ctx context.Context, b *batch, now time.Time) *answer {
	if ok, wait := s.siteRate.Allow(strconv.FormatInt(b.site.GetSiteId(), 10), now); !ok {
		a := s.refuse(ctx, http.StatusTooManyRequests, "rate_site", wait, "too many requests for this site")
		return &a
	}
	return nil
}

// dropByPrivacy answers 204 without storing when the visitor asked not to
// be tracked and the site respects it, or the site does not record: the
// tracker must not retry, and nothing about the visitor is kept.
func (s *Service) dropByPrivacy(ctx context.Context, r *http.Request, b *batch) *answer {
	st := b.site.GetSettings()
	if st == nil {
		return nil
	}
	if !st.GetRecordingEnabled() {
		s.hit(ctx, "recording_disabled")
		return &answer{code: http.StatusNoContent}
	}
	if st.GetRespectDoNotTrack() && (r.Header.Get("DNT") == "1" || r.Header.Get("Sec-GPC") == "1") {
		s.hit(ctx, "dnt")
		return &answer{code: http.StatusNoContent}
	}
	return nil
}

var (
	gzipPool sync.Pool
	zlibPool sync.Pool
)

// bodyLimits bound a body as sent and after decompression, with the limit
// names their hits are counted under.
type bodyLimits struct {
	raw, decompressed         int64
	rawName, decompressedName string
	noun                      string // what a refusal calls the body
}

// readBody reads the body (at most lim.raw bytes as sent) and decompresses
// it (at most lim.decompressed: the limit applies to the decompressor's
// output, so a gzip bomb costs no more than that).
func (s *Service) readBody(ctx context.Context, r *http.Request, enc string, buf *bytes.Buffer, lim bodyLimits) ([]byte, *answer) {
	raw := buf
	if enc == "gzip" || enc == "deflate" {
		raw = bufPool.Get().(*bytes.Buffer)
		defer func() { raw.Reset(); bufPool.Put(raw) }()
	}
	n, err := readCapped(raw, r.Body, lim.raw)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			a := s.refuse(ctx, http.StatusRequestTimeout, "body_read_timeout", 0, "the body did not arrive within %s", s.bodyDeadline(r.ContentLength, lim.raw).Round(time.Millisecond))
			return nil, &a
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "body too large")
			return nil, &a
		}
		return nil, &answer{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if n > lim.raw {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "body exceeds %d bytes", lim.raw)
		return nil, &a
	}
	if raw == buf {
		return buf.Bytes(), nil
	}
	var dec io.Reader
	switch enc {
	case "gzip":
		zr, _ := gzipPool.Get().(*gzip.Reader)
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(raw.Bytes()))
		} else {
			err = zr.Reset(bytes.NewReader(raw.Bytes()))
		}
		if err != nil {
			return nil, &answer{code: http.StatusBadRequest, msg: "invalid gzip body: " + err.Error()}
		}
		zr.Multistream(false)
		defer gzipPool.Put(zr)
		dec = zr
	case "deflate":
		// HTTP's "deflate" (and CompressionStream("deflate")) is zlib.
		zr, _ := zlibPool.Get().(io.ReadCloser)
		if zr == nil {
			zr, err = zlib.NewReader(bytes.NewReader(raw.Bytes()))
		} else {
			err = zr.(zlib.Resetter).Reset(bytes.NewReader(raw.Bytes()), nil)
		}
		if err != nil {
			return nil, &answer{code: http.StatusBadRequest, msg: "invalid deflate (zlib) body: " + err.Error()}
		}
		defer zlibPool.Put(zr)
		dec = zr
	}
	n, err = readCapped(buf, dec, lim.decompressed)
	if n > lim.decompressed {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.decompressedName, 0, "decompressed body exceeds %d bytes", lim.decompressed)
		return nil, &a
	}
	if err != nil {
		return nil, &answer{code: http.StatusBadRequest, msg: "corrupt " + enc + " body: " + err.Error()}
	}
	return buf.Bytes(), nil
}

// bodyDeadline is how long a body of the declared length (-1: unknown; at
// most limit) may take to arrive: a base plus a share of
// ingest.body-read-timeout proportionate to its size, so small beacons are
// not held to the pace of the largest body, and a trickling client is cut
// well before the server's read timeout.
func (s *Service) bodyDeadline(declared, limit int64) time.Duration {
	full := s.cfg.BodyReadTimeout
	base := min(5*time.Second, full)
	size := min(limit, s.cfg.MaxBodyBytes)
	if declared >= 0 && declared < size {
		size = declared
	}
	return base + time.Duration(float64(full)*float64(size)/float64(s.cfg.MaxBodyBytes))
}

// readCapped reads r into buf (empty; its storage is reused) until EOF or
// until more than limit bytes have arrived. The storage grows with the bytes
// actually received — doubling from minRead, never past limit+1 — so a
// client that declares a large body and sends little costs little.
func readCapped(buf *bytes.Buffer, r io.Reader, limit int64) (int64, error) {
	const minRead = 4 << 10
	p := buf.AvailableBuffer()
	var err error
	for {
		if len(p) == cap(p) {
			if int64(len(p)) > limit {
				break // limit+1 bytes: the caller answers 413
			}
			np := make([]byte, len(p), min(max(2*cap(p), minRead), int(limit+1)))
			copy(np, p)
			p = np
		}
		var m int
		m, err = r.Read(p[len(p):cap(p)])
		p = p[:len(p)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	*buf = *bytes.NewBuffer(p)
	return int64(len(p)), err
}

// retentionDays is how long recordings keeps the chunk's session: the
// site's setting capped by its plan's ceiling; a site without a setting gets
// the ceiling. Zero (neither is set) leaves it to recordings' default.
// Negative values are treated as unset.
func retentionDays(site *siteconfig.Site) int32 {
	days := max(site.GetSettings().GetRetentionDays(), 0)
	ceiling := max(site.GetPlan().GetMaxRetentionDays(), 0)
	switch {
	case days == 0:
		return ceiling
	case ceiling == 0:
		return days
	default:
		return min(days, ceiling)
	}
}

// captureAssets is the site's asset-capture switch; unset means on.
func captureAssets(site *siteconfig.Site) bool {
	st := site.GetSettings()
	return st == nil || st.CaptureAssets == nil || *st.CaptureAssets
}

// chunkMsg holds one chunk being built, with its sub-messages.
type chunkMsg struct {
	chunk                  recordingsv1.Chunk
	serverTime, clientTime timestamppb.Timestamp
	viewport               recordingsv1.Viewport
}

var chunkMsgPool = sync.Pool{New: func() any { return new(chunkMsg) }}

var chunkBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// chunk builds and encodes the spool record: the enriched chunk, carrying
// the intake span's trace context.
func (s *Service) chunk(ctx context.Context, r *http.Request, b *batch, ip netip.Addr, now time.Time) ([]byte, func(), error) {
	e := &b.env
	// The chunk and its small messages are one pooled allocation: they
	// live only until the chunk is encoded below.
	m := chunkMsgPool.Get().(*chunkMsg)
	defer func() {
		*m = chunkMsg{} // drop references to the request's data
		chunkMsgPool.Put(m)
	}()
	c := &m.chunk
	c.SiteId, c.OrganizationId = b.site.GetSiteId(), b.site.GetOrganizationId()
	e.Fill(c, &m.clientTime, &m.viewport)
	m.serverTime.Seconds, m.serverTime.Nanos = now.Unix(), int32(now.Nanosecond())
	c.ServerTime = &m.serverTime
	c.Client = s.enrich.Client(r.UserAgent(), ip)
	c.RetentionDays = retentionDays(b.site)
	c.CaptureAssets = captureAssets(b.site)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, carrier)
		c.Traceparent = carrier["traceparent"]
	} else if e.Traceparent != "" {
		c.Traceparent = e.Traceparent
	}
	// The spool copies the payload into its write buffer, so the buffer
	// goes back to the pool once Append returns (release).
	bp := chunkBufPool.Get().(*[]byte)
	out, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], c)
	if err != nil {
		chunkBufPool.Put(bp)
		return nil, nil, fmt.Errorf("encode chunk: %w", err)
	}
	*bp = out
	return out, func() {
		if cap(*bp) <= 1<<20 {
			chunkBufPool.Put(bp)
		}
	}, nil
}
