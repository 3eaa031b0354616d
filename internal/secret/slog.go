package secret

import (
	"context"
	"log/slog"
)

// LogHandler is a slog.Handler that scrubs known secret values out of every
// record's message and string attributes before passing it on: the last
// line of defence for a value that slipped into an error or a panic.
type LogHandler struct {
	next slog.Handler
	red  *Redactor
}

// NewLogHandler wraps next so that what red knows never reaches it.
func NewLogHandler(next slog.Handler, red *Redactor) *LogHandler {
	return &LogHandler{next: next, red: red}
}

// Enabled reports whether next handles the level.
func (h *LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle scrubs the record and passes it on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.red.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.scrub(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs scrubs the attributes once, when they are attached.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.scrub(a)
	}
	return &LogHandler{next: h.next.WithAttrs(clean), red: h.red}
}

// WithGroup passes the group on.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name), red: h.red}
}

func (h *LogHandler) scrub(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.red.Scrub(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		clean := make([]any, len(attrs))
		for i, g := range attrs {
			clean[i] = h.scrub(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.red.Scrub(err.Error()))
		}
		return a
	default:
		return a
	}
}
