// Package dayread reads one calendar day of orders from the order topic and
// counts it: each order once, by the rules of README "Which day an order
// counts in". dailySummary publishes what it counts; salesBoard shows it.
package dayread

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// OrderLog reads the order topic. Scan calls visitor(p, expect) once per
// partition and the returned function for each of its committed records in
// offset order, every record the topic keeps up to where it ended when the
// scan started; a nil function skips the partition. expect estimates how
// many records are stamped before from, in [from, to) and after. It fails
// rather than return part of the topic.
type OrderLog interface {
	Scan(ctx context.Context, from, to time.Time, visitor func(partition int32, expect Expect) func(Record)) error
}

// Expect is how many records of a partition are stamped before a day, in
// it and after it, as the broker's time index estimates: exact when
// timestamps are in offset order, a hint to size the tally otherwise.
type Expect struct{ Before, Day, After int }

// Counter counts days of an order log.
type Counter struct {
	log OrderLog
	loc *time.Location
}

// New returns a Counter of log whose days are calendar days in loc.
func New(log OrderLog, loc *time.Location) *Counter {
	return &Counter{log: log, loc: loc}
}

// Summarize reads and counts the orders of day: every committed record the
// order topic keeps, so that neither timestamps out of offset order nor
// gaps in the offsets change which day an order counts in (README, "Which
// day an order counts in").
func (c *Counter) Summarize(ctx context.Context, day events.Date) (res Result, err error) {
	start, end := day.Bounds(c.loc)
	ctx, read := telemetry.ReadingDay(ctx, day.String(), start, end)
	defer func() { read.End(res.OrdersRead, res.SkippedRecords, err) }()
	var (
		mu    sync.Mutex
		parts []*partitionTally
	)
	err = c.log.Scan(ctx, start, end, func(p int32, expect Expect) func(Record) {
		t := newPartitionTally(p, start, end, expect)
		mu.Lock()
		parts = append(parts, t)
		mu.Unlock()
		return t.add
	})
	if err != nil {
		return Result{}, err
	}
	res, losers := merge(day, parts)
	if len(losers) > 0 {
		if err := c.takeBack(ctx, start, end, &res, losers); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// takeBack removes from res the orders that counted in a partition although
// another partition's version of them takes precedence (see merge). The
// tally keeps no vendor per order, to stay small, so the partitions that
// hold such orders are read again for their first valid version. It only
// happens when an order_id is in several partitions.
func (c *Counter) takeBack(ctx context.Context, start, end time.Time, res *Result, losers map[int32]map[int64]struct{}) error {
	var mu sync.Mutex
	err := c.log.Scan(ctx, start, end, func(p int32, _ Expect) func(Record) {
		pending := losers[p]
		if len(pending) == 0 {
			return nil
		}
		return func(r Record) {
			if r.fast.ok {
				if _, ok := pending[r.fast.id]; !ok {
					return
				}
			}
			order, ok := r.validOrder()
			if !ok {
				return
			}
			if _, ok := pending[order.OrderID]; !ok {
				return
			}
			delete(pending, order.OrderID) // the first valid version is the one counted
			back := events.Sales{NOrdenes: -1, NSopaipillas: -order.NumeroSopaipillas}
			mu.Lock()
			res.Summary.Add(order.EmailVendedor, back)
			if res.Summary.Ventas[order.EmailVendedor].NOrdenes == 0 {
				delete(res.Summary.Ventas, order.EmailVendedor)
			}
			res.Cooks.Add(order.EmailCocinero, order.EmailVendedor, back)
			mu.Unlock()
		}
	})
	if err != nil {
		return err
	}
	for p, pending := range losers {
		if len(pending) > 0 {
			return fmt.Errorf("partition %d: %d orders counted at first are gone from the topic (retention?)", p, len(pending))
		}
	}
	return nil
}
