package notify

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/platform/sqldb"
	"github.com/sightlinehq/sightline/platform/storecall"
	"github.com/sightlinehq/sightline/siteaccess"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

// need is what a site RPC asks of its caller.
type need int

const (
	// needMember: any role in the site's organisation, viewers included.
	needMember need = iota
	// needAdmin: admin or owner (webhook writes).
	needAdmin
	// needUser: any role, and a user rather than an API key (the caller's
	// own alert rules and digest).
	needUser
)

// siteCaller is who called a site RPC.
type siteCaller struct {
	userID, apiKeyID int64
	role             accountsv1.Role
}

// credential returns the caller's forwarded "authorization" metadata and
// the bare token.
func credential(ctx context.Context) (auth, token string, err error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 || vals[0] == "" {
		return "", "", status.Error(codes.Unauthenticated, "missing credential: send metadata authorization: Bearer <token>")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if len(vals) != 1 || !ok || tok == "" {
		return "", "", status.Error(codes.Unauthenticated, "malformed authorization metadata: want Bearer <token>")
	}
	return vals[0], tok, nil
}

// principal asks accounts who the caller is. Accounts' refusals keep their
// code (Unauthenticated for a revoked credential, Unavailable when down).
func (s *Service) principal(ctx context.Context, token string) (*accountsv1.Principal, error) {
	req, err := siteaccess.AuthenticateRequest(token)
	if err != nil {
		return nil, err
	}
	resp, err := s.deps.AccountsInternal.Authenticate(ctx, req)
	if err != nil {
		return nil, accountsErr("authenticate the caller", err)
	}
	return resp.GetPrincipal(), nil
}

// accountsErr passes accounts' status on with notify's context; a
// transport failure without a status is Unavailable.
func accountsErr(op string, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Error(st.Code(), "notify: "+op+": "+st.Message())
	}
	return status.Errorf(codes.Unavailable, "notify: %s: accounts is unreachable", op)
}

// authorizeSite checks the caller of a site RPC the way accounts would:
// NotFound for a site of another organisation (or none), PermissionDenied
// for a role too weak or an API key acting as a user. The decision comes
// from the Authorizer recordings and search use (one AuthorizeSite call to
// accounts per cache miss), which keeps serving a signed-in member while
// accounts is down.
func (s *Service) authorizeSite(ctx context.Context, siteID int64, n need) (siteCaller, error) {
	if err := checkID("site_id", siteID); err != nil {
		return siteCaller{}, err
	}
	acc, err := s.deps.Authorizer.Site(ctx, siteID)
	if err != nil {
		return siteCaller{}, err
	}
	c := siteCaller{userID: acc.UserID, apiKeyID: acc.APIKeyID, role: acc.Role}
	switch n {
	case needAdmin:
		if c.role != accountsv1.Role_ROLE_OWNER && c.role != accountsv1.Role_ROLE_ADMIN {
			return siteCaller{}, status.Errorf(codes.PermissionDenied, "changing a site's webhooks needs the admin or owner role; this caller is %s", roleName(c.role))
		}
	case needUser:
		if c.apiKeyID != 0 || c.userID == 0 {
			return siteCaller{}, status.Error(codes.PermissionDenied, "alert rules and digests belong to a user: log in as one (API keys have none)")
		}
	}
	return c, nil
}

func roleName(r accountsv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

// authorizeOperator admits an instance operator's session only: not an
// API key, even one an operator made.
func (s *Service) authorizeOperator(ctx context.Context) error {
	_, tok, err := credential(ctx)
	if err != nil {
		return err
	}
	if strings.HasPrefix(tok, siteaccess.APIKeyPrefix) {
		return status.Error(codes.PermissionDenied, "the outbox is for instance operators; API keys cannot read it")
	}
	p, err := s.principal(ctx, tok)
	if err != nil {
		return err
	}
	if !p.GetOperator() || p.GetApiKeyId() != 0 {
		return status.Error(codes.PermissionDenied, "the outbox is for instance operators")
	}
	return nil
}

// admit authorizes a site RPC and refuses fields this build does not know
// (a newer client's field would otherwise be dropped without a word).
func (s *Service) admit(ctx context.Context, siteID int64, n need, req proto.Message) (siteCaller, error) {
	c, err := s.authorizeSite(ctx, siteID, n)
	if err != nil {
		return c, err
	}
	return c, checkNoUnknown("request", req.ProtoReflect())
}

// newStoreErrors is how notify answers for its store: a missing, taken or
// exhausted object named for the client, a database that cannot be reached
// Unavailable, anything else Internal with the trace id, never with the
// store's text.
func newStoreErrors(log *slog.Logger) *storecall.Errors {
	return &storecall.Errors{
		Service: "notify", Store: "notify database", Log: log,
		Kinds: []storecall.Kind{
			{Err: store.ErrNotFound, Code: codes.NotFound},
			{Err: store.ErrLimit, Code: codes.ResourceExhausted},
			{Err: store.ErrConflict, Code: codes.AlreadyExists},
		},
		Transient: sqldb.Unavailable,
	}
}

// storeErr answers a store error of operation op; what names the object
// for the client ("webhook 7").
func (s *Service) storeErr(ctx context.Context, op, what string, err error) error {
	return s.errs.Status(ctx, op, what, err)
}

// internal answers an error no client can act on, logged with the trace
// id, which the answer names so an operator can find the log line.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	return s.errs.Failure(ctx, op, err)
}
