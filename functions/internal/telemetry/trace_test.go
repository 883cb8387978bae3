package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
)

// recordSpans is the test binary's tracer, emptied for the test: one for
// every test, as the package's tracer is bound to the first provider
// installed. It samples every span, whatever the parent's flags.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	spans := testSpans()
	spans.Reset()
	return spans
}

var testSpans = sync.OnceValue(func() *tracetest.InMemoryExporter {
	spans := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sdktrace.AlwaysSample())))
	return spans
})

// serverSpans are the server spans recorded so far.
func serverSpans(spans *tracetest.InMemoryExporter) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

// Traceparent values: valid ones of three traces (one of a future
// version, with a field after the flags) and invalid ones.
var traceparents = []string{
	"00-12345678901234567890123456789011-1234567890123456-01",
	"00-12345678901234567890123456789012-1234567890123451-00",
	"cc-12345678901234567890123456789013-1234567890123452-01-what-the-future-will-be-like",
	"00-00000000000000000000000000000000-1234567890123456-01",
	"00-12345678901234567890123456789014-0000000000000000-01",
	"ff-12345678901234567890123456789015-1234567890123456-01",
	"00-12345678901234567890123456789016-1234567890123456-01.",
	"00-1234567890123456789012345678901A-1234567890123456-01",
	"cc-12345678901234567890123456789017-1234567890123456-01.what",
}

// Tracestate values: members and lists, an empty one, one with a key
// another repeats, and one with a key not allowed.
var tracestates = []string{"foo=1", "bar=2,baz=3", "rojo=00f067aa0ba902b7", "", "foo=2", "FOO=1", "congo=t61rcWkgMzE"}

// parent is the trace context a request continues by the W3C rules written
// out here (no code shared with telemetry): exactly one traceparent, of
// the version-00 shape, or of a later version with anything after a "-",
// with non-zero ids; and then the tracestate headers as one list, empty
// ones skipped, whole only if every key is lower case and none repeats.
func parent(tps, tss []string) (traceID, spanID, state string, ok bool) {
	if len(tps) != 1 {
		return "", "", "", false
	}
	m := regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(.*)$`).FindStringSubmatch(tps[0])
	if m == nil || m[1] == "ff" || (m[1] == "00" && m[5] != "") || (m[5] != "" && !strings.HasPrefix(m[5], "-")) ||
		m[2] == strings.Repeat("0", 32) || m[3] == strings.Repeat("0", 16) {
		return "", "", "", false
	}
	var members, keys []string
	for _, ts := range tss {
		if ts == "" {
			continue
		}
		for _, member := range strings.Split(ts, ",") {
			key, _, _ := strings.Cut(member, "=")
			if key != strings.ToLower(key) || slices.Contains(keys, key) {
				return m[2], m[3], "", true
			}
			keys = append(keys, key)
			members = append(members, member)
		}
	}
	return m[2], m[3], strings.Join(members, ","), true
}

// TestRepeatedTraceHeaders sends generated combinations of traceparent and
// tracestate headers, each repeated 0 to 3 times, as HTTP headers and as
// a binary-mode CloudEvent's (Ce-Traceparent, Ce-Tracestate), and checks
// the server span against the rules: one valid traceparent is continued
// with the tracestate list; two traceparents, or an invalid one, start a
// new trace with no tracestate. Before, two traceparents continued the
// first, and only the first tracestate header was read.
func TestRepeatedTraceHeaders(t *testing.T) {
	spans := recordSpans(t)
	h := telemetry.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	rng := rand.New(rand.NewPCG(23, 8))
	pick := func(pool []string) []string {
		out := make([]string, rng.IntN(4))
		for i := range out {
			out[i] = pool[rng.IntN(len(pool))]
		}
		return out
	}
	cases := [][2][]string{ // the W3C test suite's own cases first
		{{traceparents[0], "00-12345678901234567890123456789012-1234567890123456-01"}, nil},
		{{traceparents[1]}, {"foo=1,bar=2", "rojo=1,congo=2", "baz=3"}},
		{{traceparents[1]}, {"foo=1", ""}},
		{{traceparents[1]}, {"", "foo=1"}},
		{{traceparents[1]}, {"foo=1", "foo=1"}},
		{nil, {"foo=1"}},
	}
	for range 600 {
		cases = append(cases, [2][]string{pick(traceparents), pick(tracestates)})
	}
	for i, c := range cases {
		for _, prefix := range []string{"", "Ce-"} {
			tps, tss := c[0], c[1]
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			for _, v := range tps {
				req.Header.Add(prefix+"traceparent", v)
			}
			for _, v := range tss {
				req.Header.Add(prefix+"tracestate", v)
			}
			spans.Reset()
			h.ServeHTTP(httptest.NewRecorder(), req)
			got := serverSpans(spans)
			if len(got) != 1 {
				t.Fatalf("%d server spans, want 1", len(got))
			}
			s := got[0]
			traceID, spanID, state, ok := parent(tps, tss)
			name := fmt.Sprintf("case %d, %q traceparent %q tracestate %q", i, prefix, tps, tss)
			if !ok {
				sent := slices.ContainsFunc(tps, func(tp string) bool { return strings.Contains(tp, s.SpanContext.TraceID().String()) })
				if s.Parent.IsValid() || sent || s.SpanContext.TraceState().Len() != 0 {
					t.Errorf("%s: continued %s (trace %s, state %q); want a new trace", name, s.Parent.SpanID(), s.SpanContext.TraceID(), s.SpanContext.TraceState())
				}
				continue
			}
			gotCtx := []string{s.SpanContext.TraceID().String(), s.Parent.SpanID().String(), s.SpanContext.TraceState().String()}
			if diff := cmp.Diff([]string{traceID, spanID, state}, gotCtx); diff != "" {
				t.Errorf("%s: [trace parent tracestate] (-want, +got):\n%s", name, diff)
			}
		}
	}
}

// TestDayReadRepeatedHeaders: a record with one ce_traceparent is linked;
// one with the attribute repeated is not one CloudEvent's and is not.
func TestDayReadRepeatedHeaders(t *testing.T) {
	spans := recordSpans(t)
	from := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	_, read := telemetry.ReadingDay(context.Background(), "04/12/2026", from, from.Add(24*time.Hour))
	header := func(kv ...string) []*sarama.RecordHeader {
		var out []*sarama.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return out
	}
	tp := func(n int) string {
		return fmt.Sprintf("00-1234567890123456789012345678901%d-123456789012345%d-01", n, n)
	}
	read.Add(from, header("ce_traceparent", tp(1)))
	read.Add(from, header("ce_traceparent", tp(2), "ce_tracestate", "foo=1"))
	read.Add(from, header("ce_traceparent", tp(3), "ce_traceparent", tp(4)))
	read.Add(from, header("ce_traceparent", tp(5), "ce_tracestate", "foo=1", "ce_tracestate", "bar=2"))
	read.End(4, 0, nil)
	var got []string
	for _, s := range spans.GetSpans() {
		for _, l := range s.Links {
			got = append(got, l.SpanContext.SpanID().String()+" "+l.SpanContext.TraceState().String())
		}
	}
	if diff := cmp.Diff([]string{"1234567890123451 ", "1234567890123452 foo=1"}, got); diff != "" {
		t.Errorf("links (-want, +got):\n%s", diff)
	}
}

// emptyDays is a board whose days have no orders.
type emptyDays struct{}

func (emptyDays) Summarize(_ context.Context, day events.Date) (dailysummary.Result, error) {
	return dailysummary.Result{Summary: events.Summary{Ventas: map[string]events.Sales{}, Fecha: day.String()}}, nil
}

func (emptyDays) Ends(context.Context) ([]int64, error) { return []int64{0}, nil }

// noRedirects answers the login's 303 itself instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, cloudevents.Event) error { return nil }

// TestServerSpanRoute serves newOrder and salesBoard as their binaries do
// (the server's mux, telemetry.Handler, the function's mux) and checks
// that each server span's http.route is the route that matched, as its
// name says. Before, every span had http.route "/", the server's.
func TestServerSpanRoute(t *testing.T) {
	spans := recordSpans(t)
	quiet := slog.New(slog.DiscardHandler)
	loc, _ := time.LoadLocation("America/Santiago")
	board := salesboard.New(emptyDays{}, emptyDays{}, salesboard.Options{Location: loc, Retention: 72 * time.Hour, Timeout: time.Second, Now: time.Now}, quiet).Handler()
	t.Cleanup(board.Close)
	today := events.DateOf(time.Now(), loc).URL()
	order := `{"order_id": 3, "email_vendedor": "v@feria.cl", "email_cocinero": "c@feria.cl", "numero_sopaipillas": 15}`
	for _, fn := range []struct {
		handler  http.Handler
		requests [][3]string // method, path, route
	}{
		{neworder.New(nopPublisher{}, "order", time.Second, time.Now, quiet).Handler(), [][3]string{
			{"POST", "/newOrder", "/newOrder"}, {"POST", "/", "/{$}"}, {"GET", "/newOrder", "/newOrder"}, {"POST", "/nada", "/"},
		}},
		{board, [][3]string{
			{"GET", "/?fecha=" + today, "/{$}"}, {"GET", "/events", "/events"}, {"GET", "/api/days/" + today, "/api/days/{fecha}"},
			{"POST", "/login", "/login"}, {"POST", "/logout", "/logout"}, {"GET", "/static/app.js", "/static/"}, {"GET", "/nada", "/"},
		}},
	} {
		srv := httptest.NewServer(server.New(telemetry.Handler(fn.handler)).Handler)
		for _, r := range fn.requests {
			spans.Reset()
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, r[0], srv.URL+r[1], strings.NewReader(order))
			req.Header.Set("Content-Type", "application/json")
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r[1] != "/events" {
				_, _ = io.Copy(io.Discard, res.Body)
			}
			cancel() // ends the event stream
			res.Body.Close()
			waitFor(t, "the server span of "+r[1], func() bool { return len(serverSpans(spans)) == 1 })
			s := serverSpans(spans)[0]
			got := []string{s.Name, attr(s, "http.route")}
			if diff := cmp.Diff([]string{r[0] + " " + r[2], r[2]}, got); diff != "" {
				t.Errorf("%s %s: [name http.route] (-want, +got):\n%s", r[0], r[1], diff)
			}
		}
		srv.Close()
	}
}
