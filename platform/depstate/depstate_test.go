package depstate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, r.Level.String()+" "+r.Message)
	return nil
}

func TestStateLogsOncePerChange(t *testing.T) {
	l := &lines{}
	s := New(slog.New(l), "search", "outbox")
	ctx := context.Background()
	s.OK(ctx)
	for range 5 {
		s.Failed(ctx, errors.New("refused"))
	}
	if s.Up() {
		t.Fatal("up after failures")
	}
	s.OK(ctx)
	s.OK(ctx)
	s.Failed(ctx, errors.New("refused"))
	want := "WARN outbox: search is failing; retrying with backoff until it answers|" + strings.Repeat("DEBUG outbox: search still failing|", 4) +
		"INFO outbox: search answers again|WARN outbox: search is failing; retrying with backoff until it answers"
	if got := strings.Join(l.out, "|"); got != want {
		t.Fatalf("logged\n%s\nwant\n%s", got, want)
	}
}

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, full := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		full *= time.Millisecond
		if d := b.Next(); d < full/2 || d > full {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i, d, full/2, full)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
}
