// Package elastic is the sessions index on Elasticsearch 8
// (github.com/elastic/go-elasticsearch/v8).
//
// Layout: an index template "<prefix>-sessions" with an explicit, strict
// mapping applies to indices "<prefix>-sessions-*"; the first index
// "<prefix>-sessions-000001" carries the alias "<prefix>-sessions" as its
// write index, and every request goes through the alias, so an operator can
// rebuild into a new index and swap the alias. Every document is routed by
// its site id, so one site's queries touch one shard. Upserts go through the
// bulk indexer with external versioning (version = the summary version,
// version_type=external_gte), so Elasticsearch itself rejects stale versions.
// Lists page with search_after on (sort key, session id); facets are terms
// aggregations. Every query is a bool filter whose first clause is the site.
// Mapping changes are additive: Open puts the current mapping on the indices
// behind an existing alias, so they take new fields without a rebuild.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// Config configures the backend.
type Config struct {
	Addresses []string
	Username  string
	Password  string
	// IndexPrefix names the template, indices and alias.
	IndexPrefix string
	Shards      int
	Replicas    int
	// Refresh is the refresh policy of writes ("wait_for" keeps the
	// read-your-writes contract of index.Index).
	Refresh string
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// Index is the Elasticsearch sessions index.
type Index struct {
	conn
	// refreshDue is set at Open when documents predate the schema's
	// fields (refresh.go).
	refreshDue atomic.Bool
}

// conn is what the sessions and answers indexes share: the client, the
// configuration and the alias every request goes through.
type conn struct {
	es    *elasticsearch.Client
	cfg   Config
	alias string
}

// dial makes the client for the alias <IndexPrefix>-<name>, with the
// configuration's defaults filled in.
func dial(cfg Config, name string) (conn, error) {
	es, cfg, err := Client(cfg)
	if err != nil {
		return conn{}, err
	}
	return conn{es: es, cfg: cfg, alias: cfg.IndexPrefix + "-" + name}, nil
}

// Client fills in cfg's defaults (refresh policy wait_for, one shard) and
// makes its client. The sessions and answers indexes and the traffic store
// (svc-search/traffic/elastic) all connect through it.
func Client(cfg Config) (*elasticsearch.Client, Config, error) {
	if cfg.Refresh == "" {
		cfg.Refresh = "wait_for"
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses, Username: cfg.Username, Password: cfg.Password,
		Transport: cfg.Transport, MaxRetries: 3,
	})
	if err != nil {
		return nil, cfg, fmt.Errorf("elasticsearch: client: %w", err)
	}
	return es, cfg, nil
}

var _ index.Index = (*Index)(nil)

// Field names of the mapping.
const (
	fSite      = "site_id"
	fSession   = "session_id"
	fVisitor   = "visitor_id"
	fVersion   = "version"
	fStart     = "start_time"
	fDuration  = "duration_ms"
	fActive    = "active_ms"
	fPageCount = "page_count"
	fRage      = "rage_clicks"
	fDead      = "dead_clicks"
	fErrors    = "errors"
	fTruncated = "truncated"
	// Feedback counts; documents indexed before they existed lack them and
	// count as none ("has feedback: no" is a must_not, so it finds them).
	fFeedback    = "feedback_count"
	fMinFeedback = "min_feedback_rating"
	fSurveys     = "survey_response_count"
	fPages       = "pages"
	fPaths       = "paths"
	fEntry       = "entry_url"
	fEntryPath   = "entry_path"
	fExit        = "exit_url"
	fExitPath    = "exit_path"
	// Page keys (index.PageKey) of the pages, entry and exit: full-URL
	// EQUALS matches are terms on them. Documents indexed before these
	// fields existed lack them until upserted again (`sightline reindex`
	// re-sends every summary; equal versions are accepted).
	fPageKeys  = "page_keys"
	fEntryKey  = "entry_key"
	fExitKey   = "exit_key"
	fDevice    = "device"
	fBrowser   = "browser"
	fOS        = "os"
	fCountry   = "country"
	fReferrer  = "referrer_domain"
	fUTMSource = "utm_source"
	fUTMMedium = "utm_medium"
	fUTMCamp   = "utm_campaign"
	fUser      = "user_id"
	fAttrs     = "attributes"
	fEvents    = "custom_events"
	fClicked   = "clicked_elements"
	fRaged     = "rage_clicked_elements"
	fDeadOn    = "dead_clicked_elements"
	fSummary   = "summary"
	// wildcardSub is the multi-field used by CONTAINS URL matches.
	wildcardSub = "wc"
	// ignoreAbove keeps huge URLs from failing a document; they stay
	// stored but are not matchable.
	ignoreAbove = 2048
)

// Open connects and makes sure the template, the first index and the alias
// exist.
func Open(ctx context.Context, cfg Config) (*Index, error) {
	c, err := dial(cfg, "sessions")
	if err != nil {
		return nil, err
	}
	ix := &Index{conn: c}
	if err := ix.setup(ctx); err != nil {
		return nil, err
	}
	return ix, nil
}

// Alias is the alias every request goes through.
func (ix *Index) Alias() string { return ix.alias }

func (ix *Index) setup(ctx context.Context) error {
	if err := ix.markRefresh(ctx); err != nil {
		return err
	}
	return EnsureAlias(ctx, ix.es, ix.alias, TemplateBody(ix.cfg.IndexPrefix, ix.cfg.Shards, ix.cfg.Replicas), properties())
}

// EnsureAlias puts an index template, then creates the first index behind
// alias when the alias does not exist yet, or brings the indices behind it
// up to props when it does.
func EnsureAlias(ctx context.Context, es *elasticsearch.Client, alias string, template, props map[string]any) error {
	body, err := json.Marshal(template)
	if err != nil {
		return fmt.Errorf("elasticsearch: template: %w", err)
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: alias, Body: bytes.NewReader(body)}.Do(ctx, es)
	if err := Check(res, err, "put index template"); err != nil {
		return err
	}
	res, err = esapi.IndicesExistsAliasRequest{Name: []string{alias}}.Do(ctx, es)
	if err != nil {
		return fmt.Errorf("elasticsearch: check alias: %w", err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return putMapping(ctx, es, alias, props)
	}
	first := alias + "-000001"
	body, _ = json.Marshal(map[string]any{"aliases": map[string]any{alias: map[string]any{"is_write_index": true}}})
	res, err = esapi.IndicesCreateRequest{Index: first, Body: bytes.NewReader(body)}.Do(ctx, es)
	if err != nil {
		return fmt.Errorf("elasticsearch: create %s: %w", first, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		// Another replica of the service won the race: fine.
		if res.StatusCode == http.StatusBadRequest && bytes.Contains(raw, []byte("resource_already_exists_exception")) {
			return nil
		}
		return fmt.Errorf("elasticsearch: create %s: %s: %s", first, res.Status(), raw)
	}
	return nil
}

// putMapping brings the indices behind the alias up to this build's
// mapping. The template only shapes indices created after it, and with
// dynamic: strict a document carrying a field an older index lacks would be
// refused; additive changes are accepted by Elasticsearch in place (existing
// documents gain the field when next upserted or reindexed), a conflicting
// one fails here with Elasticsearch's reason.
func putMapping(ctx context.Context, es *elasticsearch.Client, alias string, props map[string]any) error {
	body, err := json.Marshal(map[string]any{"properties": props})
	if err != nil {
		return fmt.Errorf("elasticsearch: mapping: %w", err)
	}
	res, err := esapi.IndicesPutMappingRequest{Index: []string{alias}, Body: bytes.NewReader(body)}.Do(ctx, es)
	if err := Check(res, err, "update mapping of "+alias); err != nil {
		return fmt.Errorf("%w (a mapping that cannot change in place needs a new index: create it, reindex into it, move the alias)", err)
	}
	return nil
}

// Check turns a failed response into an error and closes the body.
func Check(res *esapi.Response, err error, what string) error {
	if err != nil {
		return fmt.Errorf("elasticsearch: %s: %w", what, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("elasticsearch: %s: %s: %s", what, res.Status(), raw)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}

func keyword() map[string]any {
	return map[string]any{"type": "keyword", "ignore_above": ignoreAbove}
}

func urlKeyword() map[string]any {
	k := keyword()
	k["fields"] = map[string]any{wildcardSub: map[string]any{"type": "wildcard", "ignore_above": ignoreAbove}}
	return k
}

// TemplateBody is the index template with the explicit mapping.
func TemplateBody(prefix string, shards, replicas int) map[string]any {
	return Template(prefix+"-sessions-*", shards, replicas, properties(), map[string]any{"owner": "sightline svc-search", "schema": schema})
}

// Template is an index template for the indices matching pattern: a
// strict explicit mapping of props, routing required, and meta as _meta.
func Template(pattern string, shards, replicas int, props, meta map[string]any) map[string]any {
	return map[string]any{
		"index_patterns": []any{pattern},
		"priority":       200,
		"template": map[string]any{
			"settings": map[string]any{
				"number_of_shards":   shards,
				"number_of_replicas": replicas,
			},
			"mappings": map[string]any{
				"dynamic":    "strict",
				"_routing":   map[string]any{"required": true},
				"properties": props,
			},
		},
		"_meta": meta,
	}
}

// schema counts mapping changes (2: clicked_elements, page keys; 3:
// feedback counts; 4: rage- and dead-clicked elements).
const schema = 4

// properties is the explicit mapping of a session document. Changes must be
// additive (new fields): setup puts them on existing indices too.
func properties() map[string]any {
	return map[string]any{
		fSite: keyword(), fSession: keyword(), fVisitor: keyword(),
		fVersion:   map[string]any{"type": "long", "index": false},
		fStart:     map[string]any{"type": "date_nanos"},
		fDuration:  map[string]any{"type": "long"},
		fActive:    map[string]any{"type": "long"},
		fPageCount: map[string]any{"type": "integer"},
		fRage:      map[string]any{"type": "integer"},
		fDead:      map[string]any{"type": "integer"},
		fErrors:    map[string]any{"type": "integer"},
		fTruncated: map[string]any{"type": "boolean"},
		fFeedback:  map[string]any{"type": "integer"}, fMinFeedback: map[string]any{"type": "integer"},
		fSurveys: map[string]any{"type": "integer"},
		fPages:   urlKeyword(), fPaths: keyword(),
		fEntry: urlKeyword(), fEntryPath: keyword(),
		fExit: urlKeyword(), fExitPath: keyword(),
		fPageKeys: keyword(), fEntryKey: keyword(), fExitKey: keyword(),
		fDevice: keyword(), fBrowser: keyword(), fOS: keyword(), fCountry: keyword(),
		fReferrer: keyword(), fUTMSource: keyword(), fUTMMedium: keyword(), fUTMCamp: keyword(),
		fUser: keyword(), fAttrs: keyword(), fEvents: keyword(), fClicked: keyword(),
		fRaged: keyword(), fDeadOn: keyword(),
		fSummary: map[string]any{"type": "binary"},
	}
}

// keywordFields names the mapping's field of each index.Keyword.
var keywordFields = [index.NumKeywords]string{index.KeywordVisitor: fVisitor, index.KeywordUser: fUser,
	index.KeywordEntry: fEntry, index.KeywordEntryPath: fEntryPath, index.KeywordEntryKey: fEntryKey, index.KeywordExit: fExit,
	index.KeywordExitPath: fExitPath, index.KeywordExitKey: fExitKey, index.KeywordBrowser: fBrowser, index.KeywordOS: fOS,
	index.KeywordCountry: fCountry, index.KeywordReferrer: fReferrer, index.KeywordUTMSource: fUTMSource,
	index.KeywordUTMMedium: fUTMMedium, index.KeywordUTMCampaign: fUTMCamp}

// Document is the indexed form of a summary.
func Document(s *sessionsv1.SessionSummary) (map[string]any, error) {
	pb, err := proto.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("marshal summary: %w", err)
	}
	doc := index.SessionDocument(s)
	d := map[string]any{
		fSite:      strconv.FormatInt(s.GetSiteId(), 10),
		fSession:   s.GetSessionId(),
		fVersion:   s.GetVersion(),
		fStart:     s.GetStartTime().AsTime().UTC().Format(time.RFC3339Nano),
		fDuration:  s.GetDuration().AsDuration().Milliseconds(),
		fActive:    s.GetActiveDuration().AsDuration().Milliseconds(),
		fPageCount: s.GetPageCount(),
		fRage:      s.GetRageClickCount(),
		fDead:      s.GetDeadClickCount(),
		fErrors:    s.GetErrorCount(),
		fTruncated: s.GetTruncated(),
		fDevice:    doc.Device,
		fSummary:   base64.StdEncoding.EncodeToString(pb),
		fFeedback:  s.GetFeedbackCount(), fMinFeedback: s.GetMinFeedbackRating(), fSurveys: s.GetSurveyResponseCount(),
	}
	doc.SetKeywords(d, &keywordFields)
	if len(doc.Pages) > 0 {
		d[fPages], d[fPaths], d[fPageKeys] = doc.Pages, doc.Paths, doc.PageKeys
	}
	if len(doc.Attrs) > 0 {
		d[fAttrs] = doc.Attrs
	}
	if len(s.GetCustomEvents()) > 0 {
		d[fEvents] = s.GetCustomEvents()
	}
	for _, l := range []struct {
		field string
		sels  []string
	}{{fClicked, s.GetClickedElements()}, {fRaged, s.GetRageClickedElements()}, {fDeadOn, s.GetDeadClickedElements()}} {
		if len(l.sels) > 0 {
			d[l.field] = l.sels
		}
	}
	return d, nil
}

// Upsert implements index.Index with the bulk indexer. Stale versions are
// refused by Elasticsearch (409 version conflict) and counted as stale.
func (ix *Index) Upsert(ctx context.Context, sessions []*sessionsv1.SessionSummary) (index.UpsertResult, error) {
	var res index.UpsertResult
	newest := map[string]*sessionsv1.SessionSummary{}
	var order []string
	for _, s := range sessions {
		if s == nil {
			continue
		}
		id := index.DocID(s.GetSiteId(), s.GetSessionId())
		if prev, ok := newest[id]; ok {
			res.Stale++
			if s.GetVersion() >= prev.GetVersion() {
				newest[id] = s
			}
			continue
		}
		order = append(order, id)
		newest[id] = s
	}
	if len(order) == 0 {
		return res, nil
	}
	upserted, stale, err := ix.bulk(ctx, len(order), true, func(i int) (esutil.BulkIndexerItem, error) {
		item, err := BulkItem(newest[order[i]])
		if err != nil {
			return item, fmt.Errorf("elasticsearch: upsert %s: %w", order[i], err)
		}
		return item, nil
	})
	if err != nil {
		return index.UpsertResult{}, err
	}
	res.Upserted = upserted
	res.Stale += stale
	return res, nil
}

// bulk adds n items (item(i) makes the i-th) to one bulk indexer on the
// alias, flushed once by Close, and counts the items written. With
// staleOK a version conflict (409: the index holds a newer version) is
// counted as stale instead of failing the call; any other item failure
// fails it.
func (c *conn) bulk(ctx context.Context, n int, staleOK bool, item func(i int) (esutil.BulkIndexerItem, error)) (written, stale int, err error) {
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client: c.es, Index: c.alias, NumWorkers: 1, FlushBytes: 5 << 20,
		FlushInterval: time.Hour, // flushed explicitly by Close
		Refresh:       c.cfg.Refresh, RequireAlias: true,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("elasticsearch: bulk indexer: %w", err)
	}
	var ok, conflicts atomic.Int64
	var failed atomic.Pointer[error]
	for i := range n {
		it, err := item(i)
		if err != nil {
			_ = bi.Close(ctx)
			return 0, 0, err
		}
		it.OnSuccess = func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) }
		it.OnFailure = func(_ context.Context, it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
			if err == nil && staleOK && r.Status == http.StatusConflict {
				conflicts.Add(1)
				return
			}
			if err == nil {
				err = fmt.Errorf("%s %s: %s: %s", it.DocumentID, strconv.Itoa(r.Status), r.Error.Type, r.Error.Reason)
			}
			failed.CompareAndSwap(nil, &err)
		}
		if err := bi.Add(ctx, it); err != nil {
			_ = bi.Close(ctx)
			return 0, 0, fmt.Errorf("elasticsearch: bulk add: %w", err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		return 0, 0, fmt.Errorf("elasticsearch: bulk: %w", err)
	}
	if p := failed.Load(); p != nil {
		return 0, 0, fmt.Errorf("elasticsearch: bulk item failed: %w", *p)
	}
	return int(ok.Load()), int(conflicts.Load()), nil
}

// BulkItem is the bulk "index" action of a summary: routed by site, with
// the summary version as external version.
func BulkItem(s *sessionsv1.SessionSummary) (esutil.BulkIndexerItem, error) {
	doc, err := Document(s)
	if err != nil {
		return esutil.BulkIndexerItem{}, err
	}
	item, err := indexItem(index.DocID(s.GetSiteId(), s.GetSessionId()), s.GetSiteId(), doc)
	if err != nil {
		return item, err
	}
	v := s.GetVersion()
	item.Version = &v
	// external_gte: an equal version is the same deterministic summary,
	// so re-delivery succeeds (idempotent) while older ones get 409.
	item.VersionType = "external_gte"
	return item, nil
}

// indexItem is the bulk "index" action of a document of siteID's, routed
// by site.
func indexItem(id string, siteID int64, doc map[string]any) (esutil.BulkIndexerItem, error) {
	body, err := json.Marshal(doc)
	if err != nil {
		return esutil.BulkIndexerItem{}, err
	}
	return esutil.BulkIndexerItem{Action: "index", DocumentID: id, Routing: siteRouting(siteID), Body: bytes.NewReader(body)}, nil
}

// errNoLimit refuses a list query without a page size.
var errNoLimit = errors.New("elasticsearch: limit must be positive")

func siteRouting(siteID int64) string { return strconv.FormatInt(siteID, 10) }

// Delete implements index.Index with delete-by-query under the site.
func (ix *Index) Delete(ctx context.Context, siteID int64, sel index.Selector) (int64, error) {
	body, err := DeleteBody(siteID, sel)
	if err != nil {
		return 0, err
	}
	return ix.deleteByQuery(ctx, siteID, body, "delete by query")
}

// search runs a search under the site's routing and decodes the answer
// into out; what names it in errors.
func (c *conn) search(ctx context.Context, siteID int64, body map[string]any, what string, out any) error {
	raw, _ := json.Marshal(body)
	res, err := esapi.SearchRequest{Index: []string{c.alias}, Body: bytes.NewReader(raw), Routing: []string{siteRouting(siteID)}}.Do(ctx, c.es)
	return Decode(res, err, what, out)
}

// deleteByQuery runs a delete-by-query under the site's routing; what
// names it in errors.
func (c *conn) deleteByQuery(ctx context.Context, siteID int64, body map[string]any, what string) (int64, error) {
	raw, _ := json.Marshal(body)
	refresh := c.cfg.Refresh != "false"
	res, err := esapi.DeleteByQueryRequest{
		Index: []string{c.alias}, Body: bytes.NewReader(raw), Routing: []string{siteRouting(siteID)},
		Refresh: &refresh, Conflicts: "proceed",
	}.Do(ctx, c.es)
	var out struct {
		Deleted  int64             `json:"deleted"`
		Failures []json.RawMessage `json:"failures"`
	}
	if err := Decode(res, err, what, &out); err != nil {
		return 0, err
	}
	if len(out.Failures) > 0 {
		return out.Deleted, fmt.Errorf("elasticsearch: %s: %d failures: %s", what, len(out.Failures), out.Failures[0])
	}
	return out.Deleted, nil
}

// DeleteBody is the delete-by-query body for a selector.
func DeleteBody(siteID int64, sel index.Selector) (map[string]any, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	var clause map[string]any
	switch {
	case len(sel.SessionIDs) > 0:
		clause = terms(fSession, sel.SessionIDs)
	case sel.VisitorID != "":
		clause = term(fVisitor, sel.VisitorID)
	case !sel.StartedBefore.IsZero():
		clause = map[string]any{"range": map[string]any{fStart: map[string]any{"lt": sel.StartedBefore.UTC().Format(time.RFC3339Nano)}}}
	}
	if clause == nil {
		return map[string]any{"query": siteFilter(siteID)}, nil
	}
	return map[string]any{"query": siteFilter(siteID, clause)}, nil
}

// Decode reads a response into out, or turns a failed one into an error
// (a URL pattern Elasticsearch cannot run into index.ErrTooComplex).
func Decode(res *esapi.Response, err error, what string, out any) error {
	if err != nil {
		return fmt.Errorf("elasticsearch: %s: %w", what, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		// A valid URL pattern whose automaton exceeds Lucene's
		// determinization limit (many '*' between long literal runs),
		// whichever status the shard failure was reported with.
		if bytes.Contains(raw, []byte("too_complex_to_determinize")) {
			return fmt.Errorf("elasticsearch: %s: %w: %s", what, index.ErrTooComplex, raw)
		}
		return fmt.Errorf("elasticsearch: %s: %s: %s", what, res.Status(), raw)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("elasticsearch: %s: decode: %w", what, err)
	}
	return nil
}

// siteDoc is what an index stores a document as: a message of one site.
type siteDoc interface {
	proto.Message
	GetSiteId() int64
}

// decodeHit decodes a hit's stored copy (base64 protobuf) into m and
// checks it is siteID's: defence in depth, the query filters by site.
func decodeHit(id, stored string, m siteDoc, siteID int64) error {
	pb, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return fmt.Errorf("elasticsearch: decode %s: %w", id, err)
	}
	if err := proto.Unmarshal(pb, m); err != nil {
		return fmt.Errorf("elasticsearch: decode %s: %w", id, err)
	}
	if m.GetSiteId() != siteID {
		return fmt.Errorf("elasticsearch: hit %s belongs to another site", id)
	}
	return nil
}

// Search implements index.Index.
func (ix *Index) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	body, err := SearchBody(q)
	if err != nil {
		return nil, err
	}
	var out struct {
		storedHits
		Aggregations map[string]struct {
			Buckets []struct {
				Key      string `json:"key"`
				DocCount int64  `json:"doc_count"`
			} `json:"buckets"`
		} `json:"aggregations"`
	}
	if err := ix.search(ctx, q.SiteID, body, "search", &out); err != nil {
		return nil, err
	}
	r := &index.Result{Total: out.Hits.Total.Value}
	var more bool
	r.Sessions, more, err = page(out.storedHits, fSummary, q.Limit, q.SiteID, func() *sessionsv1.SessionSummary { return &sessionsv1.SessionSummary{} })
	if err != nil {
		return nil, err
	}
	if more && len(r.Sessions) > 0 {
		last := r.Sessions[len(r.Sessions)-1]
		r.Next = &index.Cursor{Value: index.SortKey(last, q.Sort), SessionID: last.GetSessionId()}
	}
	for _, f := range q.Facets {
		name, _ := facetFields.Of(f)
		facet := &searchv1.Facet{Field: f}
		for _, b := range out.Aggregations[name].Buckets {
			facet.Counts = append(facet.Counts, &searchv1.FacetCount{Value: b.Key, Count: b.DocCount})
		}
		r.Facets = append(r.Facets, facet)
	}
	return r, nil
}

// SearchBody is the _search body of a query.
func SearchBody(q index.Query) (map[string]any, error) {
	if q.Limit <= 0 {
		return nil, errNoLimit
	}
	fq, err := FilterQuery(q.SiteID, q.Filter)
	if err != nil {
		return nil, err
	}
	if len(q.SessionIDs) > index.MaxSessionIDs {
		return nil, fmt.Errorf("elasticsearch: %d session ids, at most %d", len(q.SessionIDs), index.MaxSessionIDs)
	}
	if len(q.SessionIDs) > 0 {
		// One more clause of the site's filter: another site's ids match
		// nothing.
		b := fq["bool"].(map[string]any)
		b["filter"] = append(b["filter"].([]any), terms(fSession, q.SessionIDs))
	}
	var after []any
	if q.After != nil {
		after = []any{q.After.Value, q.After.SessionID}
	}
	body := listBody(q.Limit, fq, fSummary, sortFields.Of(q.Sort), fSession, q.Ascending, after)
	size := q.FacetSize
	if size <= 0 {
		size = index.DefaultFacetSize
	}
	if len(q.Facets) > 0 {
		aggs := map[string]any{}
		for _, f := range q.Facets {
			field, ok := facetFields.Of(f)
			if !ok {
				return nil, fmt.Errorf("elasticsearch: unknown facet %v", f)
			}
			aggs[field] = map[string]any{"terms": map[string]any{
				"field": field, "size": size,
				"order": []any{map[string]any{"_count": "desc"}, map[string]any{"_key": "asc"}},
			}}
		}
		body["aggs"] = aggs
	}
	return body, nil
}

// listBody is the _search body of a page of limit hits and their stored
// field, sorted on sort then tie in one direction, after the cursor's
// values: it asks for one more hit, whose coming back says another page
// follows.
func listBody(limit int, fq map[string]any, stored, sort, tie string, ascending bool, after []any) map[string]any {
	order := "desc"
	if ascending {
		order = "asc"
	}
	body := map[string]any{
		"size":             limit + 1,
		"track_total_hits": true,
		"_source":          []any{stored},
		"query":            fq,
		"sort": []any{
			map[string]any{sort: map[string]any{"order": order}},
			map[string]any{tie: map[string]any{"order": order}},
		},
	}
	if after != nil {
		body["search_after"] = after
	}
	return body
}

// TotalHits is the part of a search response that counts the matches.
type TotalHits struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
	} `json:"hits"`
}

// storedHits is a list response: the matches' count and the page's hits
// with their stored field.
type storedHits struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			ID     string            `json:"_id"`
			Source map[string]string `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// page decodes the stored copies (field) of the first limit hits into new
// messages of siteID's; more says a hit beyond limit came back (listBody
// asks for one more).
func page[M siteDoc](h storedHits, field string, limit int, siteID int64, newM func() M) (ms []M, more bool, err error) {
	hits := h.Hits.Hits
	more = len(hits) > limit
	if more {
		hits = hits[:limit]
	}
	for _, hit := range hits {
		m := newM()
		if err := decodeHit(hit.ID, hit.Source[field], m, siteID); err != nil {
			return nil, false, err
		}
		ms = append(ms, m)
	}
	return ms, more, nil
}

// sortFields and facetFields name the mapping's field of each sort order
// and facet; pageFields those of the filter's URL matches.
var (
	sortFields  = index.SortFields{Start: fStart, Duration: fDuration, Active: fActive, PageCount: fPageCount}
	facetFields = index.FacetFields{Device: fDevice, Browser: fBrowser, OS: fOS, Country: fCountry, Path: fPaths}
	pageFields  = [3]index.URLFields{{Full: fPages, Path: fPaths, Key: fPageKeys}, {Full: fEntry, Path: fEntryPath, Key: fEntryKey}, {Full: fExit, Path: fExitPath, Key: fExitKey}}
)

// Count implements index.Index.
func (ix *Index) Count(ctx context.Context, siteID int64, f *searchv1.SessionFilter) (int64, error) {
	fq, err := FilterQuery(siteID, f)
	if err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(map[string]any{"query": fq})
	res, err := esapi.CountRequest{
		Index: []string{ix.alias}, Body: bytes.NewReader(raw), Routing: []string{siteRouting(siteID)},
	}.Do(ctx, ix.es)
	var out struct {
		Count int64 `json:"count"`
	}
	if err := Decode(res, err, "count", &out); err != nil {
		return 0, err
	}
	return out.Count, nil
}

// Ready implements index.Index and index.AnswerIndex: the alias answers.
func (c *conn) Ready(ctx context.Context) error { return AliasReady(ctx, c.es, c.alias) }

// Close implements index.Index and index.AnswerIndex; the client holds no
// resources beyond idle connections.
func (c *conn) Close() error {
	CloseIdle(c.es)
	return nil
}

// AliasReady is nil when alias exists and answers.
func AliasReady(ctx context.Context, es *elasticsearch.Client, alias string) error {
	res, err := esapi.IndicesExistsAliasRequest{Name: []string{alias}}.Do(ctx, es)
	if err != nil {
		return fmt.Errorf("elasticsearch: not ready: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("elasticsearch: not ready: alias %s: %s", alias, res.Status())
	}
	return nil
}

// CloseIdle closes the client's idle connections, all it holds.
func CloseIdle(es *elasticsearch.Client) {
	if t, ok := es.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

func term(field, v string) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

func terms(field string, vs []string) map[string]any {
	return map[string]any{"terms": map[string]any{field: vs}}
}

func rangeQ(field string, bounds map[string]any) map[string]any {
	return map[string]any{"range": map[string]any{field: bounds}}
}

// siteFilter is a bool filter whose first clause is the site.
func siteFilter(siteID int64, clauses ...any) map[string]any {
	filters := append([]any{term(fSite, strconv.FormatInt(siteID, 10))}, clauses...)
	return map[string]any{"bool": map[string]any{"filter": filters}}
}

// timeClause is the range clause of tr on field (start inclusive, end
// exclusive), nil when tr is open at both ends.
func timeClause(field string, tr *searchv1.TimeRange) map[string]any {
	if tr == nil || (tr.Start == nil && tr.End == nil) {
		return nil
	}
	b := map[string]any{}
	if tr.Start != nil {
		b["gte"] = tr.Start.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if tr.End != nil {
		b["lt"] = tr.End.AsTime().UTC().Format(time.RFC3339Nano)
	}
	return rangeQ(field, b)
}

// ratingClause is the range clause of a rating range on field, nil when
// the range is unset. A lowest rating of 0 means "feedback without a
// rating" and counts from 1.
func ratingClause(field string, r *searchv1.IntRange) map[string]any {
	if r == nil || (r.Min == 0 && r.Max == 0) {
		return nil
	}
	b := map[string]any{"gte": max(r.Min, 1)}
	if r.Max != 0 {
		b["lte"] = r.Max
	}
	return rangeQ(field, b)
}

// deviceClause is the terms clause of device types, nil for none.
func deviceClause(ds []sessionsv1.DeviceType) map[string]any {
	if len(ds) == 0 {
		return nil
	}
	var names []string
	for _, d := range ds {
		names = append(names, index.DeviceName(d))
	}
	return terms(fDevice, names)
}

// FilterQuery is the bool filter of a SessionFilter; its first clause is
// always the site.
func FilterQuery(siteID int64, f *searchv1.SessionFilter) (map[string]any, error) {
	filters := []any{term(fSite, strconv.FormatInt(siteID, 10))}
	var mustNot []any
	add := func(c map[string]any) { filters = append(filters, c) }
	if f != nil {
		if c := timeClause(fStart, f.GetStartTime()); c != nil {
			add(c)
		}
		for _, d := range []struct {
			field string
			r     *searchv1.DurationRange
		}{{fDuration, f.GetDuration()}, {fActive, f.GetActiveDuration()}} {
			if d.r == nil || (d.r.Min == nil && d.r.Max == nil) {
				continue
			}
			b := map[string]any{}
			if d.r.Min != nil {
				min := d.r.Min.AsDuration()
				ms := min.Milliseconds()
				if time.Duration(ms)*time.Millisecond < min {
					ms++
				}
				b["gte"] = ms
			}
			if d.r.Max != nil {
				b["lte"] = d.r.Max.AsDuration().Milliseconds()
			}
			add(rangeQ(d.field, b))
		}
		for _, m := range index.SessionURLMatches(f, &pageFields) {
			c, err := urlClause(m)
			if err != nil {
				return nil, err
			}
			if c != nil {
				add(c)
			}
		}
		if pc := f.GetPageCount(); pc != nil && (pc.Min != 0 || pc.Max != 0) {
			b := map[string]any{}
			if pc.Min != 0 {
				b["gte"] = pc.Min
			}
			if pc.Max != 0 {
				b["lte"] = pc.Max
			}
			add(rangeQ(fPageCount, b))
		}
		if c := deviceClause(f.GetDeviceTypes()); c != nil {
			add(c)
		}
		for _, kv := range []struct {
			field  string
			values []string
		}{{fBrowser, f.GetBrowsers()}, {fOS, f.GetOses()}, {fCountry, f.GetCountries()}} {
			if len(kv.values) > 0 {
				add(terms(kv.field, kv.values))
			}
		}
		for _, kv := range []struct{ field, value string }{
			{fReferrer, f.GetReferrerDomain()}, {fUTMSource, f.GetUtmSource()}, {fUTMMedium, f.GetUtmMedium()},
			{fUTMCamp, f.GetUtmCampaign()}, {fUser, f.GetUserId()}, {fEvents, f.GetCustomEvent()},
			{fClicked, f.GetClickedElement()}, {fRaged, f.GetRageClickedElement()}, {fDeadOn, f.GetDeadClickedElement()},
		} {
			if kv.value != "" {
				add(term(kv.field, kv.value))
			}
		}
		if len(f.GetUserAttributes()) > 0 {
			var ts []string
			for _, a := range f.GetUserAttributes() {
				ts = append(ts, index.AttributeTerm(a.GetKey(), a.GetValue()))
			}
			add(terms(fAttrs, ts))
		}
		for _, fl := range []struct {
			field string
			set   *bool
		}{{fRage, f.HasRageClicks}, {fDead, f.HasDeadClicks}, {fErrors, f.HasErrors}, {fFeedback, f.HasFeedback}, {fSurveys, f.HasSurveyResponse}} {
			if fl.set == nil {
				continue
			}
			if *fl.set {
				add(rangeQ(fl.field, map[string]any{"gte": 1}))
			} else {
				mustNot = append(mustNot, rangeQ(fl.field, map[string]any{"gte": 1}))
			}
		}
		if c := ratingClause(fMinFeedback, f.GetFeedbackRating()); c != nil {
			add(rangeQ(fFeedback, map[string]any{"gte": 1}))
			add(c)
		}
		if f.Truncated != nil {
			add(map[string]any{"term": map[string]any{fTruncated: *f.Truncated}})
		}
	}
	b := map[string]any{"filter": filters}
	if len(mustNot) > 0 {
		b["must_not"] = mustNot
	}
	return map[string]any{"bool": b}, nil
}

// wildcardEscaper makes user text literal in a wildcard pattern.
var wildcardEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)

// patternEscaper leaves "*" the only wildcard of a PATTERN value.
var patternEscaper = strings.NewReplacer(`\`, `\\`, `?`, `\?`)

func urlClause(m index.URLMatch) (map[string]any, error) {
	field, value, op, ok := m.Target()
	if !ok {
		return nil, nil
	}
	switch op {
	case searchv1.UrlMatch_OPERATOR_EQUALS:
		return term(field, value), nil
	case searchv1.UrlMatch_OPERATOR_PREFIX:
		return map[string]any{"prefix": map[string]any{field: map[string]any{"value": value}}}, nil
	case searchv1.UrlMatch_OPERATOR_CONTAINS:
		return map[string]any{"wildcard": map[string]any{m.Fields.Full + "." + wildcardSub: map[string]any{
			"value": "*" + wildcardEscaper.Replace(value) + "*",
		}}}, nil
	case searchv1.UrlMatch_OPERATOR_PATTERN:
		// On the keyword field (full URL or path): its term dictionary is
		// walked with the pattern's automaton from the literal prefix.
		return map[string]any{"wildcard": map[string]any{field: map[string]any{
			"value": patternEscaper.Replace(value),
		}}}, nil
	}
	return nil, fmt.Errorf("elasticsearch: unknown url operator %v", m.Match.GetOperator())
}
