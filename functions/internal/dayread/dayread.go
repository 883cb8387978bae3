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
		lists = newVendorLists()
	)
	err = c.log.Scan(ctx, start, end, func(p int32, expect Expect) func(Record) {
		t := newPartitionTally(p, start, end, expect)
		t.orders = newPartitionOrders(lists)
		mu.Lock()
		parts = append(parts, t)
		mu.Unlock()
		return t.add
	})
	if err != nil {
		return Result{}, err
	}
	for _, p := range parts {
		p.flushOrders()
	}
	res, shared := merge(day, parts)
	if shared == nil {
		lists.fillCounted(res.Conflicts)
		res.Vendors = lists.day(res.Summary, c.loc)
		return res, nil
	}
	versions, err := c.versions(ctx, start, end, shared)
	if err != nil {
		return Result{}, err
	}
	for _, p := range parts {
		for id := range shared.ids {
			if _, ok := versions[id][p.partition]; !ok && (p.inDay.has(id) || p.before.has(id) || p.after.has(id)) {
				return Result{}, fmt.Errorf("partition %d: order %d read at first is gone from the topic (retention?)", p.partition, id)
			}
		}
	}
	if err := resolve(&res, start.UnixMilli(), end.UnixMilli(), shared, versions, lists); err != nil {
		return Result{}, err
	}
	lists.fillCounted(res.Conflicts)
	res.Vendors = lists.day(res.Summary, c.loc)
	return res, nil
}

// versions reads again the partitions that hold orders in several
// partitions, for every valid record of those orders (see resolve): the
// tally keeps no vendor per order, to stay small. It only happens when an
// order_id is in several partitions.
func (c *Counter) versions(ctx context.Context, start, end time.Time, shared *sharedOrders) (map[int64]map[int32][]version, error) {
	visitor, out := versionReader(shared)
	err := c.log.Scan(ctx, start, end, visitor)
	return out, err
}

// versionReader returns a visitor of an order log that collects every
// valid record of the shared orders in the partitions holding them, and
// the map it fills: order_id → partition → records in offset order.
func versionReader(shared *sharedOrders) (func(p int32, _ Expect) func(Record), map[int64]map[int32][]version) {
	var mu sync.Mutex
	out := map[int64]map[int32][]version{}
	return func(p int32, _ Expect) func(Record) {
		if !shared.holders[p] {
			return nil
		}
		return func(r Record) {
			if r.fast.ok {
				if _, ok := shared.ids[r.fast.id]; !ok {
					return
				}
			}
			order, eventID, hash, ok := r.version()
			if !ok {
				return
			}
			if _, ok := shared.ids[order.OrderID]; !ok {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if out[order.OrderID] == nil {
				out[order.OrderID] = map[int32][]version{}
			}
			out[order.OrderID][p] = append(out[order.OrderID][p], version{offset: r.Offset, at: r.Timestamp.UnixMilli(), hash: hash, order: order, event: eventID})
		}
	}, out
}
