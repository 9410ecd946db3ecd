package bleve

import (
	"fmt"
	"strconv"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// documents builds a session's Bleve document field by field, with the
// indexing options and analyzer the mapping gives each field, for
// Batch.IndexAdvanced. Mapping a map[string]any instead (Batch.Index)
// built the map and walked it by reflection: BenchmarkDocument measured
// the built document at about 0.72× of that, analysis included.
// TestDocumentsAgreeWithMapping holds the two to the same fields over
// random summaries.
type documents struct {
	fields map[string]*mapping.FieldMapping
	// keyword analyses every text field (the mapping has no other).
	keyword analysis.Analyzer
}

// newDocuments reads the mapping of every field of docType from im.
func newDocuments(im mapping.IndexMapping) (*documents, error) {
	impl, ok := im.(*mapping.IndexMappingImpl)
	if !ok {
		return nil, fmt.Errorf("bleve: mapping is a %T, not an IndexMappingImpl", im)
	}
	dm := impl.TypeMapping[docType]
	if dm == nil {
		return nil, fmt.Errorf("bleve: mapping has no %q type", docType)
	}
	d := &documents{fields: make(map[string]*mapping.FieldMapping, len(dm.Properties)), keyword: impl.AnalyzerNamed(keyword.Name)}
	if d.keyword == nil {
		return nil, fmt.Errorf("bleve: no %s analyzer", keyword.Name)
	}
	for name, p := range dm.Properties {
		if !p.Enabled {
			continue // _all
		}
		if len(p.Fields) != 1 {
			return nil, fmt.Errorf("bleve: field %s has %d mappings, want 1", name, len(p.Fields))
		}
		if a := p.Fields[0].Analyzer; p.Fields[0].Type == "text" && a != keyword.Name {
			return nil, fmt.Errorf("bleve: field %s has analyzer %q, want %s", name, a, keyword.Name)
		}
		d.fields[name] = p.Fields[0]
	}
	return d, nil
}

// build makes the document id of summary s: the fields of the mapping
// that s has a value for.
func (d *documents) build(id string, s *sessionsv1.SessionSummary) *document.Document {
	doc := document.NewDocument(id)
	sd := index.SessionDocument(s)
	d.text(doc, fSite, nil, strconv.FormatInt(s.GetSiteId(), 10))
	for _, n := range numbers {
		v := index.SortKey(s, n.sort)
		d.text(doc, n.key, nil, sortKey(v, s.GetSessionId()))
		d.texts(doc, n.trie.field, n.trie.terms(v))
	}
	doc.AddField(document.NewBooleanFieldWithIndexingOptions(fTruncated, nil, s.GetTruncated(), d.fields[fTruncated].Options()))
	d.text(doc, fDevice, nil, sd.Device)
	for k, v := range sd.Keywords {
		if v != "" {
			d.text(doc, keywordFields[k], nil, v)
		}
	}
	d.texts(doc, fPage, sd.Pages)
	d.texts(doc, fPath, sd.Paths)
	d.texts(doc, fPageKey, sd.PageKeys)
	d.texts(doc, fAttr, sd.Attrs)
	d.texts(doc, fFlags, flags(s))
	d.texts(doc, fEvent, s.GetCustomEvents())
	d.texts(doc, fClicked, s.GetClickedElements())
	d.texts(doc, fRaged, s.GetRageClickedElements())
	d.texts(doc, fDeadOn, s.GetDeadClickedElements())
	doc.SetIndexed()
	return doc
}

func (d *documents) text(doc *document.Document, name string, pos []uint64, v string) {
	doc.AddField(document.NewTextFieldCustom(name, pos, []byte(v), d.fields[name].Options(), d.keyword))
}

// texts adds the values of a multi-valued field, each at its position.
func (d *documents) texts(doc *document.Document, name string, vs []string) {
	for i, v := range vs {
		d.text(doc, name, []uint64{uint64(i)}, v)
	}
}

// flags are a summary's terms in fFlags: has_* filters are single-term
// lookups on these, not numeric ranges.
func flags(s *sessionsv1.SessionSummary) []string {
	flags := make([]string, 0, 6)
	for _, fl := range []struct {
		name string
		n    int32
	}{{fRage, s.GetRageClickCount()}, {fDead, s.GetDeadClickCount()}, {fErrors, s.GetErrorCount()}} {
		if fl.n > 0 {
			flags = append(flags, fl.name)
		} else {
			flags = append(flags, "no_"+fl.name)
		}
	}
	// Feedback flags join the same field, so summaries indexed before they
	// existed (which hold no answers) need no new mapping: they lack
	// "feedback" and "survey" and so count as none.
	if s.GetFeedbackCount() > 0 {
		flags = append(flags, fFeedback)
		if r := s.GetMinFeedbackRating(); r >= 1 && r <= 5 {
			flags = append(flags, feedbackRatingFlag(r))
		}
	}
	if s.GetSurveyResponseCount() > 0 {
		flags = append(flags, fSurvey)
	}
	return flags
}
