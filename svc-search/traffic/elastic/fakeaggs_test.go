package elastic

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// The fake's aggregations: the kinds the overview and breakdown requests
// use, evaluated as Elasticsearch documents them (filter, cardinality —
// exact here, sum, percentiles — deliberately off, so the exact median's
// correction is exercised, date_histogram with calendar_interval,
// time_zone and extended_bounds, terms with size and order, nested and
// reverse_nested). With them the conformance suite runs against the
// store's request bodies; the fake's semantics are this file's reading of
// Elasticsearch's documentation, not Elasticsearch.

// aggRow is one document an aggregation sees: a session, or one nested
// object of it (prefix names the nested path, parent its session).
type aggRow struct {
	src    map[string]any
	prefix string
	parent *aggRow
}

func (r *aggRow) values(field string) []any {
	if r.prefix != "" {
		if !strings.HasPrefix(field, r.prefix+".") {
			return nil
		}
		field = strings.TrimPrefix(field, r.prefix+".")
	}
	return values(r.src, field)
}

func aggregate(aggs map[string]any, rows []*aggRow) (map[string]any, error) {
	out := map[string]any{}
	for name, spec := range aggs {
		r, err := aggregateOne(spec.(map[string]any), rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}

func aggregateOne(spec map[string]any, rows []*aggRow) (map[string]any, error) {
	sub, _ := spec["aggs"].(map[string]any)
	withSub := func(res map[string]any, rows []*aggRow) (map[string]any, error) {
		if sub == nil {
			return res, nil
		}
		s, err := aggregate(sub, rows)
		if err != nil {
			return nil, err
		}
		for k, v := range s {
			res[k] = v
		}
		return res, nil
	}
	for kind, a := range spec {
		if kind == "aggs" {
			continue
		}
		arg, _ := a.(map[string]any)
		switch kind {
		case "filter":
			var in []*aggRow
			for _, r := range rows {
				ok, err := match(arg, r.src)
				if err != nil {
					return nil, err
				}
				if ok {
					in = append(in, r)
				}
			}
			return withSub(map[string]any{"doc_count": len(in)}, in)
		case "cardinality":
			seen := map[string]bool{}
			for _, r := range rows {
				for _, v := range r.values(arg["field"].(string)) {
					seen[fmt.Sprint(v)] = true
				}
			}
			return map[string]any{"value": len(seen)}, nil
		case "sum":
			total := 0.0
			for _, r := range rows {
				for _, v := range r.values(arg["field"].(string)) {
					total += v.(float64)
				}
			}
			return map[string]any{"value": total}, nil
		case "percentiles":
			var vs []float64
			for _, r := range rows {
				for _, v := range r.values(arg["field"].(string)) {
					vs = append(vs, v.(float64))
				}
			}
			if len(vs) == 0 {
				return map[string]any{"values": map[string]any{"50.0": nil}}, nil
			}
			slices.Sort(vs)
			// t-digest is close, not exact: answer the value at 40 %,
			// between two values.
			i := len(vs) * 2 / 5
			return map[string]any{"values": map[string]any{"50.0": vs[i] + 0.5}}, nil
		case "nested":
			var in []*aggRow
			for _, r := range rows {
				for _, n := range values(r.src, arg["path"].(string)) {
					in = append(in, &aggRow{src: n.(map[string]any), prefix: arg["path"].(string), parent: r})
				}
			}
			return withSub(map[string]any{"doc_count": len(in)}, in)
		case "reverse_nested":
			var in []*aggRow
			for _, r := range rows {
				if r.parent != nil && !slices.Contains(in, r.parent) {
					in = append(in, r.parent)
				}
			}
			return withSub(map[string]any{"doc_count": len(in)}, in)
		case "terms":
			field := arg["field"].(string)
			by := map[string][]*aggRow{}
			for _, r := range rows {
				seen := map[string]bool{}
				for _, v := range r.values(field) {
					k := v.(string)
					if !seen[k] {
						seen[k] = true
						by[k] = append(by[k], r)
					}
				}
			}
			if fmt.Sprint(arg["order"]) != "[map[_count:desc] map[_key:asc]]" {
				return nil, fmt.Errorf("terms order %v", arg["order"])
			}
			keys := make([]string, 0, len(by))
			for k := range by {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(len(by[b]), len(by[a])), strings.Compare(a, b)) })
			keys = keys[:min(len(keys), int(arg["size"].(float64)))]
			var buckets []any
			for _, k := range keys {
				b, err := withSub(map[string]any{"key": k, "doc_count": len(by[k])}, by[k])
				if err != nil {
					return nil, err
				}
				buckets = append(buckets, b)
			}
			return map[string]any{"buckets": buckets}, nil
		case "date_histogram":
			iv := map[string]trafficv1.TrafficInterval{
				"hour": trafficv1.TrafficInterval_TRAFFIC_INTERVAL_HOUR, "day": trafficv1.TrafficInterval_TRAFFIC_INTERVAL_DAY,
				"week": trafficv1.TrafficInterval_TRAFFIC_INTERVAL_WEEK,
			}[arg["calendar_interval"].(string)]
			loc, err := time.LoadLocation(arg["time_zone"].(string))
			if err != nil || iv == 0 || arg["min_doc_count"] != float64(0) {
				return nil, fmt.Errorf("date_histogram %v", arg)
			}
			by := map[int64][]*aggRow{}
			for _, r := range rows {
				for _, v := range r.values(arg["field"].(string)) {
					t, err := time.Parse(time.RFC3339Nano, v.(string))
					if err != nil {
						return nil, err
					}
					k := traffic.BucketStart(t, iv, loc).UnixMilli()
					by[k] = append(by[k], r)
				}
			}
			bounds := arg["extended_bounds"].(map[string]any)
			lo := traffic.BucketStart(time.UnixMilli(int64(bounds["min"].(float64))), iv, loc)
			hi := time.UnixMilli(int64(bounds["max"].(float64)))
			for k := range by {
				if t := time.UnixMilli(k); t.Before(lo) {
					lo = t
				} else if t.After(hi) {
					hi = t
				}
			}
			var buckets []any
			for b := lo; !b.After(hi); b = traffic.NextBucket(b, iv, loc) {
				res, err := withSub(map[string]any{"key": b.UnixMilli(), "doc_count": len(by[b.UnixMilli()])}, by[b.UnixMilli()])
				if err != nil {
					return nil, err
				}
				buckets = append(buckets, res)
			}
			return map[string]any{"buckets": buckets}, nil
		}
		return nil, fmt.Errorf("aggregation %s not supported by the fake", kind)
	}
	return nil, fmt.Errorf("empty aggregation %v", spec)
}

// wildcardMatch is Elasticsearch's wildcard query on one value: "*" any
// run, "?" one character, "\" escapes.
func wildcardMatch(pattern, v string) bool {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 < len(pattern) {
				i++
				re.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		case '*':
			re.WriteString("(?s:.*)")
		case '?':
			re.WriteString("(?s:.)")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(v)
}
