package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/telemetry"
)

// module is one entry of the module table (modules.go): what the module
// calls and how it is built from those calls' connections.
type module struct {
	name string
	deps []dependency
	// init builds the module; it reaches other modules only through
	// w.conn, which hands out the connections of deps and nothing else.
	init func(ctx context.Context, w *wiring) (service, error)
}

// dependency is a gRPC service a module calls. A dependency that runs in
// the same process is called over the in-process connection (and, unless
// late, initialised first); otherwise it is dialled at its remote.<name>
// address.
type dependency struct {
	module   string
	optional bool // when neither local nor configured, the module gets a nil connection and runs without it
	// late: called only once the process serves (never while the module
	// initialises), so it imposes no start order and may close a cycle —
	// notify calls accounts and recordings, which call notify back.
	late bool
}

// moduleNames lists every module in the table's order (flags, help text).
func moduleNames() []string {
	var names []string
	for _, m := range moduleTable() {
		names = append(names, m.name)
	}
	return names
}

// lookupModule returns the table's entry for name.
func lookupModule(name string) (module, bool) {
	table := moduleTable()
	i := slices.IndexFunc(table, func(m module) bool { return m.name == name })
	if i < 0 {
		return module{}, false
	}
	return table[i], true
}

// dependencies lists the services a module calls (none for an unknown one).
func dependencies(name string) []dependency {
	m, _ := lookupModule(name)
	return m.deps
}

// checkTable reports what would make table unusable: a name given twice, a
// dependency on an unknown module or on the module itself, and a late
// dependency that is required (a process running one half of the cycle
// would need the other's address although that one needs it back).
func checkTable(table []module) error {
	var errs []error
	known := map[string]bool{}
	for _, m := range table {
		if known[m.name] {
			errs = append(errs, fmt.Errorf("module %s is listed twice", m.name))
		}
		known[m.name] = true
	}
	for _, m := range table {
		for _, d := range m.deps {
			switch {
			case !known[d.module]:
				errs = append(errs, fmt.Errorf("%s depends on unknown module %q", m.name, d.module))
			case d.module == m.name:
				errs = append(errs, fmt.Errorf("%s depends on itself", m.name))
			case d.late && !d.optional:
				errs = append(errs, fmt.Errorf("%s: late dependency on %s must be optional", m.name, d.module))
			}
		}
	}
	return errors.Join(errs...)
}

// startOrder sorts table so that every module comes after the modules it
// depends on through edges that are not late. Among modules free to start,
// the earlier table entry goes first, so the order is the same on every
// run. A cycle of edges that are not late is an error naming the cycle.
func startOrder(table []module) ([]string, error) {
	if err := checkTable(table); err != nil {
		return nil, fmt.Errorf("module table: %w", err)
	}
	placed := map[string]bool{}
	// waitsFor is m's first dependency, in declaration order, that is not
	// late and not started yet ("" when m is free to start).
	waitsFor := func(m module) string {
		for _, d := range m.deps {
			if !d.late && !placed[d.module] {
				return d.module
			}
		}
		return ""
	}
	var order []string
	for len(order) < len(table) {
		i := slices.IndexFunc(table, func(m module) bool { return !placed[m.name] && waitsFor(m) == "" })
		if i < 0 {
			return nil, fmt.Errorf("module table: dependency cycle without a late edge: %s", findCycle(table, placed, waitsFor))
		}
		placed[table[i].name] = true
		order = append(order, table[i].name)
	}
	return order, nil
}

// findCycle walks from the first module not started along the
// dependencies it waits for. Every such module waits for another one not
// started, so the walk comes back to a module it passed: that is the cycle.
func findCycle(table []module, placed map[string]bool, waitsFor func(module) string) string {
	byName := map[string]module{}
	for _, m := range table {
		byName[m.name] = m
	}
	var path []string
	m := table[slices.IndexFunc(table, func(m module) bool { return !placed[m.name] })]
	for !slices.Contains(path, m.name) {
		path = append(path, m.name)
		m = byName[waitsFor(m)]
	}
	cycle := path[slices.Index(path, m.name):]
	return strings.Join(append(cycle, m.name), " → ")
}

// parseTargets turns "-target" into the modules to run, in start order
// (every module after the local modules it depends on).
func parseTargets(target string) ([]string, error) {
	names := moduleNames()
	want := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case t == All:
			for _, m := range names {
				want[m] = true
			}
		case slices.Contains(names, t):
			want[t] = true
		default:
			return nil, fmt.Errorf("unknown module %q (known: %s, all)", t, strings.Join(names, ", "))
		}
	}
	if len(want) == 0 {
		return nil, errors.New("no module given")
	}
	order, err := startOrder(moduleTable())
	if err != nil {
		return nil, err
	}
	// A subsequence of a start order is a start order of its modules.
	return slices.DeleteFunc(order, func(m string) bool { return !want[m] }), nil
}

// checkRemotes requires an address for every non-optional dependency that
// does not run here.
func checkRemotes(targets []string, remote RemoteConfig) []error {
	var errs []error
	seen := map[string]bool{}
	for _, m := range targets {
		for _, d := range dependencies(m) {
			if d.optional || slices.Contains(targets, d.module) || remote.address(d.module) != "" || seen[d.module] {
				continue
			}
			seen[d.module] = true
			errs = append(errs, fmt.Errorf("remote.%s: must be set: %s calls %s, which is not a target of this process", d.module, m, d.module))
		}
	}
	return errs
}

// wiring is what a module's init gets from the process: its configuration
// and telemetry, where it registers its gRPC services, HTTP routes and
// readiness checks, and the connections of the dependencies it declared —
// nothing else of the App.
type wiring struct {
	module string
	cfg    *Config
	log    *slog.Logger
	tel    *telemetry.Telemetry
	grpc   *healthRegistrar
	http   *http.ServeMux
	checks *admin.Checks

	conns map[string]*grpc.ClientConn // every declared dependency; nil for an absent optional one
	asked map[string]bool
	errs  []error
}

// conn returns the connection to a declared dependency: nil for an
// optional one that is neither here nor remote, which init must handle.
// A module that was not declared is refused: conn returns nil and err
// reports the mistake.
func (w *wiring) conn(module string) *grpc.ClientConn {
	c, declared := w.conns[module]
	if !declared {
		w.errs = append(w.errs, fmt.Errorf("%s connects to %s, which is not among its dependencies in the module table", w.module, module))
		return nil
	}
	w.asked[module] = true
	return c
}

// err reports every connection asked for but not declared.
func (w *wiring) err() error { return errors.Join(w.errs...) }

// unasked lists declared dependencies init never connected to: the table
// would then demand remote addresses the module does not use.
func (w *wiring) unasked() []string {
	var out []string
	for m := range w.conns {
		if !w.asked[m] {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// healthRegistrar registers gRPC services on the process's server and
// records their names, so that Run reports every service a module serves
// (its internal ones too) healthy with it.
type healthRegistrar struct {
	grpc.ServiceRegistrar
	names []string
}

func (r *healthRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.names = append(r.names, desc.ServiceName)
	r.ServiceRegistrar.RegisterService(desc, impl)
}

// initModule connects m's declared dependencies and builds m with them.
func (a *App) initModule(ctx context.Context, m module) (runningModule, error) {
	w := &wiring{
		module: m.name,
		cfg:    &a.cfg,
		log:    a.logger.With("module", m.name),
		tel:    a.tel,
		grpc:   &healthRegistrar{ServiceRegistrar: a.grpcServer},
		http:   a.httpMux,
		checks: a.checks,
		conns:  map[string]*grpc.ClientConn{},
		asked:  map[string]bool{},
	}
	for _, d := range m.deps {
		c, err := a.conn(d)
		if err != nil {
			return runningModule{}, err
		}
		w.conns[d.module] = c
	}
	svc, err := m.init(ctx, w)
	if err != nil {
		return runningModule{}, err
	}
	// Checked here as well as in init, so that an init that forgets to
	// look still fails at start instead of running with a nil connection.
	if err := w.err(); err != nil {
		return runningModule{}, errors.Join(err, svc.Close())
	}
	if unasked := w.unasked(); len(unasked) > 0 {
		return runningModule{}, errors.Join(fmt.Errorf("%s declares dependencies it never connects to: %s", m.name, strings.Join(unasked, ", ")), svc.Close())
	}
	return runningModule{name: m.name, svc: svc, grpcServices: w.grpc.names}, nil
}
