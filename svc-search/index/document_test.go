package index_test

import (
	"slices"
	"testing"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

func TestSessionDocument(t *testing.T) {
	s := &sessionsv1.SessionSummary{
		VisitorId:      "v_visitor01",
		EntryUrl:       "https://Shop.Example.com/p/?utm_source=news",
		ExitUrl:        "about:blank",
		UserId:         "u-1",
		Client:         &sessionsv1.Client{DeviceType: sessionsv1.DeviceType_DEVICE_TYPE_MOBILE, Browser: "Firefox"},
		UserAttributes: []*sessionsv1.Attribute{{Key: "plan", Value: "pro"}},
	}
	for _, u := range []string{"https://Shop.Example.com/p/?utm_source=news", "https://shop.example.com:443/p", "", "about:blank",
		"https://shop.example.com:443/p", "https://shop.example.com/p/"} {
		s.Pages = append(s.Pages, &sessionsv1.PageView{Url: u})
	}
	d := index.SessionDocument(s)
	// Distinct, in the order of first view; empty URLs left out.
	if want := []string{"https://Shop.Example.com/p/?utm_source=news", "https://shop.example.com:443/p", "about:blank", "https://shop.example.com/p/"}; !slices.Equal(d.Pages, want) {
		t.Errorf("Pages = %q, want %q", d.Pages, want)
	}
	if want := []string{"/p/", "/p", "/"}; !slices.Equal(d.Paths, want) {
		t.Errorf("Paths = %q, want %q", d.Paths, want)
	}
	if want := []string{"https://shop.example.com/p", "about:blank"}; !slices.Equal(d.PageKeys, want) {
		t.Errorf("PageKeys = %q, want %q", d.PageKeys, want)
	}
	if want := []string{index.AttributeTerm("plan", "pro")}; !slices.Equal(d.Attrs, want) {
		t.Errorf("Attrs = %q, want %q", d.Attrs, want)
	}
	if d.Device != index.DeviceName(sessionsv1.DeviceType_DEVICE_TYPE_MOBILE) {
		t.Errorf("Device = %q", d.Device)
	}
	for k, want := range map[index.Keyword]string{
		index.KeywordVisitor: "v_visitor01", index.KeywordUser: "u-1", index.KeywordBrowser: "Firefox",
		index.KeywordEntryKey: "https://shop.example.com/p", index.KeywordEntryPath: "/p/",
		index.KeywordExit: "about:blank", index.KeywordExitKey: "about:blank", index.KeywordExitPath: "/", // PagePath of a URL without a path
		index.KeywordOS: "", index.KeywordUTMSource: "",
	} {
		if d.Keywords[k] != want {
			t.Errorf("keyword %d = %q, want %q", k, d.Keywords[k], want)
		}
	}

	// SetKeywords writes the present keywords under the backend's names.
	var names [index.NumKeywords]string
	for k := range names {
		names[k] = "f" + string(rune('a'+k))
	}
	doc := map[string]any{}
	d.SetKeywords(doc, &names)
	if doc[names[index.KeywordVisitor]] != "v_visitor01" || doc[names[index.KeywordBrowser]] != "Firefox" {
		t.Errorf("doc = %v", doc)
	}
	if _, ok := doc[names[index.KeywordOS]]; ok {
		t.Errorf("an empty keyword was set: %v", doc)
	}
	if len(doc) != 9 {
		t.Errorf("doc has %d keywords, want the 9 present: %v", len(doc), doc)
	}
}
