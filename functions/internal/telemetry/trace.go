package telemetry

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer(Scope)

// traceContext is the CloudEvents distributed-tracing extension: traceparent
// and tracestate, and nothing else (no baggage on events).
var traceContext = propagation.TraceContext{}

// StartSpan starts a span of the functions' own work (validate order, read
// day...), a child of the span in ctx.
func StartSpan(ctx context.Context, name string, kv ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithAttributes(kv...))
}

// Handler traces and measures a function's HTTP handler: a server span per
// request (http.server.request.duration and the body sizes with it),
// continuing the W3C trace context of the request's traceparent header or,
// without one, of a binary-mode CloudEvent's distributed-tracing extension
// (Ce-Traceparent, Ce-Tracestate: what a KafkaSource forwards from the
// record's ce_traceparent). When both are there and differ, the span links
// to the event's. Repeated headers are read as W3C Trace Context says
// (requestHeaders). The span's http.route is the route that matched: the
// function's own (/newOrder, /api/days/{fecha}), as in its name and
// metrics.
func Handler(h http.Handler) http.Handler {
	linked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		linkOther(r.Context(), requestHeaders{h: r.Header, prefix: "Ce-"}) // when another trace
		h.ServeHTTP(w, r)
		// The route of the function's own mux; otelhttp took the
		// server's ("/") when the span started and only renames it.
		if i := strings.IndexByte(r.Pattern, '/'); i >= 0 {
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", r.Pattern[i:]))
		}
	})
	traced := otelhttp.NewHandler(linked, "", otelhttp.WithPropagators(requestPropagator{Propagator}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("traceparent")) == 0 && r.Header.Get("Ce-Traceparent") != "" {
			// As if the hop had sent it: otelhttp then continues it.
			r2 := *r
			r2.Header = r.Header.Clone()
			r2.Header["Traceparent"] = r.Header.Values("Ce-Traceparent")
			r2.Header["Tracestate"] = r.Header.Values("Ce-Tracestate")
			r = &r2
		}
		traced.ServeHTTP(w, r)
	})
}

// LinkEvent links the span in ctx to the trace context an event carries
// in its extensions when that is another trace: a structured-mode event,
// whose extensions Handler cannot see, or one relayed by a hop that traced
// on its own.
func LinkEvent(ctx context.Context, e cloudevents.Event) {
	ext := e.Extensions()
	carrier := propagation.MapCarrier{}
	for _, k := range []string{"traceparent", "tracestate"} {
		if v, ok := ext[k].(string); ok {
			carrier[k] = v
		}
	}
	linkOther(ctx, carrier)
}

func linkOther(ctx context.Context, carrier propagation.TextMapCarrier) {
	other := trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
	span := trace.SpanFromContext(ctx)
	if other.IsValid() && other.TraceID() != span.SpanContext().TraceID() {
		span.AddLink(trace.Link{SpanContext: other})
	}
}

// requestHeaders reads a request's trace context headers (after prefix:
// "Ce-" for a binary-mode CloudEvent's extension) as W3C Trace Context
// requires of repeated headers (§3.2, §3.3; its test suite's
// test_traceparent_duplicated and test_tracestate_multiple_headers_*):
// traceparent counts only when sent once, so two are none and the request
// starts a new trace; the tracestate (and baggage) headers are one list,
// joined in order, empty ones skipped. Other keys read the first value.
type requestHeaders struct {
	h      http.Header
	prefix string
}

func (c requestHeaders) Get(key string) string {
	values := c.h.Values(c.prefix + key)
	switch strings.ToLower(key) {
	case "traceparent":
		if len(values) != 1 {
			return ""
		}
	case "tracestate", "baggage":
		list := make([]string, 0, len(values))
		for _, v := range values {
			if v = strings.Trim(v, " \t"); v != "" {
				list = append(list, v)
			}
		}
		return strings.Join(list, ",")
	}
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

func (c requestHeaders) Set(key, value string) { c.h.Set(c.prefix+key, value) }
func (c requestHeaders) Keys() []string        { return nil }

// requestPropagator extracts from an HTTP request's headers by the rules of
// requestHeaders (otelhttp hands it propagation.HeaderCarrier).
type requestPropagator struct{ propagation.TextMapPropagator }

func (p requestPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		carrier = requestHeaders{h: http.Header(h)}
	}
	return p.TextMapPropagator.Extract(ctx, carrier)
}

// recordHeaders is a Kafka record's CloudEvents extension headers
// (ce_traceparent, ce_tracestate) as a propagation carrier.
type recordHeaders struct{ h *[]sarama.RecordHeader }

func (c recordHeaders) Get(key string) string {
	for _, h := range *c.h {
		if string(h.Key) == "ce_"+key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces every header named ce_<key> with one.
func (c recordHeaders) Set(key, value string) {
	k := "ce_" + key
	*c.h = slices.DeleteFunc(*c.h, func(h sarama.RecordHeader) bool { return string(h.Key) == k })
	*c.h = append(*c.h, sarama.RecordHeader{Key: []byte(k), Value: []byte(value)})
}

func (c recordHeaders) Keys() []string { return nil }

// InjectRecord writes the trace context of ctx into a record's headers as
// the CloudEvents distributed-tracing extension (ce_traceparent, and
// ce_tracestate when there is one), replacing any the event carried.
// Without a trace in ctx it writes nothing.
func InjectRecord(ctx context.Context, headers *[]sarama.RecordHeader) {
	traceContext.Inject(ctx, recordHeaders{headers})
}

// Publishing starts the producer span of one event sent to topic ("send
// order") and returns the function that ends it with the error type of
// the outcome ("" for acknowledged), recording the publish latency
// (messaging.client.operation.duration) and the message count.
func Publishing(ctx context.Context, topic, eventID string) (context.Context, func(errorType string)) {
	start := time.Now()
	kv := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.name", "send"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", topic),
	}
	ctx, span := tracer.Start(ctx, "send "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(kv, attribute.String("messaging.message.id", eventID))...))
	return ctx, func(errorType string) {
		if errorType != "" {
			kv = append(kv, attribute.String("error.type", errorType))
			span.SetAttributes(attribute.String("error.type", errorType))
			span.SetStatus(codes.Error, "not acknowledged: "+errorType)
			KafkaError(ctx, "send", errorType)
		}
		publishDuration.Record(ctx, time.Since(start).Seconds(), attrs(kv...))
		publishSent.Add(ctx, 1, attrs(kv...))
		span.End()
	}
}

// MaxOrderLinks bounds the links of one day's read span to the orders it
// read: the SDK's default span link limit (OTEL_SPAN_LINK_COUNT_LIMIT can
// only lower it).
const MaxOrderLinks = 128

// DayRead is the span of reading and counting one day of orders ("read
// day"). It links to the producer spans of the first MaxOrderLinks order
// records of the day it meets (each the POST /newOrder that stored it).
type DayRead struct {
	span     trace.Span
	from, to time.Time
	n        atomic.Int32
	mu       sync.Mutex
	seen     map[trace.SpanID]bool
	links    []trace.Link
}

type dayReadKey struct{}

// ReadingDay starts the span of reading the day [from, to), named fecha.
func ReadingDay(ctx context.Context, fecha string, from, to time.Time) (context.Context, *DayRead) {
	ctx, span := tracer.Start(ctx, "read day", trace.WithAttributes(attribute.String("sopaipillas.fecha", fecha)))
	d := &DayRead{span: span, from: from, to: to, seen: map[trace.SpanID]bool{}}
	return context.WithValue(ctx, dayReadKey{}, d), d
}

// OrderLinks is the day read in ctx, or nil; its Add is safe on nil.
func OrderLinks(ctx context.Context) *DayRead {
	d, _ := ctx.Value(dayReadKey{}).(*DayRead)
	return d
}

// Add links the read to a record of the day carrying trace context (one
// ce_traceparent, at most one ce_tracestate). Safe for concurrent use;
// once the bound is reached it costs an atomic load.
func (d *DayRead) Add(ts time.Time, headers []*sarama.RecordHeader) {
	if d == nil || d.n.Load() >= MaxOrderLinks || ts.Before(d.from) || !ts.Before(d.to) {
		return
	}
	var tp, ts2 []string
	for _, h := range headers {
		switch string(h.Key) {
		case "ce_traceparent":
			tp = append(tp, string(h.Value))
		case "ce_tracestate":
			ts2 = append(ts2, string(h.Value))
		}
	}
	if len(tp) != 1 || len(ts2) > 1 {
		return // none, or an attribute repeated: not one CloudEvent's
	}
	carrier := propagation.MapCarrier{"traceparent": tp[0]}
	if len(ts2) == 1 {
		carrier["tracestate"] = ts2[0]
	}
	sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
	if !sc.IsValid() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[sc.SpanID()] || len(d.links) >= MaxOrderLinks {
		return
	}
	d.seen[sc.SpanID()] = true
	d.links = append(d.links, trace.Link{SpanContext: sc})
	d.n.Add(1)
}

// End ends the span with what was read, or the error.
func (d *DayRead) End(ordersRead, skipped int, err error) {
	d.mu.Lock()
	for _, l := range d.links {
		d.span.AddLink(l)
	}
	d.mu.Unlock()
	d.span.SetAttributes(attribute.Int("sopaipillas.orders_read", ordersRead), attribute.Int("sopaipillas.records_skipped", skipped),
		attribute.Int("sopaipillas.order_links", int(d.n.Load())))
	if err != nil {
		d.span.RecordError(err)
		d.span.SetStatus(codes.Error, err.Error())
		KafkaError(context.Background(), "read", "read_failed")
	}
	d.span.End()
}

// Email is the span and the metrics of sending one email ("send email").
type Email struct {
	ctx             context.Context
	span            trace.Span
	backend, kind   string
	outcome, reason string
	sendStart       time.Time
	sendTook        time.Duration
}

// SendingEmail starts the span of one email of kind (vendor or cook) on
// backend (smtp, sendgrid).
func SendingEmail(ctx context.Context, backend, kind string) (context.Context, *Email) {
	ctx, span := tracer.Start(ctx, "send email", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("sopaipillas.mail.backend", backend), attribute.String("sopaipillas.reader.kind", kind)))
	return ctx, &Email{ctx: ctx, span: span, backend: backend, kind: kind}
}

// Sending marks the start of the backend's work; Sent, Failed and Retry
// after it measure it.
func (e *Email) Sending() { e.sendStart = time.Now() }

func (e *Email) settle(outcome, reason string) {
	if e.outcome != "" {
		return
	}
	e.outcome, e.reason = outcome, reason
	if !e.sendStart.IsZero() {
		e.sendTook = time.Since(e.sendStart)
	}
}

// Sent: the backend took the email.
func (e *Email) Sent() { e.settle("sent", "") }

// Failed: the recipient refused it for good.
func (e *Email) Failed(reason string) { e.settle("failed", reason) }

// Retry: not sent this time, for reason; a redelivery tries again.
func (e *Email) Retry(reason string) { e.settle("retry", reason) }

// End records the outcome and ends the span.
func (e *Email) End() {
	b := attribute.String("backend", e.backend)
	switch e.outcome {
	case "sent":
		emailsSent.Add(e.ctx, 1, attrs(b, attribute.String("kind", e.kind)))
	case "failed":
		emailsFailed.Add(e.ctx, 1, attrs(b, attribute.String("reason", e.reason)))
		e.span.SetStatus(codes.Error, "refused for good: "+e.reason)
	default:
		e.reason = cmpOr(e.reason, "unknown")
		emailsRetried.Add(e.ctx, 1, attrs(b, attribute.String("reason", e.reason)))
		e.span.SetStatus(codes.Error, "to retry: "+e.reason)
	}
	if !e.sendStart.IsZero() {
		emailDuration.Record(e.ctx, e.sendTook.Seconds(), attrs(b, attribute.String("outcome", cmpOr(e.outcome, "retry"))))
	}
	e.span.SetAttributes(attribute.String("sopaipillas.mail.outcome", cmpOr(e.outcome, "retry")))
	if e.reason != "" {
		e.span.SetAttributes(attribute.String("sopaipillas.mail.reason", e.reason))
	}
	e.span.End()
}

func cmpOr(a, b string) string {
	if strings.TrimSpace(a) == "" {
		return b
	}
	return a
}
