package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sightlinehq/sightline/"

type pkg struct {
	ImportPath string
	Deps       []string
	Error      *struct{ Err string }
}

// service names the service a package path (relative to the module)
// belongs to: "svc-accounts" for svc-accounts/store, "" for a shared one.
func service(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	if strings.HasPrefix(top, "svc-") {
		return top
	}
	return ""
}

// crossings lists every "a -> b" where non-test package a depends, directly
// or not, on service package b of another service.
func crossings(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok || strings.HasPrefix(rel, "cmd/") {
			continue
		}
		own := service(rel)
		for _, d := range p.Deps {
			drel, ok := strings.CutPrefix(d, module)
			if !ok {
				continue
			}
			if s := service(drel); s != "" && s != own {
				out = append(out, rel+" -> "+drel)
			}
		}
	}
	slices.Sort(out)
	return out
}

// binary is the sightline binary, the one production build.
const binary = module + "cmd/sightline"

// testSupport lists the packages of the module the binary depends on that
// exist for tests and benchmarks (named …test, as siteaccesstest, whose
// AllowAll lets anyone read any site).
func testSupport(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		if p.ImportPath != binary {
			continue
		}
		for _, d := range p.Deps {
			if rel, ok := strings.CutPrefix(d, module); ok && strings.HasSuffix(rel, "test") {
				out = append(out, rel)
			}
		}
	}
	return out
}

// touchSources stats every Go file and lists every directory of the
// module: go test caches a result by the files the test itself looked at,
// and go list runs in another process, so without this an import added
// under svc-*/ would not re-run the test.
func touchSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walking the module: %v", err)
	}
}

// TestNoServiceImportsAnother also checks that the binary links no
// test-support package (one go list for both rules).
func TestNoServiceImportsAnother(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from the test's directory: %v", err)
	}
	touchSources(t, root)
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Deps,Error", "github.com/sightlinehq/sightline/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(raw)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		if p.Error != nil {
			// Deps of a package that does not load are incomplete.
			t.Errorf("package %s does not load: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 || !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == module+"svc-ingest" }) {
		t.Fatalf("go list found %d packages and no svc-ingest: not the whole module", len(pkgs))
	}
	for _, c := range crossings(pkgs) {
		t.Errorf("%s: a service (or shared package) depends on another service's package; move the shared rule to its own top-level package", c)
	}
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == binary && len(p.Deps) > 0 }) {
		t.Fatalf("go list found no %s (or none of its dependencies)", binary)
	}
	for _, d := range testSupport(pkgs) {
		t.Errorf("the sightline binary depends on %s, which is for tests and benchmarks only", d)
	}
}

// The rule itself, on a made-up graph, so a change to it cannot pass by
// finding nothing.
func TestCrossings(t *testing.T) {
	got := crossings([]pkg{
		{ImportPath: module + "svc-ingest/siteconfig", Deps: []string{module + "svc-accounts", module + "sitedomain", "golang.org/x/net/idna"}},
		{ImportPath: module + "svc-ingest", Deps: []string{module + "svc-ingest/siteconfig", module + "svc-accounts/store"}},
		{ImportPath: module + "svc-accounts", Deps: []string{module + "svc-accounts/store", module + "sitedomain"}},
		{ImportPath: module + "sitedomain", Deps: []string{module + "svc-search"}},
		{ImportPath: module + "cmd/sightline/app", Deps: []string{module + "svc-accounts", module + "svc-ingest"}},
		{ImportPath: module + "svc-searchx", Deps: []string{module + "svc-search"}},
	})
	want := []string{
		"sitedomain -> svc-search",
		"svc-ingest -> svc-accounts/store",
		"svc-ingest/siteconfig -> svc-accounts",
		"svc-searchx -> svc-search",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("crossings = %q\nwant %q", got, want)
	}
}

func TestTestSupport(t *testing.T) {
	got := testSupport([]pkg{
		{ImportPath: binary, Deps: []string{module + "cmd/sightline/app", module + "siteaccess", module + "siteaccess/siteaccesstest", "net/http/httptest"}},
		{ImportPath: module + "svc-recordings/cmd/benchrecordings", Deps: []string{module + "siteaccess/siteaccesstest"}},
	})
	if want := []string{"siteaccess/siteaccesstest"}; !slices.Equal(got, want) {
		t.Fatalf("testSupport = %q, want %q", got, want)
	}
}
