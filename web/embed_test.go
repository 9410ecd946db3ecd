package web

import (
	"io/fs"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The embedded tree must be rooted at dist/ and Built must agree with it,
// whether or not `npm run build` ran before `go test`.
func TestAssetsRootedAtDist(t *testing.T) {
	assets := Assets()
	if _, err := fs.Stat(assets, ".gitkeep"); err != nil {
		t.Fatalf("placeholder missing from the embedded root: %v", err)
	}
	_, err := fs.Stat(assets, "index.html")
	if got, want := Built(), err == nil; got != want {
		t.Fatalf("Built() = %v, index.html present = %v", got, want)
	}
	if Built() {
		page, err := fs.ReadFile(assets, "index.html")
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			t.Fatal("index.html is empty")
		}
	}
}
