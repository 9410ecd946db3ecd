package app

import (
	"slices"
	"strings"
	"testing"
)

// moduleNames is the start order: every module comes after the modules it
// depends on, except through late dependencies, which are called only
// once the process serves (the cycle accounts → notify → accounts).
func TestModuleNamesIsAStartOrder(t *testing.T) {
	order := moduleNames()
	pos := map[string]int{}
	for i, m := range order {
		if _, dup := pos[m]; dup {
			t.Fatalf("module %s listed twice in %v", m, order)
		}
		pos[m] = i
	}
	late := 0
	for _, m := range order {
		for _, d := range dependencies(m) {
			j, known := pos[d.module]
			switch {
			case !known:
				t.Errorf("%s depends on unknown module %q", m, d.module)
			case d.module == m:
				t.Errorf("%s depends on itself", m)
			case d.late:
				late++
				if !d.optional {
					// A late dependency that is required would make a
					// process of one module need the other's address even
					// though the cycle's other half needs it back.
					t.Errorf("%s: late dependency on %s must be optional", m, d.module)
				}
			case j > pos[m]:
				t.Errorf("%s starts at %d but depends on %s, which starts later (%d)", m, pos[m], d.module, j)
			}
		}
	}
	if late == 0 {
		t.Error("no late dependency: accounts and recordings should reach notify after start")
	}

	// And the graph of non-late edges has no cycle at all (a depth-first
	// search), whatever the listed order.
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var visit func(m string, path []string)
	visit = func(m string, path []string) {
		switch state[m] {
		case open:
			t.Fatalf("dependency cycle without a late edge: %s", strings.Join(append(path, m), " → "))
		case done:
			return
		}
		state[m] = open
		for _, d := range dependencies(m) {
			if !d.late {
				visit(d.module, append(slices.Clone(path), m))
			}
		}
		state[m] = done
	}
	for _, m := range order {
		visit(m, nil)
	}
}

// Notify needs accounts, search and recordings; accounts and recordings
// run without notify when it is neither here nor remote.
func TestNotifyRemotes(t *testing.T) {
	errs := checkRemotes([]string{Notify}, RemoteConfig{})
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	for _, want := range []string{"remote.accounts", "remote.search", "remote.recordings"} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, want+":") }) {
			t.Errorf("notify alone: no error for %s in %q", want, msgs)
		}
	}
	if errs := checkRemotes([]string{Accounts}, RemoteConfig{}); len(errs) != 0 {
		t.Errorf("accounts alone: %v, want no required remote", errs)
	}
	if errs := checkRemotes([]string{Recordings}, RemoteConfig{Accounts: "a:1", Search: "s:1"}); len(errs) != 0 {
		t.Errorf("recordings without notify: %v, want no error (notify is optional)", errs)
	}
}
