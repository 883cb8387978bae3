package sendmail

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

const testFrom = "reportes@sopaipillas.example"

var topicUnsafe = regexp.MustCompile(`[^a-z0-9._-]+`)

// ledgerKinds are the ledgers every delivery test runs against: the
// protocol in memory, and in Kafka (the in-process kfake broker, or the real
// brokers in KAFKA_BROKERS). -short (make check) keeps to memory: make test
// runs both.
func ledgerKinds() []string {
	if testing.Short() {
		return []string{"memory"}
	}
	return []string{"memory", "kafka"}
}

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
	return testLedger{Ledger: newSharedLedger(t, kind, lease, "")(now)}
}

// newSharedLedger returns a maker of ledgers that share one journal (one
// topic, created with timestamp type stamps: "" is CreateTime, the
// writer's clock) each with its own clock, as sendMail replicas do.
func newSharedLedger(t *testing.T, kind string, lease time.Duration, stamps string) func(now func() time.Time) Ledger {
	t.Helper()
	if kind == "memory" {
		j := &memJournal{}
		return func(now func() time.Time) Ledger { return newProtocolLedger(j, lease, now) }
	}
	// Kafka takes ASCII letters, digits, '.', '_' and '-', up to 249.
	name := topicUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	topic := "mail-sent-" + name[:min(len(name), 200)] + "-" + randomID()
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
	spec.TimestampType = stamps
	if err := kafka.EnsureTopics(brokers, cfg, -1, spec); err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return func(now func() time.Time) Ledger {
		l, closeLedger, err := NewKafkaLedger(client, topic, lease, now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeLedger() })
		return l
	}
}

// newTestFunction is sendMail sending through a real SMTP server on
// loopback, with a fast rate limit.
func newTestFunction(t *testing.T, srv *smtptest.Server, ledger Ledger, opts Options) *Function {
	t.Helper()
	return newTestFunctionWith(t, smtpSender(t, srv, opts), ledger, opts, discardLog())
}

func smtpSender(t *testing.T, srv *smtptest.Server, opts Options) *mail.SMTP {
	t.Helper()
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSNone, Timeout: 5 * time.Second, MaxIdle: max(opts.Concurrency, 8)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	return sender
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestFunctionWith is sendMail sending through sender.
func newTestFunctionWith(t *testing.T, sender mail.Sender, ledger Ledger, opts Options, log *slog.Logger) *Function {
	t.Helper()
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
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
	if opts.Location == nil {
		opts.Location = santiago
	}
	return New(sender, report, ledger, opts, log)
}

var santiago = func() *time.Location {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		panic(err)
	}
	return loc
}()

// The test day, 13/11/2021, in Santiago (UTC-3 in November): it ends at
// 03:00 UTC on the 14th.
var (
	testDay     = events.Date{Year: 2021, Month: 11, Day: 13}
	dayEnd      = time.Date(2021, 11, 14, 3, 0, 0, 0, time.UTC)
	finalMeta   = events.ReportMeta{Status: events.StatusFinal, CountedUntil: dayEnd, Computed: dayEnd.Add(65 * time.Minute)}
	partial1432 = partialAt(14, 32)
)

// partialAt is a partial report of the test day counted up to hh:mm in
// Santiago.
func partialAt(hh, mm int) events.ReportMeta {
	at := time.Date(2021, 11, 13, hh, mm, 0, 0, santiago)
	return events.ReportMeta{Status: events.StatusPartial, CountedUntil: at, Computed: at}
}

func summaryEvent(t *testing.T, s events.Summary) cloudevents.Event {
	t.Helper()
	return summaryEventMeta(t, s, finalMeta)
}

func summaryEventMeta(t *testing.T, s events.Summary, meta events.ReportMeta) cloudevents.Event {
	t.Helper()
	e, err := events.NewSummaryEvent(s, meta)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func cookEvent(t *testing.T, r events.CookReport, meta events.ReportMeta) cloudevents.Event {
	t.Helper()
	e, err := events.NewCookReportEvent(r, meta)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testSummary(vendors ...string) events.Summary {
	s := events.Summary{Fecha: testDay.String(), Ventas: map[string]events.Sales{}}
	for i, v := range vendors {
		s.Ventas[v] = events.Sales{NOrdenes: int64(i + 1), NSopaipillas: int64(10*(i+1) + 1)}
	}
	return s
}

// testVendorReport is testSummary's day as a vendor report, no order
// listed.
func testVendorReport(vendors ...string) events.VendorReport {
	r := events.VendorReport{Fecha: testDay.String(), Vendedores: map[string]events.VendorOrders{}}
	for v, s := range testSummary(vendors...).Ventas {
		r.Vendedores[v] = events.VendorOrders{NSopaipillas: s.NSopaipillas, NOrdenes: s.NOrdenes, Ordenes: []events.ListedOrder{},
			OrdenesNoListadas: s.NOrdenes, NoContadas: []events.UncountedOrder{}}
	}
	return r
}

func vendorReportEvents(t *testing.T, r events.VendorReport, meta events.ReportMeta) []cloudevents.Event {
	t.Helper()
	evs, err := events.NewVendorReportEvents(r, meta)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// testCooks is the day of cooks, each having cooked for two vendors.
func testCooks(cooks ...string) []events.CookReport {
	day := events.NewCookDay(testDay)
	for i, c := range cooks {
		day.Add(c, "ana@example.com", events.Sales{NOrdenes: int64(i + 1), NSopaipillas: int64(10*(i+1) + 1)})
		day.Add(c, "beto@example.com", events.Sales{NOrdenes: 1, NSopaipillas: 3})
	}
	return day.Reports()
}

// readerKind builds the report events of one kind of reader for a set of
// recipients: the summary (one event for all vendors) or the cook reports
// (one event per cook).
type readerKind struct {
	name   string
	events func(t *testing.T, recipients []string, meta events.ReportMeta) []cloudevents.Event
}

var readerKinds = []readerKind{
	{name: "vendors", events: func(t *testing.T, rs []string, meta events.ReportMeta) []cloudevents.Event {
		return []cloudevents.Event{summaryEventMeta(t, testSummary(rs...), meta)}
	}},
	{name: "vendor reports", events: func(t *testing.T, rs []string, meta events.ReportMeta) []cloudevents.Event {
		return vendorReportEvents(t, testVendorReport(rs...), meta)
	}},
	{name: "cooks", events: func(t *testing.T, rs []string, meta events.ReportMeta) []cloudevents.Event {
		var out []cloudevents.Event
		for _, r := range testCooks(rs...) {
			out = append(out, cookEvent(t, r, meta))
		}
		return out
	}},
}

// deliverUntilAccepted redelivers e as a KafkaSource does until sendMail
// answers 2xx, polling within a deadline.
func deliverUntilAccepted(t *testing.T, f *Function, e cloudevents.Event) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		code := f.Receive(context.Background(), e).Status
		if code/100 == 2 {
			return n
		}
		if code != 503 {
			t.Errorf("delivery %d of %s answered %d", n, e.ID(), code)
			return n
		}
		if time.Now().After(deadline) {
			t.Errorf("still %d after %d deliveries of %s", code, n, e.ID())
			return n
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

func onceEach(recipients ...string) map[string]int {
	want := map[string]int{}
	for _, r := range recipients {
		want[r] = 1
	}
	return want
}

// subjects lists, per recipient, the subjects of the emails the server
// got, in the order it got them.
func subjects(t *testing.T, srv *smtptest.Server) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, m := range srv.Messages() {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range m.To {
			got[to] = append(got[to], p.Subject)
		}
	}
	return got
}
