package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// scenarioTransactions: while newOrder takes orders, a transactional
// producer (franz-go) writes valid orders onto the order topic in
// transactions, committing two of three and aborting the third; some
// aborted orders are written again, with another vendor, in a later
// committed transaction. A summary is asked while a transaction is open,
// and at the end every partition's last offset is a commit or an abort
// marker. Committed orders and newOrder's acknowledged ones must count
// exactly once, aborted versions never (counted in the double-counted
// column), and every summary must answer 200 at once: a marker is an
// offset no reader is ever given.
func scenarioTransactions(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(k.brokers, sarama.NewConfig())
	if err != nil {
		return err
	}
	defer client.Close()
	partitions, err := client.Partitions(p.orderTopic)
	if err != nil {
		return err
	}
	w, err := newTxWriter(k.brokers, p.orderTopic, "faults-"+p.name("transactions"), int32(len(partitions)))
	if err != nil {
		return err
	}
	defer w.cl.Close()

	n := min(h.opts.ordersSmall, 5000)
	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 8_000_000, Count: n, Vendors: n, // one vendor per order
		Concurrency: h.opts.concurrency, Deadline: 2 * time.Minute,
	})
	// The first transaction finds the coordinator (and has the broker create
	// __transaction_state): done before the load, so that the others
	// interleave with it.
	if err := w.transaction(ctx, 0, true, nil); err != nil {
		return err
	}
	done := runLoad(ctx, l)
	during, t := 0, 1
	var openAsk string
	for ; t < 30 || !l.finished.Load() && t < 300; t++ {
		var whileOpen func()
		if t == 4 { // a summary while this transaction is open
			whileOpen = func() {
				start := time.Now()
				_, _, err := askDay(ctx, p.summary.url("/dailySummary"), events.DateOf(start, santiago))
				took := time.Since(start)
				openAsk = took.Round(time.Millisecond).String()
				if err != nil || took > promptly {
					row.fail("the summary asked with a transaction open: %v after %s", err, took.Round(time.Millisecond))
				}
			}
		}
		if err := w.transaction(ctx, t, t%3 != 2, whileOpen); err != nil {
			return err
		}
		if !l.finished.Load() {
			during++
		}
		_ = sleep(ctx, 20*time.Millisecond)
	}
	res := <-done
	loadNotes(row, res)
	if err := w.last(ctx); err != nil {
		return err
	}
	ends := map[int32]int64{}
	for _, part := range partitions {
		if ends[part], err = client.GetOffset(p.orderTopic, part, sarama.OffsetNewest); err != nil {
			return err
		}
	}

	days := orderDays(res.Start, res.End)
	answers, err := askDays(ctx, row, p.summary.url("/dailySummary"), days)
	if err != nil {
		return err
	}
	sentinels, err := writeSentinels(k.brokers, p.orderTopic)
	if err != nil {
		return err
	}
	for part, end := range ends {
		if sentinels[part] != end {
			return fmt.Errorf("partition %d grew from %d to %d while the summaries were asked", part, end, sentinels[part])
		}
	}
	o, err := readOracle(ctx, k.brokers, p.orderTopic, sentinels, true)
	if err != nil {
		return err
	}
	raw, err := readOracle(ctx, k.brokers, p.orderTopic, sentinels, false)
	if err != nil {
		return err
	}
	marked := 0
	for part, end := range ends {
		if raw.LastData[part] < end-1 {
			marked++
		}
	}
	checkDays(row, o, answers, append(append([]int64(nil), res.Acked...), w.committed...), w.abortedVendors)

	distinct := map[int64]bool{}
	for _, id := range append(append([]int64(nil), w.committed...), w.aborted...) {
		distinct[id] = true
	}
	row.Sent += len(distinct)
	row.Acked += len(w.committed)
	invisible := 0
	for _, id := range w.aborted {
		if !raw.IDs[id] {
			invisible++
		}
	}
	row.note("transactions (%d of %d during the load): %d committed (%d orders, in sent and 2xx, %d of them aborted before), %d aborted (%d orders, in sent; counted ones would be double-counted); summary with a transaction open answered 200 in %s",
		during, t, w.commits, len(w.committed), w.redone, w.aborts, len(w.aborted), openAsk)
	row.note("when the summaries were asked %d of %d partitions ended with a transaction marker; oracle (franz-go read_committed, own decoder): %d records, %d distinct orders; read_uncommitted: %d records",
		marked, len(partitions), o.Records, len(o.Orders), raw.Records)
	if marked == 0 {
		row.fail("no partition ended with a transaction marker: the case was not tested")
	}
	if invisible > 0 {
		row.fail("%d aborted orders are not on the topic at all: the case was not tested", invisible)
	}
	return nil
}

// txWriter is a transactional producer placing each record on the
// partition it chooses.
type txWriter struct {
	cl             *kgo.Client
	partitions     int32
	committed      []int64
	aborted        []int64
	abortedVendors map[string]bool
	redo           []int64 // aborted orders to write again in a committed transaction
	redone         int
	commits        int
	aborts         int
}

func newTxWriter(brokers []string, topic, id string, partitions int32) (*txWriter, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("sopaipillas-faults-transactions"),
		kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return nil, fmt.Errorf("transactional producer: %w", err)
	}
	return &txWriter{cl: cl, partitions: partitions, abortedVendors: map[string]bool{}}, nil
}

// transaction writes eight orders over eight consecutive partitions (and,
// when it commits, orders an earlier transaction aborted) and ends it;
// whileOpen, if set, runs once its records are on the broker.
func (w *txWriter) transaction(ctx context.Context, t int, commit bool, whileOpen func()) error {
	var orders []order
	if commit {
		for _, id := range w.redo {
			orders = append(orders, order{ID: id, Vendor: fmt.Sprintf("rehecho%d@feria.example", id), N: 3})
		}
		w.redone += len(w.redo)
		w.redo = nil
	}
	for j := range 8 {
		id := 8_900_000 + int64(t)*10 + int64(j) // t < 1000: below last()'s ids
		vendor := fmt.Sprintf("tx%d@feria.example", id)
		if !commit {
			vendor = fmt.Sprintf("abortada%d@feria.example", id)
		}
		orders = append(orders, order{ID: id, Vendor: vendor, N: 1 + id%7})
	}
	return w.write(ctx, t, orders, commit, whileOpen)
}

// last ends the run with one transaction committed on the first half of the
// partitions and one aborted on the other, so that every partition's last
// offset is a marker.
func (w *txWriter) last(ctx context.Context) error {
	for i, commit := range []bool{true, false} {
		var orders []order
		for part := range w.partitions {
			if (part < w.partitions/2) == commit {
				id := 8_990_000 + int64(part)
				vendor := fmt.Sprintf("ultima%d@feria.example", id)
				if !commit {
					vendor = "abortada-" + vendor
				}
				orders = append(orders, order{ID: id, Vendor: vendor, N: 1})
			}
		}
		// the record of orders[k] goes to partition k (+ half when aborting)
		if err := w.write(ctx, 1000+i, orders, commit, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *txWriter) write(ctx context.Context, t int, orders []order, commit bool, whileOpen func()) error {
	if err := w.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction %d: %w", t, err)
	}
	records := make([]*kgo.Record, len(orders))
	for j, o := range orders {
		part := int32(t+j) % w.partitions
		if t >= 1000 { // last(): the partitions of its half
			part = int32(j)
			if !commit {
				part += w.partitions / 2
			}
		}
		r := &kgo.Record{Key: []byte(strconv.FormatInt(o.ID, 10)), Value: o.body(), Partition: part}
		if j%2 == 0 {
			r.Headers = []kgo.RecordHeader{
				{Key: "ce_specversion", Value: []byte("1.0")},
				{Key: "ce_type", Value: []byte(events.TypeOrderCreated)},
				{Key: "ce_id", Value: []byte(events.OrderEventID(o.ID))},
				{Key: "ce_source", Value: []byte("/faults/transactions")},
				{Key: "content-type", Value: []byte("application/json")},
			}
		}
		records[j] = r
	}
	if err := w.cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		_ = w.cl.EndTransaction(ctx, kgo.TryAbort)
		return fmt.Errorf("transaction %d: %w", t, err)
	}
	if whileOpen != nil {
		whileOpen()
	}
	if err := w.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return fmt.Errorf("ending transaction %d (commit %v): %w", t, commit, errors.Join(err, ctx.Err()))
	}
	for _, o := range orders {
		if commit {
			w.committed = append(w.committed, o.ID)
		} else {
			w.aborted = append(w.aborted, o.ID)
			w.abortedVendors[o.Vendor] = true
		}
	}
	if commit {
		w.commits++
	} else {
		w.aborts++
		if t < 1000 {
			w.redo = append(w.redo, orders[0].ID, orders[1].ID)
		}
	}
	return nil
}
