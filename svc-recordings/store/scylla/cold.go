package scylla

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// coldMove writes a summary change's cold index row (and drops the one of
// the previous cold time), in the change's batch. ttl keeps the row as
// long as the expiry row.
func (s *Store) coldMove(site int64, session string, row *sessionRow, state *summary.State, ttl int) []Stmt {
	var out []Stmt
	if row.state != nil && row.state.ColdMs > 0 && row.state.ColdMs != state.ColdMs {
		out = append(out, s.coldDelete(row.state.ColdMs, site, session))
	}
	if state.ColdMs > 0 && (row.state == nil || row.state.ColdMs != state.ColdMs) {
		out = append(out, Stmt{
			CQL:        "INSERT INTO " + s.t("cold") + " (day, cold_ms, site_id, session_id) VALUES (?, ?, ?, ?) USING TTL ?",
			Args:       []any{state.ColdMs / dayMs, state.ColdMs, site, session, ttl},
			Idempotent: true,
		})
	}
	return out
}

func (s *Store) coldDelete(coldMs, site int64, session string) Stmt {
	return s.dayIndexDelete("cold", "cold_ms", coldMs, site, session)
}

// ColdDue implements store.Cold: the cold index's rows of the last
// sweepLookbackDays days up to now, like the expiry sweep (a cold sweep
// stopped for longer leaves older sessions where they are until their
// next chunk). A row whose session is gone, expired or has another cold
// time is skipped.
func (s *Store) ColdDue(ctx context.Context, now time.Time, limit int) ([]store.ColdRef, error) {
	nowMs := now.UnixMilli()
	var out []store.ColdRef
	for day := nowMs/dayMs - sweepLookbackDays; day <= nowMs/dayMs && len(out) < limit; day++ {
		vs, err := s.expiredOn(ctx, "cold", "cold_ms", "session_id", day, nowMs)
		if err != nil {
			return nil, fmt.Errorf("scylla: cold due: %w", err)
		}
		for _, v := range vs {
			if len(out) >= limit {
				break
			}
			row, err := s.loadRow(ctx, v.site, v.id)
			if err != nil {
				return nil, err
			}
			if row != nil && (row.expiresMs == 0 || row.expiresMs > nowMs) && row.state.ColdMs == v.exp {
				out = append(out, store.ColdRef{SiteID: v.site, SessionID: v.id, ColdMs: v.exp})
			}
		}
	}
	return out, nil
}

// DropChunkData implements store.Cold: the chunks' data cells (the rows
// keep their times and stats, so ChunkIndex and refolds go on), a bounded
// batch at a time, then the cold index row: a crash in between leaves the
// session due, and the next pass finishes.
func (s *Store) DropChunkData(ctx context.Context, site int64, session string, coldMs int64, keys []store.ChunkKey) error {
	for _, b := range s.dropChunkData(site, session, coldMs, keys) {
		if err := s.ex.Batch(ctx, b); err != nil {
			return fmt.Errorf("scylla: drop chunk data %d/%s: %w", site, session, err)
		}
	}
	return nil
}

// dropBatch bounds the statements of one batch of DropChunkData.
const dropBatch = 100

func (s *Store) dropChunkData(site int64, session string, coldMs int64, keys []store.ChunkKey) [][]Stmt {
	var out [][]Stmt
	for part := range slices.Chunk(keys, dropBatch) {
		b := make([]Stmt, 0, len(part))
		for _, k := range part {
			b = append(b, Stmt{
				CQL:        "DELETE data FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ? AND seq = ? AND page_view_id = ?",
				Args:       []any{site, session, k.Seq, k.PageViewID},
				Idempotent: true,
			})
		}
		out = append(out, b)
	}
	return append(out, []Stmt{s.coldDelete(coldMs, site, session)})
}
