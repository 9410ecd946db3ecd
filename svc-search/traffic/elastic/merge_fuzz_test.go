package elastic

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// FuzzMerge: any sequence of hits merges without panicking into a
// document that encodes; re-delivering them changes nothing, and the
// reverse order gives the same document (a page view's content follows
// from its id, as re-delivered hits are byte-identical).
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 3, 9, 2, 1, 200, 0, 7, 7})
	f.Add([]byte{1, 0, 5, 0, 0, 5, 2, 0, 5, 255, 255, 255})
	// Leaves of two page views not yet arrived, in either order.
	f.Add([]byte{1, 1, 48, 1, 0, 48})
	f.Fuzz(func(t *testing.T, data []byte) {
		var hits []traffic.Hit
		for i := 0; i+2 < len(data) && len(hits) < 64; i += 3 {
			kind := []sessionsv1.HitKind{sessionsv1.HitKind_HIT_KIND_PAGE_VIEW, sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE, sessionsv1.HitKind_HIT_KIND_EVENT}[data[i]%3]
			id := string(rune('a' + data[i+1]%8))
			h := traffic.Hit{SiteID: site, SessionID: "s", VisitorID: "v", PageViewID: id, Kind: kind,
				Time: base.Add(time.Duration(data[i+2]) * time.Second), RetentionDays: int32(data[i+1] % 3)}
			switch kind {
			case sessionsv1.HitKind_HIT_KIND_PAGE_VIEW:
				h.Time = base.Add(time.Duration(data[i+1]%8) * time.Second)
				h.URL, h.Referrer = "https://a.example/"+id+"?utm_source="+id, "https://r"+id+".example/"
				h.Device, h.ScreenW, h.ScreenH = sessionsv1.DeviceType(data[i+1]%8%4), int32(data[i+1]%8)*100, 7
			case sessionsv1.HitKind_HIT_KIND_PAGE_LEAVE:
				h.Duration = time.Duration(data[i+2]) * time.Hour / 4
			case sessionsv1.HitKind_HIT_KIND_EVENT:
				h.Event = "e" + id
			}
			hits = append(hits, h)
		}
		merge := func(hs []traffic.Hit) (*state, []byte) {
			st := &state{}
			for _, h := range hs {
				st.add(h)
			}
			raw, err := json.Marshal(document(site, "s", st))
			if err != nil {
				t.Fatal(err)
			}
			return st, raw
		}
		st, want := merge(hits)
		for _, h := range hits {
			if st.add(h) {
				t.Fatalf("re-delivered %v changed the state", h)
			}
		}
		rev := slices.Clone(hits)
		slices.Reverse(rev)
		if _, got := merge(rev); string(got) != string(want) {
			t.Fatalf("reverse order:\n got %s\nwant %s", got, want)
		}
	})
}
