package app

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/sightlinehq/sightline/platform/admin"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// The start order comes from the table: every module after the modules it
// depends on, except through late dependencies, which are called only
// once the process serves (the cycle accounts → notify → accounts).
func TestStartOrder(t *testing.T) {
	table := moduleTable()
	order, err := startOrder(table)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(order)), slices.Sorted(slices.Values(moduleNames())); !slices.Equal(got, want) {
		t.Fatalf("start order %v does not hold every module once (%v)", order, want)
	}
	late := 0
	for _, m := range table {
		for _, d := range m.deps {
			if d.late {
				late++
				continue
			}
			if slices.Index(order, d.module) > slices.Index(order, m.name) {
				t.Errorf("%s starts before %s, which it depends on (order %v)", m.name, d.module, order)
			}
		}
	}
	if late == 0 {
		t.Error("no late dependency: accounts and recordings should reach notify after start")
	}

	dep := func(names ...string) []dependency {
		var ds []dependency
		for _, n := range names {
			ds = append(ds, dependency{module: n})
		}
		return ds
	}
	lateDep := dependency{module: "a", optional: true, late: true}
	for _, tc := range []struct {
		name      string
		table     []module
		wantOrder string
		wantErr   string
	}{
		{name: "ties keep the table's order", table: []module{{name: "c"}, {name: "a"}, {name: "b"}}, wantOrder: "c,a,b"},
		{name: "dependencies first", table: []module{{name: "x", deps: dep("z")}, {name: "y"}, {name: "z", deps: dep("y")}}, wantOrder: "y,z,x"},
		{name: "a late edge closes a cycle", table: []module{{name: "a", deps: dep("b")}, {name: "b", deps: []dependency{lateDep}}}, wantOrder: "b,a"},
		{name: "cycle", table: []module{{name: "a", deps: dep("b")}, {name: "b", deps: dep("c")}, {name: "c", deps: dep("a")}, {name: "d"}},
			wantErr: "module table: dependency cycle without a late edge: a → b → c → a"},
		{name: "cycle after a free module", table: []module{{name: "f"}, {name: "g", deps: dep("f", "h")}, {name: "h", deps: dep("g")}},
			wantErr: "module table: dependency cycle without a late edge: g → h → g"},
		{name: "unknown module", table: []module{{name: "a", deps: dep("nope")}}, wantErr: `a depends on unknown module "nope"`},
		{name: "itself", table: []module{{name: "a", deps: dep("a")}}, wantErr: "a depends on itself"},
		{name: "late but required", table: []module{{name: "a"}, {name: "b", deps: []dependency{{module: "a", late: true}}}}, wantErr: "b: late dependency on a must be optional"},
		{name: "twice", table: []module{{name: "a"}, {name: "a"}}, wantErr: "module a is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startOrder(tc.table)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("startOrder = %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.wantOrder {
				t.Fatalf("startOrder = %v, %v; want %s", got, err, tc.wantOrder)
			}
		})
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

// closeCounter is a service that counts its Close calls.
type closeCounter struct{ closed int }

func (*closeCounter) Ready(context.Context) error { return nil }
func (*closeCounter) Run(context.Context) error   { return nil }
func (c *closeCounter) Close() error              { c.closed++; return nil }

// An init gets exactly the connections its entry declares: an undeclared
// module is refused (and the module it built closed), a declared one it
// never uses is a mistake too, an absent optional one is an explicit nil
// and an absent required one fails before init runs.
func TestWiringGivesOnlyDeclaredConnections(t *testing.T) {
	a := &App{
		cfg:        Config{Remote: RemoteConfig{Search: "127.0.0.1:1"}},
		targets:    []string{Accounts},
		logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		grpcServer: grpc.NewServer(),
		inproc:     rpc.NewInProcess(),
		httpMux:    http.NewServeMux(),
		checks:     &admin.Checks{},
		conns:      map[string]*grpc.ClientConn{},
	}
	t.Cleanup(func() {
		for _, c := range a.conns {
			c.Close()
		}
		a.inproc.Close()
	})
	deps := []dependency{{module: Accounts}, {module: Search}, {module: Notify, optional: true}}

	got := map[string]*grpc.ClientConn{}
	svc := &closeCounter{}
	m, err := a.initModule(context.Background(), module{name: "tester", deps: deps, init: func(_ context.Context, w *wiring) (service, error) {
		for _, d := range []string{Accounts, Search, Notify} {
			got[d] = w.conn(d)
		}
		return svc, w.err()
	}})
	if err != nil {
		t.Fatalf("declared dependencies: %v", err)
	}
	if got[Accounts] == nil || got[Search] == nil || got[Accounts] == got[Search] {
		t.Errorf("local accounts and remote search: connections %v, want two distinct ones", got)
	}
	if got[Notify] != nil {
		t.Errorf("optional notify, neither here nor remote: connection %v, want nil", got[Notify])
	}
	if m.name != "tester" || m.svc != svc {
		t.Errorf("initModule = %+v, want the built service", m)
	}

	// An init that does not check w.err itself still fails.
	svc = &closeCounter{}
	_, err = a.initModule(context.Background(), module{name: "tester", deps: deps[:1], init: func(_ context.Context, w *wiring) (service, error) {
		w.conn(Accounts)
		if c := w.conn(Recordings); c != nil {
			t.Errorf("undeclared recordings: got connection %v", c)
		}
		return svc, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "tester connects to recordings, which is not among its dependencies") {
		t.Errorf("undeclared dependency: %v, want it refused", err)
	}
	if svc.closed != 1 {
		t.Errorf("refused module closed %d times, want 1", svc.closed)
	}

	svc = &closeCounter{}
	_, err = a.initModule(context.Background(), module{name: "tester", deps: deps, init: func(_ context.Context, w *wiring) (service, error) {
		w.conn(Accounts)
		return svc, w.err()
	}})
	if err == nil || !strings.Contains(err.Error(), "never connects to: notify, search") {
		t.Errorf("declared but unused: %v, want an error naming notify and search", err)
	}
	if svc.closed != 1 {
		t.Errorf("module with unused dependencies closed %d times, want 1", svc.closed)
	}

	ran := false
	_, err = a.initModule(context.Background(), module{name: "tester", deps: []dependency{{module: Recordings}}, init: func(context.Context, *wiring) (service, error) {
		ran = true
		return &closeCounter{}, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "remote.recordings") || ran {
		t.Errorf("required recordings, neither here nor remote: %v (init ran: %v), want an error naming remote.recordings before init", err, ran)
	}
}

// TestEveryModuleStartsFromItsEntry runs every module of the table: all in
// one process, where every gRPC service of every contract must be served
// and reported healthy, and then each alone, with its required
// dependencies remote and its optional ones both absent and present.
func TestEveryModuleStartsFromItsEntry(t *testing.T) {
	allCfg := defaults(t, All)
	all := start(t, allCfg, newTelemetry(t, "sightline", nil))
	var contracts []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			if name := string(fd.Services().Get(i).FullName()); strings.HasPrefix(name, "sightline.") {
				contracts = append(contracts, name)
			}
		}
		return true
	})
	if len(contracts) < len(moduleNames()) {
		t.Fatalf("found only the contracts %v", contracts)
	}
	checkServing(t, all, contracts)

	secret := filepath.Join(allCfg.DataDir, serviceSecretName)
	for _, m := range moduleTable() {
		variants := []bool{false}
		if slices.ContainsFunc(m.deps, func(d dependency) bool { return d.optional }) {
			variants = append(variants, true)
		}
		for _, withOptional := range variants {
			name := m.name + "/required-only"
			if withOptional {
				name = m.name + "/with-optional"
			}
			t.Run(name, func(t *testing.T) {
				cfg := defaults(t, m.name)
				cfg.Server.ServiceSecretFile = secret
				for _, d := range m.deps {
					if !d.optional || withOptional {
						setRemote(t, &cfg.Remote, d.module, all.Addrs().GRPC)
					}
				}
				a := start(t, cfg, newTelemetry(t, "sightline-"+m.name, nil))
				checkServing(t, a, registered(a))
			})
		}
	}
}

// registered lists the Sightline gRPC services a's server has.
func registered(a *App) []string {
	var names []string
	for name := range a.grpcServer.GetServiceInfo() {
		if strings.HasPrefix(name, "sightline.") {
			names = append(names, name)
		}
	}
	return names
}

// checkServing requires a to serve every service of want, each reported
// SERVING by the health service at its gRPC address.
func checkServing(t *testing.T, a *App, want []string) {
	t.Helper()
	served := registered(a)
	conn, err := grpc.NewClient(a.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for _, name := range want {
		if !slices.Contains(served, name) {
			t.Errorf("%s is not served (served: %v)", name, served)
			continue
		}
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %s: %v, %v; want SERVING", name, resp.GetStatus(), err)
		}
	}
}

// setRemote sets remote.<module> through its flag, as an operator would.
func setRemote(t *testing.T, r *RemoteConfig, module, addr string) {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("remote", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	cfg.Remote = *r
	if err := fs.Set("remote."+module, addr); err != nil {
		t.Fatal(err)
	}
	*r = cfg.Remote
}
