// Package telemetry sets up OpenTelemetry for a function binary from the
// standard OTEL_* environment variables, and holds what the functions record:
// their metrics (metrics.go), their spans and the W3C trace context they carry
// across HTTP and Kafka (trace.go), and trace ids in their logs (log.go).
//
// Everything records through the global providers. Until Start installs an
// SDK (or a test installs its own), they are no-ops: recording costs next to
// nothing, and trace context still passes through unchanged, from the request
// that brought it to the events a function publishes.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Scope is the instrumentation scope of every instrument and span the
// functions make.
const Scope = "github.com/sopaipillas/sopaipillas/functions"

// Propagator reads and writes W3C trace context (traceparent, tracestate)
// and baggage. It is passed explicitly wherever context crosses a process,
// so propagation works whether or not Start ran.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Start installs the OpenTelemetry SDK as the standard environment variables
// say, for the function named service (OTEL_SERVICE_NAME overrides it):
//
//   - OTEL_SDK_DISABLED=true: nothing is installed.
//   - OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER: otlp, console,
//     prometheus (metrics only; its own HTTP server on
//     OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT) or none.
//     Unset is none here, unlike the specification's otlp: a function never
//     dials a collector nobody configured (tests, make dev, Cloud Run
//     without one). The chart sets otlp.
//   - OTEL_EXPORTER_OTLP_* (endpoint, protocol, headers, timeout),
//     OTEL_TRACES_SAMPLER(_ARG), OTEL_METRIC_EXPORT_INTERVAL,
//     OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, OTEL_SPAN_*_LIMIT: read by the
//     SDK and its exporters themselves.
//
// A signal set to none keeps its no-op provider. Exporter errors go to log.
// shutdown flushes what is buffered; call it after the server drained.
func Start(ctx context.Context, service string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	nothing := func(context.Context) error { return nil }
	if disabled, _ := strconv.ParseBool(os.Getenv("OTEL_SDK_DISABLED")); disabled {
		return nothing, nil
	}
	traces, metrics := os.Getenv("OTEL_TRACES_EXPORTER"), os.Getenv("OTEL_METRICS_EXPORTER")
	if exporterOff(traces) && exporterOff(metrics) {
		return nothing, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("telemetry export failed", "error", err.Error())
	}))
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	var shutdowns []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}
	if !exporterOff(traces) {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: %w", traces, err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		shutdowns = append(shutdowns, tp.Shutdown)
	}
	if !exporterOff(metrics) {
		reader, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			_ = shutdown(ctx)
			return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=%s: %w", metrics, err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
		otel.SetMeterProvider(mp)
		shutdowns = append(shutdowns, mp.Shutdown)
	}
	name, _ := res.Set().Value("service.name")
	log.Info("telemetry on", "service", name.Emit(), "traces", orNone(traces), "metrics", orNone(metrics))
	return shutdown, nil
}

// ShutdownTimeout bounds the last flush of spans and metrics at exit.
const ShutdownTimeout = 5 * time.Second

func exporterOff(v string) bool { v = strings.TrimSpace(v); return v == "" || v == "none" }

func orNone(v string) string {
	if exporterOff(v) {
		return "none"
	}
	return v
}
