package scylla

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// Ending on ScyllaDB. A session is ended by a lightweight transaction on
// its version (IF version = ?), so of two concurrent passes one applies
// and the other sees the end; the winner then writes, in one logged batch,
// the outbox upsert, the notify entry, the open index's deletion and
// outboxed_version. A crash between the two leaves the session ended and
// still in the open index with outboxed_version behind: the next pass
// writes the batch then (the notify entry may then be written twice; its
// event id is the same, and notify ignores an id it has seen).
//
// Late chunks of an ended session are stored with their own TTL; the
// session row keeps its expiry. Sessions stored before migration 005 are
// in no open index and are never ended.

// openShard spreads the open index over outboxShards partitions.
func openShard(site int64, session string) int { return shardOf(site, session) }

// openInsert writes a session's open-index row with its last activity
// (migration 008). Batches of concurrent appends may land out of order and
// leave an older activity than the session row's: a pass then reads that
// row, finds the session active and leaves it, so the index only ever
// saves reads, never skips an idle session.
func (s *Store) openInsert(site int64, session string, expiresMs, activeMs int64) Stmt {
	return Stmt{
		CQL:        "INSERT INTO " + s.t("open_sessions") + " (shard, site_id, session_id, last_activity_ms) VALUES (?, ?, ?, ?) USING TTL ?",
		Args:       []any{openShard(site, session), site, session, activeMs, s.rowTTL(expiresMs)},
		Idempotent: true,
	}
}

func (s *Store) openDelete(site int64, session string) Stmt {
	return Stmt{
		CQL:        "DELETE FROM " + s.t("open_sessions") + " WHERE shard = ? AND site_id = ? AND session_id = ?",
		Args:       []any{openShard(site, session), site, session},
		Idempotent: true,
	}
}

// notifyKind numbers the event types in notify_outbox.kind.
func notifyKind(eventType string) int {
	switch eventType {
	case store.EventSessionEnded:
		return 1
	case store.EventFeedbackCreated:
		return 2
	case store.EventSurveyResponseCreated:
		return 3
	}
	return 0
}

var notifyTypes = map[int]string{1: store.EventSessionEnded, 2: store.EventFeedbackCreated, 3: store.EventSurveyResponseCreated}

// notifyInsert records an event of the object id (a session or an answer
// id) of site. Not idempotent, like outboxInsert.
func (s *Store) notifyInsert(ctx context.Context, site int64, kind int, id string) Stmt {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", site, id)
	return Stmt{
		CQL:  "INSERT INTO " + s.t("notify_outbox") + " (shard, id, kind, site_id, payload, traceparent) VALUES (?, ?, ?, ?, ?, ?)",
		Args: []any{int(h.Sum32() % outboxShards), gocql.TimeUUID(), kind, site, []byte(id), store.Traceparent(ctx)},
	}
}

func (s *Store) countChunks(ctx context.Context, site int64, session string) (int64, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT COUNT(*) FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true,
	})
	var n int64
	it.Scan(&n)
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("scylla: count chunks: %w", err)
	}
	return n, nil
}

// EndIdleSessions implements store.Ending: it reads the open index shard
// by shard and ends the idle sessions it finds. A session the index says
// was active at or after idleBefore is not read; one without an activity
// there (written before migration 008) is judged by its row.
func (s *Store) EndIdleSessions(ctx context.Context, idleBefore time.Time, limit int) ([]*sessionsv1.SessionSummary, bool, error) {
	if limit < 1 {
		return nil, false, errors.New("scylla: end idle sessions: limit must be positive")
	}
	cutMs := idleBefore.UnixMilli()
	var ended []*sessionsv1.SessionSummary
	for shard := range outboxShards {
		it := s.ex.Iter(ctx, Stmt{
			CQL:  "SELECT site_id, session_id, last_activity_ms FROM " + s.t("open_sessions") + " WHERE shard = ?",
			Args: []any{shard}, Idempotent: true, PageSize: 500,
		})
		var site, activeMs int64 // a null activity scans as 0
		var session string
		var open [][2]any
		for it.Scan(&site, &session, &activeMs) {
			if activeMs >= cutMs {
				continue // active since the cut: not idle, whatever its row says later
			}
			open = append(open, [2]any{site, session})
		}
		if err := it.Close(); err != nil {
			return ended, false, fmt.Errorf("scylla: open sessions: %w", err)
		}
		for _, o := range open {
			if len(ended) == limit {
				return ended, true, nil
			}
			sum, err := s.endOne(ctx, o[0].(int64), o[1].(string), cutMs)
			if err != nil {
				return ended, false, err
			}
			if sum != nil {
				ended = append(ended, sum)
			}
		}
	}
	return ended, false, nil
}

// endOne ends one open session when it is idle before cutMs and answers
// its final summary (nil: not ended by this call).
func (s *Store) endOne(ctx context.Context, site int64, session string, cutMs int64) (*sessionsv1.SessionSummary, error) {
	for range casRetries {
		row, err := s.loadRow(ctx, site, session)
		if err != nil {
			return nil, err
		}
		switch {
		case row == nil:
			return nil, s.ex.Exec(ctx, s.openDelete(site, session))
		case row.endedMs > 0 && row.outboxed < row.version:
			// Ended by a pass that crashed before its batch.
			return nil, s.recordEnd(ctx, site, session, row)
		case row.endedMs > 0:
			return nil, s.ex.Exec(ctx, s.openDelete(site, session))
		case row.state.LastActivityMs() >= cutMs:
			return nil, nil
		case row.expiresMs > 0 && row.expiresMs <= s.now().UnixMilli():
			return nil, nil // retention's to remove
		}
		nowMs := s.now().UnixMilli()
		applied, err := s.ex.ExecCAS(ctx, s.endUpdate(site, session, row, nowMs))
		if err != nil {
			return nil, fmt.Errorf("scylla: end session: %w", err)
		}
		if !applied {
			continue // changed meanwhile: look again
		}
		row.version++
		row.endedMs = nowMs
		if err := s.recordEnd(ctx, site, session, row); err != nil {
			return nil, err
		}
		return row.summary(site, session), nil
	}
	return nil, fmt.Errorf("scylla: session %d/%s: too many concurrent summary updates", site, session)
}

func (s *Store) endUpdate(site int64, session string, row *sessionRow, nowMs int64) Stmt {
	return Stmt{
		CQL:    "UPDATE " + s.t("sessions") + " USING TTL ? SET ended_ms = ?, version = ? WHERE site_id = ? AND session_id = ? IF version = ?",
		Args:   []any{s.rowTTL(row.expiresMs), nowMs, row.version + 1, site, session, row.version},
		Serial: true,
	}
}

// recordEnd writes what follows an end, in one logged batch.
func (s *Store) recordEnd(ctx context.Context, site int64, session string, row *sessionRow) error {
	payload, err := proto.Marshal(row.summary(site, session))
	if err != nil {
		return err
	}
	b := []Stmt{
		s.outboxInsert(ctx, site, session, store.OutboxUpsert, payload),
		s.notifyInsert(ctx, site, notifyKind(store.EventSessionEnded), session),
		s.openDelete(site, session),
		{CQL: "UPDATE " + s.t("sessions") + " USING TTL ? SET outboxed_version = ? WHERE site_id = ? AND session_id = ?", Args: []any{s.rowTTL(row.expiresMs), row.version, site, session}, Idempotent: true},
	}
	if err := s.ex.Batch(ctx, b); err != nil {
		return fmt.Errorf("scylla: record session end: %w", err)
	}
	return nil
}

// NotifyOutboxPending implements store.Ending.
func (s *Store) NotifyOutboxPending(ctx context.Context, limit int) ([]store.NotifyEntry, error) {
	es, err := s.outboxPending(ctx, "notify_outbox", "notify outbox", limit, func(shard int, id gocql.UUID, kind int, site int64, payload []byte) (store.OutboxEntry, error) {
		// Carried in an OutboxEntry to share outboxPending: the object id
		// in SessionIDs[0], the kind in Kind.
		return store.OutboxEntry{ID: strconv.Itoa(shard) + "/" + id.String(), Kind: store.OutboxKind(kind), SiteID: site, SessionIDs: []string{string(payload)}}, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]store.NotifyEntry, 0, len(es))
	for _, e := range es {
		_, idStr, _ := strings.Cut(e.ID, "/")
		u, _ := gocql.ParseUUID(idStr)
		n := store.NotifyEntry{ID: e.ID, Type: notifyTypes[int(e.Kind)], SiteID: e.SiteID, TimeMs: u.Time().UnixMilli()}
		if n.Type == store.EventSessionEnded {
			n.SessionID = e.SessionIDs[0]
		} else {
			n.AnswerID = e.SessionIDs[0]
		}
		out = append(out, n)
	}
	return out, nil
}

// NotifyOutboxAck implements store.Ending.
func (s *Store) NotifyOutboxAck(ctx context.Context, entries []store.NotifyEntry) error {
	es := make([]store.OutboxEntry, len(entries))
	for i, e := range entries {
		es[i] = store.OutboxEntry{ID: e.ID}
	}
	if err := s.outboxAck(ctx, "notify_outbox", es); err != nil {
		return fmt.Errorf("scylla: notify outbox ack: %w", err)
	}
	return nil
}

// NotifyOutboxDepth implements store.Ending.
func (s *Store) NotifyOutboxDepth(ctx context.Context) (int64, error) {
	n, err := s.outboxDepth(ctx, "notify_outbox")
	if err != nil {
		return 0, fmt.Errorf("scylla: notify outbox depth: %w", err)
	}
	return n, nil
}
