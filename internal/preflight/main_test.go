package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var goMod = []byte("module example.com/x\n\ngo 1.26.0\n")

// full is a machine with everything installed.
func full() machine {
	return machine{
		getenv:    func(string) string { return "" },
		goVersion: "go1.26.8",
		command: func(name string, _ ...string) (string, error) {
			if name == "node" {
				return "v20.20.2\n", nil
			}
			return "11.0.0\n", nil
		},
		pgBinDir: func() (string, error) { return "/usr/lib/postgresql/15/bin", nil },
		isExec:   func(p string) bool { return p == "/usr/bin/chromium" },
	}
}

func TestNothingMissing(t *testing.T) {
	for _, purpose := range []string{"run", "test"} {
		misses, err := check(full(), goMod, purpose)
		if err != nil || len(misses) != 0 {
			t.Fatalf("%s: misses %v, err %v", purpose, misses, err)
		}
		var out bytes.Buffer
		if report(&out, misses) || out.Len() != 0 {
			t.Fatalf("%s: report printed %q", purpose, out.String())
		}
	}
}

func TestMissingChromiumAndPostgres(t *testing.T) {
	m := full()
	m.isExec = func(string) bool { return false }
	m.pgBinDir = func() (string, error) { return "", errors.New("none") }
	misses, err := check(m, goMod, "test")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if !report(&out, misses) {
		t.Fatal("report says nothing is missing")
	}
	for _, want := range []string{
		"Chromium at /usr/bin/chromium",
		"install: sudo apt-get install -y chromium\n",
		"install: sudo apt-get install -y postgresql\n",
		"all system packages at once: sudo apt-get install -y chromium postgresql\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// make run needs neither.
	if misses, _ := check(m, goMod, "run"); len(misses) != 0 {
		t.Errorf("-for=run misses %v", misses)
	}
}

func TestChromiumEnvAndDatabaseURL(t *testing.T) {
	m := full()
	env := map[string]string{"CHROMIUM": "/opt/chrome/chrome", "DATABASE_URL": "postgres://db/x"}
	m.getenv = func(k string) string { return env[k] }
	m.pgBinDir = func() (string, error) { return "", errors.New("none") }
	misses, err := check(m, goMod, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(misses) != 1 || !strings.Contains(misses[0].what, "/opt/chrome/chrome") {
		t.Fatalf("want only $CHROMIUM missing (DATABASE_URL replaces the binaries), got %v", misses)
	}
}

func TestOldToolchains(t *testing.T) {
	for _, c := range []struct {
		name, goVersion, node string
		wantIn                string
	}{
		{"old go", "go1.25.3", "v20.20.2", "Go 1.26.0 or later"},
		{"node 18", "go1.26.0", "v18.19.0", "Node v20.19.0 or later"},
		{"node 20 before 20.19", "go1.26.0", "v20.11.1", "Node v20.19.0 or later"},
		{"node 22 before 22.12", "go1.26.0", "v22.3.0", "Node v20.19.0 or later"},
		{"node garbage", "go1.26.0", "banana", "Node v20.19.0 or later"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := full()
			m.goVersion = c.goVersion
			m.command = func(name string, _ ...string) (string, error) {
				if name == "node" {
					return c.node, nil
				}
				return "11.0.0", nil
			}
			misses, err := check(m, goMod, "run")
			if err != nil {
				t.Fatal(err)
			}
			if len(misses) != 1 || !strings.Contains(misses[0].what, c.wantIn) {
				t.Fatalf("want one miss with %q, got %v", c.wantIn, misses)
			}
		})
	}
	m := full()
	m.command = func(string, ...string) (string, error) { return "", exec.ErrNotFound }
	misses, err := check(m, goMod, "run")
	if err != nil || len(misses) != 1 || !strings.Contains(misses[0].install, "with npm") {
		t.Fatalf("no node: want one miss whose install brings npm too, got %v (%v)", misses, err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := check(full(), goMod, "deploy"); err == nil {
		t.Error("-for=deploy accepted")
	}
	if _, err := check(full(), []byte("module x\n"), "run"); err == nil {
		t.Error("go.mod without a go directive accepted")
	}
}

// TestThisMachine runs the real checks against this repository's go.mod:
// the machine that runs the tests has everything `make test` needs.
func TestThisMachine(t *testing.T) {
	goModReal, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := full()
	m.command = commandOutput
	m.goVersion = strings.TrimSpace(mustOutput(t, "go", "env", "GOVERSION"))
	misses, err := check(m, goModReal, "run")
	if err != nil || len(misses) != 0 {
		t.Fatalf("misses %v, err %v", misses, err)
	}
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := commandOutput(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
