package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sightlinehq/sightline/svc-search/index"
)

var _ index.Refresher = (*Index)(nil)

// refreshBelow is the oldest schema whose documents hold every field a
// summary fills: those indexed under an older one (before 4: rage- and
// dead-clicked elements) want re-sending from recordings.
const refreshBelow = 4

// refreshWait bounds RefreshDone's request.
const refreshWait = 30 * time.Second

// metaRefreshDue is the key of the indices' mapping _meta that keeps a
// refresh due across restarts, until every document was re-sent.
const metaRefreshDue = "refresh_due"

// markRefresh decides at Open whether the documents behind an existing
// alias want re-sending (index.Refresher): the template this build
// replaces says which schema last set them up (an upgrade from one below
// refreshBelow), or a refresh found due before was never finished (the
// indices' mapping _meta says so). A newly found one is written down in
// the indices' mapping before this build puts its template, so a restart
// — of this replica or another starting beside it — finds it either way.
// Every replica that finds it refreshes (upserts of equal versions are
// accepted, so the re-sends are idempotent).
func (ix *Index) markRefresh(ctx context.Context) error {
	res, err := esapi.IndicesExistsAliasRequest{Name: []string{ix.alias}}.Do(ctx, ix.es)
	if err != nil {
		return fmt.Errorf("elasticsearch: check alias: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil // a new index: nothing predates this schema
	}
	prev, err := ix.templateSchema(ctx)
	if err != nil {
		return err
	}
	due, err := ix.refreshMarked(ctx)
	if err != nil {
		return err
	}
	if !due && prev < refreshBelow {
		if err := ix.putRefreshMark(ctx, true); err != nil {
			return err
		}
		due = true
	}
	ix.refreshDue.Store(due)
	return nil
}

// templateSchema is the schema in the _meta of the alias's index template
// as it stands (0: none, or a template from before it carried one).
func (ix *Index) templateSchema(ctx context.Context) (int, error) {
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: ix.alias}.Do(ctx, ix.es)
	if err == nil && res.StatusCode == http.StatusNotFound {
		res.Body.Close()
		return 0, nil
	}
	var out struct {
		IndexTemplates []struct {
			IndexTemplate struct {
				Meta struct {
					Schema int `json:"schema"`
				} `json:"_meta"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := Decode(res, err, "read index template", &out); err != nil {
		return 0, err
	}
	if len(out.IndexTemplates) == 0 {
		return 0, nil
	}
	return out.IndexTemplates[0].IndexTemplate.Meta.Schema, nil
}

// refreshMarked reports whether an index behind the alias carries the
// refresh mark (the answer maps each index to its mapping).
func (ix *Index) refreshMarked(ctx context.Context) (bool, error) {
	res, err := esapi.IndicesGetMappingRequest{Index: []string{ix.alias}}.Do(ctx, ix.es)
	var out map[string]any
	if err := Decode(res, err, "read mapping of "+ix.alias, &out); err != nil {
		return false, err
	}
	for _, idx := range out {
		m, _ := idx.(map[string]any)
		mappings, _ := m["mappings"].(map[string]any)
		meta, _ := mappings["_meta"].(map[string]any)
		if meta[metaRefreshDue] == true {
			return true, nil
		}
	}
	return false, nil
}

// putRefreshMark sets (or clears) the refresh mark in the mapping _meta
// of every index behind the alias.
func (ix *Index) putRefreshMark(ctx context.Context, due bool) error {
	body, err := json.Marshal(map[string]any{"_meta": map[string]any{metaRefreshDue: due}})
	if err != nil {
		return fmt.Errorf("elasticsearch: refresh mark: %w", err)
	}
	res, err := esapi.IndicesPutMappingRequest{Index: []string{ix.alias}, Body: bytes.NewReader(body)}.Do(ctx, ix.es)
	return Check(res, err, fmt.Sprintf("set the refresh mark of %s to %t", ix.alias, due))
}

// RefreshDue implements index.Refresher.
func (ix *Index) RefreshDue() bool { return ix.refreshDue.Load() }

// RefreshDone implements index.Refresher: every document was re-sent.
func (ix *Index) RefreshDone() error {
	ctx, cancel := context.WithTimeout(context.Background(), refreshWait)
	defer cancel()
	if err := ix.putRefreshMark(ctx, false); err != nil {
		return err
	}
	ix.refreshDue.Store(false)
	return nil
}
