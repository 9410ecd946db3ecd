// Command preflight checks, in a second, what `make test` (or `make run`)
// needs from the machine, so a missing Chromium or PostgreSQL is reported
// with the command that installs it before minutes of building and testing,
// not as a browser launch error at the end.
//
//	go run ./internal/preflight -for=test
//
// It exits 1 after listing every miss, each with its install command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"go/version"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/internal/testproc"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// minNode is the oldest Node the dashboard and tracker build with: Vite 8's
// engines field (^20.19.0 || >=22.12.0).
const minNode = "v20.19.0"

// aptInstall is how a Debian or Ubuntu machine gets the system packages.
const aptInstall = "sudo apt-get install -y"

func main() {
	purpose := flag.String("for", "test", `what to check for: "run" (Go, Node and npm) or "test" (also Chromium and PostgreSQL)`)
	flag.Parse()
	env := machine{
		getenv:    os.Getenv,
		goVersion: runtime.Version(),
		command:   commandOutput,
		pgBinDir:  pgtest.BinDir,
		isExec:    testproc.IsExec,
	}
	goMod, err := os.ReadFile("go.mod")
	if err != nil {
		fmt.Fprintf(os.Stderr, "preflight: run it from the repository root: %v\n", err)
		os.Exit(2)
	}
	misses, err := check(env, goMod, *purpose)
	if err != nil {
		fmt.Fprintf(os.Stderr, "preflight: %v\n", err)
		os.Exit(2)
	}
	if report(os.Stderr, misses) {
		os.Exit(1)
	}
}

// machine is what the checks read from the machine, so tests can fake one.
type machine struct {
	getenv    func(string) string
	goVersion string // runtime.Version of the toolchain running the check
	command   func(name string, args ...string) (string, error)
	pgBinDir  func() (string, error)
	isExec    func(path string) bool
}

// miss is one thing the machine lacks and how to get it.
type miss struct {
	what, install string
}

// check returns every miss for purpose ("run" or "test").
func check(m machine, goMod []byte, purpose string) ([]miss, error) {
	if purpose != "run" && purpose != "test" {
		return nil, fmt.Errorf(`-for=%q: want "run" or "test"`, purpose)
	}
	f, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil {
		return nil, fmt.Errorf("read go.mod: %w", err)
	}
	if f.Go == nil {
		return nil, errors.New("go.mod has no go directive")
	}
	var misses []miss
	if want := "go" + f.Go.Version; version.Compare(m.goVersion, want) < 0 {
		misses = append(misses, miss{
			what:    fmt.Sprintf("Go %s or later (this is %s)", f.Go.Version, m.goVersion),
			install: "https://go.dev/doc/install (or unset GOTOOLCHAIN=local so go fetches it)",
		})
	}
	misses = append(misses, checkNode(m)...)
	if purpose == "run" {
		return misses, nil
	}
	chromium := m.getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if !m.isExec(chromium) {
		misses = append(misses, miss{
			what:    fmt.Sprintf("Chromium at %s (the browser tests drive it; $CHROMIUM names another)", chromium),
			install: aptInstall + " chromium",
		})
	}
	// With DATABASE_URL the tests use that server (pgtest), not local binaries.
	if m.getenv("DATABASE_URL") == "" {
		if _, err := m.pgBinDir(); err != nil {
			misses = append(misses, miss{
				what:    "PostgreSQL's server binaries (initdb, postgres under /usr/lib/postgresql/*/bin; or set DATABASE_URL to a server)",
				install: aptInstall + " postgresql",
			})
		}
	}
	return misses, nil
}

// checkNode checks that node is recent enough and npm answers.
func checkNode(m machine) []miss {
	const install = "Node 20.19+ with npm: https://nodejs.org/en/download (Debian 12's own nodejs is 18, too old)"
	out, err := m.command("node", "--version")
	if err != nil {
		return []miss{{what: "Node.js (node)", install: install}}
	}
	var misses []miss
	v := strings.TrimSpace(out)
	if !semver.IsValid(v) || semver.Compare(v, minNode) < 0 || (semver.Major(v) == "v22" && semver.Compare(v, "v22.12.0") < 0) {
		misses = append(misses, miss{what: fmt.Sprintf("Node %s or later (this is %q)", minNode, v), install: install})
	}
	if _, err := m.command("npm", "--version"); err != nil {
		misses = append(misses, miss{what: "npm", install: aptInstall + " npm (or Node's own installer, which has it)"})
	}
	return misses
}

// report prints the misses and the one apt-get line that covers the
// system packages among them; it reports whether there were any.
func report(w io.Writer, misses []miss) bool {
	if len(misses) == 0 {
		return false
	}
	fmt.Fprintln(w, "preflight: this machine lacks what the next step needs:")
	var pkgs []string
	for _, ms := range misses {
		fmt.Fprintf(w, "  - %s\n      install: %s\n", ms.what, ms.install)
		if p, ok := strings.CutPrefix(ms.install, aptInstall+" "); ok && !strings.Contains(p, " ") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) > 1 {
		fmt.Fprintf(w, "  all system packages at once: %s %s\n", aptInstall, strings.Join(pkgs, " "))
	}
	return true
}

// commandOutput runs name with args and returns its standard output.
func commandOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}
