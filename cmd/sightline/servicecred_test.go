package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sightlinehq/sightline/internal/loopback"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// TestInternalServicesNeedTheServiceCredential walks every method of every
// *InternalService in the contracts this binary is built from (the
// protobuf registry, so a new internal RPC is covered without editing this
// test) against the real binary split in two processes, over TCP: without
// the service credential each answers Unauthenticated before any handler
// runs; with it none is refused for want of it. Every internal service must
// be served by one of the processes, which between them run every module.
// The secret appears in no log line, even at debug level.
func TestInternalServicesNeedTheServiceCredential(t *testing.T) {
	core := startServe(t, nil, "--target=accounts,search,recordings,notify", "--log.level", "debug")
	edge := startServe(t, nil, "--target=ingest,gateway", "--log.level", "debug", "--remote.accounts", core.addrs.GRPC, "--remote.search", core.addrs.GRPC,
		"--remote.recordings", core.addrs.GRPC, "--remote.notify", core.addrs.GRPC)
	servedBy := map[protoreflect.FullName]*process{}
	for _, p := range []*process{core, edge} {
		for _, name := range listServices(t, p) {
			servedBy[name] = p
		}
	}

	var internal []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "sightline.") {
			return true
		}
		for i := range fd.Services().Len() {
			if sd := fd.Services().Get(i); rpc.IsInternal("/" + string(sd.FullName()) + "/") {
				internal = append(internal, sd)
			}
		}
		return true
	})
	slices.SortFunc(internal, func(a, b protoreflect.ServiceDescriptor) int { return cmp.Compare(a.FullName(), b.FullName()) })
	// The internal services of issue 17: the walk must at least find them.
	for _, want := range []protoreflect.FullName{
		"sightline.accounts.v1.AccountsInternalService", "sightline.notify.v1.NotifyInternalService",
		"sightline.recordings.v1.RecordingsInternalService", "sightline.search.v1.SearchInternalService",
		"sightline.traffic.v1.TrafficInternalService",
	} {
		if !slices.ContainsFunc(internal, func(sd protoreflect.ServiceDescriptor) bool { return sd.FullName() == want }) {
			t.Errorf("the registry walk misses %s", want)
		}
	}

	methods := 0
	for _, sd := range internal {
		p := servedBy[sd.FullName()]
		if p == nil {
			t.Errorf("%s: served by no process (reflection lists %v)", sd.FullName(), slices.Sorted(maps.Keys(servedBy)))
			continue
		}
		bare, err := grpc.NewClient(p.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		with := p.internalConn(t)
		defer with.Close()
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			methods++
			if err := invokeEmpty(t, bare, md); !refusedForCredential(err) {
				t.Errorf("%s without the service credential: %v; want Unauthenticated (no valid service credential)", fullMethodName(md), err)
			}
			err := invokeEmpty(t, with, md)
			if refusedForCredential(err) {
				t.Errorf("%s with the service credential: refused: %v", fullMethodName(md), err)
			}
			t.Logf("%s: with the credential, an empty request answers %v", fullMethodName(md), status.Code(err))
		}
	}
	t.Logf("%d methods of %d internal services walked", methods, len(internal))
	core.stop()
	edge.stop()
	secret, err := rpc.ReadServiceSecret(meshSecretFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*process{core, edge} {
		if strings.Contains(p.logs.String(), secret) {
			t.Errorf("the service secret appears in the logs of %v", p.args)
		}
	}
}

func fullMethodName(md protoreflect.MethodDescriptor) string {
	return fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name())
}

// refusedForCredential reports whether err is the service credential check's
// refusal (platform/rpc), not a handler's own Unauthenticated.
func refusedForCredential(err error) bool {
	return status.Code(err) == codes.Unauthenticated && strings.Contains(status.Convert(err).Message(), "no valid service credential")
}

// invokeEmpty calls md with an empty request, unary or streaming, and
// returns the call's error (nil for OK or a stream's clean end).
func invokeEmpty(t *testing.T, conn *grpc.ClientConn, md protoreflect.MethodDescriptor) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, out := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return conn.Invoke(ctx, fullMethodName(md), in, out)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, fullMethodName(md))
	if err != nil {
		return err
	}
	// A refused stream may already be closed when the request goes out;
	// RecvMsg then says why.
	if err := stream.SendMsg(in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(out); !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// listServices asks p's gRPC reflection (a public service) what it serves.
func listServices(t *testing.T, p *process) []protoreflect.FullName {
	t.Helper()
	conn, err := grpc.NewClient(p.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	var names []protoreflect.FullName
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, protoreflect.FullName(s.GetName()))
	}
	return names
}

// TestServiceSecretFileChecked: a process of a split mesh refuses to start
// without a usable secret file, and says which setting and why, without
// showing the file's content.
func TestServiceSecretFileChecked(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	const shortSecret = "only-thirty-one-bytes-long-oops"
	if err := os.WriteFile(short, []byte(shortSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"short", []string{"--server.service-secret-file", short}, []string{"server.service-secret-file", short, "31 bytes, want at least 32", "openssl rand -hex 32"}},
		{"missing", []string{"--server.service-secret-file", filepath.Join(dir, "missing")}, []string{"server.service-secret-file", "no such file"}},
		{"unset", nil, []string{"server.service-secret-file: must be set when the modules run in separate processes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--target=accounts", "--data-dir", t.TempDir(),
				"--server.http-listen-address", "127.0.0.1:0", "--server.grpc-listen-address", "127.0.0.1:0", "--admin.listen-address", "127.0.0.1:0"}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("serve with a %s secret file: %v, want it to refuse to start\n%s", tc.name, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), shortSecret) {
				t.Errorf("the output shows the secret:\n%s", out)
			}
			if strings.Contains(string(out), "sightline started") {
				t.Errorf("started before refusing:\n%s", out)
			}
		})
	}
}

// TestCommandsUseTheDataDirSecret: `sightline serve` makes its secret once
// (mode 0600) and keeps it across restarts; reindex and heatmaps rebuild
// reach the running serve's internal services with it, and with another
// secret fail with a message that says the credential was refused.
func TestCommandsUseTheDataDirSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "service-secret")
	p := startServe(t, nil, "--data-dir", dir)
	first, err := rpc.ReadServiceSecret(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", file, fi.Mode(), err)
	}
	d := newDashboard(t, p)
	other := filepath.Join(t.TempDir(), "other-secret")
	if err := os.WriteFile(other, []byte(rpc.NewServiceSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(binary, args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	commands := func(p *process) map[string][]string {
		return map[string][]string{
			"reindex": {"reindex", "-site", fmt.Sprint(d.siteID), "-from", p.addrs.GRPC, "-to", p.addrs.GRPC,
				"-cursor-file", filepath.Join(t.TempDir(), "cursor"), "--data-dir", dir},
			// Every site: the command ends with search's FinishReindex.
			"reindex (every site)": {"reindex", "-from", p.addrs.GRPC, "-to", p.addrs.GRPC,
				"-cursor-file", filepath.Join(t.TempDir(), "cursor"), "--data-dir", dir},
			"heatmaps rebuild": {"heatmaps", "rebuild", "-site", fmt.Sprint(d.siteID), "-from", p.addrs.GRPC, "--data-dir", dir},
		}
	}
	for name, args := range commands(p) {
		if out, errOut, err := run(args...); err != nil {
			t.Fatalf("%s with the data directory's secret: %v\nstdout %s\nstderr %s", name, err, out, errOut)
		}
		out, errOut, err := run(append(args, "--server.service-secret-file", other)...)
		if err == nil || !strings.Contains(errOut, "Unauthenticated") || !strings.Contains(errOut, "the server refused the service credential") ||
			!strings.Contains(errOut, "--server.service-secret-file") || strings.Contains(errOut, "run it again") {
			t.Errorf("%s with another secret: %v\nstdout %s\nstderr %s\nwant a failure naming the refused service credential", name, err, out, errOut)
		}
		t.Logf("%s with another secret: %s", name, strings.TrimSpace(errOut))
	}
	p.stop()
	if strings.Contains(p.logs.String(), first) {
		t.Error("the data directory's service secret appears in the logs")
	}

	p = startServe(t, nil, "--data-dir", dir)
	if again, err := rpc.ReadServiceSecret(file); err != nil || again != first {
		t.Fatalf("after a restart the secret changed (%v)", err)
	}
	for name, args := range commands(p) {
		if out, errOut, err := run(args...); err != nil {
			t.Fatalf("%s after a restart: %v\nstdout %s\nstderr %s", name, err, out, errOut)
		}
	}
	p.stop()
}

// TestServiceSecretRotationWithoutDowntime rolls a new secret out over a
// two-process mesh in docs/service-auth.md's three steps, restarting one
// process at a time: after every restart the gateway (edge) still reaches
// accounts' internal Authenticate (core) for a new user's every call, and
// at the end the old secret is refused.
func TestServiceSecretRotationWithoutDowntime(t *testing.T) {
	dir := t.TempDir()
	oldFile, newFile := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for _, f := range []string{oldFile, newFile} {
		if err := os.WriteFile(f, []byte(rpc.NewServiceSecret()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	coreData, edgeData, coreAddr := t.TempDir(), t.TempDir(), loopback.Addr(t)
	secrets := func(secret, accepted string) []string {
		args := []string{"--server.service-secret-file", secret}
		if accepted != "" {
			args = append(args, "--server.accepted-service-secret-file", accepted)
		}
		return args
	}
	core := func(secret, accepted string) *process {
		// Each step signs a new user up: logged in at once, not e-mailed.
		return startServe(t, nil, append([]string{"--target=accounts,search,recordings,notify", "--data-dir", coreData,
			"--server.grpc-listen-address", coreAddr, "--accounts.signup-verify-email=false"}, secrets(secret, accepted)...)...)
	}
	edge := func(secret, accepted string) *process {
		return startServe(t, nil, append([]string{"--target=ingest,gateway", "--data-dir", edgeData, "--remote.accounts", coreAddr,
			"--remote.search", coreAddr, "--remote.recordings", coreAddr, "--remote.notify", coreAddr}, secrets(secret, accepted)...)...)
	}
	c, e := core(oldFile, ""), edge(oldFile, "")
	works := func(step string) {
		t.Helper()
		// /readyz/gateway is accounts' health as the gateway sees it: the
		// connection is back after a restart of core.
		for deadline := time.Now().Add(10 * time.Second); readyz(t, e, "/readyz/gateway") != 200; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the gateway does not reach accounts within 10 s", step)
			}
		}
		// A new session: the gateway has not seen it, so it asks accounts'
		// internal Authenticate.
		jar, _ := cookiejar.New(nil)
		d := &dashboard{t: t, base: "http://" + e.addrs.HTTP, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
		email := fmt.Sprintf("rotation-%d@example.com", time.Now().UnixNano())
		d.call("POST", "/api/v1/auth/signup", map[string]any{"email": email, "password": "correct horse battery staple", "organizationName": "Rotation"})
		if me, _ := d.call("GET", "/api/v1/me", nil)["user"].(map[string]any); me["email"] != email {
			t.Fatalf("%s: GET /api/v1/me answered %v, want %s", step, me, email)
		}
		t.Logf("%s: a new user signs up and works through the gateway", step)
	}
	works("before")
	for _, s := range []struct{ step, secret, accepted string }{
		{"1, accept the new secret", oldFile, newFile},
		{"2, send the new secret, accept the old", newFile, oldFile},
		{"3, retire the old secret", newFile, ""},
	} {
		c.stop()
		c = core(s.secret, s.accepted)
		works("step " + s.step + ", core restarted")
		e.stop()
		e = edge(s.secret, s.accepted)
		works("step " + s.step + ", edge restarted")
	}

	desc, err := protoregistry.GlobalFiles.FindDescriptorByName("sightline.accounts.v1.AccountsInternalService")
	if err != nil {
		t.Fatal(err)
	}
	authenticate := desc.(protoreflect.ServiceDescriptor).Methods().ByName("Authenticate")
	for file, accepted := range map[string]bool{oldFile: false, newFile: true} {
		secret, err := rpc.ReadServiceSecret(file)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := rpc.Dial(coreAddr, nil, rpc.ClientOptions{ServiceSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		err = invokeEmpty(t, conn, authenticate)
		conn.Close()
		if refusedForCredential(err) == accepted {
			t.Errorf("after the rotation, Authenticate with the %s secret: %v", filepath.Base(file), err)
		}
	}
	c.stop()
	e.stop()
}
