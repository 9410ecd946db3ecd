package accounts

import (
	"context"
	"testing"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	"github.com/sightlinehq/sightline/svc-accounts/store"
)

// TestFirstSignUpOperates: on a fresh instance the first person to sign up
// operates it (told in the answer, audited); the next one does not.
func TestFirstSignUpOperates(t *testing.T) {
	for _, backend := range []string{BackendSQLite, BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend, nil)
			r, err := e.client.SignUp(as(""), &accountsv1.SignUpRequest{Email: "first@example.com", Password: password})
			if err != nil {
				t.Fatal(err)
			}
			if !r.GetUser().GetOperator() || r.GetSessionToken() == "" {
				t.Fatalf("first sign-up = %v, want an operator, logged in", r)
			}
			cu, err := e.client.GetCurrentUser(as(r.GetSessionToken()), &accountsv1.GetCurrentUserRequest{})
			if err != nil || !cu.GetUser().GetOperator() {
				t.Fatalf("first user's GetCurrentUser = %v, %v; want an operator", cu, err)
			}
			events, err := e.store.ListAuditEvents(context.Background(), r.GetOrganization().GetId(), store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			var audited bool
			for _, ev := range events {
				audited = audited || ev.Action == "user.operator_first" && ev.ActorUserID == r.GetUser().GetId()
			}
			if !audited {
				t.Fatalf("no user.operator_first audit event in %+v", events)
			}
			second := e.signUp("second@example.com")
			cu, err = e.client.GetCurrentUser(as(second.token), &accountsv1.GetCurrentUserRequest{})
			if err != nil || cu.GetUser().GetOperator() {
				t.Fatalf("second user's GetCurrentUser = %v, %v; want no operator", cu, err)
			}
		})
	}
}
