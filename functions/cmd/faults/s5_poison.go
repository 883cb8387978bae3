package main

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/events"
)

// scenarioPoison: records that are not valid orders are written straight
// onto the order topic with sarama while newOrder takes valid orders. The
// summary must skip exactly those records, say how many it skipped, count
// the valid orders exactly, and never turn a bad record into a failure.
// Later versions of valid orders with another body must be reported as
// conflicts and not change the count.
func scenarioPoison(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	producer, err := newRawProducer(k.brokers)
	if err != nil {
		return err
	}
	defer producer.Close()

	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 5_000_000, Count: h.opts.ordersSmall, Vendors: 100,
		Concurrency: h.opts.concurrency, Deadline: 2 * time.Minute,
	})
	done := runLoad(ctx, l)
	poison := poisonRecords(p.orderTopic)
	written := map[string]int{}
	for i, m := range poison { // spread among the valid orders
		if _, _, err := producer.SendMessage(m.msg); err != nil {
			return fmt.Errorf("writing poison record %d (%s): %w", i, m.kind, err)
		}
		written[m.kind]++
		_ = sleep(ctx, 15*time.Millisecond)
	}
	res := <-done
	loadNotes(row, res)

	// Another body for some acknowledged orders, after their first version.
	const conflicts = 10
	for _, id := range res.Acked[:min(conflicts, len(res.Acked))] {
		o := orderFor(id, 100)
		o.N = o.N%7 + 100 // different from any first version
		if _, _, err := producer.SendMessage(orderRecord(p.orderTopic, o)); err != nil {
			return fmt.Errorf("writing a conflicting version of order %d: %w", id, err)
		}
	}

	v, err := verifyOrders(ctx, row, k.brokers, p.orderTopic, p.summary.url("/dailySummary"), res, 100)
	if err != nil {
		return err
	}
	skipped, conflicted := 0, 0
	for _, a := range v.answers {
		skipped += a.SkippedRecords
		conflicted += a.ConflictsTotal
	}
	row.note("poison written: %s; summary skipped_records %d, conflicts_total %d",
		kindCounts(written), skipped, conflicted)
	if skipped != len(poison) {
		row.fail("summary skipped %d records, %d poison records were written", skipped, len(poison))
	}
	if v.topic.Invalid != len(poison) {
		row.fail("the independent reader found %d invalid records, %d were written", v.topic.Invalid, len(poison))
	}
	if conflicted != conflicts || v.topic.Conflicts != conflicts {
		row.fail("%d conflicting versions written; summary reports %d, the reader found %d", conflicts, conflicted, v.topic.Conflicts)
	}
	if v.summary5xx > 0 {
		row.fail("the summary failed %d times before answering, with no fault injected", v.summary5xx)
	}
	// Never a permanent failure: asking again gives the same answer.
	for range 3 {
		for day, want := range v.answers {
			_, got, err := askSummary(ctx, p.summary.url("/dailySummary"), day)
			if err != nil {
				row.fail("asking again for %s: %v", day, err)
			} else if !reflect.DeepEqual(got, want) {
				row.fail("asking again for %s gave another answer", day)
			}
		}
	}
	return nil
}

// poison is one record that is not a valid order event.
type poison struct {
	kind string
	msg  *sarama.ProducerMessage
}

// poisonRecords are the hostile records, ten of each kind (three huge).
func poisonRecords(topic string) []poison {
	var out []poison
	validJSON := func(id int64) []byte { return orderFor(id, 100).body() }
	for i := range int64(10) {
		id := 5_900_000 + i*10
		out = append(out,
			poison{"not a CloudEvent", &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("poison"), Value: sarama.StringEncoder("esto no es un evento " + strconv.FormatInt(i, 10))}},
			poison{"other ce type", binaryCE(topic, id, "cl.sopaipillas.order.cancelled.v1", validJSON(id), true)},
			poison{"invalid order data", binaryCE(topic, id+1, events.TypeOrderCreated,
				[]byte(`{"order_id": `+strconv.FormatInt(id+1, 10)+`, "email_vendedor": "no es un correo", "email_cocinero": "c@x.example", "numero_sopaipillas": -3}`), true)},
			poison{"truncated JSON", binaryCE(topic, id+2, events.TypeOrderCreated, validJSON(id + 2)[:40], true)},
			poison{"broken structured CE", &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(strconv.FormatInt(id+3, 10)),
				Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}},
				Value:   sarama.StringEncoder(`{"specversion": "1.0", "id": "x", "type": "` + events.TypeOrderCreated + `", "data": {"order_id": `)}},
			poison{"CE without id and source", binaryCE(topic, id+4, events.TypeOrderCreated, validJSON(id+4), false)},
		)
		if i < 3 {
			huge := `{"order_id": ` + strconv.FormatInt(id+5, 10) + `, "relleno": "` + strings.Repeat("sopaipilla ", 900<<10/11)
			out = append(out, poison{"~900 KB truncated order", binaryCE(topic, id+5, events.TypeOrderCreated, []byte(huge), true)})
		}
	}
	return out
}

// binaryCE is a binary-mode CloudEvent record as the Kafka binding writes
// it; complete=false leaves out the required id and source.
func binaryCE(topic string, id int64, ceType string, data []byte, complete bool) *sarama.ProducerMessage {
	headers := []sarama.RecordHeader{
		{Key: []byte("ce_specversion"), Value: []byte("1.0")},
		{Key: []byte("ce_type"), Value: []byte(ceType)},
		{Key: []byte("content-type"), Value: []byte("application/json")},
	}
	if complete {
		headers = append(headers,
			sarama.RecordHeader{Key: []byte("ce_id"), Value: []byte(events.OrderEventID(id))},
			sarama.RecordHeader{Key: []byte("ce_source"), Value: []byte("/faults/poison")})
	}
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(strconv.FormatInt(id, 10)), Headers: headers, Value: sarama.ByteEncoder(data)}
}

// orderRecord is a valid order event for o, keyed like newOrder keys it.
func orderRecord(topic string, o order) *sarama.ProducerMessage {
	return binaryCE(topic, o.ID, events.TypeOrderCreated, o.body(), true)
}

// newRawProducer is a plain sarama producer, hashing keys as newOrder does
// so that a record keyed by an order id lands in that order's partition.
func newRawProducer(brokers []string) (sarama.SyncProducer, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-poison"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Producer.MaxMessageBytes = 1 << 20
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("poison producer: %w", err)
	}
	return p, nil
}

func kindCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
