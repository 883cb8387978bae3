package sendmail

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

const testFrom = "reportes@sopaipillas.example"

// ledgerKinds are the ledgers every delivery test runs against: the
// protocol in memory, and in Kafka (the in-process kfake broker, or the real
// brokers in KAFKA_BROKERS).
var ledgerKinds = []string{"memory", "kafka"}

type testLedger struct {
	Ledger
	mem *memJournal // nil for Kafka
}

func newTestLedger(t *testing.T, kind string, lease time.Duration, now func() time.Time) testLedger {
	t.Helper()
	if kind == "memory" {
		j := &memJournal{}
		return testLedger{Ledger: newProtocolLedger(j, lease, now), mem: j}
	}
	topic := "mail-sent-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())) + "-" + randomID()
	brokers := strings.Split(os.Getenv("KAFKA_BROKERS"), ",")
	if os.Getenv("KAFKA_BROKERS") == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers = c.ListenAddrs()
	}
	cfg := LedgerSaramaConfig("sendmail-test")
	spec := Config{LedgerTopic: topic, LedgerPartitions: 3, LedgerRetention: 96 * time.Hour}.LedgerTopicSpec()
	if err := kafka.EnsureTopics(brokers, cfg, -1, spec); err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, closeLedger, err := NewKafkaLedger(client, topic, lease, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeLedger(); client.Close() })
	return testLedger{Ledger: l}
}

// newTestFunction is sendMail sending through a real SMTP server on
// loopback, with a fast rate limit.
func newTestFunction(t *testing.T, srv *smtptest.Server, ledger Ledger, opts Options) *Function {
	t.Helper()
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second, MaxIdle: opts.Concurrency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	report, err := NewReport(testFrom, "Sopaipillas")
	if err != nil {
		t.Fatal(err)
	}
	if opts.RatePerSecond == 0 {
		opts.RatePerSecond = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return New(sender, report, ledger, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func summaryEvent(t *testing.T, s events.Summary) cloudevents.Event {
	t.Helper()
	e, err := events.NewSummaryEvent(s, events.ReportMeta{Status: events.StatusFinal, CountedUntil: time.Now(), Computed: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testSummary(vendors ...string) events.Summary {
	s := events.Summary{Fecha: "13/11/2021", Ventas: map[string]events.Sales{}}
	for i, v := range vendors {
		s.Ventas[v] = events.Sales{NOrdenes: int64(i + 1), NSopaipillas: int64(10*(i+1) + 1)}
	}
	return s
}

// status is the HTTP status a Receive result becomes.
func status(t *testing.T, res protocol.Result) int {
	t.Helper()
	var r *cehttp.Result
	if !errors.As(res, &r) {
		t.Fatalf("result %v is not an HTTP result", res)
	}
	return r.StatusCode
}

// deliverUntilAccepted redelivers e as a KafkaSource does until sendMail
// answers 2xx, polling within a deadline.
func deliverUntilAccepted(t *testing.T, f *Function, e cloudevents.Event) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		code := status(t, f.Receive(context.Background(), e))
		if code/100 == 2 {
			return n
		}
		if code != 503 {
			t.Fatalf("delivery %d answered %d", n, code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d after %d deliveries", code, n)
		}
		<-tick.C
	}
}

// perRecipient counts the messages the server got for each recipient.
func perRecipient(srv *smtptest.Server) map[string]int {
	got := map[string]int{}
	for _, m := range srv.Messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	return got
}

func onceEach(vendors ...string) map[string]int {
	want := map[string]int{}
	for _, v := range vendors {
		want[v] = 1
	}
	return want
}
