// Package batch is the one contract of what a tracker batch may hold
// (docs/wire-format.md). Ingest applies it before it answers 204 (Decode)
// and recordings applies the same code when it checks and reads a stored
// chunk (CheckChunk, Events, Value), so "accepted" and "storable" cannot
// disagree: a rule changed here changes on both sides at once.
//
// The decoder is hand-written for the hot path: it reads the few top-level
// fields into Go values and keeps `events` as a sub-slice of the input,
// validating every event in the same pass (each byte is touched once),
// without building any Go value for the events themselves.
package batch

import (
	"errors"
	"fmt"
)

// Version is the only envelope version accepted.
const Version = 1

// Limits of the contract. Both sides read these constants; none may be
// raised on one side only.
const (
	// MaxDepth bounds the nesting inside an event, the event object being
	// level 1 (rrweb snapshots nest as deep as the page's DOM; a hostile
	// body must not exhaust the stack).
	MaxDepth = 1000
	// MaxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER (2^53−1): the
	// largest seq the tracker can count to exactly.
	MaxSafeInteger = 1<<53 - 1
	// MaxTimestampMs bounds event timestamps and clientTime (ms since the
	// epoch; 2255-03-14): the span between two such times, plus the
	// summary's activity window, fits Go's time.Duration (±292 years in
	// ns), Bleve's dates (until 2262), protobuf Timestamps (until 9999)
	// and JavaScript's Date (until 275760).
	MaxTimestampMs = 9_000_000_000_000
	// MaxEventType is the largest rrweb EventType (6, Plugin).
	MaxEventType = 6
	// MaxURLBytes bounds page.url and page.referrer.
	MaxURLBytes = 8192
	// MaxTraceparent is the longest traceparent kept; a longer one is
	// ignored, not refused (it is only a tracing hint).
	MaxTraceparent = 128
	// MaxViewport bounds page.viewport.w and .h.
	MaxViewport = 1 << 20
)

// Error is a batch the contract refuses; its message is safe to show the
// client (it names fields and offsets, never echoes content).
type Error struct{ msg string }

func (e *Error) Error() string { return "batch: " + e.msg }

// ErrTooManyEvents is returned (wrapped) when events has more elements than
// allowed; callers answer 413 rather than 400.
var ErrTooManyEvents = errors.New("batch: too many events")

func errf(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }
