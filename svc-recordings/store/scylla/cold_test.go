package scylla

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// TestColdStatements: a chunk's cold time reaches the cold index in the
// summary change's batch; ColdDue reads the index day by day and keeps
// only live sessions of that cold time; DropChunkData deletes data cells
// (never rows) in bounded batches and the index row last; ReadChunks
// skips dropped chunks; a deletion drops the index row too.
func TestColdStatements(t *testing.T) {
	const site, session = int64(3_000_000_007), "s_abcdefghijklmnopqrstuv"
	coldMs := fixedNow.Add(10 * 24 * time.Hour).UnixMilli()

	r := &recorder{casApplied: true}
	s := newRecorded(r)
	c := testChunk(t, 0, 30*24*time.Hour)
	c.Stats.ColdMs = coldMs
	if _, err := s.Append(context.Background(), []store.Chunk{c}); err != nil {
		t.Fatal(err)
	}
	ins := find(r.batches[0], "INSERT INTO ks.cold (day, cold_ms, site_id, session_id) VALUES (?, ?, ?, ?) USING TTL ?")
	if len(ins) != 1 || ins[0].Args[0] != coldMs/dayMs || ins[0].Args[1] != coldMs || !ins[0].Idempotent {
		t.Fatalf("cold index insert %+v", ins)
	}

	state := summary.NewState()
	state.ColdMs = coldMs
	stBytes, _ := state.Marshal()
	now := time.UnixMilli(coldMs + 1)
	r = &recorder{rows: func(q Stmt) [][]any {
		switch {
		case strings.HasPrefix(q.CQL, "SELECT cold_ms, site_id, session_id FROM ks.cold WHERE day = ? AND cold_ms <= ?"):
			if q.Args[0] != coldMs/dayMs {
				return nil
			}
			return [][]any{{coldMs, site, session}, {coldMs, site, "s_gone0000000000"}, {coldMs - 5, site, "s_other000000000"}}
		case strings.HasPrefix(q.CQL, "SELECT state, version"):
			if q.Args[1] == "s_gone0000000000" {
				return nil
			}
			return [][]any{{stBytes, int64(1), int64(1), "v_x0000000", int64(0), coldMs + 20*dayMs, int64(0)}}
		case strings.HasPrefix(q.CQL, "SELECT seq, page_view_id, first_ms, last_ms, data"):
			return [][]any{{int64(0), "p_a", int64(1), int64(2), []byte(nil)}, {int64(1), "p_a", int64(3), int64(4), []byte("zstd")}}
		}
		return nil
	}}
	s = newRecorded(r)
	due, err := s.ColdDue(context.Background(), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0] != (store.ColdRef{SiteID: site, SessionID: session, ColdMs: coldMs}) {
		t.Fatalf("due %+v, want only the live session of its cold time", due)
	}
	if days := len(find(r.iters, "SELECT cold_ms")); days != sweepLookbackDays+1 {
		t.Fatalf("%d day reads, want %d", days, sweepLookbackDays+1)
	}

	keys := make([]store.ChunkKey, 250)
	for i := range keys {
		keys[i] = store.ChunkKey{Seq: int64(i), PageViewID: fmt.Sprintf("p_%d", i)}
	}
	if err := s.DropChunkData(context.Background(), site, session, coldMs, keys); err != nil {
		t.Fatal(err)
	}
	if len(r.batches) != 4 || len(r.batches[0]) != dropBatch || len(r.batches[2]) != 50 {
		t.Fatalf("%d batches, want 3 of data (100, 100, 50) and the index row", len(r.batches))
	}
	for _, b := range r.batches[:3] {
		for _, st := range b {
			if st.CQL != "DELETE data FROM ks.chunks_v2 WHERE site_id = ? AND session_id = ? AND seq = ? AND page_view_id = ?" || !st.Idempotent {
				t.Fatalf("data delete %+v", st)
			}
		}
	}
	if last := r.batches[3]; len(last) != 1 || !strings.HasPrefix(last[0].CQL, "DELETE FROM ks.cold WHERE day = ? AND cold_ms = ?") || last[0].Args[1] != coldMs {
		t.Fatalf("last batch %+v, want the cold index row", last)
	}

	var read []int64
	if err := s.ReadChunks(context.Background(), site, session, 0, func(c store.StoredChunk) error { read = append(read, c.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(read) != 1 || read[0] != 1 {
		t.Fatalf("read seqs %v, want the chunk that still has data", read)
	}

	if err := s.DeleteSession(context.Background(), site, session); err != nil {
		t.Fatal(err)
	}
	if del := find(r.batches[len(r.batches)-1], "DELETE FROM ks.cold WHERE"); len(del) != 1 || del[0].Args[1] != coldMs {
		t.Fatalf("deletion batch lacks the cold index row: %+v", del)
	}
}
