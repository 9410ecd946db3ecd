package accountstest

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Want is the code each kind of caller gets from one call.
type Want struct {
	// A's owner and viewer, A's API keys with the member and viewer roles,
	// and Mallory of B.
	Owner, Viewer, MemberKey, ViewerKey, Foreign codes.Code
	// Every caller without a valid credential: none at all, A's revoked
	// key, an unknown session token, an unknown API key.
	Anonymous codes.Code
}

// The usual answers for a call on an object of A's site.
var (
	// Read: every member of A; another organisation gets NotFound.
	Read = Want{codes.OK, codes.OK, codes.OK, codes.OK, codes.NotFound, codes.Unauthenticated}
	// Write: as Read, but viewers (users and keys) get PermissionDenied.
	Write = Want{codes.OK, codes.PermissionDenied, codes.OK, codes.PermissionDenied, codes.NotFound, codes.Unauthenticated}
	// SiteB is a call on B's own site: only Mallory is let in.
	SiteB = Want{codes.NotFound, codes.NotFound, codes.NotFound, codes.NotFound, codes.OK, codes.Unauthenticated}
	// Nobody is a call on what no caller can see (A's object named under
	// B's site, a site that does not exist): NotFound for everyone.
	Nobody = Want{codes.NotFound, codes.NotFound, codes.NotFound, codes.NotFound, codes.NotFound, codes.Unauthenticated}
)

// Case calls one RPC.
type Case struct {
	// Method is the RPC's name, then optionally "/" and what the case
	// varies ("GetSession/through site B").
	Method string
	// Call answers how many records the answer holds. A call that succeeds
	// must hold some, so an allowed call proves it reached the data, and a
	// refused one cannot pass for an empty answer. t is the case's subtest.
	Call func(ctx context.Context, t *testing.T) (int, error)
	Want Want
}

// Covered checks every method and stream of the services has a case among
// methods ("RPC" or "RPC/what it tries"), and every case names one of
// them: a new RPC without an authorisation case fails its service's test.
func Covered(t testing.TB, methods []string, services ...grpc.ServiceDesc) {
	t.Helper()
	rpcs := map[string]bool{}
	for _, sd := range services {
		for _, m := range sd.Methods {
			rpcs[m.MethodName] = false
		}
		for _, s := range sd.Streams {
			rpcs[s.StreamName] = false
		}
	}
	for _, m := range methods {
		name, _, _ := strings.Cut(m, "/")
		if _, ok := rpcs[name]; !ok {
			t.Errorf("case %s: no RPC %s in the services walked", m, name)
		}
		rpcs[name] = true
	}
	for name, covered := range rpcs {
		if !covered {
			t.Errorf("RPC %s has no authorization case", name)
		}
	}
}

// Walk checks every method and stream of the services has a case (and
// every case names one), then makes each case's call as each kind of
// caller.
func (e *Env) Walk(t *testing.T, cases []Case, services ...grpc.ServiceDesc) {
	t.Helper()
	methods := make([]string, 0, len(cases))
	for _, c := range cases {
		methods = append(methods, c.Method)
	}
	Covered(t, methods, services...)

	const unknown = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 43 characters, as a real secret's
	for _, c := range cases {
		t.Run(c.Method, func(t *testing.T) {
			for _, who := range []struct {
				name, token string
				want        codes.Code
			}{
				{"owner", e.Owner.Token, c.Want.Owner},
				{"viewer", e.Viewer.Token, c.Want.Viewer},
				{"member API key", e.MemberKey, c.Want.MemberKey},
				{"viewer API key", e.ViewerKey, c.Want.ViewerKey},
				{"another organisation's owner", e.Mallory.Token, c.Want.Foreign},
				{"no credential", "", c.Want.Anonymous},
				{"revoked API key", e.RevokedKey, c.Want.Anonymous},
				{"unknown session", "sls_" + unknown, c.Want.Anonymous},
				{"unknown API key", "slk_" + unknown, c.Want.Anonymous},
			} {
				n, err := c.Call(As(who.token), t)
				if got := status.Code(err); got != who.want {
					t.Errorf("%s as %s: %v, want %v", c.Method, who.name, err, who.want)
				} else if err == nil && n == 0 {
					t.Errorf("%s as %s: allowed, but the answer holds no data", c.Method, who.name)
				}
			}
		})
	}
}
