// Package logging builds the slog logger every Sightline process uses: JSON
// (or text) lines that always carry the service name and, when the record's
// context holds an OpenTelemetry span, its trace and span ids, so a log line
// can be joined to its trace.
package logging

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the attributes the handler adds to every record.
const (
	ServiceKey = "service"
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// Options configure New.
type Options struct {
	// Level is the minimum level logged; nil means info. A *slog.LevelVar
	// allows changing it at run time.
	Level slog.Leveler
	// Format is "json" (the default) or "text".
	Format string
	// Service is logged as "service" on every record; empty omits it.
	Service string
	// AddSource adds the caller's file and line.
	AddSource bool
}

// New returns a logger writing to w.
func New(w io.Writer, opts Options) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: opts.Level, AddSource: opts.AddSource}
	var base slog.Handler
	if strings.EqualFold(opts.Format, "text") {
		base = slog.NewTextHandler(w, hopts)
	} else {
		base = slog.NewJSONHandler(w, hopts)
	}
	return slog.New(NewHandler(base, opts.Service))
}

// NewHandler wraps base so that every record carries service (when not
// empty) and the trace and span ids of the span in the record's context.
func NewHandler(base slog.Handler, service string) slog.Handler {
	if service != "" {
		base = base.WithAttrs([]slog.Attr{slog.String(ServiceKey, service)})
	}
	return &handler{inner: base}
}

// ParseLevel parses "debug", "info", "warn" (or "warning") and "error", in
// any case, and slog's offsets such as "debug-4" or "error+2".
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "warning") {
		t = "warn"
	}
	if err := l.UnmarshalText([]byte(t)); err != nil {
		return 0, fmt.Errorf("logging: unknown level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// Config is the logging section of a process's configuration.
type Config struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RegisterFlags registers -log.level and -log.format.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log.level", "info", "Minimum log level: debug, info, warn or error.")
	fs.StringVar(&c.Format, "log.format", "json", "Log format: json or text.")
}

// Validate checks the level and the format.
func (c *Config) Validate() error {
	if _, err := ParseLevel(c.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	switch strings.ToLower(c.Format) {
	case "", "json", "text":
		return nil
	}
	return fmt.Errorf("log.format: unknown format %q (want json or text)", c.Format)
}

// Options turns the config into Options for New. It assumes Validate
// passed; an unparsable level falls back to info.
func (c *Config) Options(service string) Options {
	l, err := ParseLevel(c.Level)
	if err != nil {
		l = slog.LevelInfo
	}
	return Options{Level: l, Format: c.Format, Service: service}
}

// handler adds trace ids to records. The ids must stay top-level even after
// WithGroup, so groups (and attributes added inside them) are kept here and
// applied as nested group attributes at Handle time instead of being passed
// to the inner handler.
type handler struct {
	inner  slog.Handler // with every attribute added outside any group
	groups []group      // open groups, outermost first
}

type group struct {
	name  string
	attrs []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.groups) == 0 {
		return &handler{inner: h.inner.WithAttrs(attrs)}
	}
	groups := slices.Clone(h.groups)
	last := &groups[len(groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return &handler{inner: h.inner, groups: groups}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{inner: h.inner, groups: append(slices.Clip(h.groups), group{name: name})}
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var sc trace.SpanContext
	if ctx != nil {
		sc = trace.SpanContextFromContext(ctx)
	}
	if !sc.IsValid() && len(h.groups) == 0 {
		return h.inner.Handle(ctx, r)
	}

	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if sc.IsValid() {
		out.AddAttrs(
			slog.String(TraceIDKey, sc.TraceID().String()),
			slog.String(SpanIDKey, sc.SpanID().String()),
		)
	}
	if len(h.groups) == 0 {
		r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
		return h.inner.Handle(ctx, out)
	}

	// Build the innermost group from the record's own attributes, then wrap
	// it in each enclosing group.
	inner := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { inner = append(inner, a); return true })
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		attrs := make([]slog.Attr, 0, len(g.attrs)+len(inner))
		attrs = append(attrs, g.attrs...)
		attrs = append(attrs, inner...)
		inner = []slog.Attr{{Key: g.name, Value: slog.GroupValue(attrs...)}}
	}
	out.AddAttrs(inner...)
	return h.inner.Handle(ctx, out)
}
