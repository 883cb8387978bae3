package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/events"
)

// scenarioTimestamps: while newOrder takes orders, a foreign producer
// writes straight onto an order topic stamped by the producers' clocks
// (CreateTime, the harder case: the functions create theirs with
// LogAppendTime, but leave an existing topic alone): poison stamped in the
// future, copies of acknowledged orders stamped one or two days earlier (a
// client's late retry) or tomorrow, and valid orders of its own, some plain
// JSON, some with upper-case vendors, stamped out of offset order across
// the three days in retention and on their midnights. Every day is then
// summarized; each acknowledged order must count exactly once, in the day
// of its first record, and no summary may fail or wait.
func scenarioTimestamps(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	topic := "order-" + h.tag // startPipeline's name for it
	if err := createCreateTimeTopic(k.brokers, topic); err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	if p.orderTopic != topic {
		return fmt.Errorf("the pipeline uses topic %s, %s was prepared", p.orderTopic, topic)
	}
	if tt, err := topicConfig(k.brokers, topic, "message.timestamp.type"); err != nil || tt != "CreateTime" {
		return fmt.Errorf("topic %s has message.timestamp.type %q (%v) once the functions started, want CreateTime", topic, tt, err)
	}
	producer, err := newRawProducer(k.brokers)
	if err != nil {
		return err
	}
	defer producer.Close()

	n := min(h.opts.ordersSmall, 5000)
	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 7_000_000, Count: n, Vendors: n, // one vendor per order
		Concurrency: h.opts.concurrency, Deadline: 2 * time.Minute,
	})
	done := runLoad(ctx, l)
	w := newSkewWriter(topic, producer, p.newOrder.url("/newOrder"))
	during, rounds := 0, 0
	for ; rounds < 60 || !l.finished.Load() && rounds < 400; rounds++ {
		if err := w.round(ctx, rounds); err != nil {
			return err
		}
		if !l.finished.Load() {
			during++
		}
		_ = sleep(ctx, 10*time.Millisecond)
	}
	res := <-done
	loadNotes(row, res)
	// Late retries of orders newOrder acknowledged under load.
	for j, id := range res.Acked[:min(50, len(res.Acked))] {
		if err := w.copyOf(orderFor(id, n), time.Now().Add(-24*time.Hour-time.Duration(j%24)*time.Hour), j%2 == 0); err != nil {
			return err
		}
	}
	row.Sent += len(w.retried) + len(w.own)
	row.Acked += len(w.retried) + len(w.own)
	acked := append(append(append([]int64(nil), res.Acked...), w.retried...), w.own...)
	row.note("foreign producer (%d of %d rounds during the load): %s; %d orders acknowledged by newOrder then copied, %d valid orders of its own acknowledged by Kafka (in sent and 2xx)",
		during, rounds, kindCounts(w.written), len(w.retried), len(w.own))

	days := orderDays(res.Start, res.End)
	answers, err := askDays(ctx, row, p.summary.url("/dailySummary"), days)
	if err != nil {
		return err
	}
	for _, day := range days { // no state: asking again gives the same
		if _, again, err := askDay(ctx, p.summary.url("/dailySummary"), day); err != nil || !reflect.DeepEqual(again.Summary, answers[day].Summary) {
			row.fail("asking again for %s gave another answer (%v)", day, err)
		}
	}
	sentinels, err := writeSentinels(k.brokers, topic)
	if err != nil {
		return err
	}
	o, err := readOracle(ctx, k.brokers, topic, sentinels, true)
	if err != nil {
		return err
	}
	checkDays(row, o, answers, acked, nil)

	perDay := ""
	for _, day := range days {
		a := answers[day]
		perDay += fmt.Sprintf("; %s: %d records stamped, %d orders counted, orders_read %d, skipped %d", day, o.Stamps[day], a.counted(), a.OrdersRead, a.SkippedRecords)
	}
	row.note("oracle (franz-go, own decoder): %d records, %d distinct orders%s", o.Records, len(o.Orders), perDay)
	today := events.DateOf(res.Start, santiago)
	if o.Stamps[today.AddDays(-1)] == 0 || o.Stamps[today.AddDays(-2)] == 0 {
		row.fail("no record on the topic is stamped yesterday or the day before: the skew did not reach the topic")
	}
	moved := 0 // a copy must be a later record of its order, in its partition
	for id, part := range w.copies {
		v, ok := o.Orders[id]
		if !ok || v.Partition != part || v.Day != today && v.Day != events.DateOf(res.End, santiago) {
			moved++
		}
	}
	if moved > 0 {
		row.fail("%d late copies are not later records of their order in its partition", moved)
	}
	return nil
}

// counted is the orders a summary counts.
func (a dayAnswer) counted() int {
	n := 0
	for _, s := range a.Summary.Ventas {
		n += int(s.NOrdenes)
	}
	return n
}

// skewWriter is the foreign producer: plain sarama, keyed (and so
// partitioned) as newOrder keys, with the timestamps it chooses.
type skewWriter struct {
	topic    string
	producer sarama.SyncProducer
	client   *load // for newOrder, one order at a time
	stamps   []time.Time
	first    time.Time // the first instant of the day before yesterday
	retried  []int64   // acknowledged by newOrder, then copied
	own      []int64   // its own valid orders, acknowledged by Kafka
	copies   map[int64]int32
	written  map[string]int
}

func newSkewWriter(topic string, producer sarama.SyncProducer, newOrderURL string) *skewWriter {
	now := time.Now()
	today := events.DateOf(now, santiago)
	t0, _ := today.Bounds(santiago)
	y0, _ := today.AddDays(-1).Bounds(santiago)
	b0, _ := today.AddDays(-2).Bounds(santiago)
	return &skewWriter{
		topic: topic, producer: producer, client: newLoad(loadConfig{URL: newOrderURL, Concurrency: 1}),
		// Out of offset order, midnights and their last millisecond included.
		stamps: []time.Time{b0, t0.Add(-time.Millisecond), now, y0, now.Add(-48 * time.Hour), y0.Add(-time.Millisecond),
			t0, now.Add(-24 * time.Hour), now.Add(-90 * time.Minute)},
		first:   b0,
		copies:  map[int64]int32{},
		written: map[string]int{},
	}
}

// round writes one of each: an order through newOrder and its late copy,
// poison stamped ahead, and an order of its own stamped anywhere.
func (w *skewWriter) round(ctx context.Context, i int) error {
	o := order{ID: 7_900_000 + int64(i), Vendor: fmt.Sprintf("reintento%03d@feria.example", i), N: 1 + int64(i%7)}
	if err := w.viaNewOrder(ctx, o); err != nil {
		return err
	}
	if err := w.copyOf(o, time.Now().Add(-24*time.Hour-time.Duration(i%24)*time.Hour), i%2 == 1); err != nil {
		return err
	}
	if i%4 == 0 {
		if _, err := w.send("copy stamped tomorrow", orderAt(w.topic, o, time.Now().Add(25*time.Hour), true)); err != nil {
			return err
		}
	}
	poisonAt := []time.Duration{50 * time.Minute}
	if i%3 == 0 {
		poisonAt = append(poisonAt, 26*time.Hour)
	}
	if i%5 == 0 {
		poisonAt = append(poisonAt, -24*time.Hour)
	}
	for _, d := range poisonAt {
		msg := &sarama.ProducerMessage{Topic: w.topic, Key: sarama.StringEncoder("poison"),
			Value: sarama.StringEncoder("not a cloudevent " + strconv.Itoa(i)), Timestamp: w.clamp(time.Now().Add(d))}
		if _, err := w.send(fmt.Sprintf("poison stamped %s", d), msg); err != nil {
			return err
		}
	}

	vendor := fmt.Sprintf("ajeno%03d@feria.example", i)
	if i%3 == 0 {
		vendor = fmt.Sprintf("Ajeno%03d@Feria.EXAMPLE", i)
	}
	own := order{ID: 7_950_000 + int64(i), Vendor: vendor, N: 1 + int64(i%5)}
	at := w.clamp(w.stamps[i*7%len(w.stamps)])
	if _, err := w.send("own order, skewed", orderAt(w.topic, own, at, i%2 == 0)); err != nil {
		return err
	}
	w.own = append(w.own, own.ID)
	if i%4 == 1 { // a later copy stamped now: the first record still decides
		if _, err := w.send("own order's copy stamped now", orderAt(w.topic, own, time.Now(), i%8 == 1)); err != nil {
			return err
		}
	}
	if i%10 == 0 { // the same vendor in another case: one vendor
		pair := order{ID: 7_980_000 + int64(i), Vendor: strings.ToUpper(vendor), N: 2}
		if vendor != strings.ToLower(vendor) {
			pair.Vendor = strings.ToLower(vendor)
		}
		if _, err := w.send("own order, its vendor in another case", orderAt(w.topic, pair, at, false)); err != nil {
			return err
		}
		w.own = append(w.own, pair.ID)
	}
	return nil
}

// viaNewOrder posts o until newOrder acknowledges it.
func (w *skewWriter) viaNewOrder(ctx context.Context, o order) error {
	for attempt := 0; ; attempt++ {
		status, err := w.client.post(ctx, o.body())
		if err == nil && status/100 == 2 {
			w.retried = append(w.retried, o.ID)
			return nil
		}
		if attempt == 20 || ctx.Err() != nil {
			return fmt.Errorf("newOrder did not acknowledge order %d: HTTP %d, %v", o.ID, status, errors.Join(err, ctx.Err()))
		}
		_ = sleep(ctx, 100*time.Millisecond)
	}
}

// copyOf writes an identical copy of an acknowledged order stamped at.
func (w *skewWriter) copyOf(o order, at time.Time, plain bool) error {
	msg := orderAt(w.topic, o, w.clamp(at), !plain)
	part, err := w.send("copy stamped 1-2 days earlier", msg)
	w.copies[o.ID] = part
	return err
}

func (w *skewWriter) send(kind string, msg *sarama.ProducerMessage) (int32, error) {
	part, _, err := w.producer.SendMessage(msg)
	if err != nil {
		return part, fmt.Errorf("foreign producer, %s: %w", kind, err)
	}
	w.written[kind]++
	return part, nil
}

// clamp keeps a stamp within the days summarized, whatever a daylight-
// saving change does to "48 hours ago".
func (w *skewWriter) clamp(t time.Time) time.Time {
	if t.Before(w.first) {
		return w.first
	}
	return t
}

// orderAt is order o stamped at: a binary-mode CloudEvent as newOrder writes
// it, or the bare JSON order the seed's API wrote.
func orderAt(topic string, o order, at time.Time, cloudEvent bool) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(strconv.FormatInt(o.ID, 10)), Value: sarama.ByteEncoder(o.body())}
	if cloudEvent {
		msg = orderRecord(topic, o)
	}
	msg.Timestamp = at
	return msg
}

// createCreateTimeTopic creates topic as the functions would (6 partitions,
// 72h), but stamped by the producers (CreateTime) and accepting stamps up
// to two days ahead (Kafka 4 refuses more than one hour by default).
func createCreateTimeTopic(brokers []string, topic string) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-admin"
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer admin.Close()
	entry := func(s string) *string { return &s }
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 1, ConfigEntries: map[string]*string{
		"message.timestamp.type":         entry("CreateTime"),
		"message.timestamp.after.max.ms": entry(strconv.FormatInt((48 * time.Hour).Milliseconds(), 10)),
		"retention.ms":                   entry(strconv.FormatInt((72 * time.Hour).Milliseconds(), 10)),
	}}, false)
	if err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := admin.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && len(md[0].Partitions) == 6 && allLeaders(md[0]) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has no leaders after 30s (%v)", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allLeaders(t *sarama.TopicMetadata) bool {
	for _, p := range t.Partitions {
		if p.Leader < 0 {
			return false
		}
	}
	return true
}

// topicConfig is one configuration value of topic as the broker reports it.
func topicConfig(brokers []string, topic, name string) (string, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{name}})
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name == name {
			return e.Value, nil
		}
	}
	return "", fmt.Errorf("%s not reported", name)
}
