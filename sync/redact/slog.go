package redact

import (
	"context"
	"log/slog"
)

// Handler is a slog.Handler that redacts secrets from the message and from every string and
// error attribute before passing a record on. The secrets are asked for at each record, so a
// secret read after the logger was made is redacted too.
type Handler struct {
	next    slog.Handler
	secrets func() []string
}

// NewHandler returns next behind redaction of the secrets secrets returns.
func NewHandler(next slog.Handler, secrets func() []string) *Handler {
	return &Handler{next: next, secrets: secrets}
}

// Enabled reports whether next handles the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle redacts the record and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	secs := h.secrets()
	if len(secs) == 0 {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, String(r.Message, secs...), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a, secs))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts the attributes now (with the secrets known now) and keeps redacting.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	secs := h.secrets()
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a, secs)
	}
	return &Handler{next: h.next.WithAttrs(red), secrets: h.secrets}
}

// WithGroup keeps redacting within the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func redactAttr(a slog.Attr, secs []string) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String(), secs...))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = redactAttr(x, secs)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.Any(a.Key, Err(err, secs...))
		}
	}
	return a
}
