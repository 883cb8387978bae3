package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
)

func TestLogsCarryTraceIDs(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{0x00, 0xf0, 2}, TraceFlags: trace.FlagsSampled,
	})
	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want map[string]any // trace_id and span_id of the line, nil for none
	}{
		{"no trace", func(l *slog.Logger) { l.Info("x") }, nil},
		{"with a traced context", func(l *slog.Logger) { l.InfoContext(traced, "x") },
			map[string]any{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"bound logger, no context", func(l *slog.Logger) { Logger(traced, l).With("k", "v").Info("x") },
			map[string]any{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"bound logger, a context of another span", func(l *slog.Logger) {
			Logger(traced, l).InfoContext(trace.ContextWithSpanContext(context.Background(), other), "x")
		}, map[string]any{"trace_id": other.TraceID().String(), "span_id": other.SpanID().String()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewLogHandler(slog.NewJSONHandler(&buf, nil))))
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			got := map[string]any{}
			for _, k := range []string{"trace_id", "span_id"} {
				if v, ok := line[k]; ok {
					got[k] = v
				}
			}
			if tc.want == nil {
				tc.want = map[string]any{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ids (-want, +got):\n%s", diff)
			}
		})
	}
}
