package rpc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The services authenticate each other with one shared secret (a file
// every process of a deployment reads): simpler to run than mTLS, which
// would need a CA and certificates per service, and just as strong on a
// network the deployment already encrypts (a service mesh, a private
// network, or TLS through ServerOptions.Creds). docs/service-auth.md says
// how to make and rotate it.
//
// The contract decides what needs it: every method of a service whose
// name ends in "InternalService" (proto/), and nothing else. Public
// services check their dashboard callers themselves.

// ServiceCredentialHeader is the gRPC metadata key that carries the secret.
const ServiceCredentialHeader = "x-sightline-service-credential"

// internalSuffix marks the services only Sightline's own processes call.
const internalSuffix = "InternalService"

// MinServiceSecretBytes is the shortest secret accepted: 32 bytes, as many
// as `openssl rand -hex 16` prints (docs/service-auth.md uses -hex 32).
const MinServiceSecretBytes = 32

// IsInternal reports whether fullMethod ("/pkg.Service/Method") belongs to
// an internal service.
func IsInternal(fullMethod string) bool {
	svc, _, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return ok && strings.HasSuffix(svc, internalSuffix)
}

// ReadServiceSecret reads the secret from path: the file's content without
// surrounding white space, at least MinServiceSecretBytes long.
func ReadServiceSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("service secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < MinServiceSecretBytes {
		return "", fmt.Errorf("service secret %s: %d bytes, want at least %d (make one with: openssl rand -hex 32 > %s)", path, len(s), MinServiceSecretBytes, path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("service secret %s: holds more than one line", path)
	}
	return s, nil
}

// NewServiceSecret returns a random secret, for a process whose services
// only call each other in-process.
func NewServiceSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand's documented contract)
	return hex.EncodeToString(b)
}

// checkService marks a call that carries exactly one of the accepted
// secrets as coming from Sightline's own processes (FromService), and
// refuses a call to an internal service that does not. Empty secrets
// accept nothing: a server without one refuses every such call, it never
// falls open.
func checkService(ctx context.Context, fullMethod string, accepted []string) (context.Context, error) {
	if got := metadata.ValueFromIncomingContext(ctx, ServiceCredentialHeader); len(got) == 1 {
		for _, secret := range accepted {
			if secret != "" && subtle.ConstantTimeCompare([]byte(got[0]), []byte(secret)) == 1 {
				return AsService(ctx), nil
			}
		}
	}
	if IsInternal(fullMethod) {
		return ctx, errServiceCredential
	}
	return ctx, nil
}

type fromServiceKey struct{}

// AsService marks ctx as a call from Sightline's own processes, for
// in-process callers that reach a service without its gRPC server (tests,
// benchmarks).
func AsService(ctx context.Context) context.Context {
	return context.WithValue(ctx, fromServiceKey{}, true)
}

// FromService reports whether the call being served carries the mesh's
// service credential: a public RPC that also serves Sightline's own
// processes (an operator command over the gRPC listener) may admit such a
// caller without a user's credential — and must refuse one without either.
func FromService(ctx context.Context) bool {
	v, _ := ctx.Value(fromServiceKey{}).(bool)
	return v
}

// errServiceCredential carries an ErrorInfo so that a caller can tell the
// mesh's misconfiguration from its user's bad credential (both are
// Unauthenticated): a gateway must not sign every user out because two
// processes hold different secrets.
var errServiceCredential = func() error {
	st, err := status.New(codes.Unauthenticated, "internal service: the caller has no valid service credential").
		WithDetails(&errdetails.ErrorInfo{Reason: serviceCredentialReason, Domain: errorDomain})
	if err != nil {
		panic(err) // a constant message: cannot fail
	}
	return st.Err()
}()

const (
	serviceCredentialReason = "SERVICE_CREDENTIAL_REFUSED"
	errorDomain             = "sightline.dev"
)

// ServiceCredentialRefused reports whether err is an internal service's
// refusal of this process's service credential: a deployment error (the
// processes hold different secrets), never the end user's fault.
func ServiceCredentialRefused(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unauthenticated {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == serviceCredentialReason && info.GetDomain() == errorDomain {
			return true
		}
	}
	return false
}

func unaryServiceAuth(accepted ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := checkService(ctx, info.FullMethod, accepted)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func streamServiceAuth(accepted ...string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := checkService(ss.Context(), info.FullMethod, accepted)
		if err != nil {
			return err
		}
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

// serverStream is a stream whose Context carries FromService's mark.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// serviceCredential attaches the secret to every call of a connection.
type serviceCredential struct {
	secret string
	secure bool
}

func (c serviceCredential) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{ServiceCredentialHeader: c.secret}, nil
}

// RequireTransportSecurity is false unless the connection has TLS: the
// deployment decides whether the network needs encrypting (see the note
// at the top of this file).
func (c serviceCredential) RequireTransportSecurity() bool { return c.secure }
