package bleve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sightlinehq/sightline/platform/durablefile"
	"github.com/sightlinehq/sightline/platform/storeformat"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"
	bolt "go.etcd.io/bbolt"
)

// deleteChunk bounds how many documents one delete round loads.
const deleteChunk = 1000

// layout is what tells the sessions and answers stores apart.
type layout struct {
	name       string // starts every error: "bleve", "bleve answers"
	docs       string // what the bucket holds, in errors
	dbFile     string
	bucket     []byte
	schemaFile string
	schema     string
	mapping    func() mapping.IndexMapping
	// rebuild, when set, adds the document of one stored record to b: an
	// index of an older schema is then rebuilt from the bucket when it is
	// opened (rebuildIndex), not refused.
	rebuild func(b *bleve.Batch, id string, rec []byte) error
	// complete is the oldest schema whose stored records hold every field
	// the mapping indexes (0: any). A rebuild from an older one leaves
	// documents without the newer fields — their records predate them —
	// so it marks a refresh from the source due (RefreshDue).
	complete int64
}

// refreshFile marks, beside the schema file, that the documents were
// rebuilt from records older than the schema's fields (layout.complete)
// and want re-sending from their source; it goes when that is done.
const refreshFile = "REFRESH"

// store is what both indexes are: Bleve for the filters and a bbolt bucket
// for the documents themselves, under one directory (index/, the bbolt
// file, the schema file). It is safe for concurrent use.
type store struct {
	layout
	dir string
	idx bleve.Index
	db  *bolt.DB
	// writeMu serialises writes so the version check and the batch that
	// follows it are atomic with respect to other writers.
	writeMu sync.Mutex
}

// openStore opens the store in dir, creating it with l's mapping when
// absent.
func openStore(dir string, l layout) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: create %s: %w", l.name, dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, l.dbFile), 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", l.name, l.docs, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(l.bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: open %s: %w", l.name, l.docs, err)
	}
	path := filepath.Join(dir, "index")
	schemaFile := filepath.Join(dir, l.schemaFile)
	idx, err := openIndex(path, schemaFile, db, l)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: open %s: %w", l.name, path, err)
	}
	return &store{layout: l, dir: dir, idx: idx, db: db}, nil
}

// openIndex opens the Bleve index at path, or creates it with l's mapping
// and records l's schema beside it.
func openIndex(path, schemaFile string, db *bolt.DB, l layout) (bleve.Index, error) {
	if err := recoverRebuild(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(path, "index_meta.json")); err == nil {
		// The mapping is stored with the index; an index built with another
		// mapping would silently miss fields, so rebuild or refuse it.
		got, _ := os.ReadFile(schemaFile)
		stored := strings.TrimSpace(string(got))
		if err := newerSchema(l, stored); err != nil {
			return nil, err
		}
		if stored == l.schema {
			return bleve.Open(path)
		}
		if l.rebuild != nil {
			if have, err := strconv.ParseInt(stored, 10, 64); err == nil && have < l.complete {
				// Before the rebuild's schema file: a crash between leaves
				// the mark and an old schema, which rebuilds again.
				mark := filepath.Join(filepath.Dir(path), refreshFile)
				if err := durablefile.Write(mark, []byte("schema "+stored+"\n"), 0o644); err != nil {
					return nil, fmt.Errorf("mark a refresh due: %w", err)
				}
				slog.Warn("the index's stored summaries predate fields of its new schema: a refresh from recordings is due",
					"index", l.name, "from", stored, "to", l.schema)
			}
			return rebuildIndex(path, schemaFile, db, l, stored)
		}
		return nil, fmt.Errorf("index in %s has schema %q, this build needs %q: remove %s and %s, then run `sightline reindex`",
			filepath.Dir(path), stored, l.schema, path, filepath.Join(filepath.Dir(path), l.dbFile))
	}
	idx, err := bleve.New(path, l.mapping())
	if err != nil {
		return nil, err
	}
	// Durably, or a crash could leave an index whose schema file is empty
	// and which every later open refuses.
	if err := durablefile.Write(schemaFile, []byte(l.schema+"\n"), 0o644); err != nil {
		idx.Close()
		return nil, err
	}
	return idx, nil
}

// rebuildBatch is how many documents a rebuild indexes per Bleve batch.
const rebuildBatch = 1000

// rebuildIndex replaces the index at path, of schema stored, by one of
// l's schema built from every record of the bucket: the bucket holds each
// document whole, so an upgrade that changes the mapping needs no
// `sightline reindex`. The new index is built beside the old one
// (path.rebuild), then swapped in: old aside (path.old), new in place,
// schema file, old removed. recoverRebuild finishes or undoes a swap a
// crash interrupted; until the schema file is written the old schema
// stands, and the next open rebuilds again.
func rebuildIndex(path, schemaFile string, db *bolt.DB, l layout, stored string) (bleve.Index, error) {
	start := time.Now()
	slog.Info("rebuilding the index for a new schema", "index", l.name, "dir", filepath.Dir(path), "from", stored, "to", l.schema)
	building, aside := path+".rebuild", path+".old"
	idx, err := bleve.New(building, l.mapping())
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	var n int
	err = db.View(func(tx *bolt.Tx) error {
		b := idx.NewBatch()
		c := tx.Bucket(l.bucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := l.rebuild(b, string(k), v); err != nil {
				return fmt.Errorf("%s %q: %w", l.docs, k, err)
			}
			if n++; b.Size() >= rebuildBatch {
				if err := idx.Batch(b); err != nil {
					return err
				}
				b.Reset()
			}
		}
		return idx.Batch(b)
	})
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(building)
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := os.Rename(building, path); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := durablefile.SyncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := durablefile.Write(schemaFile, []byte(l.schema+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	slog.Info("rebuilt the index", "index", l.name, "documents", n, "schema", l.schema, "took", time.Since(start).Round(time.Millisecond))
	return bleve.Open(path)
}

// recoverRebuild puts the directory of path back in order after a crash
// in rebuildIndex: a half-built index is removed; an old index set aside
// goes back in place when the new one had not taken it, or is removed when
// it had.
func recoverRebuild(path string) error {
	building, aside := path+".rebuild", path+".old"
	if err := os.RemoveAll(building); err != nil {
		return fmt.Errorf("remove a half-built index: %w", err)
	}
	if _, err := os.Stat(aside); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.RemoveAll(aside); err != nil {
			return fmt.Errorf("remove the index a rebuild replaced: %w", err)
		}
		return nil
	}
	if err := os.Rename(aside, path); err != nil {
		return fmt.Errorf("restore the index a rebuild set aside: %w", err)
	}
	return durablefile.SyncDir(filepath.Dir(path))
}

// RefreshDue reports whether a schema upgrade left documents without
// fields their source (recordings) can fill: they want re-sending.
func (s *store) RefreshDue() bool {
	_, err := os.Stat(filepath.Join(s.dir, refreshFile))
	return err == nil
}

// RefreshDone clears the mark RefreshDue reads, once every document was
// re-sent.
func (s *store) RefreshDone() error {
	if err := os.Remove(filepath.Join(s.dir, refreshFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: clear the refresh mark: %w", s.name, err)
	}
	return durablefile.SyncDir(s.dir)
}

// newerSchema refuses an index of a schema above l's: written by a newer
// Sightline, which a reindex by this one would only take back.
func newerSchema(l layout, got string) error {
	have, err1 := strconv.ParseInt(got, 10, 64)
	known, err2 := strconv.ParseInt(l.schema, 10, 64)
	if err1 != nil || err2 != nil {
		return nil
	}
	return storeformat.Check(l.name+" index schema", have, known)
}

// deleteMatching deletes the documents full matches from the index and
// the bucket, deleteChunk at a time so a large delete never loads every
// match at once.
func (s *store) deleteMatching(ctx context.Context, full query.Query) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var deleted int64
	for {
		req := bleve.NewSearchRequestOptions(full, deleteChunk, 0, false)
		req.Score = bleve.ScoreNone
		req.SortBy([]string{"_id"})
		sr, err := s.idx.SearchInContext(ctx, req)
		if err != nil {
			return deleted, fmt.Errorf("%s: select for delete: %w", s.name, err)
		}
		if len(sr.Hits) == 0 {
			return deleted, nil
		}
		b := s.idx.NewBatch()
		for _, h := range sr.Hits {
			b.Delete(h.ID)
		}
		if err := s.idx.Batch(b); err != nil {
			return deleted, fmt.Errorf("%s: delete batch: %w", s.name, err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(s.bucket)
			for _, h := range sr.Hits {
				if err := bk.Delete([]byte(h.ID)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return deleted, fmt.Errorf("%s: delete %s: %w", s.name, s.docs, err)
		}
		deleted += int64(len(sr.Hits))
	}
}

// Ready implements index.Index and index.AnswerIndex.
func (s *store) Ready(ctx context.Context) error {
	if _, err := s.idx.DocCount(); err != nil {
		return fmt.Errorf("%s: not ready: %w", s.name, err)
	}
	return nil
}

// Compact merges the index into one segment (benchmarks after a bulk load;
// the background merger keeps segment counts bounded in normal operation).
func (s *store) Compact(ctx context.Context) error {
	adv, err := s.idx.Advanced()
	if err != nil {
		return fmt.Errorf("%s: compact: %w", s.name, err)
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("%s: compact: not a scorch index", s.name)
	}
	opts := mergeplan.SingleSegmentMergePlanOptions
	if err := sc.ForceMerge(ctx, &opts); err != nil {
		return fmt.Errorf("%s: compact: %w", s.name, err)
	}
	return nil
}

// DocCount is the number of documents of all sites (for benchmarks/metrics).
func (s *store) DocCount() (uint64, error) { return s.idx.DocCount() }

// Close implements index.Index and index.AnswerIndex.
func (s *store) Close() error {
	return errors.Join(wrap(s.name, "close index", s.idx.Close()), wrap(s.name, "close "+s.docs, s.db.Close()))
}

func wrap(name, what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %s: %w", name, what, err)
	}
	return nil
}

// write stores the records (those of order that records holds), then
// indexes the batch: records first, so every id Bleve can return has its
// record. The caller holds writeMu.
func (s *store) write(order []string, records map[string][]byte, b *bleve.Batch) error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(s.bucket)
		for _, id := range order {
			if rec, ok := records[id]; ok {
				if err := bk.Put([]byte(id), rec); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("%s: store %s: %w", s.name, s.docs, err)
	}
	if err := s.idx.Batch(b); err != nil {
		return fmt.Errorf("%s: upsert batch: %w", s.name, err)
	}
	return nil
}

// page runs a list search whose request asks for limit+1 hits (one more
// says another page follows) and hands read the stored record of each of
// the first limit hits, in order, in one read transaction (nil: none;
// valid only during the call).
func (s *store) page(ctx context.Context, req *bleve.SearchRequest, limit int, read func(id string, rec []byte) error) (sr *bleve.SearchResult, more bool, err error) {
	sr, err = s.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, false, fmt.Errorf("%s: search: %w", s.name, err)
	}
	hits := sr.Hits
	more = len(hits) > limit
	if more {
		hits = hits[:limit]
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(s.bucket)
		for _, h := range hits {
			if err := read(h.ID, bk.Get([]byte(h.ID))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, false, fmt.Errorf("%s: %w", s.name, err)
	}
	return sr, more, nil
}

// docIDs matches the documents of siteID's ids (docID makes a document id:
// index.DocID, index.AnswerDocID).
func docIDs(siteID int64, ids []string, docID func(int64, string) string) query.Query {
	docs := make([]string, 0, len(ids))
	for _, id := range ids {
		docs = append(docs, docID(siteID, id))
	}
	return query.NewDocIDQuery(docs)
}

// keywordField maps a keyword field: indexed as one term, not stored;
// docValues for the fields facets and sorts read.
func keywordField(docValues bool) *mapping.FieldMapping {
	f := bleve.NewKeywordFieldMapping()
	f.Analyzer = keyword.Name
	f.Store = false
	f.IncludeInAll = false
	f.IncludeTermVectors = false
	f.DocValues = docValues
	return f
}

// indexedOnly makes f searchable only: not stored, not in _all, no doc
// values.
func indexedOnly(f *mapping.FieldMapping) *mapping.FieldMapping {
	f.Store = false
	f.IncludeInAll = false
	f.DocValues = false
	return f
}

// staticMapping is an index mapping of one document type, dm, in which
// nothing is indexed that dm does not name, not even the _all composite of
// every field: no query reads it, and it was built for every document.
// (Indexes made before keep _all in their stored mapping: session
// documents, built without the mapping, now lack it there; answers, which
// Bleve maps with the stored mapping, still get it. No query notices.)
func staticMapping(docType string, dm *mapping.DocumentMapping) mapping.IndexMapping {
	dm.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())
	im := bleve.NewIndexMapping()
	im.DefaultAnalyzer = keyword.Name
	im.DefaultMapping = bleve.NewDocumentDisabledMapping()
	im.AddDocumentMapping(docType, dm)
	im.TypeField = "_type"
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	return im
}
