// Package pebblelog adapts slog to Pebble's logger interface, for the
// services that keep a Pebble store (recordings, search's traffic store).
package pebblelog

import (
	"fmt"
	"log/slog"
)

// Logger sends Pebble's own log lines (WAL replay, compactions) to slog at
// debug level, errors at error level. Fatalf logs and then panics, as
// Pebble expects it not to return.
type Logger struct{ l *slog.Logger }

// New returns a Logger writing to l.
func New(l *slog.Logger) Logger { return Logger{l} }

func (p Logger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p Logger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p Logger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf("pebble: "+format, args...))
}
