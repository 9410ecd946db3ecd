package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sightlinehq/sightline/platform/httpcompress"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
	"github.com/sightlinehq/sightline/tracker"
)

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
	} else if p := r.Header.Get("X-Forwarded-Proto"); (p == "https" || p == "http") && s.cfg.trusted.FromProxy(r) {
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

// etagMatch tells whether an If-None-Match header names etag, in any
// encoding the answer went out in (httpcompress.Revalidated).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = httpcompress.BaseETag(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
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
