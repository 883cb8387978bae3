package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
)

// dayPlan is what the writer puts on the topic for one day, and so what the
// summary must say.
type dayPlan struct {
	day      events.Date
	start    time.Time // the day's first instant in the business time zone
	orders   int       // distinct orders
	vendors  int
	want     events.Summary
	records  int // everything written: orders, retries, conflicts, poison
	poison   int
	retries  int
	conflict int
}

// orderBody is the canonical JSON newOrder publishes for an order (keys
// sorted, no spaces), built by appending: the first records are checked
// against events.Order.MarshalJSON.
func orderBody(dst []byte, id int64, vendor, cook string, n int64) []byte {
	dst = append(dst, `{"email_cocinero":"`...)
	dst = append(dst, cook...)
	dst = append(dst, `","email_vendedor":"`...)
	dst = append(dst, vendor...)
	dst = append(dst, `","numero_sopaipillas":`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `,"order_id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	return append(dst, '}')
}

func vendorAddr(i int) string { return fmt.Sprintf("vendor%04d@bench.example", i) }
func cookAddr(i int) string   { return fmt.Sprintf("cocinero%02d@bench.example", i) }

// orderMessage builds the record newOrder would write for an order accepted
// at at: the headers of the kafka_sarama binding, keyed by order_id.
func orderMessage(topic string, id int64, vendor, cook string, n int64, at time.Time) *sarama.ProducerMessage {
	ids := strconv.FormatInt(id, 10)
	return &sarama.ProducerMessage{
		Topic:     topic,
		Key:       sarama.StringEncoder(ids),
		Value:     sarama.ByteEncoder(orderBody(nil, id, vendor, cook, n)),
		Timestamp: at,
		Headers: []sarama.RecordHeader{
			{Key: []byte("ce_specversion"), Value: []byte("1.0")},
			{Key: []byte("ce_id"), Value: []byte(events.OrderEventID(id))},
			{Key: []byte("ce_source"), Value: []byte(events.SourceNewOrder)},
			{Key: []byte("ce_type"), Value: []byte(events.TypeOrderCreated)},
			{Key: []byte("ce_subject"), Value: []byte(ids)},
			{Key: []byte("content-type"), Value: []byte("application/json")},
			{Key: []byte("ce_time"), Value: []byte(at.UTC().Format(time.RFC3339Nano))},
			{Key: []byte("ce_partitionkey"), Value: []byte(ids)},
		},
	}
}

// checkTemplate proves that orderMessage writes what newOrder writes: the
// same headers (in any order), key and value as events.NewOrderEvent through
// the binding.
func checkTemplate() error {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	o := events.Order{OrderID: 42, EmailVendedor: vendorAddr(7), EmailCocinero: cookAddr(3), NumeroSopaipillas: 15}
	e, err := events.NewOrderEvent(o, at)
	if err != nil {
		return err
	}
	var want sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), &want); err != nil {
		return err
	}
	got := orderMessage("", 42, vendorAddr(7), cookAddr(3), 15, at)
	flat := func(m *sarama.ProducerMessage) []string {
		var out []string
		for _, h := range m.Headers {
			out = append(out, string(h.Key)+"="+string(h.Value))
		}
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		slices.Sort(out)
		return append(out, "key="+string(k), "value="+string(v))
	}
	if d := cmp.Diff(flat(&want), flat(got)); d != "" {
		return fmt.Errorf("bench record differs from newOrder's (-want, +got):\n%s", d)
	}
	return nil
}

// writeDay writes orders orders of one day (spread evenly over it, many
// vendors, order_ids firstID+1 to firstID+orders) straight onto topic, plus a few retries (same body), conflicts
// (same order_id, another body) and poison records, and returns what the
// summary must report.
//
// The writer is sarama's async producer with big batches, no compression
// (what newOrder writes) and acks=1: this is loading data, not the system
// under test. One request in flight per broker, so that a batch retried
// (a leader not yet known) never lands behind a later one: a retry or a
// conflict stays behind its original in the partition.
func writeDay(brokers []string, topic string, day events.Date, loc *time.Location, firstID int64, orders, vendors int) (dayPlan, error) {
	start, end := day.Bounds(loc)
	plan := dayPlan{day: day, start: start, orders: orders, vendors: vendors, want: events.NewSummary(day)}
	cfg := sarama.NewConfig()
	cfg.ClientID = "sopaipillas-bench-writer"
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Retry.Max = 10
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewHashPartitioner // as newOrder: versions of an order share a partition
	cfg.Producer.Flush.Bytes = 512 << 10
	cfg.Producer.Flush.Frequency = 20 * time.Millisecond
	cfg.Producer.MaxMessageBytes = 900 << 10 // under the broker's max.message.bytes
	cfg.Producer.Return.Successes = false
	cfg.Producer.Return.Errors = true
	cfg.ChannelBufferSize = 1 << 16
	prod, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return plan, err
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for e := range prod.Errors() {
			if failed.Add(1) == 1 {
				firstErr.Store(e.Err)
			}
		}
	}()
	vendorNames, cookNames := make([]string, vendors), make([]string, 37)
	for i := range vendorNames {
		vendorNames[i] = vendorAddr(i)
	}
	for i := range cookNames {
		cookNames[i] = cookAddr(i)
	}
	spanMs := (end.Sub(start) - time.Second).Milliseconds()
	every := max(orders/10, 1) // one retry, one conflict, one poison record per tenth
	in := prod.Input()
	for i := range orders {
		id := firstID + int64(i+1)
		at := start.Add(time.Duration(int64(i)*spanMs/int64(orders)) * time.Millisecond)
		v := i % vendors
		n := int64(1 + (i*7919)%events.MaxSopaipillas)
		vendor, cook := vendorNames[v], cookNames[i%37]
		in <- orderMessage(topic, id, vendor, cook, n, at)
		s := plan.want.Ventas[vendor]
		s.NOrdenes++
		s.NSopaipillas += n
		plan.want.Ventas[vendor] = s
		plan.records++
		if i > 0 && i%every == 0 {
			// A client retry of the previous order: same body, a bit later.
			pv := (i - 1) % vendors
			pn := int64(1 + ((i-1)*7919)%events.MaxSopaipillas)
			in <- orderMessage(topic, id-1, vendorNames[pv], cookNames[(i-1)%37], pn, at.Add(time.Millisecond))
			// A second version of this order with another body: a conflict.
			in <- orderMessage(topic, id, vendor, cook, n%events.MaxSopaipillas+1, at.Add(2*time.Millisecond))
			// Not a CloudEvent at all.
			in <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("poison"), Value: sarama.StringEncoder("not an order"), Timestamp: at}
			plan.records += 3
			plan.retries++
			plan.conflict++
			plan.poison++
		}
	}
	prod.AsyncClose()
	<-errsDone
	if n := failed.Load(); n > 0 {
		return plan, fmt.Errorf("%d records not written: %v", n, firstErr.Load())
	}
	return plan, nil
}

// summaryAnswer is the part of dailySummary's answer the bench checks.
type summaryAnswer struct {
	Summary        events.Summary `json:"summary"`
	OrdersRead     int            `json:"orders_read"`
	SkippedRecords int            `json:"skipped_records"`
	ConflictsTotal int            `json:"conflicts_total"`
	Conflicts      []struct {
		Partition int32 `json:"partition"`
		Counted   struct {
			Partition int32 `json:"partition"`
		} `json:"counted"`
		Reason string `json:"reason"`
	} `json:"conflicts"`
}

// runSummary times POST /dailySummary for plan's day and checks the answer.
func runSummary(addr string, plan dayPlan) (time.Duration, error) {
	body := `{"fecha":"` + plan.day.String() + `"}`
	t0 := time.Now()
	resp, err := http.Post("http://"+addr+"/dailySummary", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("dailySummary answered %d: %s", resp.StatusCode, tail(string(b), 500))
	}
	var got summaryAnswer
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&got); err != nil {
		return 0, err
	}
	// Versions of an order share a partition (keyed by order_id): every
	// conflict is a later record of its partition.
	if len(got.Conflicts) != min(plan.conflict, 100) {
		return 0, fmt.Errorf("%d conflicts listed of %d", len(got.Conflicts), plan.conflict)
	}
	for _, c := range got.Conflicts {
		if c.Reason != "later_in_partition" || c.Counted.Partition != c.Partition {
			return 0, fmt.Errorf("conflict in partition %d: counted in %d because %q, want the same partition, later_in_partition", c.Partition, c.Counted.Partition, c.Reason)
		}
	}
	got.Conflicts = nil
	want := summaryAnswer{Summary: plan.want, OrdersRead: plan.records - plan.poison, SkippedRecords: plan.poison, ConflictsTotal: plan.conflict}
	if d := cmp.Diff(want, got); d != "" {
		return 0, fmt.Errorf("the summary of %d orders is wrong (-want, +got):\n%s", plan.orders, tail(d, 3000))
	}
	return took, nil
}

// summaryBench writes orders orders for one day onto a fresh topic, runs
// kafka-consumer-perf-test over them and times dailySummary on them,
// alternately (alternateReads).
func (b *bench) summaryBench(ctx context.Context, label string, orders int) error {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		return err
	}
	day := events.DateOf(time.Now().In(loc), loc).AddDays(-1)
	topic := "bench-order-" + label + "-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return err
	}
	b.logf("summary %s: writing %d orders for %s onto %s", label, orders, day, topic)
	t0 := time.Now()
	plan, err := writeDay(b.brokers, topic, day, loc, 0, orders, 1000)
	if err != nil {
		return fmt.Errorf("writing orders: %w", err)
	}
	wrote := time.Since(t0)
	b.logf("summary %s: wrote %d records in %s (%.0f records/s)", label, plan.records, wrote.Round(time.Millisecond), float64(plan.records)/wrote.Seconds())

	fn, err := startFunction(ctx, b.binDir, b.workDir, "dailysummary", map[string]string{
		"KAFKA_BROKERS": strings.Join(b.brokers, ","), "ORDER_TOPIC": topic, "SUMMARY_TOPIC": "bench-summary-" + b.runID,
		"REPORT_TOPIC":    "bench-report-" + b.runID,
		"SUMMARY_TIMEOUT": "10m",
		// As deployed: the chart sets GOMEMLIMIT at 90% of its 256Mi limit.
		"GOMEMLIMIT": dailySummaryMemLimit,
		// For the live heap of each collection (maxLiveHeapMB).
		"GODEBUG": "gctrace=1",
	})
	if err != nil {
		return err
	}
	defer fn.stop()
	perf, took, err := b.alternateReads(ctx, "summary "+label, topic, plan.records, func() (time.Duration, error) { return runSummary(fn.addr, plan) })
	if err != nil {
		return err
	}
	peak, _ := fn.peakRSSMB()
	live, liveErr := fn.maxLiveHeapMB()
	rate := float64(plan.records) / took.Seconds()
	b.logf("summary %s: %d records in %s (median), exact (%d vendors, %d retries, %d conflicts, %d poison)", label, plan.records, took.Round(time.Millisecond), len(plan.want.Ventas), plan.retries, plan.conflict, plan.poison)
	b.add(figure{name: "consumer_perf_records_per_s_" + label, value: perf, unit: "records/s"})
	if label == "10m" || (b.quick && label == b.summaryLabels()[len(b.summaryLabels())-1]) {
		b.add(figure{name: "consumer_perf_records_per_s", value: perf, unit: "records/s"})
	}
	b.add(figure{name: "summary_seconds_" + label, value: took.Seconds(), unit: "s", target: targetFor("summary_seconds_" + label)})
	b.add(figure{name: "summary_orders_per_s_" + label, value: rate, unit: "records/s", ref: perf, target: "≥ 90% of consumer-perf"})
	b.add(figure{name: "summary_peak_rss_mb_" + label, value: peak, unit: "MiB", target: targetFor("summary_peak_rss_mb_" + label)})
	if liveErr == nil {
		b.add(figure{name: "summary_live_heap_mb_" + label, value: live, unit: "MiB"})
	}
	return nil
}

var errNoFigure = errors.New("no figure in the output")

// dailySummaryMemLimit is the GOMEMLIMIT the chart gives dailySummary
// (charts/sopaipillas, 90% of limits.memory 256Mi).
const dailySummaryMemLimit = "230MiB"

// peakRSSMB reads the process's peak resident set size (VmHWM) in MiB.
func (f *function) peakRSSMB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errNoFigure
}

// summaryLabels are the day sizes summarized, smallest first.
func (b *bench) summaryLabels() []string {
	if b.quick {
		return []string{"100k"}
	}
	return []string{"1m", "10m"}
}

var summarySizes = map[string]int{"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}

// summary runs summaryBench for each day size.
func (b *bench) summary(ctx context.Context) error {
	if err := checkTemplate(); err != nil {
		return err
	}
	for _, label := range b.summaryLabels() {
		if err := b.summaryBench(ctx, label, summarySizes[label]); err != nil {
			return fmt.Errorf("%s orders: %w", label, err)
		}
	}
	return nil
}
