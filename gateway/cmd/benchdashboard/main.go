// Command benchdashboard measures one dashboard request, the sessions list
// (POST /api/v1/sites/{id}/sessions:search, as the dashboard sends it,
// signed in by cookie with its CSRF header), through the gateway of the
// six-process mode (one `sightline serve --target=x` per module, on
// loopback, sharing a service secret file) and of one all-in-one
// `sightline serve`, alternating rounds in one run on the same machine.
// make bench-dashboard runs `go run ./gateway/cmd/benchdashboard` from the
// repository root.
//
// Each deployment gets a signed-up owner, a site and -sessions recorded
// sessions (appended through recordings' internal API with the service
// credential, then waited for in the index). Each round sends -requests
// sequential requests after a warm-up and reports p50/p95; the calls
// accounts served during the round, read from its gRPC server metrics on
// the admin listener (/metrics) before and after, give the accounts calls
// per request (health checks left out). A request with a credential the
// caches have not seen (a fresh log-in) is counted separately: it is the
// one that fills them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/dashclient"
	"github.com/sightlinehq/sightline/platform/rpc"
)

func main() {
	var (
		requests = flag.Int("requests", 2000, "measured requests per deployment and round")
		warmup   = flag.Int("warmup", 200, "unmeasured requests before each round")
		rounds   = flag.Int("rounds", 3, "alternating rounds per deployment (medians are reported)")
		sessions = flag.Int("sessions", 500, "recorded sessions loaded into each deployment")
		pageSize = flag.Int("page-size", 50, "sessions per page, as the dashboard asks")
		keep     = flag.Bool("keep", false, "keep the temporary directory (binary, data, process logs)")
		binary   = flag.String("binary", "", "run this sightline binary instead of building ./cmd/sightline (e.g. an older commit's, for a before/after)")
	)
	flag.Parse()
	if *requests < 1000 {
		log.Fatalf("-requests %d: at least 1000, so p95 rests on 50 samples or more", *requests)
	}
	dir, err := os.MkdirTemp("", "benchdashboard")
	if err != nil {
		log.Fatal(err)
	}
	b := &bench{dir: dir, binary: *binary}
	err = b.run(*requests, *warmup, *rounds, *sessions, *pageSize)
	b.stopAll()
	if *keep || err != nil {
		// The process logs say why a run failed.
		fmt.Println("kept", dir)
	} else {
		os.RemoveAll(dir)
	}
	if err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	dir, binary, secretFile string
	procs                   []*process
}

// deployment is one way of running Sightline, as the benchmark sees it.
type deployment struct {
	name     string
	gateway  *process
	accounts *process // whose /metrics count accounts' calls
	// recordingsGRPC receives the sessions.
	recordingsGRPC string
	c              *dashclient.Client
	siteID         string
	results        []result
}

type result struct {
	p50, p95 time.Duration
	calls    float64 // accounts calls per request
	byMethod map[string]float64
}

func (b *bench) run(requests, warmup, rounds, sessions, pageSize int) error {
	if b.binary == "" {
		b.binary = filepath.Join(b.dir, "sightline")
		fmt.Println("building ./cmd/sightline …")
		if out, err := exec.Command("go", "build", "-o", b.binary, "./cmd/sightline").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/sightline (run from the repository root): %v\n%s", err, out)
		}
	}
	b.secretFile = filepath.Join(b.dir, "service-secret")
	if err := os.WriteFile(b.secretFile, []byte(rpc.NewServiceSecret()+"\n"), 0o600); err != nil {
		return err
	}

	one, err := b.startOne()
	if err != nil {
		return err
	}
	six, err := b.startSix()
	if err != nil {
		return err
	}
	deps := []*deployment{one, six}
	for _, d := range deps {
		if err := b.prepare(d, sessions, pageSize); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	for _, d := range deps {
		calls, err := coldRequest(d, pageSize, 5)
		if err != nil {
			return fmt.Errorf("%s, cold request: %w", d.name, err)
		}
		fmt.Printf("%-13s a fresh log-in's first sessions list: accounts calls %s\n", d.name, fmtMethods(calls))
	}
	for r := 0; r < rounds; r++ {
		for _, d := range deps {
			res, err := measure(d, requests, warmup, pageSize)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", d.name, r+1, err)
			}
			d.results = append(d.results, res)
			fmt.Printf("round %d %-13s p50 %8v  p95 %8v  accounts calls/request %.4f %v\n", r+1, d.name, res.p50, res.p95, res.calls, fmtMethods(res.byMethod))
		}
	}
	fmt.Printf("\nsessions list (POST /api/v1/sites/{id}/sessions:search, page of %d of %d sessions), %d sequential requests × %d rounds, medians:\n",
		pageSize, sessions, requests, rounds)
	med := map[string]result{}
	for _, d := range deps {
		m := median(d.results)
		med[d.name] = m
		fmt.Printf("  %-13s p50 %8v  p95 %8v  accounts calls/request %.4f\n", d.name, m.p50, m.p95, m.calls)
	}
	s, o := med[six.name], med[one.name]
	fmt.Printf("six processes / one process: p50 ×%.2f, p95 ×%.2f; six-process p50 %s the 2 ms goal\n",
		ratio(s.p50, o.p50), ratio(s.p95, o.p95), map[bool]string{true: "meets", false: "misses"}[s.p50 <= 2*time.Millisecond])
	return nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		p50:   time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p95:   time.Duration(pick(func(r result) float64 { return float64(r.p95) })),
		calls: pick(func(r result) float64 { return r.calls }),
	}
}

func fmtMethods(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.4f", k, m[k]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// common flags: loopback ports, no request limits in the way of the
// measurement (the gateway's per-caller rate would answer 429).
func (b *bench) args(name string, extra ...string) []string {
	return append([]string{"serve",
		"--data-dir", filepath.Join(b.dir, name),
		"--server.http-listen-address", "127.0.0.1:0",
		"--server.grpc-listen-address", "127.0.0.1:0",
		"--admin.listen-address", "127.0.0.1:0",
		"--server.service-secret-file", b.secretFile,
		"--gateway.rate-per-user", "1e9",
		"--gateway.rate-burst", "1000000000",
	}, extra...)
}

func (b *bench) startOne() (*deployment, error) {
	p, err := b.start("one-process", b.args("one-process")...)
	if err != nil {
		return nil, err
	}
	return &deployment{name: "one process", gateway: p, accounts: p, recordingsGRPC: p.grpc}, nil
}

// startSix wires the six processes as TestManyProcesses does: notify's
// address is fixed first, since accounts and recordings call it and it
// calls them (gRPC dials lazily).
func (b *bench) startSix() (*deployment, error) {
	notifyAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	start := func(target string, extra ...string) (*process, error) {
		return b.start(target, b.args(target, append([]string{"--target=" + target}, extra...)...)...)
	}
	accounts, err := start("accounts", "--remote.notify", notifyAddr)
	if err != nil {
		return nil, err
	}
	search, err := start("search", "--remote.accounts", accounts.grpc)
	if err != nil {
		return nil, err
	}
	recordings, err := start("recordings", "--remote.accounts", accounts.grpc, "--remote.search", search.grpc, "--remote.notify", notifyAddr)
	if err != nil {
		return nil, err
	}
	notify, err := start("notify", "--server.grpc-listen-address", notifyAddr, "--remote.accounts", accounts.grpc,
		"--remote.search", search.grpc, "--remote.recordings", recordings.grpc)
	if err != nil {
		return nil, err
	}
	ingest, err := start("ingest", "--remote.accounts", accounts.grpc, "--remote.recordings", recordings.grpc, "--remote.search", search.grpc)
	if err != nil {
		return nil, err
	}
	gateway, err := start("gateway", "--remote.accounts", accounts.grpc, "--remote.recordings", recordings.grpc,
		"--remote.search", search.grpc, "--remote.ingest", ingest.grpc, "--remote.notify", notify.grpc)
	if err != nil {
		return nil, err
	}
	return &deployment{name: "six processes", gateway: gateway, accounts: accounts, recordingsGRPC: recordings.grpc}, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// process is one running `sightline serve`; its log goes to a file.
type process struct {
	name              string
	cmd               *exec.Cmd
	http, grpc, admin string
	logPath           string
	done              chan struct{}
}

func (b *bench) start(name string, args ...string) (*process, error) {
	p := &process{name: name, cmd: exec.Command(b.binary, args...), logPath: filepath.Join(b.dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	started := make(chan struct{})
	go func() {
		defer close(p.done)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		announced, logFailed := false, false
		for sc.Scan() {
			line := sc.Bytes()
			// Reading goes on after a failed write: the child blocks on a
			// full stderr pipe otherwise.
			if _, err := logFile.Write(append(line, '\n')); err != nil && !logFailed {
				logFailed = true
				log.Printf("sightline %s: write %s: %v", name, p.logPath, err)
			}
			var rec struct{ Msg, HTTP, GRPC, Admin string }
			if !announced && json.Unmarshal(line, &rec) == nil && rec.Msg == "sightline started" {
				p.http, p.grpc, p.admin = rec.HTTP, rec.GRPC, rec.Admin
				announced = true
				close(started)
			}
		}
		_ = p.cmd.Wait()
	}()
	select {
	case <-started:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("sightline %s exited before starting; log: %s", name, p.logPath)
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("sightline %s did not start within 60 s; log: %s", name, p.logPath)
	}
}

func (b *bench) stopAll() {
	for _, p := range slices.Backward(b.procs) {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range b.procs {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	b.procs = nil
}

// prepare signs up, creates a site, records sessions and waits until the
// index lists them all.
func (b *bench) prepare(d *deployment, sessions, pageSize int) error {
	d.c = dashclient.New("http://" + d.gateway.http)
	var su struct {
		Organization struct{ ID string }
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := d.c.Must("POST", "/api/v1/auth/signup", map[string]any{"email": "owner@bench.example", "password": "correct horse battery staple",
			"name": "Owner", "organizationName": "Bench"}, &su)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	var site struct{ Site struct{ ID string } }
	if err := d.c.Must("POST", "/api/v1/organizations/"+su.Organization.ID+"/sites", map[string]any{"name": "Shop", "domains": []string{"shop.bench.example"}}, &site); err != nil {
		return err
	}
	d.siteID = site.Site.ID
	siteID, err := strconv.ParseInt(d.siteID, 10, 64)
	if err != nil {
		return fmt.Errorf("site id %q: %w", d.siteID, err)
	}
	secret, err := rpc.ReadServiceSecret(b.secretFile)
	if err != nil {
		return err
	}
	if err := record(d.recordingsGRPC, secret, siteID, sessions); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		var page struct{ Total string }
		if err := d.c.Must("POST", "/api/v1/sites/"+d.siteID+"/sessions:search", map[string]any{"pageSize": pageSize}, &page); err != nil {
			return err
		}
		if page.Total == strconv.Itoa(sessions) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the index lists %s of %d sessions after 2 min", page.Total, sessions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// record appends one chunk per session, 100 sessions a call, through
// recordings' internal service (the service credential is required).
func record(addr, secret string, siteID int64, sessions int) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rec := recordingsv1.NewRecordingsInternalServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), rpc.ServiceCredentialHeader, secret)
	start := time.Now().Add(-time.Hour)
	for i := 0; i < sessions; i += 100 {
		var chunks []*recordingsv1.Chunk
		for j := i; j < min(i+100, sessions); j++ {
			at := start.Add(time.Duration(j) * time.Second)
			page := []string{"/", "/pricing", "/checkout", "/blog/launch"}[j%4]
			chunks = append(chunks, &recordingsv1.Chunk{
				SiteId: siteID, SessionId: fmt.Sprintf("s_bench%019d", j), VisitorId: fmt.Sprintf("v_bench%019d", j%97),
				PageViewId: fmt.Sprintf("p_bench%019d", j), Seq: 0, ClientTime: timestamppb.New(at), ServerTime: timestamppb.New(at),
				Url: "https://shop.bench.example" + page, EventCount: 1,
				Events: fmt.Appendf(nil, `[{"type":4,"data":{"href":"https://shop.bench.example%s","width":1280,"height":720},"timestamp":%d}]`, page, at.UnixMilli()),
			})
		}
		if _, err := rec.AppendChunks(ctx, &recordingsv1.AppendChunksRequest{Chunks: chunks}); err != nil {
			return fmt.Errorf("append chunks: %w", err)
		}
	}
	return nil
}

// measure sends warmup, then requests sessions lists one after another.
func measure(d *deployment, requests, warmup, pageSize int) (result, error) {
	path := "/api/v1/sites/" + d.siteID + "/sessions:search"
	body := map[string]any{"pageSize": pageSize}
	once := func() error { return d.c.Must("POST", path, body, nil) }
	for i := 0; i < warmup; i++ {
		if err := once(); err != nil {
			return result{}, err
		}
	}
	before, err := accountsCalls(d.accounts.admin)
	if err != nil {
		return result{}, err
	}
	took := make([]time.Duration, requests)
	for i := range took {
		t0 := time.Now()
		if err := once(); err != nil {
			return result{}, err
		}
		took[i] = time.Since(t0)
	}
	after, err := accountsCalls(d.accounts.admin)
	if err != nil {
		return result{}, err
	}
	slices.Sort(took)
	res := result{p50: took[len(took)/2], p95: took[len(took)*95/100], byMethod: map[string]float64{}}
	addCalls(res.byMethod, before, after, requests)
	for _, v := range res.byMethod {
		res.calls += v
	}
	return res, nil
}

// coldRequest logs in n times and sends each new session's first sessions
// list; it returns the accounts calls per such request, by method.
func coldRequest(d *deployment, pageSize, n int) (map[string]float64, error) {
	total := map[string]float64{}
	for i := 0; i < n; i++ {
		c := dashclient.New(d.c.Base)
		if err := c.Must("POST", "/api/v1/auth/login", map[string]any{"email": "owner@bench.example", "password": "correct horse battery staple"}, nil); err != nil {
			return nil, err
		}
		before, err := accountsCalls(d.accounts.admin)
		if err != nil {
			return nil, err
		}
		if err := c.Must("POST", "/api/v1/sites/"+d.siteID+"/sessions:search", map[string]any{"pageSize": pageSize}, nil); err != nil {
			return nil, err
		}
		after, err := accountsCalls(d.accounts.admin)
		if err != nil {
			return nil, err
		}
		addCalls(total, before, after, n)
	}
	return total, nil
}

// addCalls adds to perRequest each method's calls between two readings,
// divided by the requests made between them.
func addCalls(perRequest, before, after map[string]float64, requests int) {
	for m, v := range after {
		if delta := v - before[m]; delta > 0 {
			perRequest[m] += delta / float64(requests)
		}
	}
}

// accountsCalls reads how many calls each accounts method has served from
// otelgrpc's server duration histogram on the admin listener.
func accountsCalls(admin string) (map[string]float64, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics = %d", admin, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.HasPrefix(name, "rpc_server_") || !strings.HasSuffix(name, "_count") || !strings.Contains(name, "duration") {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		// Newer semantic conventions put "service/method" in rpc_method;
		// older ones split it over rpc_service and rpc_method.
		method := label(labels, "rpc_method")
		if service := label(labels, "rpc_service"); service != "" {
			method = service + "/" + method
		}
		if !strings.HasPrefix(method, "sightline.accounts.") {
			continue
		}
		method = method[strings.LastIndexByte(method, '.')+1:]
		n, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[method] += n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s/metrics shows no rpc_server_*duration*_count for sightline.accounts.* (did otelgrpc's metric name change?)", admin)
	}
	return out, nil
}

// label returns a Prometheus label's value from `a="x",b="y"`.
func label(labels, name string) string {
	_, v, ok := strings.Cut(","+labels, ","+name+`="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}
