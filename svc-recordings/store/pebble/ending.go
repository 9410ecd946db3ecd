package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
)

// Sessions stored before the open index existed have no n row: they are
// not ended (no session.ended for old data, rather than a flood of them
// on the first sweep after an upgrade) unless a new chunk comes, whose
// append writes their row with its activity.

// appendEnded stores fresh chunks of an ended session: the chunk rows,
// their heatmap part (heatmap.AddChunk; the frozen fold's part stays as
// it is, so deleting the session subtracts exactly what was added), the
// late counts for the limits, the expiry and the site's activity. The
// summary and its version do not change.
func (s *Store) appendEnded(b *pebble.Batch, g *group, row *sessionRow, fresh []*store.Chunk, callHeat map[int64]*siteHeat) error {
	if err := writeChunks(b, g, fresh); err != nil {
		return err
	}
	if !s.heatOff {
		heat := s.sessionDeltas(callHeat, g.site)
		for _, c := range fresh {
			heatmap.AddChunk(heat, &c.Stats, 1)
		}
		s.collectHeat(callHeat, g.site, g.session, heat)
		if err := mergeSnapshots(b, g.site, g.session, fresh); err != nil {
			return fmt.Errorf("pebble: append chunk: %w", err)
		}
	}
	oldExpires, oldCold := row.State.ExpiresMs, row.State.ColdMs
	for _, c := range fresh {
		row.LateChunks++
		row.LateRaw += c.Stats.RawBytes
		// A later chunk keeps the session (and itself) longer, as it does
		// an open session; ExpiresMs is no summary field.
		row.State.ExpiresMs = max(row.State.ExpiresMs, c.Stats.ExpiresMs)
		row.State.ColdMs = max(row.State.ColdMs, c.Stats.ColdMs)
	}
	return writeRow(b, g, row, oldExpires, oldCold, fresh)
}

// endStep bounds the open sessions one step of EndIdleSessions reads, and
// so the sessions one commit ends.
const endStep = 256

type openSession struct {
	site    int64
	session string
	// activeMs is the session's last activity (summary.State.LastActivityMs)
	// as its latest append wrote it in the index; 0 when unknown (an index
	// row written before the value existed).
	activeMs int64
}

// openValue is an open-index row's value: the session's last activity.
// The sweep walks the whole index at every pass; reading each session's
// row there (a point read and a JSON decode) made a pass cost grow with
// every open session, which under steady load is every session of the
// last idle timeout (soak at 2,000 batches/s: a pass was 7.6 % of the
// server's CPU in a profile at minute 4.5, and growing). With the value in
// the index, only the rows of sessions idle by the value are read, and
// re-read under their stripes before they end.
func openValue(activeMs int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(max(activeMs, 0)))
}

// openActivity reads openValue's value: 0 (unknown) for a row without one.
func openActivity(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// EndIdleSessions implements store.Ending. It walks the open index in key
// order; the sessions found idle in a step are ended under their stripes
// (re-read there, so a concurrent append or pass is seen) in one commit.
func (s *Store) EndIdleSessions(ctx context.Context, idleBefore time.Time, limit int) ([]*sessionsv1.SessionSummary, bool, error) {
	if limit < 1 {
		return nil, false, errors.New("pebble: end idle sessions: limit must be positive")
	}
	cutMs := idleBefore.UnixMilli()
	var ended []*sessionsv1.SessionSummary
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return ended, false, err
		}
		step, next, err := s.openStep(from)
		if err != nil {
			return ended, false, fmt.Errorf("pebble: end idle sessions: %w", err)
		}
		// Read without locks to choose; the stripes' re-read decides.
		var idle []openSession
		for _, o := range step {
			if o.activeMs > 0 && o.activeMs >= cutMs {
				continue // active since the cut, by the index
			}
			row, err := s.loadRow(o.site, o.session)
			if err != nil {
				return ended, false, err
			}
			if row == nil || row.EndedMs > 0 || row.State.LastActivityMs() < cutMs {
				idle = append(idle, o)
			}
		}
		more := false
		if room := limit - len(ended); len(idle) > room {
			idle, more = idle[:room], true
		}
		if len(idle) > 0 {
			done, err := s.endSessions(idle, cutMs)
			ended = append(ended, done...)
			if err != nil {
				return ended, false, err
			}
		}
		if more || (len(ended) == limit && next != nil) {
			return ended, true, nil
		}
		if next == nil {
			return ended, false, nil
		}
		from = next
	}
}

// openStep reads up to endStep open sessions from the key from (nil: the
// start) and answers the key to continue from (nil: none left).
func (s *Store) openStep(from []byte) ([]openSession, []byte, error) {
	var out []openSession
	var next []byte
	errFull := errors.New("full")
	err := s.scan([]byte{pOpen}, from, func(k, v []byte) error {
		if len(out) == endStep {
			next = slices.Clone(k)
			return errFull
		}
		r := keyReader{b: k[1:]}
		o := openSession{site: r.u64(), session: r.str()}
		if r.err != nil {
			return fmt.Errorf("corrupt open-session key")
		}
		o.activeMs = openActivity(v)
		out = append(out, o)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, nil, err
	}
	return out, next, nil
}

// endSessions ends those of sessions still open and idle (before cutMs)
// under their stripes, in one commit, and answers their final summaries.
// An index row of a session that is gone or already ended is dropped.
func (s *Store) endSessions(sessions []openSession, cutMs int64) ([]*sessionsv1.SessionSummary, error) {
	idx := make([]int, len(sessions))
	for i, o := range sessions {
		idx[i] = s.stripe(o.site, o.session)
	}
	defer s.lock(idx)()
	b, done := s.newOutboxBatch()
	defer done()
	now := time.Now()
	nowMs := now.UnixMilli()
	var out []*sessionsv1.SessionSummary
	for _, o := range sessions {
		row, err := s.loadRow(o.site, o.session)
		if err != nil {
			return nil, err
		}
		openKey := partition(pOpen, o.site, o.session)
		if row == nil || row.EndedMs > 0 {
			if err := b.Delete(openKey, nil); err != nil {
				return nil, fmt.Errorf("pebble: end session: %w", err)
			}
			continue
		}
		if row.State.LastActivityMs() >= cutMs || row.expired(nowMs) {
			continue // active again, or retention's to remove
		}
		row.EndedMs = nowMs
		row.Version++
		sum := row.summary(o.site, o.session)
		rb, err := encodeRow(row)
		if err != nil {
			return nil, fmt.Errorf("pebble: end session: %w", err)
		}
		if err := b.Set(partition(pSession, o.site, o.session), rb, nil); err != nil {
			return nil, fmt.Errorf("pebble: end session: %w", err)
		}
		s.forgetRow(o.site, o.session)
		if err := b.Delete(openKey, nil); err != nil {
			return nil, fmt.Errorf("pebble: end session: %w", err)
		}
		if err := s.outboxUpsert(b, o.site, o.session, ""); err != nil {
			return nil, err
		}
		if err := s.notifyOutbox(b, store.NotifyEntry{Type: store.EventSessionEnded, SiteID: o.site, SessionID: o.session, TimeMs: nowMs}); err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	if b.Empty() {
		return nil, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("pebble: end sessions: %w", err)
	}
	return out, nil
}

// notifyValue is a notify outbox entry as stored.
type notifyValue struct {
	Type    string `json:"t"`
	SiteID  int64  `json:"s"`
	Session string `json:"i,omitempty"`
	Answer  string `json:"a,omitempty"`
	TimeMs  int64  `json:"m"`
}

// notifyOutbox records e in b. Keys are (ms, n) like the answers' outbox.
func (s *Store) notifyOutbox(b *pebble.Batch, e store.NotifyEntry) error {
	return s.timedOutbox(b, pNotify, "notify outbox", notifyValue{Type: e.Type, SiteID: e.SiteID, Session: e.SessionID, Answer: e.AnswerID, TimeMs: e.TimeMs})
}

// NotifyOutboxPending implements store.Ending.
func (s *Store) NotifyOutboxPending(ctx context.Context, limit int) ([]store.NotifyEntry, error) {
	out, err := outboxPending(s, pNotify, limit, func(id string, nv notifyValue) (store.NotifyEntry, error) {
		return store.NotifyEntry{
			ID: id, Type: nv.Type, SiteID: nv.SiteID,
			SessionID: nv.Session, AnswerID: nv.Answer, TimeMs: nv.TimeMs,
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebble: notify outbox pending: %w", err)
	}
	return out, nil
}

// NotifyOutboxAck implements store.Ending.
func (s *Store) NotifyOutboxAck(ctx context.Context, entries []store.NotifyEntry) error {
	if err := outboxAck(s, pNotify, 16, entries, func(e store.NotifyEntry) string { return e.ID }); err != nil {
		return fmt.Errorf("pebble: notify outbox ack: %w", err)
	}
	return nil
}

// NotifyOutboxDepth implements store.Ending.
func (s *Store) NotifyOutboxDepth(ctx context.Context) (int64, error) {
	n, err := s.outboxDepth(pNotify)
	if err != nil {
		return 0, fmt.Errorf("pebble: notify outbox depth: %w", err)
	}
	return n, nil
}
