package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogHandler wraps h so that every record logged with a context that
// holds a span (logger.InfoContext(ctx, ...), or a Logger bound to one)
// carries trace_id and span_id, as the OpenTelemetry log data model names
// them: a log line leads to its trace.
func NewLogHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Logger returns log bound to the span in ctx: its records carry that
// span's ids even when logged without a context (log.Info), unless they are
// logged with a context holding a span of their own.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return log
	}
	return slog.New(boundHandler{log.Handler(), sc})
}

type boundHandler struct {
	slog.Handler
	sc trace.SpanContext
}

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, h.sc)
	}
	return h.Handler.Handle(ctx, r)
}

func (h boundHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return boundHandler{h.Handler.WithAttrs(as), h.sc}
}
func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{h.Handler.WithGroup(name), h.sc}
}
