package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// The oracle of scenarios 7 and 8 reads the order topic with franz-go, a
// client dailySummary does not use, and decodes records with a decoder of
// its own, so that it shares no code with the summary it checks (only the
// contract's constants). It applies the README's rules directly: only
// committed records (the broker and franz-go drop aborted transactions in
// read_committed); an order is its order_id; the first record of an
// order_id in its partition, by offset, is the version that counts, and its
// timestamp's calendar day in America/Santiago is the order's day; across
// partitions the earliest day wins, then the lowest partition; vendors are
// keyed in lower case; plain-JSON orders count like CloudEvents.

// oracleOrder is the version of an order that counts.
type oracleOrder struct {
	Vendor    string // lower case
	N         int64
	Day       events.Date
	At        time.Time
	Partition int32
	Offset    int64
}

// oracle is what the independent read of a topic finds.
type oracle struct {
	Records  int                    // every record before the sentinels
	Orders   map[int64]oracleOrder  // the version that counts, by order_id
	ByDay    map[events.Date]ventas // the summary each day must give
	Read     map[events.Date]int    // valid order records stamped in each day
	Skipped  map[events.Date]int    // other records stamped in each day
	IDs      map[int64]bool         // every order_id read, whatever its version
	LastData map[int32]int64        // last record offset before the sentinel, by partition
	Sentinel map[int32]int64        // the sentinel's offset, by partition
	Stamps   map[events.Date]int    // records by the day of their timestamp
	byPart   map[int32]map[int64]oracleOrder
}

// sentinelHeader marks the record the harness appends to every partition,
// after the summaries were asked, to know where an independent read ends
// (a read_committed reader never sees a commit marker or an aborted
// record, so it cannot tell by offsets alone).
const sentinelHeader = "faults-sentinel"

// writeSentinels appends one sentinel record to every partition of topic
// and returns their offsets.
func writeSentinels(brokers []string, topic string) (map[int32]int64, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-sentinel"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("sentinels: %w", err)
	}
	defer client.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("sentinels: partitions of %s: %w", topic, err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("sentinels: %w", err)
	}
	defer producer.Close()
	offsets := map[int32]int64{}
	for _, p := range partitions {
		_, off, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Partition: p, Value: sarama.StringEncoder("fin de la lectura"),
			Headers: []sarama.RecordHeader{{Key: []byte(sentinelHeader), Value: []byte("1")}},
		})
		if err != nil {
			return nil, fmt.Errorf("sentinel on %s/%d: %w", topic, p, err)
		}
		offsets[p] = off
	}
	return offsets, nil
}

// readOracle reads every partition of topic from its start to the sentinel
// at sentinels[p], in read_committed isolation or not.
func readOracle(ctx context.Context, brokers []string, topic string, sentinels map[int32]int64, committed bool) (oracle, error) {
	o := oracle{
		Orders: map[int64]oracleOrder{}, ByDay: map[events.Date]ventas{}, Read: map[events.Date]int{},
		Skipped: map[events.Date]int{}, IDs: map[int64]bool{}, LastData: map[int32]int64{}, Sentinel: map[int32]int64{},
		Stamps: map[events.Date]int{}, byPart: map[int32]map[int64]oracleOrder{},
	}
	isolation := kgo.ReadUncommitted()
	if committed {
		isolation = kgo.ReadCommitted()
	}
	start := map[int32]kgo.Offset{}
	for p := range sentinels {
		start[p] = kgo.NewOffset().AtStart()
		o.LastData[p] = -1
		o.byPart[p] = map[int64]oracleOrder{}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("sopaipillas-faults-oracle"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}), kgo.FetchIsolationLevel(isolation))
	if err != nil {
		return o, fmt.Errorf("oracle: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for len(o.Sentinel) < len(sentinels) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return o, fmt.Errorf("oracle: %d of %d partitions read to their sentinel: %w", len(o.Sentinel), len(sentinels), ctx.Err())
		}
		for _, e := range fetches.Errors() {
			return o, fmt.Errorf("oracle: %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if _, done := o.Sentinel[r.Partition]; done {
				return
			}
			if header(r, sentinelHeader) != "" {
				o.Sentinel[r.Partition] = r.Offset
				return
			}
			o.add(r)
		})
	}
	for p, off := range o.Sentinel {
		if off != sentinels[p] {
			return o, fmt.Errorf("oracle: partition %d ends at offset %d, its sentinel was written at %d", p, off, sentinels[p])
		}
	}
	o.merge()
	return o, nil
}

func (o *oracle) add(r *kgo.Record) {
	o.Records++
	o.LastData[r.Partition] = r.Offset
	day := events.DateOf(r.Timestamp, santiago)
	o.Stamps[day]++
	id, vendor, n, ok := decodeOrderRecord(r)
	if !ok {
		o.Skipped[day]++
		return
	}
	o.Read[day]++
	o.IDs[id] = true
	if _, seen := o.byPart[r.Partition][id]; !seen {
		o.byPart[r.Partition][id] = oracleOrder{Vendor: vendor, N: n, Day: day, At: r.Timestamp, Partition: r.Partition, Offset: r.Offset}
	}
}

// merge picks, for every order, the version that counts: the earliest day
// among the partitions' first versions, then the lowest partition.
func (o *oracle) merge() {
	for _, p := range slices.Sorted(maps.Keys(o.byPart)) {
		for id, v := range o.byPart[p] {
			if prev, ok := o.Orders[id]; !ok || v.Day.Before(prev.Day) {
				o.Orders[id] = v
			}
		}
	}
	for _, v := range o.Orders {
		if o.ByDay[v.Day] == nil {
			o.ByDay[v.Day] = ventas{}
		}
		s := o.ByDay[v.Day][v.Vendor]
		s.NOrdenes++
		s.NSopaipillas += v.N
		o.ByDay[v.Day][v.Vendor] = s
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// decodeOrderRecord is the oracle's own reading of a record: a binary-mode
// order CloudEvent (ce_ headers) or a plain JSON order. The harness writes
// nothing else that is an order.
func decodeOrderRecord(r *kgo.Record) (id int64, vendor string, n int64, ok bool) {
	if header(r, "ce_specversion") != "" {
		if header(r, "ce_specversion") != "1.0" || header(r, "ce_type") != events.TypeOrderCreated ||
			header(r, "ce_id") == "" || header(r, "ce_source") == "" {
			return 0, "", 0, false
		}
	} else if bytes.Contains(r.Value, []byte(`"specversion"`)) {
		return 0, "", 0, false // structured mode: the harness writes none
	}
	var body struct {
		OrderID json.Number `json:"order_id"`
		Vendor  string      `json:"email_vendedor"`
		Cook    string      `json:"email_cocinero"`
		N       json.Number `json:"numero_sopaipillas"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Value))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return 0, "", 0, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, "", 0, false
	}
	id, err1 := strconv.ParseInt(body.OrderID.String(), 10, 64)
	n, err2 := strconv.ParseInt(body.N.String(), 10, 64)
	if err1 != nil || err2 != nil || id < 1 || id > events.MaxOrderID || n < 1 || n > events.MaxSopaipillas ||
		strings.Count(body.Vendor, "@") != 1 || strings.Count(body.Cook, "@") != 1 {
		return 0, "", 0, false
	}
	return id, strings.ToLower(body.Vendor), n, true
}

// dayAnswer is the part of dailySummary's 200 answer the oracle checks.
type dayAnswer struct {
	Summary struct {
		Ventas ventas `json:"ventas"`
		Fecha  string `json:"fecha"`
	} `json:"summary"`
	OrdersRead      int            `json:"orders_read"`
	SkippedRecords  int            `json:"skipped_records"`
	SkippedByReason map[string]int `json:"skipped_records_by_reason"`
	ConflictsTotal  int            `json:"conflicts_total"`
	took            time.Duration
}

// promptly bounds one summary of these small topics; SUMMARY_TIMEOUT is 60s,
// so a summary waiting for an offset that never comes shows as a 503 or a
// wait far past this.
const promptly = 10 * time.Second

// askDays asks dailySummary once for each day, with no retry: the scenarios
// inject no fault in the summary's way, so anything but a prompt 200 fails.
func askDays(ctx context.Context, row *Row, url string, days []events.Date) (map[events.Date]dayAnswer, error) {
	answers := map[events.Date]dayAnswer{}
	var took []string
	for _, day := range days {
		start := time.Now()
		status, a, err := askDay(ctx, url, day)
		a.took = time.Since(start)
		took = append(took, a.took.Round(time.Millisecond).String())
		if err != nil {
			return nil, fmt.Errorf("summary of %s (HTTP %d after %s): %w", day, status, a.took.Round(time.Millisecond), err)
		}
		if a.took > promptly {
			row.fail("the summary of %s took %s", day, a.took.Round(time.Millisecond))
		}
		answers[day] = a
	}
	row.note("summaries of %d days answered 200 in %s", len(days), strings.Join(took, ", "))
	return answers, nil
}

func askDay(ctx context.Context, url string, day events.Date) (int, dayAnswer, error) {
	body, _ := json.Marshal(map[string]string{"fecha": day.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, dayAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := summaryClient.Do(req)
	if err != nil {
		return 0, dayAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, dayAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, dayAnswer{}, fmt.Errorf("dailySummary answered %d: %s", resp.StatusCode, tail(string(raw), 3))
	}
	var a dayAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("dailySummary's answer: %w", err)
	}
	return resp.StatusCode, a, nil
}

// checkDays compares the summaries with the oracle and fills the row's
// counted, lost and double-counted. Every vendor of these scenarios has its
// own orders (mostly one), so a vendor's n_ordenes per day says where its
// orders counted: lost is an acknowledged order missing from the topic or a
// vendor counted fewer times than the oracle's orders, double-counted a
// vendor counted more times (in one day or across days), never is vendors
// that must not count at all (aborted transactions).
func checkDays(row *Row, o oracle, answers map[events.Date]dayAnswer, acked []int64, never map[string]bool) {
	want, got := map[string]int64{}, map[string]int64{}
	for _, v := range o.Orders {
		want[v.Vendor]++
	}
	counted := 0
	var diffs []string
	for _, day := range slices.SortedFunc(maps.Keys(answers), func(a, b events.Date) int { return strings.Compare(a.ISO(), b.ISO()) }) {
		a := answers[day]
		for vendor, s := range a.Summary.Ventas {
			got[vendor] += s.NOrdenes
			counted += int(s.NOrdenes)
		}
		diffs = append(diffs, diffVentas(day.String(), o.ByDay[day], a.Summary.Ventas)...)
		if a.OrdersRead != o.Read[day] {
			row.fail("%s: orders_read %d, the oracle read %d order records stamped that day", day, a.OrdersRead, o.Read[day])
		}
		if a.SkippedRecords != o.Skipped[day] || a.SkippedByReason["not_an_order"] != o.Skipped[day] {
			row.fail("%s: skipped_records %d (%v), the oracle found %d records that are not orders", day, a.SkippedRecords, a.SkippedByReason, o.Skipped[day])
		}
		if a.ConflictsTotal != 0 {
			row.fail("%s: conflicts_total %d, every copy had its order's body", day, a.ConflictsTotal)
		}
	}
	for day := range o.ByDay {
		if _, ok := answers[day]; !ok {
			row.fail("the oracle has orders in %s, a day not summarized", day)
		}
	}
	missing := 0
	for _, id := range acked {
		if !o.IDs[id] {
			missing++
		}
	}
	lost, double, wrong := missing, 0, 0
	for vendor := range union(mapOf(want), mapOf(got)) {
		lost += int(max(0, want[vendor]-got[vendor]))
		double += int(max(0, got[vendor]-want[vendor]))
		if never[vendor] && got[vendor] > 0 {
			wrong++
		}
	}
	row.Counted, row.Lost, row.Double = counted, lost, double
	if missing > 0 {
		row.fail("%d acknowledged orders are not on the topic", missing)
	}
	if wrong > 0 {
		row.fail("%d orders of aborted transactions counted", wrong)
	}
	if len(diffs) > 0 {
		row.fail("summary differs from the oracle for %d vendor-days, e.g. %s", len(diffs), diffs[0])
	}
	if counted != len(o.Orders) {
		row.fail("the summaries count %d orders, the oracle %d", counted, len(o.Orders))
	}
}

// mapOf turns a vendor count into a ventas-shaped key set for union.
func mapOf(m map[string]int64) ventas {
	v := ventas{}
	for k := range m {
		v[k] = events.Sales{}
	}
	return v
}

// orderDays are the days a run's orders can be in: the day before
// yesterday to the day the run ended.
func orderDays(start, end time.Time) []events.Date {
	first := events.DateOf(start, santiago).AddDays(-2)
	last := events.DateOf(end, santiago)
	var days []events.Date
	for d := first; !last.Before(d); d = d.AddDays(1) {
		days = append(days, d)
	}
	return days
}
