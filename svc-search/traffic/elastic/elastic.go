// Package elastic is the traffic store (traffic.Store) on Elasticsearch 8,
// beside the sessions index of svc-search/index/elastic and with its
// configuration.
//
// Layout: one document per traffic session (site, session id) in indices
// "<prefix>-traffic-*" behind the alias "<prefix>-traffic" (template with a
// strict mapping, first index created with the write alias, additive
// mapping changes put on existing indices at Open, like the sessions
// index), routed by site so one site's queries touch one shard — which also
// makes its terms aggregations exact. The document keeps the session's
// hits in a non-indexed object (page views with durations and latest leave
// times, events, leaves still waiting for their page view, the recorded
// mark) and the fields every query needs derived from them: start, end,
// duration, page count, bounce, entry/exit URL, path and page key, the
// distinct pages (URLs, paths, keys, and nested per-key view counts for the
// page breakdown), referrer domain, UTM, country, device, browser, OS,
// screen, event names, recorded flags, latest hit and expiry. The field
// names are the sessions index's where they mean the same, so a traffic
// filter is built with that package's FilterQuery (one set of URL-rule
// clauses, conformance-tested there against index.MatchURL).
//
// Writes: AddHits and SetRecorded read the touched documents with a
// realtime multi-get, merge in Go (doc.go) and write them back in one bulk
// with if_seq_no/if_primary_term (new ones with create), re-reading and
// re-merging the conflicting ones. Merges are idempotent and commutative,
// so retries and re-delivery are safe; a document that did not change is
// not written. Painless scripted upserts would save the read but put the
// counting rules in a script no test here can run.
//
// Queries: one aggregation request per overview (filter aggregations for
// the current and previous period, cardinality of visitors, sums, a
// date_histogram in the zone), one per breakdown (terms ordered by count
// then key, cardinality for the number of values; the page dimension
// through the nested per-key counts). Medians are exact lower medians
// (median.go). Funnels and realtime page through the matching sessions'
// stored hits with search_after and evaluate them in Go with traffic.Compare
// and traffic.MatchStep: Elasticsearch has no ordered-sequence
// aggregation.
//
// Approximations: visitors and total_values are cardinality aggregations
// (HyperLogLog++) with precision_threshold 40000 (Elasticsearch's maximum):
// near-exact below 40,000 distinct values, within a few percent above.
// Realtime sees the latest maxLeaveTimes leave times of a page view.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	sessionsindex "github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// Config is the sessions index's configuration (addresses, credentials,
// IndexPrefix, shards, replicas, refresh policy, transport): the traffic
// alias is "<IndexPrefix>-traffic".
type Config = sessionsindex.Config

// Store is the Elasticsearch traffic store.
type Store struct {
	es    *elasticsearch.Client
	cfg   Config
	alias string
}

var _ traffic.Store = (*Store)(nil)

// Field names of the mapping; shared names mean what they mean in the
// sessions index (its FilterQuery builds the traffic filter's clauses).
const (
	fSite      = "site_id"
	fSession   = "session_id"
	fVisitor   = "visitor_id"
	fVisitors  = "hit_visitors"
	fStart     = "start_time"
	fEnd       = "end_time"
	fDuration  = "duration_ms"
	fPageCount = "page_count"
	fBounce    = "bounce"
	fPages     = "pages"
	fPaths     = "paths"
	fPageKeys  = "page_keys"
	fPageViews = "page_views"
	fPVKey     = "key"
	fPVCount   = "views"
	fEntry     = "entry_url"
	fEntryPath = "entry_path"
	fEntryKey  = "entry_key"
	fExit      = "exit_url"
	fExitPath  = "exit_path"
	fExitKey   = "exit_key"
	fReferrer  = "referrer_domain"
	fUTMSource = "utm_source"
	fUTMMedium = "utm_medium"
	fUTMCamp   = "utm_campaign"
	fCountry   = "country"
	fDevice    = "device"
	fBrowser   = "browser"
	fOS        = "os"
	fScreen    = "screen"
	fEvents    = "custom_events"
	fRecorded  = "recorded"
	fRage      = "rage"
	fDead      = "dead"
	fErrors    = "errored"
	fLastHit   = "last_hit"
	fExpires   = "expires_at"
	fMarkedAt  = "marked_at"
	fState     = "state"

	wildcardSub = "wc"
	ignoreAbove = traffic.MaxURL
	// precision is the cardinality aggregations' precision_threshold.
	precision = 40000
	// schema counts mapping changes.
	schema = 1
)

func keyword() map[string]any { return map[string]any{"type": "keyword", "ignore_above": ignoreAbove} }

func urlKeyword() map[string]any {
	k := keyword()
	k["fields"] = map[string]any{wildcardSub: map[string]any{"type": "wildcard", "ignore_above": ignoreAbove}}
	return k
}

func typed(t string) map[string]any { return map[string]any{"type": t} }

// properties is the explicit mapping of a traffic session. Changes must be
// additive: Open puts them on existing indices too.
func properties() map[string]any {
	return map[string]any{
		fSite: keyword(), fSession: keyword(), fVisitor: keyword(), fVisitors: keyword(),
		// date_nanos: hits keep ingest's clock to the nanosecond, and
		// ranges and the timeline compare them exactly.
		fStart: typed("date_nanos"), fEnd: typed("date_nanos"),
		fLastHit: typed("date_nanos"), fExpires: typed("date_nanos"), fMarkedAt: typed("date_nanos"),
		fDuration: typed("long"), fPageCount: typed("integer"), fBounce: typed("byte"),
		fPages: urlKeyword(), fPaths: keyword(), fPageKeys: keyword(),
		fPageViews: map[string]any{"type": "nested", "properties": map[string]any{
			fPVKey: keyword(), fPVCount: typed("integer"),
		}},
		fEntry: urlKeyword(), fEntryPath: keyword(), fEntryKey: keyword(),
		fExit: urlKeyword(), fExitPath: keyword(), fExitKey: keyword(),
		fReferrer: keyword(), fUTMSource: keyword(), fUTMMedium: keyword(), fUTMCamp: keyword(),
		fCountry: keyword(), fDevice: keyword(), fBrowser: keyword(), fOS: keyword(), fScreen: keyword(),
		fEvents:   keyword(),
		fRecorded: typed("boolean"), fRage: typed("boolean"), fDead: typed("boolean"), fErrors: typed("boolean"),
		// The hits: read back whole, never searched.
		fState: map[string]any{"type": "object", "enabled": false},
	}
}

// TemplateBody is the traffic index template with the explicit mapping.
func TemplateBody(prefix string, shards, replicas int) map[string]any {
	return sessionsindex.Template(prefix+"-traffic-*", shards, replicas, properties(), map[string]any{"owner": "sightline svc-search traffic", "schema": schema})
}

// Open connects and makes sure the template, the first index and the
// alias exist.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	es, cfg, err := sessionsindex.Client(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{es: es, cfg: cfg, alias: cfg.IndexPrefix + "-traffic"}
	if err := sessionsindex.EnsureAlias(ctx, es, s.alias, TemplateBody(cfg.IndexPrefix, cfg.Shards, cfg.Replicas), properties()); err != nil {
		return nil, err
	}
	return s, nil
}

// Alias is the alias every request goes through.
func (s *Store) Alias() string { return s.alias }

// search runs a search under the site's routing.
func (s *Store) search(ctx context.Context, siteID int64, body map[string]any, what string, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("elasticsearch: %s: %w", what, err)
	}
	res, err := esapi.SearchRequest{Index: []string{s.alias}, Body: bytes.NewReader(raw), Routing: []string{routing(siteID)}}.Do(ctx, s.es)
	return sessionsindex.Decode(res, err, what, out)
}

// Ready implements traffic.Store: the alias answers.
func (s *Store) Ready(ctx context.Context) error {
	if err := sessionsindex.AliasReady(ctx, s.es, s.alias); err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	return nil
}

// Close implements traffic.Store; the client holds only idle connections.
func (s *Store) Close() error {
	sessionsindex.CloseIdle(s.es)
	return nil
}
