// Package openfiles reads the process's limit on open files and shares it
// out among the embedded stores' file caches.
//
// Each embedded Pebble store (recordings, search's traffic) keeps up to
// Pebble's default of 1,000 table and blob files open in its file cache;
// the rest of the process — the sessions index's segments, the spool's,
// SQLite, every connection — needs files too. Go raises the soft limit to
// the hard one at start, so the hard limit is what counts: usually far
// above this (systemd's default 524,288, Docker's 1,048,576), but a host or
// container that keeps 1,024 would otherwise run out under load — an
// accept, a flush or a spool segment failing with "too many open files".
package openfiles

import (
	"fmt"
	"log/slog"
	"syscall"
)

const (
	pebbleDefault = 1000 // Pebble's own MaxOpenFiles
	storeMin      = 64   // Pebble's smallest file cache, and a few files more
)

// Low is the limit under which the stores' file caches shrink below
// Pebble's default (a quarter of the limit each) and serve warns at start.
const Low = 4 * pebbleDefault

// Limit is the process's limit on open files (RLIMIT_NOFILE, as raised by
// the Go runtime at start).
func Limit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("openfiles: read the limit: %w", err)
	}
	return r.Cur, nil
}

// StoreShare is how many files one embedded Pebble store may hold open
// (its MaxOpenFiles, a bound Pebble keeps loosely: up to a fifth over in
// the recordings store's TestMaxOpenFiles) in a process that may open
// limit files: a quarter of it, so that two stores leave the process about
// half, at most Pebble's default and at least storeMin. A limit that
// cannot be read leaves Pebble's default.
func StoreShare(limit uint64, err error) int {
	if err != nil {
		return pebbleDefault
	}
	return int(max(min(limit/4, pebbleDefault), storeMin))
}

// ForStore is StoreShare of this process's limit.
func ForStore() int { return StoreShare(Limit()) }

// Attrs describe the limit for serve's start-up log line "open file limit".
func Attrs(limit uint64) []any {
	return []any{slog.Uint64("limit", limit), slog.Int("store_max_open_files", StoreShare(limit, nil))}
}
