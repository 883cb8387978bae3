package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/api"
	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// TestAsyncAPIRecords runs the pipeline as deployed (pipelineRecords) and
// validates every record of every topic (order, summary, report, mail-sent)
// against api/asyncapi.yaml: the topics are exactly its channels, each record
// is one of its channel's messages (by ce_type where a channel has several),
// and its headers, key and payload are valid by the message's schemas (JSON
// Schema 2020-12, formats asserted). Every message of every channel must be
// seen. sendMail's ledger is checked as the code writes it, so a change to
// the ledger fails here until the document says it.
func TestAsyncAPIRecords(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, vendorReportSchema)); err != nil {
		t.Skipf("%s is not here yet (the statement branch writes it with the vendor reports): %v", vendorReportSchema, err)
	}
	checkAgainstAsyncAPI(t, root, pipelineRecords(t))
}

// pipelineRecords runs newOrder, dailySummary and sendMail behind a
// KafkaSource on topic report, as deployed, with a vendor registry that lists
// one of two vendors and an SMTP server, on an embedded Kafka: two orders (one
// with an extra field) and a second version of the first, the day's summary,
// and sendMail's emails. It returns
// every record of every topic once sendMail has sent the vendor's and the
// cook's emails and skipped the other vendor.
func pipelineRecords(t *testing.T) []*kgo.Record {
	t.Helper()
	brokers := embeddedKafka(t)
	url := startFunctionsOn(t, brokers)

	// One vendor in the registry; the other's email is recorded skipped.
	registry := filepath.Join(t.TempDir(), "vendors.yaml")
	if err := os.WriteFile(registry, []byte("vendors:\n  - email: vendor_tarea2@yopmail.com\n    cooks: [asdasdasda@yopmail.com]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	smtp, err := smtptest.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	for k, v := range map[string]string{"MAIL_BACKEND": "smtp", "MAIL_FROM": "reportes@sopaipillas.test", "SMTP_HOST": smtp.Host(),
		"SMTP_PORT": fmt.Sprint(smtp.Port()), "SMTP_TLS": "none", "VENDORS_FILE": registry} {
		t.Setenv(k, v)
	}
	var smCfg sendmail.Config
	if err := envconfig.Process("", &smCfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	sm, smClose, err := sendmail.Setup(ctx, smCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- server.Serve(ctx, server.New(sm), ln, log) }()
	// The chart's KafkaSource: sendMail reads the reports (REPORT_TOPIC's
	// default, events.DefaultReportTopic).
	source := &devstack.KafkaSource{Brokers: strings.Split(brokers, ","), Topic: events.DefaultReportTopic, Group: "asyncapi-records",
		Sink: "http://" + ln.Addr().String(), Retry: 3, Backoff: 10 * time.Millisecond, Log: log,
		DeadLetter: func(_ context.Context, e cloudevents.Event, reason string) {
			t.Errorf("dead-lettered %s: %s", e.Type(), reason)
		}}
	go func() { served <- source.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-served; <-served; smClose.Close() })

	for _, o := range []string{
		`{"order_id": 1, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`,
		`{"order_id": 2, "email_vendedor": "Otro@Yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 5, "nota": {"sin": ["pebre"]}}`,
		// order_id 1 again with another body: it does not count, and the
		// vendor report lists it with the version that did.
		`{"order_id": 1, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 20}`,
	} {
		post(t, url+"/newOrder", o, http.StatusCreated)
	}
	post(t, url+"/dailySummary", `{}`, http.StatusOK)

	// sendMail is done when the vendor and the cook are sent and the other
	// vendor skipped.
	var recs []*kgo.Record
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs = readTopics(t, brokers)
		states := map[string]int{}
		for _, r := range recs {
			if r.Topic == "mail-sent" {
				var v struct{ State string }
				json.Unmarshal(r.Value, &v)
				states[v.State]++
			}
		}
		if states["sent"] >= 2 && states["skipped"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendMail did not send 2 emails and skip 1 within 60 s: ledger states %v", states)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return recs
}

// vendorReportSchema is the vendor report's payload, which the report
// channel's vendorReportCreated refers to.
const vendorReportSchema = "events/schemas/vendorreport.json"

// readTopics returns every record of every topic but Kafka's own, from the
// start to the end offsets at the call.
func readTopics(t *testing.T, brokers string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return topicRecords(t, brokers, topics.Names()...)
}

// checkAgainstAsyncAPI validates recs against api/asyncapi.yaml.
func checkAgainstAsyncAPI(t *testing.T, root string, recs []*kgo.Record) {
	t.Helper()
	d := load(t, api.AsyncAPI)
	docURL := "file://" + filepath.ToSlash(filepath.Join(root, "api/asyncapi.yaml"))
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	// The payloads are the schema files, registered under their $id; the
	// document's relative references to them are rewritten to those ids.
	files, _ := filepath.Glob(filepath.Join(root, "events/schemas/*.json"))
	for _, f := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustRead(t, f)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(doc.(map[string]any)["$id"].(string), doc); err != nil {
			t.Fatal(err)
		}
	}
	asJSON, _ := json.Marshal(map[string]any(d))
	asJSON = bytes.ReplaceAll(asJSON, []byte(`"../events/schemas/`), []byte(`"https://sopaipillas.cl/schemas/`))
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	compiled := map[string]*jsonschema.Schema{}
	schema := func(ptr string) *jsonschema.Schema {
		if s, ok := compiled[ptr]; ok {
			return s
		}
		s, err := c.Compile(docURL + "#" + ptr)
		if err != nil {
			t.Fatalf("compiling %s: %v", ptr, err)
		}
		compiled[ptr] = s
		return s
	}

	// Channel addresses, and each channel's messages by name.
	type message struct{ ref, name string }
	channels := map[string][]message{}
	for _, ch := range at(t, d, "channels").(map[string]any) {
		ch := ch.(map[string]any)
		for _, m := range ch["messages"].(map[string]any) {
			ref := m.(map[string]any)["$ref"].(string)
			name := at(t, d, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...).(map[string]any)["name"].(string)
			channels[ch["address"].(string)] = append(channels[ch["address"].(string)], message{strings.TrimPrefix(ref, "#"), name})
		}
	}
	var documented, written []string
	for a := range channels {
		documented = append(documented, a)
	}
	seen := map[string]int{}
	byTopic := map[string]int{}
	for _, r := range recs {
		if !slices.Contains(written, r.Topic) {
			written = append(written, r.Topic)
		}
		msgs, ok := channels[r.Topic]
		if !ok {
			continue
		}
		byTopic[r.Topic]++
		headers := map[string]any{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		var m message
		if len(msgs) == 1 {
			m = msgs[0]
		} else {
			for _, c := range msgs {
				if c.name == headers["ce_type"] {
					m = c
				}
			}
			if m.ref == "" {
				t.Errorf("%s offset %d: ce_type %q is none of the channel's messages", r.Topic, r.Offset, headers["ce_type"])
				continue
			}
		}
		seen[r.Topic+" "+m.name]++
		where := fmt.Sprintf("%s offset %d (%s)", r.Topic, r.Offset, m.name)
		msg := at(t, d, strings.Split(strings.TrimPrefix(m.ref, "/"), "/")...).(map[string]any)
		if _, ok := msg["headers"]; ok {
			if err := schema(m.ref + "/headers").Validate(headers); err != nil {
				t.Errorf("%s headers %v: %v", where, headers, err)
			}
		}
		if _, ok := msg["bindings"]; ok {
			if err := schema(m.ref + "/bindings/kafka/key").Validate(string(r.Key)); err != nil {
				t.Errorf("%s key %q: %v", where, r.Key, err)
			}
		}
		payload := m.ref + "/payload"
		if _, ok := msg["payload"].(map[string]any)["schemaFormat"]; ok {
			payload += "/schema"
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Value))
		if err != nil {
			t.Errorf("%s value %q is not JSON: %v", where, r.Value, err)
			continue
		}
		if err := schema(payload).Validate(v); err != nil {
			t.Errorf("%s value %s: %v", where, r.Value, err)
		}
	}
	slices.Sort(documented)
	slices.Sort(written)
	written = slices.DeleteFunc(written, func(s string) bool { return strings.HasPrefix(s, "__") })
	if diff := cmp.Diff(documented, written); diff != "" {
		t.Errorf("topics (-channels of asyncapi.yaml, +topics written):\n%s", diff)
	}
	for a, msgs := range channels {
		for _, m := range msgs {
			if seen[a+" "+m.name] == 0 {
				t.Errorf("no record of channel %s is message %s", a, m.name)
			}
		}
	}
	t.Logf("records validated against asyncapi.yaml: %v; by message: %v", byTopic, seen)
}
