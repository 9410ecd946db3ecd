// Package grpctest serves a test's gRPC services (fakes of other services,
// or the service under test) on a real loopback socket and dials them, so
// tests go through real HTTP/2 and serialisation like production calls.
package grpctest

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Serve starts a gRPC server on 127.0.0.1 with the services register adds
// and answers its address; the server stops when the test ends.
func Serve(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	return ServeAt(t, "127.0.0.1:0", register)
}

// ServeAt is Serve on addr (a fixed port serves again where a stopped
// server was).
func ServeAt(t testing.TB, addr string, register func(*grpc.Server)) string {
	t.Helper()
	srv := grpc.NewServer()
	register(srv)
	return serveOn(t, addr, srv)
}

// ServeServer is Serve of a server the test built itself (with the
// production interceptors, say), its services registered.
func ServeServer(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	return serveOn(t, "127.0.0.1:0", srv)
}

func serveOn(t testing.TB, addr string, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// Dial answers a plaintext client connection to addr (with opts), closed
// when the test ends.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Conn serves the services register adds (Serve) and dials them (Dial).
func Conn(t testing.TB, register func(*grpc.Server), opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	return Dial(t, Serve(t, register), opts...)
}
