package gateway

import (
	"context"
	"fmt"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
)

// ready asks accounts' health service: every API request needs accounts.
func (s *Service) ready(ctx context.Context) error {
	resp, err := healthpb.NewHealthClient(s.deps.Accounts).Check(ctx, &healthpb.HealthCheckRequest{
		Service: accountsv1.AccountsService_ServiceDesc.ServiceName,
	})
	if err != nil {
		return fmt.Errorf("accounts health: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("accounts is %s", resp.GetStatus())
	}
	return nil
}
