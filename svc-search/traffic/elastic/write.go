package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sightlinehq/sightline/svc-search/index"
	sessionsindex "github.com/sightlinehq/sightline/svc-search/index/elastic"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// docKey names one session document.
type docKey struct {
	site    int64
	session string
}

func (k docKey) id() string { return index.DocID(k.site, k.session) }

func routing(siteID int64) string { return strconv.FormatInt(siteID, 10) }

// maxAttempts bounds the read-merge-write rounds of one write; a document
// written by others that often in a row is a hot spot worth an error.
const maxAttempts = 16

// chunkDocs bounds the documents of one multi-get and bulk.
const chunkDocs = 500

// AddHits implements traffic.Store.
func (s *Store) AddHits(ctx context.Context, hits []traffic.Hit) error {
	by := map[docKey][]traffic.Hit{}
	var keys []docKey
	for _, h := range hits {
		k := docKey{h.SiteID, h.SessionID}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], h)
	}
	return s.modify(ctx, keys, func(k docKey, st *state) bool {
		changed := false
		for _, h := range by[k] {
			if st.add(h) {
				changed = true
			}
		}
		return changed
	})
}

// SetRecorded implements traffic.Store. A mark for a session without hits
// makes a document of its own, which no query counts until a page view
// arrives.
func (s *Store) SetRecorded(ctx context.Context, marks []traffic.Recorded) error {
	by := map[docKey]traffic.Recorded{}
	var keys []docKey
	for _, m := range marks {
		k := docKey{m.SiteID, m.SessionID}
		prev, ok := by[k]
		if !ok {
			keys = append(keys, k)
		}
		if !ok || m.Version >= prev.Version {
			by[k] = m
		}
	}
	now := time.Now()
	return s.modify(ctx, keys, func(k docKey, st *state) bool { return st.setMark(by[k], now) })
}

// modify reads the documents of keys, applies apply to each one's state
// and writes back the changed ones under optimistic concurrency, retrying
// the ones another writer changed in between.
func (s *Store) modify(ctx context.Context, keys []docKey, apply func(docKey, *state) bool) error {
	for len(keys) > 0 {
		n := min(len(keys), chunkDocs)
		if err := s.modifyChunk(ctx, keys[:n], apply); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (s *Store) modifyChunk(ctx context.Context, keys []docKey, apply func(docKey, *state) bool) error {
	for attempt := 0; len(keys) > 0; attempt++ {
		if attempt == maxAttempts {
			return fmt.Errorf("elasticsearch: traffic write: %d documents still conflicting after %d attempts (first %s)", len(keys), maxAttempts, keys[0].id())
		}
		stored, err := s.mget(ctx, keys)
		if err != nil {
			return err
		}
		var items []bulkItem
		for i, k := range keys {
			cur := stored[i]
			st := cur.state
			if !apply(k, &st) && cur.found {
				continue
			}
			items = append(items, bulkItem{key: k, found: cur.found, seqNo: cur.seqNo, primaryTerm: cur.primaryTerm, doc: document(k.site, k.session, &st)})
		}
		if keys, err = s.bulk(ctx, items); err != nil {
			return err
		}
	}
	return nil
}

// storedDoc is a document as the multi-get read it.
type storedDoc struct {
	found              bool
	seqNo, primaryTerm int64
	state              state
}

// MgetBody is the multi-get body reading the states of keys, each under
// its site's routing.
func MgetBody(keys []docKey) map[string]any {
	docs := make([]any, len(keys))
	for i, k := range keys {
		docs[i] = map[string]any{"_id": k.id(), "routing": routing(k.site), "_source": []any{fState}}
	}
	return map[string]any{"docs": docs}
}

type mgetResponse struct {
	Docs []struct {
		ID          string          `json:"_id"`
		Found       bool            `json:"found"`
		SeqNo       int64           `json:"_seq_no"`
		PrimaryTerm int64           `json:"_primary_term"`
		Error       json.RawMessage `json:"error"`
		Source      struct {
			State state `json:"state"`
		} `json:"_source"`
	} `json:"docs"`
}

// mget reads the documents of keys (realtime: a write acknowledged a moment
// ago is seen, refreshed or not).
func (s *Store) mget(ctx context.Context, keys []docKey) ([]storedDoc, error) {
	raw, _ := json.Marshal(MgetBody(keys))
	res, err := esapi.MgetRequest{Index: s.alias, Body: bytes.NewReader(raw)}.Do(ctx, s.es)
	var out mgetResponse
	if err := sessionsindex.Decode(res, err, "traffic mget", &out); err != nil {
		return nil, err
	}
	return parseMget(keys, out)
}

func parseMget(keys []docKey, out mgetResponse) ([]storedDoc, error) {
	if len(out.Docs) != len(keys) {
		return nil, fmt.Errorf("elasticsearch: traffic mget: %d documents for %d ids", len(out.Docs), len(keys))
	}
	docs := make([]storedDoc, len(keys))
	for i, d := range out.Docs {
		if d.ID != keys[i].id() {
			return nil, fmt.Errorf("elasticsearch: traffic mget: document %d is %q, want %q", i, d.ID, keys[i].id())
		}
		if len(d.Error) > 0 && string(d.Error) != "null" {
			return nil, fmt.Errorf("elasticsearch: traffic mget %s: %s", d.ID, d.Error)
		}
		docs[i] = storedDoc{found: d.Found, seqNo: d.SeqNo, primaryTerm: d.PrimaryTerm, state: d.Source.State}
	}
	return docs, nil
}

// bulkItem is one document to write: over the version read (found) or new.
type bulkItem struct {
	key                docKey
	found              bool
	seqNo, primaryTerm int64
	doc                map[string]any
}

// BulkBody is the NDJSON of items: "index" guarded by the sequence number
// and primary term read, or "create" for a document that did not exist, so
// a concurrent writer's change is never overwritten (409 instead).
func BulkBody(items []bulkItem) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, it := range items {
		meta := map[string]any{"_id": it.key.id(), "routing": routing(it.key.site)}
		action := "create"
		if it.found {
			action = "index"
			meta["if_seq_no"], meta["if_primary_term"] = it.seqNo, it.primaryTerm
		}
		if err := enc.Encode(map[string]any{action: meta}); err != nil {
			return nil, err
		}
		if err := enc.Encode(it.doc); err != nil {
			return nil, fmt.Errorf("encode %s: %w", it.key.id(), err)
		}
	}
	return b.Bytes(), nil
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		ID     string `json:"_id"`
		Status int    `json:"status"`
		Error  struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// maxBulkBytes bounds one bulk request's body (a session keeps up to
// 500 page views of 2 KB URLs: a few documents can be large).
const maxBulkBytes = 8 << 20

// bulk writes items, in requests of at most maxBulkBytes (one document
// more when a single one is larger), and answers the keys that conflicted
// (written by someone else since they were read).
func (s *Store) bulk(ctx context.Context, items []bulkItem) ([]docKey, error) {
	var conflicts []docKey
	var body []byte
	from := 0
	for i := range items {
		one, err := BulkBody(items[i : i+1])
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: traffic bulk: %w", err)
		}
		if len(body) > 0 && len(body)+len(one) > maxBulkBytes {
			c, err := s.bulkRequest(ctx, items[from:i], body)
			if err != nil {
				return nil, err
			}
			conflicts, body, from = append(conflicts, c...), nil, i
		}
		body = append(body, one...)
	}
	if len(body) == 0 {
		return conflicts, nil
	}
	c, err := s.bulkRequest(ctx, items[from:], body)
	if err != nil {
		return nil, err
	}
	return append(conflicts, c...), nil
}

// bulkRequest sends one bulk body of items.
func (s *Store) bulkRequest(ctx context.Context, items []bulkItem, body []byte) ([]docKey, error) {
	requireAlias := true
	res, err := esapi.BulkRequest{
		Index: s.alias, Body: bytes.NewReader(body), Refresh: s.cfg.Refresh, RequireAlias: &requireAlias,
	}.Do(ctx, s.es)
	var out bulkResponse
	if err := sessionsindex.Decode(res, err, "traffic bulk", &out); err != nil {
		return nil, err
	}
	return parseBulk(items, out)
}

func parseBulk(items []bulkItem, out bulkResponse) ([]docKey, error) {
	if len(out.Items) != len(items) {
		return nil, fmt.Errorf("elasticsearch: traffic bulk: %d results for %d documents", len(out.Items), len(items))
	}
	var conflicts []docKey
	for i, m := range out.Items {
		for _, r := range m {
			switch {
			case r.Status == http.StatusConflict:
				conflicts = append(conflicts, items[i].key)
			case r.Status >= 300:
				return nil, fmt.Errorf("elasticsearch: traffic bulk %s: %d: %s: %s", items[i].key.id(), r.Status, r.Error.Type, r.Error.Reason)
			}
		}
	}
	return conflicts, nil
}
