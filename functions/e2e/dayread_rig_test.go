package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

// dayRig is newOrder and dailySummary on a fresh order topic that the test
// created itself with CreateTime timestamps, so that records written
// straight onto it keep the timestamps the test gives them.
type dayRig struct {
	t            *testing.T
	brokers      []string
	topic        string
	summaryTopic string
	reportTopic  string
	partitions   int32
	admin        *kadm.Client
	raw          *kgo.Client // plain writes, partition chosen by the record
	txn          *kgo.Client // transactional writes
	newOrder     *httptest.Server
	dailySummary *httptest.Server
	closers      []func()
}

// dayRigTimeout is dailySummary's Timeout: far longer than a read of these
// small topics takes, so a 503 means the read waited for something.
const dayRigTimeout = 20 * time.Second

func newDayRig(t *testing.T, brokers []string, partitions int32, timeout time.Duration) *dayRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	suffix := randomSuffix(t)
	r := &dayRig{t: t, brokers: brokers, topic: "dayread-order-" + suffix, summaryTopic: "dayread-summary-" + suffix,
		reportTopic: "dayread-report-" + suffix, partitions: partitions}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	r.closers = append(r.closers, admCl.Close)
	r.admin = kadm.NewClient(admCl)
	r.createTopic(ctx, r.topic, partitions)
	r.createTopic(ctx, r.summaryTopic, 1)
	r.createTopic(ctx, r.reportTopic, 1)
	r.closers = append(r.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = r.admin.DeleteTopics(ctx, r.topic, r.summaryTopic, r.reportTopic)
	})

	r.raw, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	r.closers = append(r.closers, r.raw.Close)
	r.txn, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID("dayread-"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	r.closers = append(r.closers, r.txn.Close)

	client, err := sarama.NewClient(brokers, kafka.NewSaramaConfig("dayread"))
	if err != nil {
		t.Fatal(err)
	}
	r.closers = append(r.closers, func() { client.Close() })
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		t.Fatal(err)
	}
	r.closers = append(r.closers, func() { pub.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.newOrder = httptest.NewServer(neworder.New(pub, r.topic, 10*time.Second, time.Now, log).Handler())
	r.closers = append(r.closers, r.newOrder.Close)
	ds := dailysummary.New(dailysummary.KafkaLog{Client: client, Brokers: brokers, Topic: r.topic}, pub, dailysummary.Options{
		SummaryTopic: r.summaryTopic, ReportTopic: r.reportTopic, Location: santiago, Retention: 72 * time.Hour,
		Timeout: timeout, Now: time.Now,
	}, log)
	r.dailySummary = httptest.NewServer(ds.Handler())
	r.closers = append(r.closers, r.dailySummary.Close)
	ok = true
	return r
}

// Close stops the servers and clients and deletes the rig's topics.
func (r *dayRig) Close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// createTopic creates topic with CreateTime timestamps, a week of retention
// and, on Apache Kafka, no limit on how far in the future a timestamp may be
// (Kafka 4 refuses records stamped over an hour ahead by default). The
// embedded broker does not know that setting and is asked without it.
func (r *dayRig) createTopic(ctx context.Context, topic string, partitions int32) {
	r.t.Helper()
	str := func(s string) *string { return &s }
	configs := map[string]*string{
		"message.timestamp.type":          str("CreateTime"),
		"retention.ms":                    str("604800000"),
		"message.timestamp.after.max.ms":  str("9223372036854775807"),
		"message.timestamp.before.max.ms": str("9223372036854775807"),
	}
	for attempt := 0; ; attempt++ {
		resp, err := r.admin.CreateTopic(ctx, partitions, -1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			r.waitForLeaders(ctx, topic, partitions)
			return
		case attempt == 0 && errors.Is(err, kerr.InvalidConfig):
			delete(configs, "message.timestamp.after.max.ms")
			delete(configs, "message.timestamp.before.max.ms")
		default:
			r.t.Fatalf("creating topic %s: %v", topic, err)
		}
	}
}

func (r *dayRig) waitForLeaders(ctx context.Context, topic string, partitions int32) {
	r.t.Helper()
	for {
		md, err := r.admin.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && int32(len(td.Partitions)) == partitions {
				led := true
				for _, p := range td.Partitions {
					led = led && p.Err == nil && p.Leader >= 0
				}
				if led {
					return
				}
			}
		}
		if ctx.Err() != nil {
			r.t.Fatalf("topic %s has no leaders: %v", topic, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dayRec is one record written straight onto the order topic.
type dayRec struct {
	Partition int32
	At        time.Time
	Key       string
	Headers   []kgo.RecordHeader
	Value     string
	Desc      string // readable form, for failure reports
}

func (d dayRec) record(topic string) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Partition: d.Partition, Timestamp: d.At, Headers: d.Headers, Value: []byte(d.Value)}
	if d.Key != "" {
		rec.Key = []byte(d.Key)
	}
	return rec
}

func (d dayRec) String() string {
	return fmt.Sprintf("p%d %s %s", d.Partition, dayStamp(d.At), d.Desc)
}

// dayStamp shows a timestamp as its Santiago day relative to today.
func dayStamp(at time.Time) string {
	day := oracleDayKey(at)
	rel := day
	for off := -3; off <= 2; off++ {
		if oracleDayKey(dayStart(off)) == day {
			rel = map[int]string{-3: "today-3", -2: "yesterday-1", -1: "yesterday", 0: "today", 1: "tomorrow", 2: "today+2"}[off]
		}
	}
	return rel + " " + at.In(santiago).Format("15:04:05.000")
}

// dayOrder is an order's JSON, with the fields in newOrder's order.
type dayOrder struct {
	ID     int64
	Vendor string
	Cook   string
	Count  int
}

func (o dayOrder) JSON() string {
	return fmt.Sprintf(`{"order_id":%d,"email_vendedor":%q,"email_cocinero":%q,"numero_sopaipillas":%d}`, o.ID, o.Vendor, o.Cook, o.Count)
}

func (o dayOrder) String() string {
	return fmt.Sprintf("order{id=%d %s n=%d}", o.ID, o.Vendor, o.Count)
}

func ceHeaders(id, typ string) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(id)},
		{Key: "ce_source", Value: []byte("/sopaipillas/newOrder")},
		{Key: "ce_type", Value: []byte(typ)},
		{Key: "content-type", Value: []byte("application/json")},
	}
}

// binaryOrder is what newOrder writes: a binary-mode CloudEvent.
func binaryOrder(p int32, at time.Time, o dayOrder) dayRec {
	return dayRec{Partition: p, At: at, Key: fmt.Sprint(o.ID), Headers: ceHeaders(fmt.Sprintf("order-%d", o.ID), oracleTypeOrder),
		Value: o.JSON(), Desc: "binary CE " + o.String()}
}

// structuredOrder is a structured-mode CloudEvent whose data is the order,
// with contentType ("" for no header).
func structuredOrder(p int32, at time.Time, o dayOrder, contentType string) dayRec {
	return structuredEvent(p, at, o, contentType, oracleTypeOrder)
}

func structuredEvent(p int32, at time.Time, o dayOrder, contentType, typ string) dayRec {
	var headers []kgo.RecordHeader
	if contentType != "" {
		headers = []kgo.RecordHeader{{Key: "content-type", Value: []byte(contentType)}}
	}
	value := fmt.Sprintf(`{"specversion":"1.0","id":"order-%d","source":"/sopaipillas/legacy","type":%q,"datacontenttype":"application/json","data":%s}`,
		o.ID, typ, o.JSON())
	desc := fmt.Sprintf("structured CE (content-type %q) %s", contentType, o)
	if typ != oracleTypeOrder {
		desc = fmt.Sprintf("structured CE (content-type %q) of type %s, poison", contentType, typ)
	}
	return dayRec{Partition: p, At: at, Key: fmt.Sprint(o.ID), Headers: headers, Value: value, Desc: desc}
}

// legacyOrder is a plain-JSON order without CloudEvent headers.
func legacyOrder(p int32, at time.Time, o dayOrder) dayRec {
	return dayRec{Partition: p, At: at, Value: o.JSON(), Desc: "legacy JSON " + o.String()}
}

// poison is a record that is not an order, of one of a few clear kinds.
func poison(p int32, at time.Time, kind int) dayRec {
	o := dayOrder{ID: 900000 + int64(kind), Vendor: "poison@feria.example", Cook: "c@feria.example", Count: 3}
	switch kind % 8 {
	case 0:
		return dayRec{Partition: p, At: at, Value: "not a cloudevent", Desc: "poison: not a cloudevent"}
	case 1:
		r := binaryOrder(p, at, o)
		r.Headers = ceHeaders("other-1", "cl.sopaipillas.other.v1")
		r.Desc = "poison: binary CE of type cl.sopaipillas.other.v1"
		return r
	case 2:
		o.Count = 0
		r := binaryOrder(p, at, o)
		r.Desc = "poison: binary CE order with numero_sopaipillas 0"
		return r
	case 3:
		return dayRec{Partition: p, At: at, Value: `{"order_id": 7, "email_vend`, Desc: "poison: truncated JSON"}
	case 4, 5, 6: // a header the binding reads, twice: not one CloudEvent
		r := binaryOrder(p, at, o)
		twice := []struct{ key, first, then string }{
			{"ce_type", "cl.sopaipillas.other.v1", oracleTypeOrder},
			{"ce_specversion", "1.0", "0.3"},
			{"CE_SPECVERSION", "0.3", "1.0"},
		}[kind%8-4]
		for i, h := range r.Headers {
			if strings.EqualFold(h.Key, twice.key) {
				r.Headers[i].Value = []byte(twice.first)
			}
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: twice.key, Value: []byte(twice.then)})
		r.Desc = fmt.Sprintf("poison: binary CE order with %s %q then %q", twice.key, twice.first, twice.then)
		return r
	default:
		return structuredEvent(p, at, o, "application/cloudevents+json", "cl.sopaipillas.other.v1")
	}
}

// write writes records outside any transaction, in order.
func (r *dayRig) write(ctx context.Context, recs ...dayRec) error {
	for _, d := range recs {
		if err := r.raw.ProduceSync(ctx, d.record(r.topic)).FirstErr(); err != nil {
			return fmt.Errorf("writing %s: %w", d, err)
		}
	}
	return nil
}

// writeTxn writes records in one transaction and commits or aborts it.
func (r *dayRig) writeTxn(ctx context.Context, commit bool, recs ...dayRec) error {
	if err := r.txn.BeginTransaction(); err != nil {
		return err
	}
	for _, d := range recs {
		if err := r.txn.ProduceSync(ctx, d.record(r.topic)).FirstErr(); err != nil {
			_ = r.txn.EndTransaction(ctx, kgo.TryAbort)
			return fmt.Errorf("writing %s in a transaction: %w", d, err)
		}
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	return r.txn.EndTransaction(ctx, end)
}

// postOrder sends o to newOrder and wants 201.
func (r *dayRig) postOrder(o dayOrder) error {
	status, b := post(r.t, r.newOrder.URL+"/newOrder", "application/json", o.JSON())
	if status != http.StatusCreated {
		return fmt.Errorf("newOrder %s: status %d: %s", o, status, b)
	}
	return nil
}

// settle waits until every transaction's markers are written: the last
// stable offset of every partition is its high watermark.
func (r *dayRig) settle(ctx context.Context) error {
	for {
		ends, err := r.admin.ListEndOffsets(ctx, r.topic)
		if err == nil {
			err = ends.Error()
		}
		var stable kadm.ListedOffsets
		if err == nil {
			stable, err = r.admin.ListCommittedOffsets(ctx, r.topic)
		}
		if err == nil {
			err = stable.Error()
		}
		if err == nil {
			settled := true
			ends.Each(func(o kadm.ListedOffset) {
				s, _ := stable.Lookup(r.topic, o.Partition)
				settled = settled && s.Offset == o.Offset
			})
			if settled {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("transactions did not settle: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daySummary is dailySummary's 200 answer, decoded on its own.
type daySummary struct {
	Response string `json:"response"`
	Summary  struct {
		Ventas map[string]oracleSales `json:"ventas"`
		Fecha  string                 `json:"fecha"`
	} `json:"summary"`
	EventID                string          `json:"event_id"`
	OrdersRead             int             `json:"orders_read"`
	SkippedRecords         int             `json:"skipped_records"`
	SkippedRecordsByReason map[string]int  `json:"skipped_records_by_reason"`
	Conflicts              json.RawMessage `json:"conflicts"`
	ConflictsTotal         int             `json:"conflicts_total"`
}

// summarize asks for the summary of the day `offset` days from today.
func (r *dayRig) summarize(offset int) (int, daySummary, string) {
	fecha := dayStart(offset).Format("02/01/2006")
	status, b := post(r.t, r.dailySummary.URL+"/dailySummary", "application/json", fmt.Sprintf(`{"fecha": %q}`, fecha))
	var s daySummary
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &s); err != nil {
			return status, s, fmt.Sprintf("summary of %s: %v: %s", fecha, err, b)
		}
	}
	return status, s, strings.TrimSpace(string(b))
}

// dayStart is the first instant of the day `offset` days from today in
// Santiago.
func dayStart(offset int) time.Time {
	now := time.Now().In(santiago)
	return time.Date(now.Year(), now.Month(), now.Day()+offset, 0, 0, 0, 0, santiago)
}

// dayAt is hh:mm on the day `offset` days from today in Santiago.
func dayAt(offset, hh, mm int) time.Time {
	return dayStart(offset).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// todayAt is a moment of today that has already passed: the fraction f of
// the time since midnight, truncated to the millisecond Kafka keeps.
func todayAt(f float64) time.Time {
	start := dayStart(0)
	return start.Add(time.Duration(float64(time.Since(start)) * f)).Truncate(time.Millisecond)
}
