package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/sopaipillas/sopaipillas/events"
)

// santiago is the business time zone (the functions' default).
var santiago = mustLocation("America/Santiago")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// stored is the first version of an order found on the topic: the one the
// summary must count.
type stored struct {
	Vendor    string
	N         int64
	Body      string // canonical JSON, to recognise a different later version
	At        time.Time
	Partition int32
	Offset    int64
}

// topicContents is what an independent read of the whole order topic finds.
type topicContents struct {
	Records   int               // every record
	Invalid   int               // records that are not valid order events
	Versions  int               // valid order records, retries included
	Orders    map[int64]stored  // distinct orders, first version each
	Conflicts int               // later versions with a different body
	ByDay     map[string]ventas // expected summary per day, from Orders
}

// ventas is a summary's "ventas" object.
type ventas map[string]events.Sales

// readTopic reads every record of topic from the oldest to the newest
// offset, with a plain sarama consumer: no dailySummary code is involved
// beyond the events package's validation of an order.
func readTopic(ctx context.Context, brokers []string, topic string) (topicContents, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-reader"
	cfg.Consumer.Fetch.Default = 4 << 20
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return topicContents{}, fmt.Errorf("reader: %w", err)
	}
	defer client.Close()
	partitions, err := client.Partitions(topic)
	if err != nil {
		return topicContents{}, fmt.Errorf("reader: partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return topicContents{}, err
	}
	defer consumer.Close()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	parts := make([]topicContents, len(partitions))
	errs := make([]error, len(partitions))
	var wg sync.WaitGroup
	for i, p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = readPartition(ctx, client, consumer, topic, p)
		}()
	}
	wg.Wait()
	all := topicContents{Orders: map[int64]stored{}, ByDay: map[string]ventas{}}
	for i, part := range parts {
		if errs[i] != nil {
			return topicContents{}, errs[i]
		}
		all.Records += part.Records
		all.Invalid += part.Invalid
		all.Versions += part.Versions
		all.Conflicts += part.Conflicts
		for id, s := range part.Orders {
			if prev, ok := all.Orders[id]; !ok || s.At.Before(prev.At) {
				all.Orders[id] = s
			}
		}
	}
	for _, s := range all.Orders {
		day := events.DateOf(s.At, santiago).String()
		if all.ByDay[day] == nil {
			all.ByDay[day] = ventas{}
		}
		v := all.ByDay[day][s.Vendor]
		v.NOrdenes++
		v.NSopaipillas += s.N
		all.ByDay[day][s.Vendor] = v
	}
	return all, nil
}

func readPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32) (topicContents, error) {
	c := topicContents{Orders: map[int64]stored{}}
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return c, fmt.Errorf("reader: oldest offset of %s/%d: %w", topic, p, err)
	}
	newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return c, fmt.Errorf("reader: newest offset of %s/%d: %w", topic, p, err)
	}
	if newest <= oldest {
		return c, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, oldest)
	if err != nil {
		return c, fmt.Errorf("reader: %s/%d: %w", topic, p, err)
	}
	defer pc.AsyncClose()
	for {
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("reader: %s/%d at %d records: %w", topic, p, c.Records, ctx.Err())
		case err := <-pc.Errors():
			return c, fmt.Errorf("reader: %s/%d: %w", topic, p, err)
		case m := <-pc.Messages():
			c.add(ctx, m)
			if m.Offset+1 >= newest {
				return c, nil
			}
		}
	}
}

func (c *topicContents) add(ctx context.Context, m *sarama.ConsumerMessage) {
	c.Records++
	e, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(m))
	if err == nil {
		err = e.Validate() // binding.ToEvent does not check the required attributes
	}
	if err != nil {
		c.Invalid++
		return
	}
	o, err := events.OrderFromEvent(*e)
	if err != nil {
		c.Invalid++
		return
	}
	c.Versions++
	body, _ := json.Marshal(o)
	if prev, ok := c.Orders[o.OrderID]; ok {
		if prev.Body != string(body) {
			c.Conflicts++
		}
		return
	}
	c.Orders[o.OrderID] = stored{Vendor: o.EmailVendedor, N: o.NumeroSopaipillas, Body: string(body), At: m.Timestamp, Partition: m.Partition, Offset: m.Offset}
}

// summaryAnswer is dailySummary's 200 answer.
type summaryAnswer struct {
	Summary struct {
		Ventas ventas `json:"ventas"`
		Fecha  string `json:"fecha"`
	} `json:"summary"`
	EventID string `json:"event_id"`
	// CookReports and their events: dailySummary publishes one per cook
	// beside the summary, and sendMail mails each cook.
	CookReports struct {
		Cocineros map[string]json.RawMessage `json:"cocineros"`
	} `json:"cook_reports"`
	CookReportEventIDs []string `json:"cook_report_event_ids"`
	OrdersRead         int      `json:"orders_read"`
	SkippedRecords     int      `json:"skipped_records"`
	ConflictsTotal     int      `json:"conflicts_total"`
}

// counted is the number of orders the summary counts.
func (a summaryAnswer) counted() int {
	n := 0
	for _, s := range a.Summary.Ventas {
		n += int(s.NOrdenes)
	}
	return n
}

// summaryClient asks dailySummary for a day.
var summaryClient = &http.Client{Timeout: 3 * time.Minute}

// askSummary asks once; status is 0 when no answer came.
func askSummary(ctx context.Context, url, day string) (int, summaryAnswer, error) {
	body, _ := json.Marshal(map[string]string{"fecha": day})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, summaryAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := summaryClient.Do(req)
	if err != nil {
		return 0, summaryAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, summaryAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, summaryAnswer{}, fmt.Errorf("dailySummary answered %d: %s", resp.StatusCode, tail(string(raw), 3))
	}
	var a summaryAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("dailySummary's answer: %w", err)
	}
	return resp.StatusCode, a, nil
}

// summaryUntilOK asks for day until a 200, retrying 5xx and network errors
// as a client would, for at most a minute. It returns how many attempts
// failed first.
func summaryUntilOK(ctx context.Context, url, day string) (summaryAnswer, int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	failed := 0
	for {
		status, a, err := askSummary(ctx, url, day)
		if err == nil {
			return a, failed, nil
		}
		if status/100 == 4 || ctx.Err() != nil {
			return a, failed, err
		}
		failed++
		select {
		case <-ctx.Done():
			return a, failed, fmt.Errorf("no 200 summary for %s within a minute: %w", day, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// verification is the outcome of checking one load run against the topic
// and the summary.
type verification struct {
	topic       topicContents
	answers     map[string]summaryAnswer // by day
	counted     int
	present     int // distinct orders on the topic
	lost        []int64
	badBody     []int64 // acknowledged, but stored with another body
	unacked     int     // on the topic though never acknowledged
	summary5xx  int
	vendorDiffs []string
}

// verifyOrders reads the topic and asks dailySummary (at summaryURL) for
// every day the orders cover, then fills the row: counted, lost, double.
func verifyOrders(ctx context.Context, row *Row, brokers []string, topic, summaryURL string, res loadResult, vendors int) (verification, error) {
	var v verification
	var err error
	if v.topic, err = readTopic(ctx, brokers, topic); err != nil {
		return v, err
	}
	v.present = len(v.topic.Orders)
	acked := map[int64]bool{}
	for _, id := range res.Acked {
		acked[id] = true
		s, ok := v.topic.Orders[id]
		switch {
		case !ok:
			v.lost = append(v.lost, id)
		case s.Vendor != orderFor(id, vendors).Vendor || s.N != orderFor(id, vendors).N:
			v.badBody = append(v.badBody, id)
		}
	}
	for id := range v.topic.Orders {
		if !acked[id] {
			v.unacked++
		}
	}
	days := map[string]bool{
		events.DateOf(res.Start, santiago).String(): true,
		events.DateOf(res.End, santiago).String():   true,
	}
	for d := range v.topic.ByDay {
		days[d] = true
	}
	v.answers = map[string]summaryAnswer{}
	for _, day := range slices.Sorted(maps.Keys(days)) {
		a, failed, err := summaryUntilOK(ctx, summaryURL, day)
		v.summary5xx += failed
		if err != nil {
			return v, fmt.Errorf("summary of %s: %w", day, err)
		}
		v.answers[day] = a
		v.counted += a.counted()
		v.vendorDiffs = append(v.vendorDiffs, diffVentas(day, v.topic.ByDay[day], a.Summary.Ventas)...)
	}

	row.Counted = v.counted
	row.Lost = len(v.lost) + max(0, v.present-v.counted)
	row.Double = max(0, v.counted-v.present)
	row.note("%d records on the topic (%d distinct orders, %d retried copies, %d never acknowledged, %d not valid orders)",
		v.topic.Records, v.present, v.topic.Versions-v.present, v.unacked, v.topic.Invalid)
	if len(v.lost) > 0 {
		row.fail("%d acknowledged orders missing from the topic, e.g. %v", len(v.lost), v.lost[:min(5, len(v.lost))])
	}
	if len(v.badBody) > 0 {
		row.fail("%d acknowledged orders stored with another body, e.g. %v", len(v.badBody), v.badBody[:min(5, len(v.badBody))])
	}
	if len(v.vendorDiffs) > 0 {
		row.fail("summary differs from the topic for %d vendor-days, e.g. %s", len(v.vendorDiffs), v.vendorDiffs[0])
	}
	if v.counted != v.present {
		row.fail("summary counts %d orders, the topic holds %d", v.counted, v.present)
	}
	if v.summary5xx > 0 {
		row.note("summary needed %d retries", v.summary5xx)
	}
	return v, nil
}

// diffVentas lists the vendors whose sales differ between want and got.
func diffVentas(day string, want, got ventas) []string {
	var diffs []string
	for _, vendor := range slices.Sorted(maps.Keys(union(want, got))) {
		if w, g := want[vendor], got[vendor]; w != g {
			diffs = append(diffs, fmt.Sprintf("%s %s: want %d orders/%d sopaipillas, got %d/%d", day, vendor, w.NOrdenes, w.NSopaipillas, g.NOrdenes, g.NSopaipillas))
		}
	}
	return diffs
}

func union(a, b ventas) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// loadNotes adds the load client's figures to the row.
func loadNotes(row *Row, res loadResult) {
	row.Sent = res.Sent
	row.Acked = len(res.Acked)
	row.Unavailable = res.LongestStall
	row.LongestAnswer = max(row.LongestAnswer, res.SlowestAnswer)
	rate := float64(len(res.Acked)) / res.End.Sub(res.Start).Seconds()
	row.note("%d attempts in %s (%.0f orders/s); failed attempts: %s; longest stretch of non-2xx answers %s, slowest 2xx %s",
		res.Attempts, res.End.Sub(res.Start).Round(100*time.Millisecond), rate, errorSummary(res.Errors),
		res.LongestOutage.Round(10*time.Millisecond), res.SlowestAck.Round(10*time.Millisecond))
	if len(res.GivenUp) > 0 {
		row.fail("%d orders never acknowledged before the load deadline", len(res.GivenUp))
	}
	if len(res.Rejected) > 0 {
		row.fail("%d valid orders answered 4xx", len(res.Rejected))
	}
}
