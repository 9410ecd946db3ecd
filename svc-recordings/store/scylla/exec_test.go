package scylla

import (
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// TestGocqlQueryFlags checks the adapter hands the driver what the
// statement says: idempotence (safe retries), consistency, serial
// consistency for lightweight transactions, manual paging.
func TestGocqlQueryFlags(t *testing.T) {
	g := &gocqlExec{s: &gocql.Session{}, consistency: gocql.LocalQuorum}
	q := g.query(Stmt{CQL: "SELECT 1", Idempotent: true, PageSize: 9})
	if !q.IsIdempotent() || q.GetConsistency() != gocql.LocalQuorum {
		t.Fatalf("idempotent %v consistency %v", q.IsIdempotent(), q.GetConsistency())
	}
	q = g.query(Stmt{CQL: "UPDATE x SET a = 1 WHERE k = 1 IF a = 0", Serial: true})
	if q.IsIdempotent() {
		t.Fatal("a lightweight transaction marked idempotent")
	}
	if sc, ok := q.GetSerialConsistency(); !ok || sc != gocql.LocalSerial {
		t.Fatalf("serial consistency %v %v", sc, ok)
	}
}
