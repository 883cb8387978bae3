package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// Addresses of the known sequence: vendor a's email goes out, b's is
// refused for good, c's fails once (451) and goes out on the redelivery.
const (
	vendorA = "a@sopaipillas.test"
	vendorB = "b@sopaipillas.test"
	vendorC = "c@sopaipillas.test"
	cook    = "cocina@sopaipillas.test"
)

// TestPipelineTelemetry runs the three functions as their binaries do
// (runner.RunOn, configured from the environment) on an embedded broker,
// with the KafkaSource stand-in between the summary topic and sendMail, and
// in-memory telemetry. After a known sequence it checks exact metric values,
// and that the traceparent of a POST reaches the order record, and that of
// a summary request the summary event and each email's span.
func TestPipelineTelemetry(t *testing.T) {
	spans := recordSpans(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { mp.Shutdown(context.Background()) })

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	smtp := smtptest.Start(t)
	smtp.RcptError(vendorB, 550)
	smtp.RcptError(vendorC, 451)

	// The functions read their environment as deployed; OTEL_* unset, so
	// runner leaves the providers above in place.
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "ORDER_TOPIC_PARTITIONS": "3", "SUMMARY_TOPIC_PARTITIONS": "1",
		"MAIL_FROM": "reportes@sopaipillas.test", "SMTP_HOST": smtp.Host(), "SMTP_PORT": fmt.Sprint(smtp.Port()), "SMTP_TLS": "none",
		"OTEL_TRACES_EXPORTER": "", "OTEL_METRICS_EXPORTER": "",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	newOrder := start(t, ctx, &wg, "newOrder", neworder.Setup)
	dailySummary := start(t, ctx, &wg, "dailySummary", dailysummary.Setup)
	sendMail := start(t, ctx, &wg, "sendMail", sendmail.Setup)

	// Between the KafkaSource and sendMail: once sendMail answered 503
	// (c's 451), c's server recovers, so the redelivery finds it up.
	target, _ := url.Parse(sendMail)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusServiceUnavailable {
			once.Do(func() { smtp.RcptError(vendorC, 0) })
		}
		return nil
	}
	sink := httptest.NewServer(proxy)
	t.Cleanup(sink.Close)
	source := &devstack.KafkaSource{
		Brokers: cluster.ListenAddrs(), Topic: events.DefaultReportTopic, Group: "telemetry-test", Sink: sink.URL,
		Retry: 5, Backoff: 20 * time.Millisecond, Log: discard(),
		DeadLetter: func(_ context.Context, e cloudevents.Event, reason string) {
			t.Errorf("dead-lettered %s: %s", e.ID(), reason)
		},
	}
	wg.Add(1)
	go func() { defer wg.Done(); source.Run(ctx) }()

	// Orders: one traced by its client, a client's retry of another, a
	// third, then two refused.
	const orderTrace, orderParent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	post(t, newOrder+"/newOrder", "00-"+orderTrace+"-"+orderParent+"-01", order(1, vendorA, 10), http.StatusCreated)
	post(t, newOrder+"/newOrder", "", order(2, vendorB, 20), http.StatusCreated)
	post(t, newOrder+"/newOrder", "", order(2, vendorB, 20), http.StatusCreated)
	post(t, newOrder+"/newOrder", "", order(3, vendorC, 30), http.StatusCreated)
	post(t, newOrder+"/newOrder", "", order(4, vendorC, 0), http.StatusUnprocessableEntity)
	post(t, newOrder+"/newOrder", "", `{"order_id":`, http.StatusBadRequest)

	// Today's summary, asked by a traced caller.
	const summaryTrace, summaryParent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	post(t, dailySummary+"/dailySummary", "00-"+summaryTrace+"-"+summaryParent+"-01", `{}`, http.StatusOK)

	// Wait for every email to settle: a, the cook, and c on the redelivery
	// are sent; b is refused.
	waitFor(t, "emails", func() bool {
		m := collect(t, reader)
		// A server span ends just after its request's metrics are recorded.
		return m.sum("sopaipillas.emails.sent") == 3 && m.sum("sopaipillas.emails.failed") == 1 && len(smtp.Messages()) == 3 &&
			m.httpCount() == 10 && len(spansByName(spans.GetSpans())["POST /"]) == 3
	})

	m := collect(t, reader)
	got := map[string]int64{}
	for _, name := range []string{
		"sopaipillas.orders.accepted", "sopaipillas.orders.refused", "sopaipillas.orders.not_acknowledged",
		"sopaipillas.summaries.published", "sopaipillas.summaries.failed", "sopaipillas.summary.orders.read",
		"sopaipillas.summary.records.skipped", "sopaipillas.summary.conflicts",
		"sopaipillas.emails.sent", "sopaipillas.emails.failed", "sopaipillas.emails.retried",
		"sopaipillas.mail.ledger.conflicts", "sopaipillas.kafka.client.errors", "messaging.client.sent.messages",
	} {
		for attrs, v := range m.sums[name] {
			got[name+attrs] = v
		}
	}
	want := map[string]int64{
		"sopaipillas.orders.accepted":                                      4, // the retry is a second 201
		"sopaipillas.orders.refused{reason=invalid}":                       1,
		"sopaipillas.orders.refused{reason=malformed}":                     1,
		"sopaipillas.summaries.published{report.status=partial}":           1,
		"sopaipillas.summary.orders.read":                                  4, // records: the retry too
		"sopaipillas.summary.conflicts":                                    0,
		"sopaipillas.emails.sent{backend=smtp,kind=vendor}":                2,
		"sopaipillas.emails.sent{backend=smtp,kind=cook}":                  1,
		"sopaipillas.emails.failed{backend=smtp,reason=recipient_refused}": 1,
		"sopaipillas.emails.retried{backend=smtp,reason=transient}":        1,
		// the orders, then the summary, and the vendor report and the one
		// cook's report on the report topic
		"messaging.client.sent.messages{messaging.destination.name=order,messaging.operation.name=send,messaging.operation.type=send,messaging.system=kafka}":   4,
		"messaging.client.sent.messages{messaging.destination.name=summary,messaging.operation.name=send,messaging.operation.type=send,messaging.system=kafka}": 1,
		"messaging.client.sent.messages{messaging.destination.name=report,messaging.operation.name=send,messaging.operation.type=send,messaging.system=kafka}":  2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want, +got):\n%s", diff)
	}
	wantHTTP := map[string]int64{"201": 4, "422": 1, "400": 1, "200": 3, "503": 1} // sendMail: 503, then 200 for the vendor report; 200 for the cook's report
	if diff := cmp.Diff(wantHTTP, m.httpByStatus()); diff != "" {
		t.Errorf("http.server.request.duration counts by status (-want, +got):\n%s", diff)
	}
	if n := m.histCount("messaging.client.operation.duration"); n != 7 {
		t.Errorf("messaging.client.operation.duration has %d measurements, want 7", n)
	}
	if n := m.histCount("sopaipillas.summary.duration"); n != 1 {
		t.Errorf("sopaipillas.summary.duration has %d measurements, want 1", n)
	}
	if n := m.histCount("sopaipillas.email.send.duration"); n != 5 {
		t.Errorf("sopaipillas.email.send.duration has %d measurements, want 5 (a, b, c twice, the cook)", n)
	}

	// Traces. The order's record carries the span that published it, in
	// the trace of its POST.
	records := consume(t, cluster.ListenAddrs(), map[string]int{"order": 4, "summary": 1, "report": 2})
	byName := spansByName(spans.GetSpans())
	sendOrder := find(t, byName["send order"], func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID().String() == orderTrace })
	wantOrderTP := "00-" + orderTrace + "-" + sendOrder.SpanContext.SpanID().String() + "-01"
	if tp := records["order-1"]; tp != wantOrderTP {
		t.Errorf("order record's ce_traceparent %q, want %q (the POST's trace, its send span)", tp, wantOrderTP)
	}
	post1 := find(t, byName["POST /newOrder"], func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID().String() == orderTrace })
	if post1.Parent.SpanID().String() != orderParent || sendOrder.Parent.SpanID() != post1.SpanContext.SpanID() {
		t.Errorf("newOrder's spans do not continue the POST's traceparent: server span's parent %s, send's parent %s", post1.Parent.SpanID(), sendOrder.Parent.SpanID())
	}
	validate := find(t, byName["validate order"], func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID().String() == orderTrace })
	if validate.Parent.SpanID() != post1.SpanContext.SpanID() {
		t.Errorf("validate order's parent %s, want the server span %s", validate.Parent.SpanID(), post1.SpanContext.SpanID())
	}

	// The summary: its read span links to the order's send span; its event
	// carries the span that published it, in the trace of its POST.
	read := find(t, byName["read day"], func(tracetest.SpanStub) bool { return true })
	if read.SpanContext.TraceID().String() != summaryTrace {
		t.Errorf("read day in trace %s, want %s", read.SpanContext.TraceID(), summaryTrace)
	}
	var linked []string
	for _, l := range read.Links {
		linked = append(linked, l.SpanContext.TraceID().String()+"/"+l.SpanContext.SpanID().String())
	}
	if want := orderTrace + "/" + sendOrder.SpanContext.SpanID().String(); !contains(linked, want) || len(linked) != 4 {
		t.Errorf("read day links %v, want the 4 order records' spans, %s among them", linked, want)
	}
	sendSummary := find(t, byName["send summary"], func(s tracetest.SpanStub) bool {
		return strings.HasPrefix(records[attr(s, "messaging.message.id")], "00-"+summaryTrace) && strings.HasPrefix(attr(s, "messaging.message.id"), "summary-")
	})
	if tp, want := records[attr(sendSummary, "messaging.message.id")], "00-"+summaryTrace+"-"+sendSummary.SpanContext.SpanID().String()+"-01"; tp != want {
		t.Errorf("summary event's ce_traceparent %q, want %q", tp, want)
	}

	// The vendor report, published in the same trace: each vendor's email
	// is a span in that trace, under the delivery whose parent is the
	// vendor report event's span.
	sendVendors := find(t, byName["send report"], func(s tracetest.SpanStub) bool {
		return strings.HasPrefix(attr(s, "messaging.message.id"), "vendorreport-")
	})
	if tp, want := records[attr(sendVendors, "messaging.message.id")], "00-"+summaryTrace+"-"+sendVendors.SpanContext.SpanID().String()+"-01"; tp != want {
		t.Errorf("vendor report event's ce_traceparent %q, want %q", tp, want)
	}
	deliveries := map[string]bool{}
	for _, s := range byName["POST /"] { // the KafkaSource's sink URL
		if s.Parent.SpanID() == sendVendors.SpanContext.SpanID() {
			deliveries[s.SpanContext.SpanID().String()] = true
		}
	}
	var emails []string
	for _, s := range byName["send email"] {
		if deliveries[s.Parent.SpanID().String()] && s.SpanContext.TraceID().String() == summaryTrace {
			emails = append(emails, attr(s, "sopaipillas.mail.outcome"))
		}
	}
	sort.Strings(emails)
	if diff := cmp.Diff([]string{"failed", "retry", "sent", "sent"}, emails); diff != "" {
		t.Errorf("email spans under the vendor report's deliveries (-want, +got):\n%s", diff)
	}
	for _, s := range spans.GetSpans() { // go test -v shows the two traces
		if id := s.SpanContext.TraceID().String(); id == orderTrace || id == summaryTrace {
			t.Logf("trace %s span %s parent %s %-20s links %d", id, s.SpanContext.SpanID(), s.Parent.SpanID(), s.Name, len(s.Links))
		}
	}
	if len(deliveries) != 2 {
		t.Errorf("%d deliveries of the vendor report continue its trace, want 2 (a 503, then 200)", len(deliveries))
	}
}

// start runs a function as its binary does, on a free port, and returns
// its URL once it is ready.
func start[C any](t *testing.T, ctx context.Context, wg *sync.WaitGroup, name string, setup runner.Setup[C]) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runner.RunOn(ctx, name, setup, ln, io.Discard); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}()
	u := "http://" + ln.Addr().String()
	waitFor(t, name+" ready", func() bool {
		r, err := http.Get(u + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusNoContent
	})
	return u
}

func order(id int, vendor string, n int) string {
	return fmt.Sprintf(`{"order_id":%d,"email_vendedor":%q,"email_cocinero":%q,"numero_sopaipillas":%d}`, id, vendor, cook, n)
}

func post(t *testing.T, u, traceparent, body string, status int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != status {
		t.Fatalf("POST %s: %d, want %d: %s", u, r.StatusCode, status, b)
	}
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling, not synchronising
	}
}

// metrics are collected values: sums by name and attribute set
// ("{k=v,...}", "" for none), histogram counts by name and attribute set.
type metrics struct {
	sums  map[string]map[string]int64
	hists map[string]map[string]uint64
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	m := metrics{sums: map[string]map[string]int64{}, hists: map[string]map[string]uint64{}}
	for _, sm := range rm.ScopeMetrics {
		for _, d := range sm.Metrics {
			switch data := d.Data.(type) {
			case metricdata.Sum[int64]:
				m.sums[d.Name] = map[string]int64{}
				for _, p := range data.DataPoints {
					m.sums[d.Name][setString(p.Attributes)] += p.Value
				}
			case metricdata.Histogram[float64]:
				m.hists[d.Name] = map[string]uint64{}
				for _, p := range data.DataPoints {
					m.hists[d.Name][setString(p.Attributes)] += p.Count
				}
			}
		}
	}
	return m
}

func setString(s attribute.Set) string {
	if s.Len() == 0 {
		return ""
	}
	var kv []string
	for _, a := range s.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.Emit())
	}
	return "{" + strings.Join(kv, ",") + "}"
}

func (m metrics) sum(name string) int64 {
	var n int64
	for _, v := range m.sums[name] {
		n += v
	}
	return n
}

func (m metrics) histCount(name string) uint64 {
	var n uint64
	for _, v := range m.hists[name] {
		n += v
	}
	return n
}

func (m metrics) httpCount() uint64 { return m.histCount("http.server.request.duration") }

// httpByStatus counts http.server.request.duration by status code.
func (m metrics) httpByStatus() map[string]int64 {
	out := map[string]int64{}
	for set, n := range m.hists["http.server.request.duration"] {
		for _, kv := range strings.Split(strings.Trim(set, "{}"), ",") {
			if v, ok := strings.CutPrefix(kv, "http.response.status_code="); ok {
				out[v] += int64(n)
			}
		}
	}
	return out
}

// consume reads the topics from the start until each has its count of
// records, and returns each record's ce_traceparent by event id.
func consume(t *testing.T, brokers []string, want map[string]int) map[string]string {
	t.Helper()
	var topics []string
	for k := range want {
		topics = append(topics, k)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, got := map[string]string{}, map[string]int{}
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %v: got %v records, want %v", topics, got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Topic]++
			var id, tp string
			for _, h := range r.Headers {
				switch h.Key {
				case "ce_id":
					id = string(h.Value)
				case "ce_traceparent":
					tp = string(h.Value)
				}
			}
			out[id] = tp
		})
		done = cmp.Equal(got, want)
	}
	return out
}

func spansByName(ss tracetest.SpanStubs) map[string][]tracetest.SpanStub {
	out := map[string][]tracetest.SpanStub{}
	for _, s := range ss {
		out[s.Name] = append(out[s.Name], s)
	}
	return out
}

func find(t *testing.T, ss []tracetest.SpanStub, ok func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	for _, s := range ss {
		if ok(s) {
			return s
		}
	}
	t.Fatalf("no such span among %d", len(ss))
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
