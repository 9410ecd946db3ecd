package scylla

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Answers (migration 004). A delivery writes the answer's rows first
// (idempotent), then claims its id with IF NOT EXISTS: the one claim that
// applies reports Stored and records the outbox entry and the count. A
// crash between the claim and them misses that answer's entry and count
// (search's reindex re-delivers answers; counts are then one short).

// answerRef is an answers_by_id row.
type answerRef struct {
	timeMs, expiresMs, survey int64
	session, visitor          string
	kind, rating              int
}

func refOf(a *store.Answer) answerRef {
	p := a.Answer
	return answerRef{timeMs: a.TimeMs(), expiresMs: a.ExpiresMs, survey: p.GetSurveyId(), session: p.GetSessionId(),
		visitor: p.GetVisitorId(), kind: int(p.GetKind()), rating: int(p.GetRating())}
}

// answerRows are the idempotent rows of one answer.
func (s *Store) answerRows(site int64, id string, ref answerRef, payload []byte) []Stmt {
	ttl := s.rowTTL(ref.expiresMs)
	out := []Stmt{
		{CQL: "INSERT INTO " + s.t("answers") + " (site_id, time_ms, answer_id, expires_ms, answer) VALUES (?, ?, ?, ?, ?) USING TTL ?",
			Args: []any{site, ref.timeMs, id, ref.expiresMs, payload, ttl}, Idempotent: true},
		{CQL: "INSERT INTO " + s.t("answers_by_session") + " (site_id, session_id, answer_id, kind, rating) VALUES (?, ?, ?, ?, ?) USING TTL ?",
			Args: []any{site, ref.session, id, ref.kind, ref.rating, ttl}, Idempotent: true},
		{CQL: "INSERT INTO " + s.t("answers_by_visitor") + " (site_id, visitor_id, answer_id) VALUES (?, ?, ?) USING TTL ?",
			Args: []any{site, ref.visitor, id, ttl}, Idempotent: true},
	}
	if ref.expiresMs > 0 {
		out = append(out, Stmt{CQL: "INSERT INTO " + s.t("answers_expiry") + " (day, expires_ms, site_id, answer_id) VALUES (?, ?, ?, ?) USING TTL ?",
			Args: []any{ref.expiresMs / dayMs, ref.expiresMs, site, id, ttl}, Idempotent: true})
	}
	return out
}

// claimAnswer is the lightweight transaction that makes a delivery the
// first.
func (s *Store) claimAnswer(site int64, id string, ref answerRef) Stmt {
	return Stmt{
		CQL: "INSERT INTO " + s.t("answers_by_id") + " (site_id, answer_id, time_ms, expires_ms, session_id, visitor_id, survey_id, kind, rating) " +
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
		Args:   []any{site, id, ref.timeMs, ref.expiresMs, ref.session, ref.visitor, ref.survey, ref.kind, ref.rating, s.rowTTL(ref.expiresMs)},
		Serial: true,
	}
}

// answerRemoval deletes every row of one answer (not its count).
func (s *Store) answerRemoval(site int64, id string, ref answerRef) []Stmt {
	out := []Stmt{
		{CQL: "DELETE FROM " + s.t("answers") + " WHERE site_id = ? AND time_ms = ? AND answer_id = ?", Args: []any{site, ref.timeMs, id}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("answers_by_id") + " WHERE site_id = ? AND answer_id = ?", Args: []any{site, id}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("answers_by_session") + " WHERE site_id = ? AND session_id = ? AND answer_id = ?", Args: []any{site, ref.session, id}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("answers_by_visitor") + " WHERE site_id = ? AND visitor_id = ? AND answer_id = ?", Args: []any{site, ref.visitor, id}, Idempotent: true},
	}
	if ref.expiresMs > 0 {
		out = append(out, s.answerExpiryDelete(ref.expiresMs, site, id))
	}
	return out
}

func (s *Store) answerExpiryDelete(expiresMs, site int64, id string) Stmt {
	return Stmt{CQL: "DELETE FROM " + s.t("answers_expiry") + " WHERE day = ? AND expires_ms = ? AND site_id = ? AND answer_id = ?",
		Args: []any{expiresMs / dayMs, expiresMs, site, id}, Idempotent: true}
}

// answerCount changes a survey's count (counters: never retried).
func (s *Store) answerCount(site, survey, delta int64) Stmt {
	return Stmt{CQL: "UPDATE " + s.t("answer_counts") + " SET n = n + ? WHERE site_id = ? AND survey_id = ?", Args: []any{delta, site, survey}}
}

// answerOutboxValue is an answer outbox entry's payload.
type answerOutboxValue struct {
	IDs     []string `json:"a,omitempty"`
	Visitor string   `json:"v,omitempty"`
	Session string   `json:"i,omitempty"`
}

func answerShard(site int64) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d", site)
	return int(h.Sum32() % outboxShards)
}

// answerOutboxInsert is not idempotent, like outboxInsert.
func (s *Store) answerOutboxInsert(ctx context.Context, site int64, kind store.OutboxKind, v answerOutboxValue) Stmt {
	payload, _ := json.Marshal(v)
	return Stmt{
		CQL:  "INSERT INTO " + s.t("answer_outbox") + " (shard, id, kind, site_id, payload, traceparent) VALUES (?, ?, ?, ?, ?, ?)",
		Args: []any{answerShard(site), gocql.TimeUUID(), int(kind), site, payload, store.Traceparent(ctx)},
	}
}

// AppendAnswers implements store.Answers.
func (s *Store) AppendAnswers(ctx context.Context, answers []store.Answer) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(answers))
	nowMs := s.now().UnixMilli()
	seen := map[[2]any]bool{}
	touched := map[[2]any]bool{}
	var order [][2]any
	for i := range answers {
		a := &answers[i]
		if a.Answer == nil {
			return nil, fmt.Errorf("scylla: append answers: nil answer")
		}
		site, id := a.Answer.GetSiteId(), a.Answer.GetId()
		if seen[[2]any{site, id}] || (a.ExpiresMs > 0 && a.ExpiresMs <= nowMs) {
			continue
		}
		seen[[2]any{site, id}] = true
		if dead, err := s.tombstoned(ctx, site, a.Answer.GetSessionId()); err != nil {
			return nil, err
		} else if dead {
			continue
		}
		ref := refOf(a)
		payload, err := proto.Marshal(a.Answer)
		if err != nil {
			return nil, fmt.Errorf("scylla: append answers: %w", err)
		}
		if err := s.ex.Batch(ctx, s.answerRows(site, id, ref, payload)); err != nil {
			return nil, fmt.Errorf("scylla: append answers: %w", err)
		}
		applied, err := s.ex.ExecCAS(ctx, s.claimAnswer(site, id, ref))
		if err != nil {
			return nil, fmt.Errorf("scylla: append answers: %w", err)
		}
		if !applied {
			continue
		}
		res[i].Stored = true
		out := []Stmt{s.answerOutboxInsert(ctx, site, store.OutboxUpsertAnswers, answerOutboxValue{IDs: []string{id}}), s.notifyInsert(ctx, site, notifyKind(store.AnswerEvent(a.Answer)), id)}
		if err := s.ex.Batch(ctx, out); err != nil {
			return nil, fmt.Errorf("scylla: append answers: %w", err)
		}
		if err := s.ex.Counters(ctx, []Stmt{s.answerCount(site, ref.survey, 1)}); err != nil {
			return nil, fmt.Errorf("scylla: append answers: %w", err)
		}
		k := [2]any{site, ref.session}
		if !touched[k] {
			touched[k] = true
			order = append(order, k)
		}
	}
	for _, k := range order {
		if err := s.retally(ctx, k[0].(int64), k[1].(string)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// answerTally counts a session's stored answers (nil: none).
func (s *Store) answerTally(ctx context.Context, site int64, session string) (*summary.AnswerTally, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT kind, rating FROM " + s.t("answers_by_session") + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true, PageSize: 1000,
	})
	var t summary.AnswerTally
	var kind, rating int
	for it.Scan(&kind, &rating) {
		t.Add(sessionsv1.AnswerKind(kind), int32(rating))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: answers of %d/%s: %w", site, session, err)
	}
	if t.IsZero() {
		return nil, nil
	}
	return &t, nil
}

// retally sets a recorded session's answer tally to that of its stored
// answers, with a compare-and-set on its version like updateSummary.
func (s *Store) retally(ctx context.Context, site int64, session string) error {
	for range casRetries {
		row, err := s.loadRow(ctx, site, session)
		if err != nil || row == nil {
			return err // no session (yet): its first chunk reads the tally
		}
		if row.endedMs > 0 {
			return nil // final (store.Ending)
		}
		t, err := s.answerTally(ctx, site, session)
		if err != nil {
			return err
		}
		sum, changed := row.state.Retally(site, session, t)
		if !changed {
			return nil
		}
		enc, err := row.state.Marshal()
		if err != nil {
			return err
		}
		sum.Version = row.version + 1
		applied, err := s.ex.ExecCAS(ctx, s.tallyUpdate(site, session, row, enc, sum.Version))
		if err != nil {
			return fmt.Errorf("scylla: update summary: %w", err)
		}
		if applied {
			return s.recordChange(ctx, site, session, row, sum, row.state, false) // answers move no activity
		}
	}
	return fmt.Errorf("scylla: session %d/%s: too many concurrent summary updates", site, session)
}

func (s *Store) tallyUpdate(site int64, session string, row *sessionRow, state []byte, version int64) Stmt {
	return Stmt{
		CQL:    "UPDATE " + s.t("sessions") + " USING TTL ? SET state = ?, version = ? WHERE site_id = ? AND session_id = ? IF version = ?",
		Args:   []any{s.rowTTL(row.expiresMs), state, version, site, session, row.version},
		Serial: true,
	}
}

// GetAnswers implements store.Answers.
func (s *Store) GetAnswers(ctx context.Context, site int64, ids []string) ([]*sessionsv1.Answer, error) {
	nowMs := s.now().UnixMilli()
	var out []*sessionsv1.Answer
	for _, id := range ids {
		ref, ok, err := s.answerRef(ctx, site, id)
		if err != nil {
			return nil, err
		}
		if !ok || (ref.expiresMs > 0 && ref.expiresMs <= nowMs) {
			continue
		}
		it := s.ex.Iter(ctx, Stmt{
			CQL:  "SELECT answer FROM " + s.t("answers") + " WHERE site_id = ? AND time_ms = ? AND answer_id = ?",
			Args: []any{site, ref.timeMs, id}, Idempotent: true,
		})
		var b []byte
		found := it.Scan(&b)
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("scylla: get answers: %w", err)
		}
		if !found {
			continue
		}
		a := &sessionsv1.Answer{}
		if err := proto.Unmarshal(b, a); err != nil {
			return nil, fmt.Errorf("scylla: answer %d/%s: %w", site, id, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Store) answerRef(ctx context.Context, site int64, id string) (answerRef, bool, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT time_ms, expires_ms, session_id, visitor_id, survey_id, kind, rating FROM " + s.t("answers_by_id") + " WHERE site_id = ? AND answer_id = ?",
		Args: []any{site, id}, Idempotent: true,
	})
	var r answerRef
	found := it.Scan(&r.timeMs, &r.expiresMs, &r.session, &r.visitor, &r.survey, &r.kind, &r.rating)
	if err := it.Close(); err != nil {
		return r, false, fmt.Errorf("scylla: answer %d/%s: %w", site, id, err)
	}
	return r, found, nil
}

// ListAnswers implements store.Answers: the token is the driver's paging
// state, as for ListSessions of every site.
func (s *Store) ListAnswers(ctx context.Context, site int64, token string, limit int) (store.AnswerPage, error) {
	raw, err := hex.DecodeString(token)
	if err != nil {
		return store.AnswerPage{}, fmt.Errorf("scylla: list answers: %w", store.ErrBadToken)
	}
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT expires_ms, answer FROM " + s.t("answers") + " WHERE site_id = ?",
		Args: []any{site}, PageSize: limit, SinglePage: true, PageState: raw, Idempotent: true,
	})
	next := it.PageState()
	var page store.AnswerPage
	nowMs := s.now().UnixMilli()
	var exp int64
	var b []byte
	for it.Scan(&exp, &b) {
		if exp > 0 && exp <= nowMs {
			continue
		}
		a := &sessionsv1.Answer{}
		if err := proto.Unmarshal(b, a); err != nil {
			it.Close()
			return store.AnswerPage{}, fmt.Errorf("scylla: list answers: %w", err)
		}
		page.Answers = append(page.Answers, a)
	}
	if err := it.Close(); err != nil {
		return store.AnswerPage{}, fmt.Errorf("scylla: list answers: %w", err)
	}
	page.Next = hex.EncodeToString(next)
	return page, nil
}

// AnswerCounts implements store.Answers.
func (s *Store) AnswerCounts(ctx context.Context, site int64) (store.AnswerCounts, error) {
	it := s.ex.Iter(ctx, Stmt{CQL: "SELECT survey_id, n FROM " + s.t("answer_counts") + " WHERE site_id = ?", Args: []any{site}, Idempotent: true})
	out := store.AnswerCounts{Surveys: map[int64]int64{}}
	var survey, n int64
	for it.Scan(&survey, &n) {
		switch {
		case n <= 0:
		case survey == 0:
			out.Feedback = n
		default:
			out.Surveys[survey] = n
		}
	}
	if err := it.Close(); err != nil {
		return store.AnswerCounts{}, fmt.Errorf("scylla: answer counts: %w", err)
	}
	return out, nil
}

func (s *Store) idsOf(ctx context.Context, st Stmt) ([]string, error) {
	it := s.ex.Iter(ctx, st)
	var ids []string
	var id string
	for it.Scan(&id) {
		ids = append(ids, id)
	}
	return ids, it.Close()
}

// deleteAnswers removes the given answers, tombstones their sessions and
// records v in the answers' outbox.
func (s *Store) deleteAnswers(ctx context.Context, site int64, ids []string, v answerOutboxValue, tombstone []string) (int64, error) {
	var n int64
	sessions := map[string]bool{}
	for _, id := range ids {
		ref, ok, err := s.answerRef(ctx, site, id)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		if err := s.ex.Batch(ctx, s.answerRemoval(site, id, ref)); err != nil {
			return n, fmt.Errorf("scylla: delete answers: %w", err)
		}
		if err := s.ex.Counters(ctx, []Stmt{s.answerCount(site, ref.survey, -1)}); err != nil {
			return n, fmt.Errorf("scylla: delete answers: %w", err)
		}
		sessions[ref.session] = true
		n++
	}
	if n == 0 {
		return 0, nil // nothing here, so nothing in search either
	}
	b := []Stmt{s.answerOutboxInsert(ctx, site, store.OutboxDeleteAnswers, v)}
	for _, sess := range tombstone {
		sessions[sess] = true
	}
	for sess := range sessions {
		if len(v.IDs) == 0 { // a deletion, not retention: keep re-deliveries out
			b = append(b, Stmt{CQL: "INSERT INTO " + s.t("tombstones") + " (site_id, session_id) VALUES (?, ?) USING TTL ?",
				Args: []any{site, sess, int(s.tombTTL.Seconds())}, Idempotent: true})
		}
	}
	if err := s.ex.Batch(ctx, b); err != nil {
		return n, fmt.Errorf("scylla: delete answers: %w", err)
	}
	for sess := range sessions {
		if err := s.retally(ctx, site, sess); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DeleteSessionAnswers implements store.Answers.
func (s *Store) DeleteSessionAnswers(ctx context.Context, site int64, session string) (int64, error) {
	ids, err := s.idsOf(ctx, Stmt{CQL: "SELECT answer_id FROM " + s.t("answers_by_session") + " WHERE site_id = ? AND session_id = ?", Args: []any{site, session}, Idempotent: true})
	if err != nil {
		return 0, fmt.Errorf("scylla: delete session answers: %w", err)
	}
	var tomb []string
	if len(ids) > 0 {
		tomb = []string{session}
	}
	return s.deleteAnswers(ctx, site, ids, answerOutboxValue{Session: session}, tomb)
}

// DeleteVisitorAnswers implements store.Answers.
func (s *Store) DeleteVisitorAnswers(ctx context.Context, site int64, visitor string) (int64, error) {
	ids, err := s.idsOf(ctx, Stmt{CQL: "SELECT answer_id FROM " + s.t("answers_by_visitor") + " WHERE site_id = ? AND visitor_id = ?", Args: []any{site, visitor}, Idempotent: true})
	if err != nil {
		return 0, fmt.Errorf("scylla: delete visitor answers: %w", err)
	}
	return s.deleteAnswers(ctx, site, ids, answerOutboxValue{Visitor: visitor}, nil)
}

// SweepAnswers implements store.Answers: the expiry index of the last
// sweepLookbackDays days up to now.
func (s *Store) SweepAnswers(ctx context.Context, now time.Time) (int, error) {
	return s.sweepExpired(ctx, "answers_expiry", "answer_id", "sweep answers", now, func(v expired) (int, error) {
		d, err := s.deleteAnswers(ctx, v.site, []string{v.id}, answerOutboxValue{IDs: []string{v.id}}, nil)
		if err != nil {
			return 0, err
		}
		if err := s.ex.Exec(ctx, s.answerExpiryDelete(v.exp, v.site, v.id)); err != nil {
			return 0, fmt.Errorf("scylla: sweep answers: %w", err)
		}
		return int(d), nil
	})
}

// AnswerOutboxPending implements store.Answers, like OutboxPending.
func (s *Store) AnswerOutboxPending(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	return s.outboxPending(ctx, "answer_outbox", "answer outbox", limit, decodeAnswerOutbox)
}

func decodeAnswerOutbox(shard int, id gocql.UUID, kind int, site int64, payload []byte) (store.OutboxEntry, error) {
	e := store.OutboxEntry{ID: strconv.Itoa(shard) + "/" + id.String(), Kind: store.OutboxKind(kind), SiteID: site}
	var v answerOutboxValue
	if err := json.Unmarshal(payload, &v); err != nil {
		return e, fmt.Errorf("scylla: answer outbox entry %s: %w", e.ID, err)
	}
	e.AnswerIDs, e.VisitorID = v.IDs, v.Visitor
	if v.Session != "" {
		e.SessionIDs = []string{v.Session}
	}
	return e, nil
}

// AnswerOutboxAck implements store.Answers.
func (s *Store) AnswerOutboxAck(ctx context.Context, entries []store.OutboxEntry) error {
	if err := s.outboxAck(ctx, "answer_outbox", entries); err != nil {
		return fmt.Errorf("scylla: answer outbox ack: %w", err)
	}
	return nil
}
