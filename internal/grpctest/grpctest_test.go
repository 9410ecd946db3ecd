package grpctest

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestConnReachesTheRegisteredService(t *testing.T) {
	h := health.NewServer()
	h.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
	cc := Conn(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, h) })
	c := healthpb.NewHealthClient(cc)
	resp, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check: %v, %v", resp, err)
	}
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "other"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v, want NotFound", err)
	}
}

func TestServeServerServesTheTestsServer(t *testing.T) {
	h := health.NewServer()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	c := healthpb.NewHealthClient(Dial(t, ServeServer(t, srv)))
	resp, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v, %v", resp, err)
	}
}
