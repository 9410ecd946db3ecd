package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

// Answers' keys (beside keys.go's, upper case so they never meet them):
//
//	A | site | MaxInt64-time | id → expires (8 bytes) | Answer (proto): listing, newest first
//	I | site | id              → answerRef (JSON): idempotency, and every other key of the answer
//	S | site | session | id    → kind, rating (2 bytes): the session's tally
//	V | site | visitor | id    → visitor index (GDPR deletion)
//	E | expires | site | id    → expiry index (retention sweep)
//	N | site | survey          → stored answers of a survey (0: feedback), 8 bytes
//	T | site | session         → the session's tally (summary.AnswerTally, JSON): one point read for Append
//	O | ms | n                 → answers' outbox entry (answerOutbox, JSON)
//
// Answer ids are validated to ≤ 64 bytes; they are length-prefixed like
// session ids. time is the answer's client time in ms (server time when it
// has none).
const (
	pAnswer       = 'A'
	pAnswerID     = 'I'
	pAnswerSess   = 'S'
	pAnswerVis    = 'V'
	pAnswerExpiry = 'E'
	pAnswerCount  = 'N'
	pAnswerOutbox = 'O'
	pAnswerTally  = 'T'
)

// answerRef is what the I row keeps of an answer: enough to find and
// remove each of its keys and counts.
type answerRef struct {
	TimeMs    int64  `json:"t"`
	ExpiresMs int64  `json:"x,omitempty"`
	Session   string `json:"s"`
	Visitor   string `json:"v"`
	Survey    int64  `json:"y,omitempty"`
	Kind      int32  `json:"k"`
	Rating    int32  `json:"r,omitempty"`
}

func refOf(a *store.Answer) answerRef {
	p := a.Answer
	return answerRef{
		TimeMs: a.TimeMs(), ExpiresMs: a.ExpiresMs, Session: p.GetSessionId(), Visitor: p.GetVisitorId(),
		Survey: p.GetSurveyId(), Kind: int32(p.GetKind()), Rating: p.GetRating(),
	}
}

func answerKey(site, timeMs int64, id string) keyBuf {
	return newKey(pAnswer).u64(site).u64(math.MaxInt64 - timeMs).str(id)
}

func answerCountKey(site, survey int64) keyBuf { return newKey(pAnswerCount).u64(site).u64(survey) }

// answerOutbox is an answers' outbox entry.
type answerOutbox struct {
	Kind        store.OutboxKind `json:"k"`
	SiteID      int64            `json:"s"`
	IDs         []string         `json:"a,omitempty"`
	Visitor     string           `json:"v,omitempty"`
	Session     string           `json:"i,omitempty"`
	Traceparent string           `json:"t,omitempty"`
}

// answerWrite gathers one call's answer changes until they are committed:
// the count deltas and, per session, the answers added and removed (the
// sessions' tallies are refreshed from both).
type answerWrite struct {
	counts  map[[2]int64]int64
	added   map[[2]any][]answerRef
	removed map[[2]any]map[string]bool
	trace   string // the call's traceparent, for the outbox entries
}

func newAnswerWrite(trace string) *answerWrite {
	return &answerWrite{counts: map[[2]int64]int64{}, added: map[[2]any][]answerRef{}, removed: map[[2]any]map[string]bool{}, trace: trace}
}

// answerLocks takes the sites' read locks and the stripes of the sessions
// and of the sites' counters (stripe of the site and an empty session id,
// which no session has), in the order the other writers take them.
func (s *Store) answerLocks(sites []int64, sessions [][2]any) func() {
	idx := make([]int, 0, len(sites)+len(sessions))
	for _, site := range sites {
		idx = append(idx, s.stripe(site, ""))
	}
	for _, k := range sessions {
		idx = append(idx, s.stripe(k[0].(int64), k[1].(string)))
	}
	unlockSites := s.rlockSites(sites...)
	unlock := s.lock(idx)
	return func() { unlock(); unlockSites() }
}

// tombstoned tells whether the session is deleted (its tombstone has not
// expired); the caller holds its stripe.
func (s *Store) tombstoned(site int64, session string, nowMs int64) (bool, error) {
	if !s.tombs.mayHave(s.tombHash(site, session)) {
		return false, nil
	}
	v, ok, err := s.get(partition(pTombstone, site, session))
	if err != nil {
		return false, err
	}
	return ok && len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > nowMs, nil
}

// AppendAnswers implements store.Answers.
func (s *Store) AppendAnswers(ctx context.Context, answers []store.Answer) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(answers))
	var sites []int64
	var sessions [][2]any
	for _, a := range answers {
		if a.Answer == nil {
			return nil, errors.New("pebble: append answers: nil answer")
		}
		sites = append(sites, a.Answer.GetSiteId())
		sessions = append(sessions, [2]any{a.Answer.GetSiteId(), a.Answer.GetSessionId()})
	}
	defer s.answerLocks(sites, sessions)()
	b, done := s.newOutboxBatch()
	defer done()
	nowMs := time.Now().UnixMilli()
	w := newAnswerWrite(store.Traceparent(ctx))
	ids := map[int64][]string{}
	seen := map[[2]any]bool{}
	for i := range answers {
		a := &answers[i]
		p := a.Answer
		site, id := p.GetSiteId(), p.GetId()
		if seen[[2]any{site, id}] {
			continue
		}
		seen[[2]any{site, id}] = true
		if a.ExpiresMs > 0 && a.ExpiresMs <= nowMs {
			continue // expired already: retention would remove it at once
		}
		dead, err := s.tombstoned(site, p.GetSessionId(), nowMs)
		if err != nil {
			return nil, fmt.Errorf("pebble: append answers: %w", err)
		}
		if dead {
			continue
		}
		idKey := newKey(pAnswerID).u64(site).str(id)
		if _, ok, err := s.get(idKey); err != nil {
			return nil, fmt.Errorf("pebble: append answers: %w", err)
		} else if ok {
			continue
		}
		ref := refOf(a)
		rb, err := json.Marshal(ref)
		if err != nil {
			return nil, fmt.Errorf("pebble: append answers: %w", err)
		}
		pb, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("pebble: append answers: %w", err)
		}
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(pb)), uint64(a.ExpiresMs))
		sets := []struct{ k, v []byte }{
			{answerKey(site, ref.TimeMs, id), append(v, pb...)},
			{idKey, rb},
			{newKey(pAnswerSess).u64(site).str(ref.Session).str(id), []byte{byte(ref.Kind), byte(ref.Rating)}},
			{newKey(pAnswerVis).u64(site).str(ref.Visitor).str(id), nil},
		}
		if a.ExpiresMs > 0 {
			sets = append(sets, struct{ k, v []byte }{newKey(pAnswerExpiry).u64(a.ExpiresMs).u64(site).str(id), nil})
		}
		for _, kv := range sets {
			if err := b.Set(kv.k, kv.v, nil); err != nil {
				return nil, fmt.Errorf("pebble: append answers: %w", err)
			}
		}
		w.counts[[2]int64{site, ref.Survey}]++
		k := [2]any{site, ref.Session}
		w.added[k] = append(w.added[k], ref)
		ids[site] = append(ids[site], id)
		if err := s.notifyOutbox(b, store.NotifyEntry{Type: store.AnswerEvent(p), SiteID: site, AnswerID: id, TimeMs: nowMs}); err != nil {
			return nil, err
		}
		res[i].Stored = true
	}
	for _, site := range sortedKeys(ids) {
		if err := s.answerOutbox(b, answerOutbox{Kind: store.OutboxUpsertAnswers, SiteID: site, IDs: ids[site], Traceparent: w.trace}); err != nil {
			return nil, err
		}
	}
	if err := s.finishAnswers(b, w); err != nil {
		return nil, fmt.Errorf("pebble: append answers: %w", err)
	}
	if b.Empty() {
		return res, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("pebble: append answers: %w", err)
	}
	return res, nil
}

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// finishAnswers writes the count deltas of w and refreshes the tallies of
// the sessions it touched. The caller holds the locks (answerLocks).
func (s *Store) finishAnswers(b *pebble.Batch, w *answerWrite) error {
	for k, d := range w.counts {
		key := answerCountKey(k[0], k[1])
		v, ok, err := s.get(key)
		if err != nil {
			return err
		}
		var n int64
		if ok && len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		if n += d; n <= 0 {
			err = b.Delete(key, nil)
		} else {
			err = b.Set(key, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
		}
		if err != nil {
			return err
		}
	}
	touched := map[[2]any]bool{}
	for k := range w.added {
		touched[k] = true
	}
	for k := range w.removed {
		touched[k] = true
	}
	for k := range touched {
		if err := s.retally(b, k[0].(int64), k[1].(string), w.added[k], w.removed[k], w.trace); err != nil {
			return err
		}
	}
	return nil
}

// retally sets a recorded session's answer tally to that of its stored
// answers (less removed, plus added) and, when its summary changes, bumps
// its version and records the summary in the outbox.
func (s *Store) retally(b *pebble.Batch, site int64, session string, added []answerRef, removed map[string]bool, trace string) error {
	t, err := s.tally(site, session, removed)
	if err != nil {
		return err
	}
	for _, r := range added {
		t.Add(sessionsv1.AnswerKind(r.Kind), r.Rating)
	}
	tk := newKey(pAnswerTally).u64(site).str(session)
	if t.IsZero() {
		err = b.Delete(tk, nil)
	} else {
		var tb []byte
		if tb, err = json.Marshal(t); err == nil {
			err = b.Set(tk, tb, nil)
		}
	}
	if err != nil {
		return err
	}
	row, err := s.loadRow(site, session)
	if err != nil || row == nil {
		return err // no session (yet): its first chunk reads the tally
	}
	if row.EndedMs > 0 {
		return nil // final (store.Ending)
	}
	if _, changed := row.State.Retally(site, session, &t); !changed {
		return nil
	}
	row.Version++
	rb, err := encodeRow(row)
	if err != nil {
		return err
	}
	if err := b.Set(partition(pSession, site, session), rb, nil); err != nil {
		return err
	}
	s.forgetRow(site, session)
	return s.outboxUpsert(b, site, session, trace)
}

// tally counts a session's stored answers, leaving out skip.
func (s *Store) tally(site int64, session string, skip map[string]bool) (summary.AnswerTally, error) {
	var t summary.AnswerTally
	p := newKey(pAnswerSess).u64(site).str(session)
	err := s.scan(p, nil, func(k, v []byte) error {
		r := keyReader{b: k[len(p):]}
		id := r.str()
		if r.err != nil || len(v) != 2 {
			return errors.New("corrupt session answer row")
		}
		if !skip[id] {
			t.Add(sessionsv1.AnswerKind(v[0]), int32(v[1]))
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("pebble: answers of %d/%s: %w", site, session, err)
	}
	return t, nil
}

// answerTally is the tally a session's state carries (nil: no answers),
// kept by retally in one row so that reading it costs Append one point
// read; Append sets it on every state it writes, so a session whose
// answers came first, or whose state is refolded, keeps them. The caller
// holds the session's stripe.
func (s *Store) answerTally(site int64, session string) (*summary.AnswerTally, error) {
	v, ok, err := s.get(newKey(pAnswerTally).u64(site).str(session))
	if err != nil || !ok {
		return nil, err
	}
	var t summary.AnswerTally
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("pebble: answer tally %d/%s: %w", site, session, err)
	}
	return &t, nil
}

func (s *Store) answerOutbox(b *pebble.Batch, e answerOutbox) error {
	return s.timedOutbox(b, pAnswerOutbox, "answer outbox", e)
}

// AnswerOutboxPending implements store.Answers.
func (s *Store) AnswerOutboxPending(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	out, err := outboxPending(s, pAnswerOutbox, limit, func(id string, e answerOutbox) (store.OutboxEntry, error) {
		oe := store.OutboxEntry{ID: id, Kind: e.Kind, SiteID: e.SiteID, AnswerIDs: e.IDs, VisitorID: e.Visitor, Traceparent: e.Traceparent}
		if e.Session != "" {
			oe.SessionIDs = []string{e.Session}
		}
		return oe, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: answer outbox pending: %w", err)
	}
	return out, nil
}

// AnswerOutboxAck implements store.Answers.
func (s *Store) AnswerOutboxAck(ctx context.Context, entries []store.OutboxEntry) error {
	if err := outboxAck(s, pAnswerOutbox, 16, entries, outboxID); err != nil {
		return fmt.Errorf("pebble: answer outbox ack: %w", err)
	}
	return nil
}

// GetAnswers implements store.Answers.
func (s *Store) GetAnswers(ctx context.Context, site int64, ids []string) ([]*sessionsv1.Answer, error) {
	nowMs := time.Now().UnixMilli()
	var out []*sessionsv1.Answer
	for _, id := range ids {
		ref, ok, err := s.answerRef(site, id)
		if err != nil {
			return nil, err
		}
		if !ok || (ref.ExpiresMs > 0 && ref.ExpiresMs <= nowMs) {
			continue
		}
		v, ok, err := s.get(answerKey(site, ref.TimeMs, id))
		if err != nil {
			return nil, fmt.Errorf("pebble: get answers: %w", err)
		}
		if !ok {
			continue
		}
		a, _, err := decodeAnswer(v)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Store) answerRef(site int64, id string) (answerRef, bool, error) {
	var ref answerRef
	v, ok, err := s.get(newKey(pAnswerID).u64(site).str(id))
	if err != nil || !ok {
		return ref, false, err
	}
	if err := json.Unmarshal(v, &ref); err != nil {
		return ref, false, fmt.Errorf("pebble: answer %d/%s: %w", site, id, err)
	}
	return ref, true, nil
}

func decodeAnswer(v []byte) (*sessionsv1.Answer, int64, error) {
	if len(v) < 8 {
		return nil, 0, errors.New("pebble: corrupt answer row")
	}
	a := &sessionsv1.Answer{}
	if err := proto.Unmarshal(v[8:], a); err != nil {
		return nil, 0, fmt.Errorf("pebble: corrupt answer row: %w", err)
	}
	return a, int64(binary.BigEndian.Uint64(v)), nil
}

// ListAnswers implements store.Answers; the token is the hex of the last
// key returned.
func (s *Store) ListAnswers(ctx context.Context, site int64, token string, limit int) (store.AnswerPage, error) {
	var page store.AnswerPage
	nowMs := time.Now().UnixMilli()
	next, err := s.scanPage(ctx, newKey(pAnswer).u64(site), token, limit, func(_, v []byte) (bool, error) {
		a, exp, err := decodeAnswer(v)
		if err != nil || (exp > 0 && exp <= nowMs) {
			return false, err
		}
		page.Answers = append(page.Answers, a)
		return true, nil
	})
	if err != nil {
		return store.AnswerPage{}, fmt.Errorf("pebble: list answers: %w", err)
	}
	page.Next = next
	return page, nil
}

// AnswerCounts implements store.Answers: one scan of the site's counters.
func (s *Store) AnswerCounts(ctx context.Context, site int64) (store.AnswerCounts, error) {
	out := store.AnswerCounts{Surveys: map[int64]int64{}}
	p := newKey(pAnswerCount).u64(site)
	err := s.scan(p, nil, func(k, v []byte) error {
		r := keyReader{b: k[len(p):]}
		survey := r.u64()
		if r.err != nil || len(v) != 8 {
			return errors.New("corrupt answer count")
		}
		n := int64(binary.BigEndian.Uint64(v))
		if survey == 0 {
			out.Feedback = n
		} else {
			out.Surveys[survey] = n
		}
		return nil
	})
	if err != nil {
		return store.AnswerCounts{}, fmt.Errorf("pebble: answer counts: %w", err)
	}
	return out, nil
}

// removeAnswer writes the removal of one answer into b and w.
func (s *Store) removeAnswer(b *pebble.Batch, w *answerWrite, site int64, id string, ref answerRef) error {
	dels := [][]byte{
		answerKey(site, ref.TimeMs, id),
		newKey(pAnswerID).u64(site).str(id),
		newKey(pAnswerSess).u64(site).str(ref.Session).str(id),
		newKey(pAnswerVis).u64(site).str(ref.Visitor).str(id),
	}
	if ref.ExpiresMs > 0 {
		dels = append(dels, newKey(pAnswerExpiry).u64(ref.ExpiresMs).u64(site).str(id))
	}
	for _, k := range dels {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	w.counts[[2]int64{site, ref.Survey}]--
	k := [2]any{site, ref.Session}
	if w.removed[k] == nil {
		w.removed[k] = map[string]bool{}
	}
	w.removed[k][id] = true
	return nil
}

// idsUnder lists the answer ids ending the keys under prefix p.
func (s *Store) idsUnder(p []byte) ([]string, error) {
	var ids []string
	err := s.scan(p, nil, func(k, _ []byte) error {
		r := keyReader{b: k[len(p):]}
		ids = append(ids, r.str())
		return r.err
	})
	return ids, err
}

// deleteAnswers removes the given answers of a site, tombstones their
// sessions (re-deliveries stay out) and records e in the outbox, in one
// batch; when none of them is stored it writes nothing.
func (s *Store) deleteAnswers(site int64, ids []string, e answerOutbox) (int64, error) {
	refs := map[string]answerRef{}
	var sessions [][2]any
	for _, id := range ids {
		ref, ok, err := s.answerRef(site, id)
		if err != nil {
			return 0, err
		}
		if ok {
			refs[id] = ref
			sessions = append(sessions, [2]any{site, ref.Session})
		}
	}
	if e.Session != "" {
		sessions = append(sessions, [2]any{site, e.Session})
	}
	defer s.answerLocks([]int64{site}, sessions)()
	b, done := s.newOutboxBatch()
	defer done()
	nowMs := time.Now().UnixMilli()
	w := newAnswerWrite("")
	var n int64
	for _, id := range ids {
		// Read again under the locks: a concurrent deletion may have won.
		ref, ok, err := s.answerRef(site, id)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		if err := s.removeAnswer(b, w, site, id, ref); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil // nothing here, so nothing in search either
	}
	tomb := binary.BigEndian.AppendUint64(nil, uint64(nowMs+s.opts.TombstoneTTL.Milliseconds()))
	for _, k := range sessions {
		s.markTombstone(site, k[1].(string))
		if err := b.Set(partition(pTombstone, site, k[1].(string)), tomb, nil); err != nil {
			return 0, err
		}
	}
	if err := s.answerOutbox(b, e); err != nil {
		return 0, err
	}
	if err := s.finishAnswers(b, w); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteSessionAnswers implements store.Answers.
func (s *Store) DeleteSessionAnswers(ctx context.Context, site int64, session string) (int64, error) {
	return s.deleteAnswersUnder("delete session answers", site, newKey(pAnswerSess).u64(site).str(session),
		answerOutbox{Kind: store.OutboxDeleteAnswers, SiteID: site, Session: session})
}

// DeleteVisitorAnswers implements store.Answers.
func (s *Store) DeleteVisitorAnswers(ctx context.Context, site int64, visitor string) (int64, error) {
	return s.deleteAnswersUnder("delete visitor answers", site, newKey(pAnswerVis).u64(site).str(visitor),
		answerOutbox{Kind: store.OutboxDeleteAnswers, SiteID: site, Visitor: visitor})
}

// deleteAnswersUnder deletes the answers an index lists under prefix and
// records del for search; what names the call in errors.
func (s *Store) deleteAnswersUnder(what string, site int64, prefix keyBuf, del answerOutbox) (int64, error) {
	ids, err := s.idsUnder(prefix)
	if err != nil {
		return 0, fmt.Errorf("pebble: %s: %w", what, err)
	}
	n, err := s.deleteAnswers(site, ids, del)
	if err != nil {
		return 0, fmt.Errorf("pebble: %s: %w", what, err)
	}
	return n, nil
}

// SweepAnswers implements store.Answers: it walks the expiry index up to
// now, a thousand answers at a time.
func (s *Store) SweepAnswers(ctx context.Context, now time.Time) (int, error) {
	nowMs := now.UnixMilli()
	total := 0
	for {
		xs, err := s.expiredUpTo(ctx, pAnswerExpiry, nowMs)
		if err != nil {
			return total, fmt.Errorf("pebble: sweep answers: %w", err)
		}
		bySite := map[int64][]expired{}
		for _, x := range xs {
			bySite[x.site] = append(bySite[x.site], x)
		}
		for _, site := range sortedKeys(bySite) {
			d, err := s.sweepSiteAnswers(site, bySite[site], nowMs)
			total += d
			if err != nil {
				return total, fmt.Errorf("pebble: sweep answers: %w", err)
			}
		}
		if len(xs) < sweepBatchSize {
			return total, nil
		}
	}
}

// sweepSiteAnswers removes the expired answers among xs (each one's expiry
// row goes too, also when the answer is already gone).
func (s *Store) sweepSiteAnswers(site int64, xs []expired, nowMs int64) (int, error) {
	var sessions [][2]any
	for _, x := range xs {
		ref, ok, err := s.answerRef(site, x.id)
		if err != nil {
			return 0, err
		}
		if ok {
			sessions = append(sessions, [2]any{site, ref.Session})
		}
	}
	defer s.answerLocks([]int64{site}, sessions)()
	b, done := s.newOutboxBatch()
	defer done()
	w := newAnswerWrite("")
	var gone []string
	for _, x := range xs {
		ref, ok, err := s.answerRef(site, x.id)
		if err != nil {
			return 0, err
		}
		if !ok || ref.ExpiresMs != x.exp {
			if err := b.Delete(newKey(pAnswerExpiry).u64(x.exp).u64(site).str(x.id), nil); err != nil {
				return 0, err
			}
			continue
		}
		if err := s.removeAnswer(b, w, site, x.id, ref); err != nil {
			return 0, err
		}
		gone = append(gone, x.id)
	}
	if len(gone) > 0 {
		if err := s.answerOutbox(b, answerOutbox{Kind: store.OutboxDeleteAnswers, SiteID: site, IDs: gone}); err != nil {
			return 0, err
		}
		if err := s.finishAnswers(b, w); err != nil {
			return 0, err
		}
	}
	if b.Empty() {
		return 0, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	return len(gone), nil
}
