package rpc_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sightlinehq/sightline/platform/rpc"
)

const (
	meshSecret  = "0123456789abcdef0123456789abcdef-the-mesh"
	nextSecret  = "00112233445566778899aabbccddeeff-the-next"
	otherSecret = "fedcba9876543210fedcba9876543210-elsewhere"
)

// callInternal makes one unary and one server-streaming call to the
// internal test service and returns their codes. Both handlers answer OK
// whenever they run, so any other code means the call never reached them.
func callInternal(t *testing.T, ctx context.Context, conn *grpc.ClientConn) (unaryCode, streamCode codes.Code) {
	t.Helper()
	out := new(wrapperspb.BytesValue)
	err := conn.Invoke(ctx, fullMethod(internalSvcName, "Echo"), wrapperspb.Bytes([]byte("ping")), out)
	if err == nil && string(out.GetValue()) != "ping" {
		t.Fatalf("internal Echo answered %q", out.GetValue())
	}
	unaryCode = status.Code(err)
	checkRefusalMarked(t, err)

	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod(internalSvcName, "StreamDeadline"))
	if err != nil {
		checkRefusalMarked(t, err)
		return unaryCode, status.Code(err)
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	err = stream.RecvMsg(new(durationpb.Duration))
	checkRefusalMarked(t, err)
	return unaryCode, status.Code(err)
}

// checkRefusalMarked: every refusal of the service credential, and nothing
// else, is recognisable as one (callers must not take it for their user's
// bad credential).
func checkRefusalMarked(t *testing.T, err error) {
	t.Helper()
	if refused := rpc.ServiceCredentialRefused(err); refused != (status.Code(err) == codes.Unauthenticated) {
		t.Errorf("ServiceCredentialRefused(%v) = %v", err, refused)
	}
}

func TestServiceCredentialRefusedOnlyForTheMeshCredential(t *testing.T) {
	for _, err := range []error{nil, status.Error(codes.Unauthenticated, "session expired"), status.Error(codes.Internal, "x"), context.Canceled} {
		if rpc.ServiceCredentialRefused(err) {
			t.Errorf("ServiceCredentialRefused(%v) = true", err)
		}
	}
}

// callPublic checks that the public test service answers, whatever
// credential the call carries.
func callPublic(t *testing.T, ctx context.Context, conn *grpc.ClientConn) {
	t.Helper()
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, method("Echo"), wrapperspb.Bytes([]byte("hi")), out); err != nil || string(out.GetValue()) != "hi" {
		t.Fatalf("public Echo: %q, %v", out.GetValue(), err)
	}
}

// TestInternalServiceNeedsTheCredential: a call to a service named
// *InternalService reaches its handler only with exactly one copy of the
// server's secret, unary or streaming, over TCP and in-process; public
// services answer every caller; a server without a secret refuses every
// internal call (it never falls open); a second accepted secret (rotation)
// is accepted as well, and nothing else more.
func TestInternalServiceNeedsTheCredential(t *testing.T) {
	withValues := func(vals ...string) func(context.Context) context.Context {
		return func(ctx context.Context) context.Context {
			for _, v := range vals {
				ctx = metadata.AppendToOutgoingContext(ctx, rpc.ServiceCredentialHeader, v)
			}
			return ctx
		}
	}
	none := func(ctx context.Context) context.Context { return ctx }
	for _, tc := range []struct {
		name         string
		serverSecret string
		accepted     string // rpc.ServerOptions.AcceptedServiceSecret
		clientSecret string // rpc.ClientOptions.ServiceSecret
		ctx          func(context.Context) context.Context
		want         codes.Code
	}{
		{"with the secret", meshSecret, "", meshSecret, none, codes.OK},
		{"with the secret as metadata", meshSecret, "", "", withValues(meshSecret), codes.OK},
		{"without a credential", meshSecret, "", "", none, codes.Unauthenticated},
		{"with another secret", meshSecret, "", otherSecret, none, codes.Unauthenticated},
		{"with the secret's prefix", meshSecret, "", meshSecret[:len(meshSecret)-1], none, codes.Unauthenticated},
		{"with the secret and more", meshSecret, "", meshSecret + "x", none, codes.Unauthenticated},
		{"with the secret in another case", meshSecret, "", strings.ToUpper(meshSecret), none, codes.Unauthenticated},
		{"with an empty value", meshSecret, "", "", withValues(""), codes.Unauthenticated},
		{"with two values, the right one second", meshSecret, "", "", withValues(otherSecret, meshSecret), codes.Unauthenticated},
		{"with the secret twice", meshSecret, "", meshSecret, withValues(meshSecret), codes.Unauthenticated},
		{"server without a secret, caller without", "", "", "", none, codes.Unauthenticated},
		{"server without a secret, empty value", "", "", "", withValues(""), codes.Unauthenticated},
		{"server without a secret, caller with one", "", "", meshSecret, none, codes.Unauthenticated},
		{"with the main secret, a second accepted", meshSecret, nextSecret, meshSecret, none, codes.OK},
		{"with the second accepted secret", meshSecret, nextSecret, nextSecret, none, codes.OK},
		{"with another secret, a second accepted", meshSecret, nextSecret, otherSecret, none, codes.Unauthenticated},
		{"with both accepted secrets at once", meshSecret, nextSecret, "", withValues(meshSecret, nextSecret), codes.Unauthenticated},
		{"with nothing, a second accepted", meshSecret, nextSecret, "", none, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forBoth(t, func(t *testing.T, inProcess bool) {
				e := start(t, inProcess, rpc.ServerOptions{ServiceSecret: tc.serverSecret, AcceptedServiceSecret: tc.accepted}, rpc.ClientOptions{ServiceSecret: tc.clientSecret})
				ctx := tc.ctx(ctxT(t))
				u, s := callInternal(t, ctx, e.conn)
				if u != tc.want || s != tc.want {
					t.Fatalf("internal unary %v, stream %v; want %v for both", u, s, tc.want)
				}
				callPublic(t, ctx, e.conn)
			})
		})
	}
}

// TestServiceCredentialRefusalIsLogged: a refused internal call is logged
// as Unauthenticated and never echoes what the caller sent.
func TestServiceCredentialRefusalIsLogged(t *testing.T) {
	e := start(t, false, rpc.ServerOptions{ServiceSecret: meshSecret}, rpc.ClientOptions{ServiceSecret: otherSecret})
	if u, _ := callInternal(t, ctxT(t), e.conn); u != codes.Unauthenticated {
		t.Fatalf("internal call with another secret: %v", u)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"grpc.method":"/`+internalSvcName+`/Echo","grpc.code":"Unauthenticated"`) {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	for _, secret := range []string{meshSecret, otherSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret appears in the logs:\n%s", logs)
		}
	}
}

func TestIsInternal(t *testing.T) {
	for m, want := range map[string]bool{
		"/sightline.recordings.v1.RecordingsInternalService/AppendChunks": true,
		"sightline.recordings.v1.RecordingsInternalService/AppendChunks":  true,
		"/sightline.recordings.v1.RecordingsService/GetSession":           false,
		"/sightline.test.v1.InternalServiceProxy/Call":                    false,
		"/sightline.test.v1.Test/InternalService":                         false,
		"/grpc.health.v1.Health/Check":                                    false,
		"/sightline.test.v1.TestInternalService":                          false,
		"":                                                                false,
	} {
		if got := rpc.IsInternal(m); got != want {
			t.Errorf("IsInternal(%q) = %v, want %v", m, got, want)
		}
	}
}

func TestReadServiceSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if s, err := rpc.ReadServiceSecret(write("ok", "  "+meshSecret+"\n")); err != nil || s != meshSecret {
		t.Fatalf("a good file: %q, %v", s, err)
	}
	if s, err := rpc.ReadServiceSecret(write("exact", strings.Repeat("k", rpc.MinServiceSecretBytes))); err != nil || len(s) != rpc.MinServiceSecretBytes {
		t.Fatalf("%d bytes: %q, %v", rpc.MinServiceSecretBytes, s, err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"short", strings.Repeat("k", rpc.MinServiceSecretBytes-1) + "\n", "want at least 32"},
		{"blank", " \n\t\n", "0 bytes, want at least 32"},
		{"two-lines", meshSecret + "\n" + otherSecret + "\n", "more than one line"},
	} {
		p := write(tc.name, tc.content)
		s, err := rpc.ReadServiceSecret(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %q, %v; want an error naming the file and saying %q", tc.name, s, err, tc.want)
		}
		if c := strings.TrimSpace(tc.content); err != nil && c != "" && strings.Contains(err.Error(), c) {
			t.Errorf("%s: the error shows the file's content: %v", tc.name, err)
		}
	}
	if _, err := rpc.ReadServiceSecret(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	a, b := rpc.NewServiceSecret(), rpc.NewServiceSecret()
	if a == b || len(a) < rpc.MinServiceSecretBytes {
		t.Errorf("NewServiceSecret: %q, %q", a, b)
	}
}

// TestFromService: a public RPC learns whether its caller holds the mesh's
// secret (an operator command inside the mesh) — and only then.
func TestFromService(t *testing.T) {
	for _, tc := range []struct {
		name, client string
		want         bool
	}{{"with the secret", meshSecret, true}, {"with another", otherSecret, false}, {"without", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, false, rpc.ServerOptions{ServiceSecret: meshSecret}, rpc.ClientOptions{ServiceSecret: tc.client})
			out := new(wrapperspb.BoolValue)
			if err := e.conn.Invoke(ctxT(t), method("FromService"), &emptypb.Empty{}, out); err != nil {
				t.Fatal(err)
			}
			if out.GetValue() != tc.want {
				t.Fatalf("FromService = %v, want %v", out.GetValue(), tc.want)
			}
		})
	}
}
