package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka/kafkatest"
	gomail "github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// brokers returns the brokers to run against: always the embedded one, and
// the real Apache Kafka named by KAFKA_BROKERS. make test sets
// SOPAIPILLAS_REQUIRE_KAFKA so that a missing real broker fails the run.
func brokers(t *testing.T) map[string][]string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("embedded broker: %v", err)
	}
	t.Cleanup(cluster.Close)
	out := map[string][]string{"embedded": cluster.ListenAddrs()}
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		name := "apache-kafka-" + os.Getenv("SOPAIPILLAS_KAFKA_VERSION")
		out[name] = strings.Split(b, ",")
		t.Logf("real broker: Apache Kafka %s at %s", os.Getenv("SOPAIPILLAS_KAFKA_VERSION"), b)
	} else if os.Getenv("SOPAIPILLAS_REQUIRE_KAFKA") != "" {
		t.Fatal("SOPAIPILLAS_REQUIRE_KAFKA is set but KAFKA_BROKERS is empty: no real broker to prove the pipeline on")
	}
	return out
}

// system is the three functions, a KafkaSource and a mail catcher, on
// fresh topics of one broker.
type system struct {
	t            *testing.T
	client       sarama.Client
	orderTopic   string
	summaryTopic string
	reportTopic  string // cook and vendor reports: what sendMail's source reads
	newOrder     *httptest.Server
	dailySummary *httptest.Server
	catcher      *devstack.Catcher
	clock        *clock
	brokers      []string
	group        string
	written      []written // every order placed, in order

	deadMu sync.Mutex
	// dead collects the dead letters once expectDeadLetters was called;
	// before, a dead letter fails the test.
	dead []deadLetter
}

// deadLetter is an event the KafkaSource gave up on.
type deadLetter struct{ Type, Data, Reason string }

// expectDeadLetters makes dead letters expected: deadLetters returns them.
func (s *system) expectDeadLetters() {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	if s.dead == nil {
		s.dead = []deadLetter{}
	}
}

func (s *system) deadLetters() []deadLetter {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	return append([]deadLetter(nil), s.dead...)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var santiago = mustLoad("America/Santiago")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func newSystem(t *testing.T, brokers []string) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	suffix := randomSuffix(t)
	s := &system{t: t, orderTopic: "order-" + suffix, summaryTopic: "summary-" + suffix, reportTopic: "report-" + suffix, clock: &clock{now: time.Now()}}

	cfg := kafka.NewSaramaConfig("e2e")
	topics := kafka.TopicsConfig{OrderTopic: s.orderTopic, SummaryTopic: s.summaryTopic, OrderPartitions: 3, SummaryPartitions: 1, Retention: 72 * time.Hour}
	// The tests move newOrder's clock across days, which only shows on a
	// topic stamped by the producer: on the LogAppendTime topic newOrder
	// creates in production the broker would restamp every order as now.
	orderSpec := topics.OrderTopicSpec()
	orderSpec.TimestampType = ""
	reportSpec := topics.SummaryTopicSpec()
	reportSpec.Name = s.reportTopic
	if err := kafka.EnsureTopics(brokers, cfg, -1, orderSpec, topics.SummaryTopicSpec(), reportSpec); err != nil {
		t.Fatal(err)
	}
	pub, client := kafkatest.NewPublisher(t, brokers, cfg)
	s.client = client

	s.newOrder = httptest.NewServer(neworder.New(pub, s.orderTopic, 10*time.Second, s.clock.Now, log).Handler())
	t.Cleanup(s.newOrder.Close)
	ds := dailysummary.New(dailysummary.KafkaLog{Client: client, Brokers: brokers, Topic: s.orderTopic}, pub, dailysummary.Options{
		SummaryTopic: s.summaryTopic, ReportTopic: s.reportTopic, Location: santiago, Retention: 72 * time.Hour,
		Timeout: 30 * time.Second, Now: time.Now,
	}, log)
	s.dailySummary = httptest.NewServer(ds.Handler())
	t.Cleanup(s.dailySummary.Close)

	s.catcher = &devstack.Catcher{Dir: t.TempDir(), Log: log}
	smtpSrv, err := s.catcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	host, portN := smtpSrv.Host(), smtpSrv.Port()
	// sendMail is set up from its configuration exactly as its binary is.
	handler, closer, err := sendmail.Setup(ctx, sendmail.Config{
		Backend: "smtp", From: "reportes@sopaipillas.test", FromName: "Sopaipillas",
		SMTPHost: host, SMTPPort: portN, SMTPTLS: gomail.TLSNone, SMTPTimeout: 10 * time.Second,
		Concurrency: 4, RatePerSecond: 1000,
		Config:      kafka.Config{Brokers: brokers, CreateTopics: true, ReplicationFactor: -1},
		LedgerTopic: "mail-sent-" + suffix,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer.Close() })
	sendMail := httptest.NewServer(handler)
	t.Cleanup(sendMail.Close)

	s.brokers, s.group = brokers, "e2e-"+suffix
	source := &devstack.KafkaSource{
		Brokers: brokers, Topic: s.reportTopic, Group: s.group, Sink: sendMail.URL,
		Retry: 5, Backoff: 50 * time.Millisecond, Log: log,
		DeadLetter: func(_ context.Context, e cloudevents.Event, reason string) {
			s.deadMu.Lock()
			defer s.deadMu.Unlock()
			if s.dead == nil {
				t.Errorf("dead-lettered %s: %s", e.ID(), reason)
				return
			}
			s.dead = append(s.dead, deadLetter{Type: e.Type(), Data: string(e.Data()), Reason: reason})
		},
	}
	done := make(chan struct{})
	go func() { defer close(done); source.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// post sends body to url with content type and returns status and body.
func post(t *testing.T, url, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// written is an order as the test placed it.
type written struct {
	at     time.Time
	id     int
	vendor string
	n      int
}

func (s *system) order(at time.Time, id int, vendor string, n int) {
	s.t.Helper()
	s.written = append(s.written, written{at, id, vendor, n})
	s.clock.Set(at)
	body := fmt.Sprintf(`{"order_id": %d, "email_vendedor": %q, "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": %d}`, id, vendor, n)
	if status, b := post(s.t, s.newOrder.URL+"/newOrder", "application/json", body); status != http.StatusCreated {
		s.t.Fatalf("order %d: status %d: %s", id, status, b)
	}
}

func (s *system) summarize(day events.Date) dailysummary.Response {
	s.t.Helper()
	status, b := post(s.t, s.dailySummary.URL+"/dailySummary", "", fmt.Sprintf(`{"fecha": %q}`, day))
	if status != http.StatusOK {
		s.t.Fatalf("summary of %s: status %d: %s", day, status, b)
	}
	var r dailysummary.Response
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatal(err)
	}
	return r
}

// topicRecords counts the records on every partition of topic.
func (s *system) topicRecords(topic string) int64 {
	s.t.Helper()
	parts, err := s.client.Partitions(topic)
	if err != nil {
		s.t.Fatal(err)
	}
	var n int64
	for _, p := range parts {
		newest, err := s.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			s.t.Fatal(err)
		}
		oldest, err := s.client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			s.t.Fatal(err)
		}
		n += newest - oldest
	}
	return n
}

// summaryEvents reads every event on the summary topic: summaries only
// (issue 24), anything else fails the test.
func (s *system) summaryEvents() map[string][]byte {
	s.t.Helper()
	return s.topicEvents(s.summaryTopic, events.TypeSummaryCreated)
}

// reportEvents reads every event on the report topic: cook and vendor
// reports only.
func (s *system) reportEvents() map[string][]byte {
	s.t.Helper()
	return s.topicEvents(s.reportTopic, events.TypeCookReportCreated, events.TypeVendorReportCreated)
}

// topicEvents reads every event on topic, by id; an event not of types or
// not from dailySummary fails the test.
func (s *system) topicEvents(topic string, types ...string) map[string][]byte {
	s.t.Helper()
	out := map[string][]byte{}
	err := kafka.ReadCommitted(context.Background(), s.client, s.brokers, topic, func(kafka.Range) kafka.Visit {
		return func(m *sarama.ConsumerMessage) error {
			e, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessageFromConsumerMessage(m))
			if err != nil {
				return err
			}
			if !slices.Contains(types, e.Type()) || e.Source() != events.SourceDailySummary {
				return fmt.Errorf("unexpected event %s %s on %s", e.Type(), e.Source(), topic)
			}
			out[e.ID()] = e.Data()
			return nil
		}
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// delivered returns the emails caught once the KafkaSource has committed
// every report event, that is once sendMail settled all of them.
func (s *system) delivered() []devstack.Caught {
	s.t.Helper()
	admin, err := sarama.NewClusterAdmin(s.brokers, kafka.NewSaramaConfig("e2e-admin"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer admin.Close()
	want := s.topicRecords(s.reportTopic)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var committed int64
		resp, err := admin.ListConsumerGroupOffsets(s.group, nil)
		if err == nil {
			for _, parts := range resp.Blocks {
				for _, b := range parts {
					if b.Offset > 0 {
						committed += b.Offset
					}
				}
			}
		}
		if committed >= want {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("KafkaSource committed %d of %d report events (err %v)", committed, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := s.catcher.Messages()
	if err != nil {
		s.t.Fatal(err)
	}
	return got
}

// report is what an email says, read from its subject and its plain-text
// part.
type report struct {
	To, Kind, Fecha, Estado, Ordenes, Sopaipillas string
	// Vendedores are a cook's rows: "vendor orders sopaipillas".
	Vendedores []string
	// Listed are a vendor's counted orders: "order_id hh:mm quantity";
	// NoContadas the sentences about its uncounted ones.
	Listed, NoContadas []string
}

// Report kinds, by the subject's title.
const (
	vendorReport = "Reporte de sopaipillas"
	cookReport   = "Reporte de cocina"
)

func parseReport(t *testing.T, raw []byte) report {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an email: %v", err)
	}
	for _, h := range []string{"Subject", "From", "To", "Date", "Message-Id"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("email lacks header %s", h)
		}
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var text string
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, pt)
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		if pt == "text/plain" {
			text = string(b)
		}
	}
	if diff := cmp.Diff([]string{"text/plain", "text/html"}, parts); diff != "" {
		t.Errorf("parts (-want, +got):\n%s", diff)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	r := report{To: msg.Header.Get("To")}
	r.Kind, _, _ = strings.Cut(subject, " — ")
	var table *[]string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if table != nil {
			if f := strings.Fields(line); len(f) == 3 && table != &r.NoContadas {
				*table = append(*table, strings.Join(f, " "))
				continue
			}
			if l, ok := strings.CutPrefix(line, "- "); ok && table == &r.NoContadas {
				*table = append(*table, l)
				continue
			}
			table = nil
		}
		k, v, ok := strings.Cut(line, ": ")
		switch {
		case strings.HasPrefix(line, "Vendedor "):
			table = &r.Vendedores
		case strings.HasPrefix(line, "Orden "):
			table = &r.Listed
		case line == "Órdenes que no se contaron:":
			table = &r.NoContadas
		case !ok:
		case k == "Fecha":
			r.Fecha = strings.TrimSpace(v)
		case k == "Estado":
			r.Estado = strings.TrimSpace(v)
		case k == "Cantidad de órdenes recibidas", k == "Cantidad de órdenes cocinadas":
			r.Ordenes = strings.TrimSpace(v)
		case k == "Cantidad de sopaipillas vendidas", k == "Cantidad de sopaipillas cocinadas":
			r.Sopaipillas = strings.TrimSpace(v)
		}
	}
	if want := r.Kind + " — " + r.Fecha + " — " + r.Estado; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	return r
}

// produceRaw writes each value onto the report topic, the one sendMail's
// source reads, as a plain record without CloudEvent headers, as a foreign
// producer or a replay tool would.
func (s *system) produceRaw(values ...string) {
	s.t.Helper()
	p, err := sarama.NewSyncProducerFromClient(s.client)
	if err != nil {
		s.t.Fatal(err)
	}
	defer p.Close()
	for _, v := range values {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: s.reportTopic, Value: sarama.StringEncoder(v)}); err != nil {
			s.t.Fatal(err)
		}
	}
}
