// Package limits holds ingest's per-process limiters: per-session counters
// and the daily session quota leased from accounts (the token buckets per
// client IP and site are keyrate's).
//
// All of it is in memory and per process: with N ingest processes a visitor
// may reach N times the per-IP rate, and a session's batches/bytes are
// counted by each process that sees them. The session quota is shared
// through leases from accounts.
package limits

import (
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// SessionKey identifies a session of a site.
type SessionKey struct {
	Site    int64
	Session string
}

type sessionState struct {
	batches, bytes atomic.Int64
	lastSeen       atomic.Int64 // unix ns
	day            string       // UTC day the session was counted against the quota; set once
}

func (st *sessionState) stale(now time.Time, idle time.Duration, day string) bool {
	return now.Sub(time.Unix(0, st.lastSeen.Load())) > idle || st.day != day
}

// Sessions counts batches and bytes per session. A session not seen for
// Idle is forgotten (and counts as new when it returns).
type Sessions struct {
	MaxBatches, MaxBytes int64
	Idle                 time.Duration
	lru                  *lru.Cache[SessionKey, *sessionState]
}

// NewSessions remembers up to size sessions.
func NewSessions(maxBatches, maxBytes int64, idle time.Duration, size int) *Sessions {
	if size <= 0 {
		size = 200_000
	}
	l, _ := lru.New[SessionKey, *sessionState](size)
	return &Sessions{MaxBatches: maxBatches, MaxBytes: maxBytes, Idle: idle, lru: l}
}

// Check reports which limit (if any) one more batch of n bytes would break,
// and whether the session is new to this process today (it must then take
// a quota unit).
func (s *Sessions) Check(k SessionKey, n int64, now time.Time) (limit string, isNew bool) {
	st, ok := s.lru.Get(k)
	day := now.UTC().Format(time.DateOnly)
	if !ok || st.stale(now, s.Idle, day) {
		return "", true
	}
	if s.MaxBatches > 0 && st.batches.Load()+1 > s.MaxBatches {
		return "session_batches", false
	}
	if s.MaxBytes > 0 && st.bytes.Load()+n > s.MaxBytes {
		return "session_bytes", false
	}
	return "", false
}

// Record counts an accepted batch.
func (s *Sessions) Record(k SessionKey, n int64, now time.Time) {
	day := now.UTC().Format(time.DateOnly)
	st, ok := s.lru.Get(k)
	if !ok || st.stale(now, s.Idle, day) {
		fresh := &sessionState{day: day}
		fresh.lastSeen.Store(now.UnixNano())
		prev, found, _ := s.lru.PeekOrAdd(k, fresh)
		switch {
		case !found:
			st = fresh
		case !prev.stale(now, s.Idle, day):
			st = prev // another batch of the session got here first
		default:
			s.lru.Add(k, fresh)
			st = fresh
		}
	}
	// Two batches of one session racing here may both pass Check: the
	// limit can be overrun by the number of concurrent batches, no more.
	st.batches.Add(1)
	st.bytes.Add(n)
	st.lastSeen.Store(now.UnixNano())
}

// UntilMidnightUTC is how long until the quota day ends.
func UntilMidnightUTC(now time.Time) time.Duration {
	u := now.UTC()
	next := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(u)
}
