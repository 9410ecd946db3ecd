package accounts

import (
	"context"
	"encoding/base64"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sightlinehq/sightline/svc-accounts/store"
)

const (
	maxNameRunes          = 100
	maxEmailBytes         = 254
	maxMaintenanceMessage = 500
	maxSelectors          = 100
	maxSelectorBytes      = 500
	maxSiteKeyBytes       = 64
	defaultPageSize       = 50
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// checkID checks a stored object's id (organisation, funnel, survey...).
func checkID(field string, id int64) error {
	if id <= 0 {
		return invalid("%s must be a positive id", field)
	}
	return nil
}

// checkString trims v and checks it is valid UTF-8 of at most max runes
// (not empty when required) without control characters; newlines are
// allowed when multiline.
func checkString(field, v string, max int, required, multiline bool) (string, error) {
	v = strings.TrimSpace(v)
	control := func(r rune) bool { return unicode.IsControl(r) && (r != '\n' || !multiline) }
	switch {
	case v == "" && required:
		return "", invalid("%s must not be empty", field)
	case !utf8.ValidString(v):
		return "", invalid("%s is not valid UTF-8", field)
	case utf8.RuneCountInString(v) > max:
		return "", invalid("%s is longer than %d characters", field, max)
	case strings.ContainsFunc(v, control):
		return "", invalid("%s contains control characters", field)
	}
	return v, nil
}

// checkName trims and checks a display name.
func checkName(field, v string) (string, error) {
	return checkString(field, v, maxNameRunes, true, false)
}

// normalizeEmail trims, lower-cases and validates an address: a bare
// addr-spec (no display name), a dotted domain, at most 254 bytes.
func normalizeEmail(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return "", invalid("email must not be empty")
	}
	if len(v) > maxEmailBytes {
		return "", invalid("email is longer than %d bytes", maxEmailBytes)
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", invalid("email %q is not a valid address (want name@example.com)", v)
	}
	at := strings.LastIndexByte(v, '@')
	if at < 1 || !strings.Contains(v[at+1:], ".") || strings.ContainsAny(v, " \t<>") {
		return "", invalid("email %q is not a valid address (want name@example.com)", v)
	}
	return v, nil
}

// checkPassword applies the password policy.
func checkPassword(pw, email string, minLen int) error {
	switch {
	case len(pw) > maxPasswordBytes:
		return invalid("password is longer than %d bytes", maxPasswordBytes)
	case !utf8.ValidString(pw):
		return invalid("password is not valid UTF-8")
	case utf8.RuneCountInString(pw) < minLen:
		return invalid("password must be at least %d characters", minLen)
	case strings.EqualFold(strings.TrimSpace(pw), email):
		return invalid("password must not be your e-mail address")
	}
	return nil
}

func defaultOrgName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	if utf8.RuneCountInString(local) > 80 {
		local = string([]rune(local)[:80])
	}
	return local + "'s organization"
}

// trunc keeps an error message about a long input readable.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ---- flags ----

var flagName = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// ---- paging ----

type pager struct {
	size   int
	cursor int64
}

// page parses page_size and page_token. The token is an opaque cursor (the
// last id of the previous page).
func (s *Service) page(size int32, token string) (pager, error) {
	p := pager{size: int(size)}
	switch {
	case size < 0:
		return p, invalid("page_size must not be negative")
	case size == 0:
		p.size = min(defaultPageSize, s.cfg.MaxPageSize)
	case int(size) > s.cfg.MaxPageSize:
		p.size = s.cfg.MaxPageSize
	}
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(token) > 32 {
			return p, invalid("page_token is not one this service returned")
		}
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n <= 0 {
			return p, invalid("page_token is not one this service returned")
		}
		p.cursor = n
	}
	return p, nil
}

// storePage asks for one extra row to know whether a next page exists.
func (p pager) after() store.Page  { return store.Page{After: p.cursor, Limit: p.size + 1} }
func (p pager) before() store.Page { return store.Page{Before: p.cursor, Limit: p.size + 1} }

// trim cuts rows to the page size and returns the next token.
func trim[T any](p pager, rows []T, id func(T) int64) ([]T, string) {
	if len(rows) <= p.size {
		return rows, ""
	}
	rows = rows[:p.size]
	return rows, base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id(rows[len(rows)-1]), 10)))
}

// pageRequest is what every paged List request carries.
type pageRequest interface {
	GetPageSize() int32
	GetPageToken() string
}

// orgPageRequest is a paged List request about one organisation.
type orgPageRequest interface {
	pageRequest
	GetOrganizationId() int64
}

// listPage reads the page req names through list, cuts it to the page size
// and converts the rows with pb: the steps of every paged List RPC. A store
// error is answered as the read op's; one list already turned into a
// status passes unchanged.
func listPage[T, P any](ctx context.Context, s *Service, req pageRequest, op string, list func(pager) ([]T, error), id func(T) int64, pb func(T) P) ([]P, string, error) {
	p, err := s.page(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, "", err
	}
	rows, err := list(p)
	if err != nil {
		return nil, "", s.storeErr(ctx, op, err)
	}
	rows, next := trim(p, rows, id)
	var out []P
	for _, r := range rows {
		out = append(out, pb(r))
	}
	return out, next, nil
}

// listOrgPage is listPage for a caller with at least min in the request's
// organisation; list reads that organisation's rows.
func listOrgPage[T, P any](ctx context.Context, s *Service, req orgPageRequest, min store.Role, op string, list func(org int64, p pager) ([]T, error), id func(T) int64, pb func(T) P) ([]P, string, error) {
	if _, err := s.orgCaller(ctx, req.GetOrganizationId(), min); err != nil {
		return nil, "", err
	}
	return listPage(ctx, s, req, op, func(p pager) ([]T, error) { return list(req.GetOrganizationId(), p) }, id, pb)
}

// ---- settings ----

func checkSelectors(field string, v []string) ([]string, error) {
	if len(v) > maxSelectors {
		return nil, invalid("settings.%s has %d selectors; at most %d", field, len(v), maxSelectors)
	}
	out := make([]string, 0, len(v))
	for i, sel := range v {
		sel = strings.TrimSpace(sel)
		switch {
		case sel == "":
			return nil, invalid("settings.%s[%d] is empty", field, i)
		case len(sel) > maxSelectorBytes:
			return nil, invalid("settings.%s[%d] is longer than %d bytes", field, i, maxSelectorBytes)
		case !utf8.ValidString(sel) || strings.ContainsFunc(sel, unicode.IsControl):
			return nil, invalid("settings.%s[%d] contains control characters or invalid UTF-8", field, i)
		case strings.Contains(sel, "<"):
			// Selectors end up in a script; '<' has no place in CSS.
			return nil, invalid("settings.%s[%d] contains '<'", field, i)
		}
		out = append(out, sel)
	}
	return out, nil
}

func checkSettings(st store.SiteSettings, plan store.Plan) (store.SiteSettings, error) {
	if math.IsNaN(st.SampleRate) || st.SampleRate < 0 || st.SampleRate > 1 {
		return st, invalid("settings.sample_rate must be between 0 and 1")
	}
	if ceiling := retentionCeiling(plan); st.RetentionDays < 1 || st.RetentionDays > ceiling {
		return st, invalid("settings.retention_days must be between 1 and %d (the limit set by the operator)", ceiling)
	}
	if st.ColdAfterDays < 0 || st.ColdAfterDays > st.RetentionDays {
		return st, invalid("settings.cold_after_days must be between 0 (never) and %d (the retention)", st.RetentionDays)
	}
	var err error
	if st.MaskSelectors, err = checkSelectors("mask_selectors", st.MaskSelectors); err != nil {
		return st, err
	}
	if st.BlockSelectors, err = checkSelectors("block_selectors", st.BlockSelectors); err != nil {
		return st, err
	}
	if st.UnmaskSelectors, err = checkSelectors("unmask_selectors", st.UnmaskSelectors); err != nil {
		return st, err
	}
	if st.Feedback != nil {
		// A copy: the caller's value may be the stored settings' pointer.
		w := *st.Feedback
		w.Pages = slices.Clone(w.Pages)
		if err := checkFeedback(&w); err != nil {
			return st, err
		}
		st.Feedback = &w
	}
	if st.TimeZone, err = checkTimeZone(st.TimeZone); err != nil {
		return st, err
	}
	return st, nil
}

func defaultSettings(plan store.Plan) store.SiteSettings {
	return store.SiteSettings{
		RecordingEnabled:  true,
		SampleRate:        1,
		RetentionDays:     min(30, retentionCeiling(plan)),
		RespectDoNotTrack: true,
	}
}

// ---- errors ----

// storeErr answers a store error of operation op: the store's sentinels
// with its own words (written for clients), the rest as internal does.
func (s *Service) storeErr(ctx context.Context, op string, err error) error {
	return s.errs.Status(ctx, op, "", err)
}

// internal answers an error no client can act on: Unavailable when the
// database is away, else Internal naming op, logged either way.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	return s.errs.Failure(ctx, op, err)
}

func target(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// audit appends an audit event; a failure is logged, not returned: the
// change itself has happened.
func (s *Service) audit(ctx context.Context, org, actor int64, action, tgt string) {
	err := s.store.AppendAudit(ctx, store.AuditEvent{OrganizationID: org, ActorUserID: actor, Action: action, Target: tgt, IPPrefix: ipPrefix(clientIP(ctx))})
	if err != nil {
		s.log.ErrorContext(ctx, "accounts: audit", "action", action, "err", err)
	}
}
