package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/internal/leakcheck"
	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/internal/poll"
	"github.com/sightlinehq/sightline/internal/testproc"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	ingestv1 "github.com/sightlinehq/sightline/gen/sightline/ingest/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry/otlptest"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
	"github.com/sightlinehq/sightline/svc-ingest/spool/spooltest"
)

// binary is the sightline binary built once for these tests.
var binary string

// meshSecretFile is the service secret (server.service-secret-file) that
// startServe gives every process it runs with --target, as a deployment
// gives every process the same one.
var meshSecretFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sightline-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sightline")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	meshSecretFile = filepath.Join(dir, "service-secret")
	if err := os.WriteFile(meshSecretFile, []byte(rpc.NewServiceSecret()+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	leakcheck.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// process is one running `sightline serve`.
type process struct {
	t     *testing.T
	cmd   *exec.Cmd
	args  []string
	addrs struct{ HTTP, GRPC, Admin string }
	logs  *testproc.LogBuffer
	done  chan error
}

// serve starts the binary on free loopback ports and waits for its
// "sightline started" log line, which carries the bound addresses. A
// process given --target reads meshSecretFile unless args name another.
func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	args = serveArgs(t, args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	return startProcess(t, cmd, args)
}

// serveArgs is the command line startServe runs the binary with: serve
// on free loopback ports and a fresh data directory, then args.
func serveArgs(t *testing.T, args ...string) []string {
	defaults := []string{"serve",
		"--data-dir", t.TempDir(),
		"--server.http-listen-address", "127.0.0.1:0",
		"--server.grpc-listen-address", "127.0.0.1:0",
		"--admin.listen-address", "127.0.0.1:0",
		"--server.shutdown-timeout", "10s",
	}
	if flagValue(args, "target") != "" {
		defaults = append(defaults, "--server.service-secret-file", meshSecretFile)
	}
	return append(defaults, args...)
}

// startProcess starts cmd, which runs the binary with args (perhaps
// through a wrapper), and waits for it to serve.
func startProcess(t *testing.T, cmd *exec.Cmd, args []string) *process {
	t.Helper()
	sp := testproc.StartSightline(t, cmd)
	return &process{t: t, cmd: cmd, args: args, addrs: sp.Addrs, logs: sp.Logs, done: sp.Done}
}

// flagValue is the value the last --name (or -name) in args sets, as the
// flag package reads it; "" when none does.
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		k, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || k != name {
			continue
		}
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		v = val
	}
	return v
}

// internalConn dials p's gRPC listener with the service credential p
// reads (its server.service-secret-file, else the one in its data
// directory), as another process of the mesh does: internal services
// answer it. The caller closes it.
func (p *process) internalConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	file := flagValue(p.args, "server.service-secret-file")
	if file == "" {
		file = filepath.Join(flagValue(p.args, "data-dir"), "service-secret")
	}
	secret, err := rpc.ReadServiceSecret(file)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(p.addrs.GRPC, nil, rpc.ClientOptions{ServiceSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// stop sends SIGTERM and requires a clean exit within the deadline.
func (p *process) stop() {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("exit after SIGTERM: %v\n%s", err, p.logs)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.t.Fatalf("did not stop within 15s of SIGTERM (then %v)\n%s", err, p.logs)
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		p.t.Errorf("no 'stopped' log line after SIGTERM\n%s", p.logs)
	}
	p.t.Logf("stopped %d ms after SIGTERM", time.Since(start).Milliseconds())
}

// requireServing checks the gRPC health of every named service through the
// process's real gRPC listener.
func requireServing(t *testing.T, addr string, services ...string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for _, s := range append(services, "") {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: s})
		cancel()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q at %s = %v, %v; want SERVING", s, addr, resp.GetStatus(), err)
		}
	}
}

func httpGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// requireGatewayAnswers checks the REST API reaches accounts through the
// gateway and that the admin listener answers.
func requireGatewayAnswers(t *testing.T, gw *process) {
	t.Helper()
	code, hdr, body := httpGet(t, "http://"+gw.addrs.HTTP+"/api/v1/config")
	if code != http.StatusOK || !strings.Contains(string(body), `"version"`) {
		t.Errorf("GET /api/v1/config = %d %s", code, body)
	}
	if hdr.Get("X-Trace-Id") == "" {
		t.Error("no X-Trace-Id on the API response")
	}
	if code, _, body := httpGet(t, "http://"+gw.addrs.HTTP+"/api/v1/openapi.json"); code != 200 || !bytes.Contains(body, []byte(`"swagger"`)) {
		t.Errorf("GET /api/v1/openapi.json = %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		if code, _, body := httpGet(t, "http://"+gw.addrs.Admin+path); code != 200 {
			t.Errorf("admin GET %s = %d %s", path, code, body)
		}
	}
}

var allServices = []string{
	accountsv1.AccountsService_ServiceDesc.ServiceName,
	ingestv1.IngestService_ServiceDesc.ServiceName,
	recordingsv1.RecordingsService_ServiceDesc.ServiceName,
	searchv1.SearchService_ServiceDesc.ServiceName,
	notifyv1.NotifyService_ServiceDesc.ServiceName,
	notifyv1.NotifyInternalService_ServiceDesc.ServiceName,
	accountsv1.AccountsInternalService_ServiceDesc.ServiceName,
	recordingsv1.RecordingsInternalService_ServiceDesc.ServiceName,
	searchv1.SearchInternalService_ServiceDesc.ServiceName,
}

func TestAllInOneProcess(t *testing.T) {
	p := startServe(t, nil)
	requireServing(t, p.addrs.GRPC, allServices...)
	requireGatewayAnswers(t, p)
	p.stop()
}

// TestManyProcesses runs each service as its own process, wired by
// remote.* addresses, and follows one request across two of them in the
// traces they export over OTLP.
func TestManyProcesses(t *testing.T) {
	otlp := otlptest.NewReceiver(t)
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.Endpoint(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
	// Accounts and recordings call notify, which calls them: notify's
	// address is fixed before any of them starts (gRPC dials lazily).
	notifyAddr := loopback.Addr(t)
	accounts := startServe(t, env, "--target=accounts", "--remote.notify", notifyAddr)
	search := startServe(t, env, "--target=search", "--remote.accounts", accounts.addrs.GRPC)
	recordings := startServe(t, env, "--target=recordings", "--remote.accounts", accounts.addrs.GRPC, "--remote.search", search.addrs.GRPC,
		"--remote.notify", notifyAddr)
	outbox := t.TempDir()
	notify := startServe(t, env, "--target=notify", "--server.grpc-listen-address", notifyAddr, "--remote.accounts", accounts.addrs.GRPC,
		"--remote.search", search.addrs.GRPC, "--remote.recordings", recordings.addrs.GRPC, "--notify.outbox-dir", outbox)
	ingest := startServe(t, env, "--target=ingest", "--remote.accounts", accounts.addrs.GRPC, "--remote.recordings", recordings.addrs.GRPC,
		"--remote.search", search.addrs.GRPC)
	gateway := startServe(t, env, "--target=gateway", "--remote.accounts", accounts.addrs.GRPC,
		"--remote.recordings", recordings.addrs.GRPC, "--remote.search", search.addrs.GRPC, "--remote.ingest", ingest.addrs.GRPC,
		"--remote.notify", notify.addrs.GRPC)

	requireServing(t, accounts.addrs.GRPC, accountsv1.AccountsService_ServiceDesc.ServiceName, accountsv1.AccountsInternalService_ServiceDesc.ServiceName)
	requireServing(t, search.addrs.GRPC, searchv1.SearchService_ServiceDesc.ServiceName, searchv1.SearchInternalService_ServiceDesc.ServiceName)
	requireServing(t, recordings.addrs.GRPC, recordingsv1.RecordingsService_ServiceDesc.ServiceName, recordingsv1.RecordingsInternalService_ServiceDesc.ServiceName)
	requireServing(t, notify.addrs.GRPC, notifyv1.NotifyService_ServiceDesc.ServiceName, notifyv1.NotifyInternalService_ServiceDesc.ServiceName)
	requireServing(t, ingest.addrs.GRPC, ingestv1.IngestService_ServiceDesc.ServiceName)
	requireServing(t, gateway.addrs.GRPC)
	requireGatewayAnswers(t, gateway)

	// The cycle works across processes: a sign-up through the gateway
	// makes accounts ask notify (at remote.notify) for an e-mail, which
	// notify's job writes to its outbox.
	signup, _ := json.Marshal(map[string]string{"email": "first@example.com", "password": "correct horse battery staple", "organizationName": "First"})
	resp, err := http.Post("http://"+gateway.addrs.HTTP+"/api/v1/auth/signup", "application/json", bytes.NewReader(signup))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	forgot, _ := json.Marshal(map[string]string{"email": "first@example.com"})
	if resp, err = http.Post("http://"+gateway.addrs.HTTP+"/api/v1/auth/forgot-password", "application/json", bytes.NewReader(forgot)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forgot-password through the gateway = %d", resp.StatusCode)
	}
	poll.Until(t, 15*time.Second, func() error {
		if emls, _ := filepath.Glob(filepath.Join(outbox, "*.eml")); len(emls) == 0 {
			return fmt.Errorf("no e-mail in notify's outbox after accounts was asked to send one\naccounts: %s\nnotify: %s", accounts.logs, notify.logs)
		}
		return nil
	})

	_, hdr, _ := httpGet(t, "http://"+gateway.addrs.HTTP+"/api/v1/config")
	traceID := hdr.Get("X-Trace-Id")
	// Stop in reverse dependency order; SIGTERM flushes each exporter.
	for _, p := range []*process{gateway, ingest, notify, recordings, search, accounts} {
		p.stop()
	}
	bySvc := map[string][]string{}
	for _, rs := range otlp.ResourceSpans() {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				if hexID(s.GetTraceId()) == traceID {
					bySvc[svc] = append(bySvc[svc], s.GetName())
				}
			}
		}
	}
	if len(bySvc["sightline-gateway"]) < 2 || len(bySvc["sightline-accounts"]) < 1 {
		t.Fatalf("trace %s as exported over OTLP: %v; want the gateway's HTTP and client spans and accounts' server span", traceID, bySvc)
	}
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sightline.yaml")
	if err := os.WriteFile(file, []byte("server:\n  http_listen_adress: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"flag", nil, []string{"--server.shutdown-timeout=soon"}, "server.shutdown-timeout"},
		{"env", []string{"SIGHTLINE_LOG_LEVEL=loud"}, nil, "log.level"},
		{"file", nil, []string{"--config.file", file}, "http_listen_adress"},
		{"validation", nil, []string{"--target=ingest"}, "remote.accounts"},
		{"memory limit ratio", nil, []string{"--runtime.memory-limit-ratio=1.5"}, "runtime.memory-limit-ratio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"serve", "--config.verify", "--data-dir", dir}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("start succeeded with a bad %s:\n%s", tc.name, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not name %q:\n%s", tc.want, out)
			}
		})
	}
	out, err := exec.Command(binary, "serve", "--config.verify", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("defaults do not verify: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("sightline version = %q, %v", out, err)
	}
}

// TestExampleConfigsVerify keeps deploy/examples loadable.
func TestExampleConfigsVerify(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	for _, f := range files {
		out, err := exec.Command(binary, "serve", "--config.verify", "--config.file", f).CombinedOutput()
		if err != nil {
			t.Errorf("%s does not verify: %v\n%s", f, err, out)
		}
	}
}

// TestOperatorCommands: migrate, then create a user from the command line,
// who can then log in through the running server; maintenance mode set
// from the command line shows in the public config.
func TestOperatorCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append(args, "--data-dir", dir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sightline %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("migrate")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("admin", "create-user", "-email", "Ops@Example.com", "-password-file", pw, "-operator"); !strings.Contains(out, "created user") {
		t.Fatalf("create-user printed %q", out)
	}
	if out, err := exec.Command(binary, "admin", "create-user", "-email", "x@example.com", "--data-dir", dir).CombinedOutput(); err == nil {
		t.Fatalf("create-user without a password file succeeded:\n%s", out)
	}
	run("admin", "maintenance", "-on", "-message", "back soon")

	p := startServe(t, nil, "--data-dir", dir)
	body, _ := json.Marshal(map[string]string{"email": "ops@example.com", "password": "a long enough password"})
	resp, err := http.Post("http://"+p.addrs.HTTP+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as the created user = %d", resp.StatusCode)
	}
	if code, _, cfg := httpGet(t, "http://"+p.addrs.HTTP+"/api/v1/config"); code != 200 || !strings.Contains(string(cfg), "back soon") {
		t.Fatalf("public config after admin maintenance -on = %d %s", code, cfg)
	}
	p.stop()
}

// TestSecretsNeverLogged: a secret given by file or by environment never
// appears in the process's output, even in the start-up configuration log,
// and not when start fails on it.
func TestSecretsNeverLogged(t *testing.T) {
	const fromFile, fromEnv = "pw-from-file-7e1f9a", "pw-from-env-c44b02"
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	if err := os.WriteFile(file, []byte("postgres://sightline:"+fromFile+"@127.0.0.1:1/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, nil, "--accounts.postgres.dsn-file", file, "--log.level", "debug")
	p.stop()
	logs := p.logs.String()
	if !strings.Contains(logs, `"accounts.postgres.dsn-file":"`+file+`"`) {
		t.Errorf("the configuration log does not show the secret's file:\n%s", logs)
	}
	if strings.Contains(logs, fromFile) {
		t.Errorf("the secret from the file appears in the logs:\n%s", logs)
	}

	// Start fails (nothing listens on port 1): neither the error nor the
	// logs may carry the secret.
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--accounts.backend", "postgres",
		"--server.http-listen-address", "127.0.0.1:0", "--server.grpc-listen-address", "127.0.0.1:0", "--admin.listen-address", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SIGHTLINE_ACCOUNTS_POSTGRES_DSN=postgres://sightline:"+fromEnv+"@127.0.0.1:1/db?connect_timeout=2")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("start with an unreachable database succeeded:\n%s", out)
	}
	if strings.Contains(string(out), fromEnv) {
		t.Errorf("the secret from the environment appears in the output:\n%s", out)
	}
	if !strings.Contains(string(out), "accounts") {
		t.Errorf("the start error does not say which part failed:\n%s", out)
	}
}

// TestSpoolDeadLetterCommands: records the forwarder cannot deliver (one
// recordings refuses, one that is not a chunk) are dead-lettered by the
// running binary; `sightline spool dead-letter` lists and shows them while
// it runs, replays one through the running process (refused again: a new
// dead letter), and, with ingest stopped, puts every one back in the spool,
// from which a restarted ingest — now configured to accept the chunk —
// delivers it.
func TestSpoolDeadLetterCommands(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	sp, err := spool.Open(spool.Options{Dir: spoolDir})
	if err != nil {
		t.Fatal(err)
	}
	chunk, _ := proto.Marshal(&recordingsv1.Chunk{SiteId: 5_000_000_001, OrganizationId: 7_000_000_001, SessionId: "s_deadletter", Seq: 1,
		VisitorId: "v_deadletter", PageViewId: "p_deadletter", Url: "https://shop.example.com/",
		Events:     []byte(`[{"type":4,"data":{"href":"https://shop.example.com/","width":1280,"height":720},"timestamp":1764400000000}]`),
		EventCount: 1, RetentionDays: 365, ServerTime: timestamppb.Now()})
	for _, rec := range [][]byte{chunk, {0x0a, 0xff}} {
		if err := sp.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append(args, "--data-dir", dir)...).CombinedOutput()
		return string(out), err
	}
	mustCLI := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("sightline %v: %v\n%s", args, err, out)
		}
		return out
	}
	// waitList polls list until it shows n dead letters.
	waitList := func(n int) string {
		t.Helper()
		var out string
		poll.Until(t, 15*time.Second, func() error {
			if out = mustCLI("spool", "dead-letter", "list"); !strings.Contains(out, fmt.Sprintf("\n%d dead letters\n", n)) {
				return fmt.Errorf("dead-letter list does not show %d:\n%s", n, out)
			}
			return nil
		})
		return out
	}
	idOf := func(list, reason string) string {
		t.Helper()
		for _, line := range strings.Split(list, "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == reason {
				return f[0]
			}
		}
		t.Fatalf("no %s dead letter in:\n%s", reason, list)
		return ""
	}

	// Recordings refuses the chunk: it asks for more retention than allowed.
	p := startServe(t, nil, "--data-dir", dir, "--recordings.max-retention-days", "30", "--recordings.default-retention-days", "30")
	list := waitList(2)
	refused, undecodable := idOf(list, "refused"), idOf(list, "undecodable")
	if !strings.Contains(list, "s_deadletter") || !strings.Contains(list, "5000000001") {
		t.Fatalf("list does not say which chunk:\n%s", list)
	}
	var shown struct {
		DeadLetter  spool.DeadLetter `json:"dead_letter"`
		Chunk       map[string]any   `json:"chunk"`
		Events      []map[string]any `json:"events"`
		EventsTotal int              `json:"events_total"`
	}
	if err := json.Unmarshal([]byte(mustCLI("spool", "dead-letter", "show", refused)), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.DeadLetter.Reason != "refused" || !strings.Contains(shown.DeadLetter.Detail, "retention_days") || shown.DeadLetter.Received.IsZero() ||
		shown.Chunk["session_id"] != "s_deadletter" || shown.EventsTotal != 1 || shown.Events[0]["type"] != float64(4) {
		t.Fatalf("show %s: %+v", refused, shown)
	}
	if out, err := cli("spool", "dead-letter", "show", undecodable); err != nil || !strings.Contains(out, "payload_error") {
		t.Fatalf("show of the undecodable record: %v\n%s", err, out)
	}
	if out, err := cli("spool", "dead-letter", "show", "../../cursor.forwarder"); err == nil {
		t.Fatalf("show accepted a path as id:\n%s", out)
	}
	// Replay through the running process: sent again, refused again.
	if out := mustCLI("spool", "dead-letter", "replay", refused); !strings.Contains(out, "carried out by the running ingest") {
		t.Fatalf("replay while running printed %q", out)
	}
	list = waitList(2)
	if again := idOf(list, "refused"); again == refused {
		t.Fatalf("the replayed dead letter is still there:\n%s", list)
	}
	// The dead-letter series the alert rules in deploy/ use, which appear
	// only after a dead letter (TestOperationsKitMetricsExported checks
	// the rest of the rules' and the dashboard's names).
	_, _, metrics := httpGet(t, "http://"+p.addrs.Admin+"/metrics")
	for _, want := range []string{`ingest_forwarder_dead_lettered_total{otel_scope_name="github.com/sightlinehq/sightline/svc-ingest",otel_scope_schema_url="",otel_scope_version="",reason="refused",sink="recordings"} 2`,
		`ingest_spool_dead_letter_records{otel_scope_name="github.com/sightlinehq/sightline/svc-ingest",otel_scope_schema_url="",otel_scope_version="",spool="batches"} 2`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _, body := httpGet(t, "http://"+p.addrs.Admin+"/readyz"); code != 200 || !strings.Contains(string(body), `"degraded":true`) ||
		!strings.Contains(string(body), "dead-lettered") {
		t.Fatalf("/readyz with fresh dead letters = %d %s; want 200 and degraded", code, body)
	}
	p.stop()

	// Stopped: replay -all appends to the spool itself.
	if out := mustCLI("spool", "dead-letter", "replay", "-all"); !strings.Contains(out, "2 dead letters put back") {
		t.Fatalf("replay -all while stopped printed %q", out)
	}
	mustCLI("spool", "dead-letter", "list")
	p = startServe(t, nil, "--data-dir", dir)
	list = waitList(1)
	idOf(list, "undecodable")
	conn := p.internalConn(t) // GetStats without a user: the service credential
	defer conn.Close()
	var st *ingestv1.GetStatsResponse
	poll.Until(t, 10*time.Second, func() error {
		if st, err = ingestv1.NewIngestServiceClient(conn).GetStats(context.Background(), &ingestv1.GetStatsRequest{}); err != nil || st.GetForwarder().GetDeliveredRecords() != 1 {
			return fmt.Errorf("after replaying into a recordings that accepts the chunk: %v, %v", st, err)
		}
		return nil
	})
	if st.GetForwarder().GetDeliveredRecords() != 1 || st.GetSpool().GetDeadLetterRecords() != 1 || st.GetForwarder().GetDeadLettered() != 1 {
		t.Fatalf("after replaying into a recordings that accepts the chunk: %v, %v", st, err)
	}
	p.stop()
	if out, err := exec.Command(binary, "spool", "-h").CombinedOutput(); err != nil || !strings.Contains(string(out), "dead/replay/") {
		t.Fatalf("spool -h: %v\n%s", err, out)
	}
}

// TestAlertRules: deploy/prometheus/alerts.yaml is valid and its unit
// tests (alerts_test.yaml: which series fire which alert when) pass.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run does)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestReadyWithGiBUndelivered: with 1 GiB undelivered in the spool (and
// recordings unreachable, so none of it drains), `sightline serve
// --target=ingest` answers /readyz 200 within 2 s of starting: start-up
// reads segment indexes, not the backlog. The outage dead-letters nothing.
func TestReadyWithGiBUndelivered(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: 2 << 30})
	if err != nil {
		t.Fatal(err)
	}
	chunk, _ := proto.Marshal(&recordingsv1.Chunk{SiteId: 5_000_000_001, OrganizationId: 7_000_000_001, SessionId: "s_backlog", Seq: 1,
		Events: bytes.Repeat([]byte(`{"type":3,"data":{"source":1,"positions":[{"x":1,"y":2}]}},`), 1000), EventCount: 1000})
	const total = 1 << 30
	n := total / len(chunk)
	fill := time.Now()
	spooltest.Fill(t, sp, chunk, n)
	st := sp.Stats()
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Bytes < total*99/100 {
		t.Fatalf("spool holds %d bytes, want 1 GiB", st.Bytes)
	}
	t.Logf("wrote %d MiB (%d records) in %v", st.Bytes>>20, st.Records, time.Since(fill).Round(time.Millisecond))

	start := time.Now()
	p := startServe(t, nil, "--data-dir", dir, "--target=ingest", "--remote.accounts", "127.0.0.1:1", "--remote.recordings", "127.0.0.1:1", "--remote.search", "127.0.0.1:1",
		"--ingest.spool.max-bytes", fmt.Sprint(2<<30))
	code, _, body := httpGet(t, "http://"+p.addrs.Admin+"/readyz")
	ready := time.Since(start)
	t.Logf("ready %v after start with %d MiB undelivered: %d %s", ready.Round(time.Millisecond), st.Bytes>>20, code, body)
	if code != 200 || ready > 2*time.Second {
		t.Fatalf("/readyz %d after %v with 1 GiB undelivered; want 200 within 2s\n%s", code, ready, p.logs)
	}
	conn := p.internalConn(t) // GetStats without a user: the service credential
	defer conn.Close()
	// The forwarder tries recordings, fails, isolates, retries.
	var stats *ingestv1.GetStatsResponse
	poll.Until(t, 10*time.Second, func() error {
		if stats, err = ingestv1.NewIngestServiceClient(conn).GetStats(context.Background(), &ingestv1.GetStatsRequest{}); err != nil || stats.GetForwarder().GetFailedAttempts() == 0 {
			return fmt.Errorf("stats with recordings unreachable: %v, %v", stats, err)
		}
		return nil
	})
	if err != nil || stats.GetSpool().GetRecords() != st.Records || stats.GetForwarder().GetDeadLettered() != 0 || stats.GetForwarder().GetFailedAttempts() == 0 {
		t.Fatalf("stats with recordings unreachable: %v, %v", stats, err)
	}
	p.stop()

	// For reference, the same start without the segment indexes: Open
	// scans every undelivered record, as it did before indexes existed.
	idx, _ := filepath.Glob(filepath.Join(dir, "spool", "*.idx"))
	for _, f := range idx {
		os.Remove(f)
	}
	start = time.Now()
	p = startServe(t, nil, "--data-dir", dir, "--target=ingest", "--remote.accounts", "127.0.0.1:1", "--remote.recordings", "127.0.0.1:1", "--remote.search", "127.0.0.1:1",
		"--ingest.spool.max-bytes", fmt.Sprint(2<<30))
	code, _, _ = httpGet(t, "http://"+p.addrs.Admin+"/readyz")
	t.Logf("without indexes (a full scan, the former start-up): ready %v, %d (with indexes: %v)", time.Since(start).Round(time.Millisecond), code, ready.Round(time.Millisecond))
	p.stop()
}
