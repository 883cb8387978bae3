package contract

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"
	"sigs.k8s.io/yaml"

	"github.com/sopaipillas/sopaipillas/api"
	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	gomail "github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// TestDocumentsValidate validates both documents against their official
// JSON Schemas (hack/python/validate_docs.py).
func TestDocumentsValidate(t *testing.T) {
	py := python(t)
	root := repoRoot(t)
	out, err := exec.Command(py, filepath.Join(root, "hack/python/validate_docs.py"), root).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("validate_docs.py: %v", err)
	}
}

// doc is a YAML document as generic JSON values.
type doc map[string]any

func load(t *testing.T, data []byte) doc {
	t.Helper()
	var d doc
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// at walks a path of keys (or list indexes) through d.
func at(t *testing.T, d any, path ...string) any {
	t.Helper()
	for i, p := range path {
		switch v := d.(type) {
		case map[string]any:
			d = v[p]
		case doc:
			d = v[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n >= len(v) {
				t.Fatalf("%s: no index %q", strings.Join(path[:i], "/"), p)
			}
			d = v[n]
		default:
			t.Fatalf("%s: not a map or list", strings.Join(path[:i], "/"))
		}
		if d == nil {
			t.Fatalf("%s: missing", strings.Join(path[:i+1], "/"))
		}
	}
	return d
}

func keys(m any) []string {
	var out []string
	for k := range m.(map[string]any) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve follows a local $ref of the OpenAPI document.
func resolve(t *testing.T, d doc, node any) any {
	t.Helper()
	m, ok := node.(map[string]any)
	if !ok {
		return node
	}
	ref, ok := m["$ref"].(string)
	if !ok || !strings.HasPrefix(ref, "#/") {
		return node
	}
	return resolve(t, d, at(t, d, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...))
}

// serverStatuses are answered by every function's server before its
// handler runs (functions/internal/server: 408 for a body that does not
// arrive in time, tested there); every POST operation documents them.
var serverStatuses = []int{http.StatusRequestTimeout}

// documentedStatuses is every status an operation documents but those of
// the server, which it checks are documented too.
func documentedStatuses(t *testing.T, d doc, path string) []int {
	var out []int
	for _, k := range keys(at(t, d, "paths", path, "post", "responses")) {
		n, err := strconv.Atoi(k)
		if err != nil {
			t.Fatalf("%s: response %q is not a status", path, k)
		}
		out = append(out, n)
	}
	for _, s := range serverStatuses {
		i := slices.Index(out, s)
		if i < 0 {
			t.Errorf("%s does not document %d, which the server answers", path, s)
			continue
		}
		out = slices.Delete(out, i, i+1)
	}
	return out
}

type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, string, cloudevents.Event) error {
	return errors.New("not acknowledged")
}

type okSender struct{}

func (okSender) Send(context.Context, gomail.Message) error { return nil }

// failingSender fails as a mail server that is down does: transient.
type failingSender struct{}

func (failingSender) Send(context.Context, gomail.Message) error {
	return errors.New("dial tcp: connection refused")
}

type failingLog struct{}

func (failingLog) Scan(context.Context, time.Time, time.Time, func(int32, dailysummary.Expect) func(dailysummary.Record)) error {
	return errors.New("partition unavailable")
}

type request struct {
	header http.Header
	body   string
}

// statusesOf sends each request to h and returns the statuses answered,
// checking that each error is problem+json.
func statusesOf(t *testing.T, h http.Handler, path string, reqs []request) []int {
	t.Helper()
	seen := map[int]bool{}
	for _, r := range reqs {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(r.body))
		req.Header = r.header
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		seen[rec.Code] = true
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && ct != "application/problem+json" {
			t.Errorf("%s answered %d as %q, not problem+json", path, rec.Code, ct)
		}
	}
	var out []int
	for s := range seen {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// TestOpenAPIDrift binds openapi.yaml to the code: the statuses each
// operation documents are exactly those its handler answers, the
// CloudEvents types and answer fields are the code's.
func TestOpenAPIDrift(t *testing.T) {
	d := load(t, api.OpenAPI)
	if diff := cmp.Diff([]string{"/", "/api/days/{fecha}", "/api/days/{fecha}.csv", "/dailySummary", "/events", "/healthz", "/login", "/logout", "/newOrder", "/readyz", "/static/{file}"}, keys(d["paths"])); diff != "" {
		t.Errorf("paths (-want, +got):\n%s", diff)
	}
	quiet := slog.New(slog.DiscardHandler)
	now := func() time.Time { return time.Date(2025, 11, 13, 15, 0, 0, 0, time.UTC) }
	seed := `{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`
	j := http.Header{"Content-Type": {"application/json"}}
	ce := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"x"}, "Ce-Source": {"/x"}, "Ce-Type": {"other"}, "Content-Type": {"application/json"}}
	for _, pub := range []neworder.Publisher{nopPublisher{}, failingPublisher{}} {
		h := neworder.New(pub, "order", time.Second, now, quiet).Handler()
		got := statusesOf(t, h, "/newOrder", []request{
			{j, seed}, {j, "{"}, {j, `{"nota": "` + strings.Repeat("a", neworder.MaxBodyBytes) + `"}`},
			{http.Header{"Content-Type": {"text/plain"}}, seed}, {j, `{}`}, {ce, seed},
		})
		want := []int{201, 400, 413, 415, 422}
		if _, failing := pub.(failingPublisher); failing {
			want = []int{400, 413, 415, 422, 503}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("newOrder statuses (-want, +got):\n%s", diff)
		}
	}
	// With a vendor registry (issue 14): no key, another vendor's order, a
	// key past its rate (one order at once; the 403 spends none).
	key, hash, _ := vendors.NewKey()
	reg, err := vendors.File{Vendors: []vendors.Vendor{{Email: "vendor_tarea2@yopmail.com", Name: "v", Keys: []string{hash}}}}.Registry()
	if err != nil {
		t.Fatal(err)
	}
	f := neworder.New(nopPublisher{}, "order", time.Second, now, quiet)
	f.SetAuthorizer(neworder.NewVendorAuth(func() *vendors.Registry { return reg }, vendors.NewLimiter(0.001, 1), now, quiet))
	withKey := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
	got := statusesOf(t, f.Handler(), "/newOrder", []request{
		{j, seed}, {withKey, strings.Replace(seed, "vendor_tarea2", "otro", 1)}, {withKey, seed}, {withKey, seed},
	})
	if diff := cmp.Diff([]int{201, 401, 403, 429}, got); diff != "" {
		t.Errorf("newOrder statuses with a registry (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{201, 400, 401, 403, 413, 415, 422, 429, 503}, documentedStatuses(t, d, "/newOrder")); diff != "" {
		t.Errorf("newOrder's documented statuses (-answered, +documented):\n%s", diff)
	}
	loc, _ := time.LoadLocation("America/Santiago")
	for _, log := range []dailysummary.OrderLog{emptyLog{}, failingLog{}} {
		h := dailysummary.New(log, nopPublisher{}, dailysummary.Options{SummaryTopic: "summary", Location: loc,
			Retention: 72 * time.Hour, Timeout: time.Second, Token: "t", Now: now}, quiet).Handler()
		auth := http.Header{"Authorization": {"Bearer t"}}
		got := statusesOf(t, h, "/dailySummary", []request{
			{auth, ""}, {http.Header{}, ""}, {auth, "{"}, {auth, `{"fecha": "` + strings.Repeat("1", dailysummary.MaxBodyBytes) + `"}`},
			{auth, `{"fecha": "31/02/2025"}`},
		})
		want := []int{200, 400, 401, 413, 422}
		if _, failing := log.(failingLog); failing {
			want = []int{400, 401, 413, 422, 503}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dailySummary statuses (-want, +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]int{200, 400, 401, 413, 422, 503}, documentedStatuses(t, d, "/dailySummary")); diff != "" {
		t.Errorf("dailySummary's documented statuses (-answered, +documented):\n%s", diff)
	}

	report, err := sendmail.NewReport("reportes@example.com", "Sopaipillas")
	if err != nil {
		t.Fatal(err)
	}
	for _, sender := range []gomail.Sender{okSender{}, failingSender{}} {
		h, _ := sendmail.New(sender, report, sendmail.NewMemoryLedger(time.Minute, time.Now), sendmail.Options{Concurrency: 2, RatePerSecond: 1000, Now: time.Now}, quiet).Handler(context.Background())
		summary := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"s"}, "Ce-Source": {events.SourceDailySummary}, "Ce-Type": {events.TypeSummaryCreated}, "Content-Type": {"application/json"}}
		got := statusesOf(t, h, "/", []request{
			{summary, `{"ventas":{"v@example.com":{"n_sopaipillas":3,"n_ordenes":1}},"fecha":"13/11/2021"}`},
			{summary, `{"ventas":{"v@example.com":{"N_SOPAIPILLAS":3,"n_ordenes":1}},"fecha":"13/11/2021"}`},
			{http.Header{"Content-Type": {"application/json"}}, `{}`},
			{summary, `{"ventas":{"` + strings.Repeat("a", sendmail.MaxBodyBytes) + `@x.cl":{}},"fecha":"13/11/2021"}`},
		})
		want := []int{200, 400, 413, 422}
		if _, failing := sender.(failingSender); failing {
			want = []int{400, 413, 422, 503}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("sendMail statuses (-want, +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]int{200, 400, 413, 422, 503}, documentedStatuses(t, d, "/")); diff != "" {
		t.Errorf("sendMail's documented statuses (-answered, +documented):\n%s", diff)
	}

	params := at(t, d, "components", "parameters").(map[string]any)
	for _, c := range []struct{ got, want any }{
		{at(t, params, "CeTypeOrder", "schema", "enum"), []any{events.TypeOrderCreated}},
		{at(t, params, "CeTypePing", "schema", "examples"), []any{events.TypePing}},
		{at(t, d, "paths", "/", "post", "parameters", "3", "schema", "enum"), []any{events.TypeSummaryCreated, events.TypeCookReportCreated, events.TypeVendorReportCreated, "dev.knative.kafka.event"}},
		{at(t, d, "components", "schemas", "StructuredOrderEvent", "properties", "type", "const"), events.TypeOrderCreated},
		{at(t, d, "components", "schemas", "OrderAccepted", "properties", "response", "const"), neworder.Accepted},
		{at(t, d, "components", "schemas", "SummaryAnswer", "properties", "response", "const"), dailysummary.Generated},
		{at(t, d, "components", "schemas", "OrderAccepted", "required"), jsonNames[neworder.Response]()},
		{at(t, d, "components", "schemas", "SummaryAnswer", "required"), jsonNames[dailysummary.Response]()},
		{at(t, d, "components", "schemas", "SummaryAnswer", "properties", "skipped_records_by_reason", "propertyNames", "enum"),
			[]any{dailysummary.SkipNotAnOrder, dailysummary.SkipInvalidCloudEvent, dailysummary.SkipOtherEventType, dailysummary.SkipInvalidOrder}},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("openapi.yaml disagrees with the code (-code, +document):\n%s", diff)
		}
	}
}

// jsonNames lists the JSON names of T's fields, in order.
func jsonNames[T any]() []any {
	var out []any
	rt := reflect.TypeFor[T]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// TestAsyncAPIDrift binds asyncapi.yaml to the code: topics, partitions,
// retention and cleanup policy as the functions create them, event types
// and sources, and the record headers and key the real Kafka binding
// writes for each event.
func TestAsyncAPIDrift(t *testing.T) {
	d := load(t, api.AsyncAPI)
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:9")
	t.Setenv("MAIL_FROM", "reportes@example.com")
	var (
		no neworder.Config
		ds dailysummary.Config
		sm sendmail.Config
	)
	for _, cfg := range []any{&no, &ds, &sm} {
		if err := envconfig.Process("", cfg); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"mail-sent", "order", "report", "summary"}, keys(d["channels"])); diff != "" {
		t.Errorf("channels (-want, +got):\n%s", diff)
	}
	report := topicSpec(t, ds, "ReportTopicSpec")
	for _, spec := range []struct {
		channel string
		name    string
		parts   int32
		ms      int64
		compact bool
		tsType  string
	}{
		{"order", no.OrderTopicSpec().Name, no.OrderTopicSpec().Partitions, no.OrderTopicSpec().RetentionMs, no.OrderTopicSpec().Compact, no.OrderTopicSpec().TimestampType},
		{"summary", no.SummaryTopicSpec().Name, no.SummaryTopicSpec().Partitions, no.SummaryTopicSpec().RetentionMs, no.SummaryTopicSpec().Compact, no.SummaryTopicSpec().TimestampType},
		{"report", report.Name, report.Partitions, report.RetentionMs, report.Compact, report.TimestampType},
		{"mail-sent", sm.LedgerTopicSpec().Name, sm.LedgerTopicSpec().Partitions, sm.LedgerTopicSpec().RetentionMs, sm.LedgerTopicSpec().Compact, ""},
	} {
		b := at(t, d, "channels", spec.channel, "bindings", "kafka").(map[string]any)
		policy := []any{"delete"}
		if spec.compact {
			policy = []any{"compact", "delete"}
		}
		got := []any{at(t, d, "channels", spec.channel, "address"), b["topic"], b["partitions"], at(t, b, "topicConfiguration", "retention.ms"),
			at(t, b, "topicConfiguration", "cleanup.policy"), b["topicConfiguration"].(map[string]any)["message.timestamp.type"]}
		var ts any
		if spec.tsType != "" {
			ts = spec.tsType
		}
		want := []any{spec.name, spec.name, float64(spec.parts), float64(spec.ms), policy, ts}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("channel %s: address, topic, partitions, retention.ms, cleanup.policy, timestamp type (-code, +document):\n%s", spec.channel, diff)
		}
	}

	order, err := events.DecodeOrder([]byte(`{"order_id": 3, "email_vendedor": "a@b.cl", "email_cocinero": "c@d.cl", "numero_sopaipillas": 15}`))
	if err != nil {
		t.Fatal(err)
	}
	orderEvent, err := events.NewOrderEvent(order, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	meta := events.NewReportMeta(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), time.Now())
	summary := events.NewSummary(day)
	summary.Add("a@b.cl", events.Sales{NSopaipillas: 15, NOrdenes: 1})
	summaryEvent, err := events.NewSummaryEvent(summary, meta)
	if err != nil {
		t.Fatal(err)
	}
	cooks := events.NewCookDay(day)
	cooks.Add("c@d.cl", "a@b.cl", events.Sales{NSopaipillas: 15, NOrdenes: 1})
	cookEvent, err := events.NewCookReportEvent(cooks.Reports()[0], meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		message string
		event   cloudevents.Event
		source  string
	}{
		{"orderCreated", orderEvent, events.SourceNewOrder},
		{"summaryCreated", summaryEvent, events.SourceDailySummary},
		{"cookReportCreated", cookEvent, events.SourceDailySummary},
	} {
		t.Run(m.message, func(t *testing.T) {
			msg := resolve(t, doc(d), at(t, d, "components", "messages", m.message)).(map[string]any)
			headers := resolve(t, doc(d), msg["headers"]).(map[string]any)
			props := headers["properties"].(map[string]any)
			if got := msg["name"]; got != m.event.Type() {
				t.Errorf("message name %v, event type %q", got, m.event.Type())
			}
			for _, c := range []struct{ header, want string }{{"ce_type", m.event.Type()}, {"ce_source", m.source}} {
				p := props[c.header].(map[string]any)
				if p["const"] != c.want && !slices.Contains(anySlice(p["enum"]), any(c.want)) {
					t.Errorf("%s: document says %v, the code writes %q", c.header, p, c.want)
				}
			}
			// Written as a traced request publishes it: the optional trace
			// context headers too (CloudEvents distributed-tracing extension).
			traced := m.event.Clone()
			traced.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			traced.SetExtension("tracestate", "sopaipillas=1")
			pm := &sarama.ProducerMessage{}
			if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&traced), pm); err != nil {
				t.Fatal(err)
			}
			var written []string
			for _, h := range pm.Headers {
				written = append(written, string(h.Key))
				if p, ok := props[string(h.Key)].(map[string]any); ok {
					if pat, ok := p["pattern"].(string); ok && !regexp.MustCompile(pat).Match(h.Value) {
						t.Errorf("header %s = %q does not match %q", h.Key, h.Value, pat)
					}
				}
			}
			sort.Strings(written)
			if diff := cmp.Diff(keys(props), written); diff != "" {
				t.Errorf("record headers (-documented, +written):\n%s", diff)
			}
			for _, r := range anySlice(headers["required"]) {
				if !slices.Contains(written, r.(string)) {
					t.Errorf("required header %v is not written", r)
				}
			}
			key, err := pm.Key.Encode()
			if err != nil {
				t.Fatal(err)
			}
			pat := at(t, msg, "bindings", "kafka", "key", "pattern").(string)
			if !regexp.MustCompile(pat).Match(key) {
				t.Errorf("record key %q does not match %q", key, pat)
			}
		})
	}
}

// topicSpec calls cfg's XxxTopicSpec method named method, by name: the
// report topic's (dailysummary.Config.ReportTopicSpec) arrives with the
// vendor reports (issue 24), so until then this reports it missing rather
// than not compile.
func topicSpec(t *testing.T, cfg any, method string) kafka.Topic {
	t.Helper()
	m := reflect.ValueOf(cfg).MethodByName(method)
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0) != reflect.TypeFor[kafka.Topic]() {
		t.Errorf("%T has no method %s() kafka.Topic", cfg, method)
		return kafka.Topic{}
	}
	return m.Call(nil)[0].Interface().(kafka.Topic)
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
