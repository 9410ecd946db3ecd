package ingest

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
)

// authorizeOperator checks the caller of an operator RPC (GetStats), as
// every service checks its callers itself rather than trusting the gateway.
//
// A dashboard caller's credential, which the gateway forwards as
// "authorization" metadata, must be the session of an instance operator
// (accounts' User.operator, set by `sightline admin create-user -operator`);
// any other user, and any API key — even one an operator made, as for
// maintenance mode — gets PermissionDenied. A call without a user's
// credential must come from Sightline's own processes (the mesh's service
// credential, rpc.FromService); anyone else reaching the gRPC listener is
// Unauthenticated.
func (s *Service) authorizeOperator(ctx context.Context) error {
	auth := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(auth) == 0 {
		if rpc.FromService(ctx) {
			return nil
		}
		return status.Error(codes.Unauthenticated, "ingest statistics need an instance operator's session or the service credential")
	}
	tok, ok := strings.CutPrefix(auth[0], "Bearer ")
	if len(auth) != 1 || !ok || tok == "" {
		return status.Error(codes.Unauthenticated, "malformed authorization metadata")
	}
	if strings.HasPrefix(tok, "slk_") {
		return status.Error(codes.PermissionDenied, "ingest statistics are for instance operators; API keys cannot read them")
	}
	resp, err := s.deps.Accounts.Authenticate(ctx, &accountsv1.AuthenticateRequest{
		Credential: &accountsv1.AuthenticateRequest_SessionToken{SessionToken: tok},
	})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			// Accounts' own answers are meant for clients.
			return status.Error(st.Code(), "ingest: authenticate the caller: "+st.Message())
		}
		// A transport failure's text is not for the client.
		s.log.WarnContext(ctx, "ingest: accounts unreachable to authenticate an operator", "err", err)
		return status.Error(codes.Unavailable, "ingest: accounts is unreachable to authenticate the caller; try again shortly")
	}
	if p := resp.GetPrincipal(); !p.GetOperator() || p.GetApiKeyId() != 0 {
		return status.Error(codes.PermissionDenied, "ingest statistics are for instance operators")
	}
	return nil
}
