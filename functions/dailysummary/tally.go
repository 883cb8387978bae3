package dailysummary

import (
	"encoding/json"
	"hash/fnv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/events"
)

// Record is one record read from the order topic. Event is nil when the
// record is not a CloudEvent at all.
type Record struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	Event     *cloudevents.Event
}

// Conflict is a later version of an order with a different body: reported,
// never counted.
type Conflict struct {
	OrderID   int64  `json:"order_id"`
	EventID   string `json:"event_id"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// maxConflictsReported bounds the answer; ConflictsTotal still counts all.
const maxConflictsReported = 100

// first is what is kept of the first accepted version of an order.
type first struct {
	at     int64 // record time, Unix ms
	hash   uint64
	vendor string
	n      int64
	inDay  bool
}

// partitionTally counts one partition's records. Versions of an order share
// a partition (the order_id is the key), so the first version by offset is
// the first accepted.
type partitionTally struct {
	start, end int64 // the day, Unix ms
	orders     map[int64]first
	vendors    map[string]string // interned vendor addresses
	skipped    int
	conflicts  []Conflict
	read       int
}

func newPartitionTally(start, end time.Time) *partitionTally {
	return &partitionTally{start: start.UnixMilli(), end: end.UnixMilli(), orders: map[int64]first{}, vendors: map[string]string{}}
}

// add counts one record. Records stamped before the day only mark their
// order as already taken (a retry across midnight belongs to the first day);
// records stamped after it are ignored. Anything that is not a valid order
// event is skipped and counted as such: one bad record never blocks a
// summary.
func (t *partitionTally) add(r Record) {
	at := r.Timestamp.UnixMilli()
	if at >= t.end {
		return
	}
	t.read++
	if r.Event == nil {
		t.skipped++
		return
	}
	order, err := events.OrderFromEvent(*r.Event)
	if err != nil {
		t.skipped++
		return
	}
	canonical, err := json.Marshal(order)
	if err != nil {
		t.skipped++
		return
	}
	h := fnv.New64a()
	h.Write(canonical)
	sum := h.Sum64()
	if prev, ok := t.orders[order.OrderID]; ok {
		if prev.hash != sum && at >= t.start {
			t.conflicts = append(t.conflicts, Conflict{OrderID: order.OrderID, EventID: r.Event.ID(), Partition: r.Partition, Offset: r.Offset})
		}
		return
	}
	vendor, ok := t.vendors[order.EmailVendedor]
	if !ok {
		vendor = order.EmailVendedor
		t.vendors[vendor] = vendor
	}
	t.orders[order.OrderID] = first{at: at, hash: sum, vendor: vendor, n: order.NumeroSopaipillas, inDay: at >= t.start}
}

// Result is a summary with what was seen while making it.
type Result struct {
	Summary        events.Summary
	OrdersRead     int
	SkippedRecords int
	Conflicts      []Conflict
	ConflictsTotal int
}

// merge combines the partitions' tallies into the day's summary. An order
// found in two partitions (the topic was repartitioned) keeps its earliest
// version.
func merge(day events.Date, parts []*partitionTally) Result {
	res := Result{Summary: events.NewSummary(day), Conflicts: []Conflict{}}
	all := map[int64]first{}
	for _, p := range parts {
		for id, f := range p.orders {
			if prev, ok := all[id]; !ok || f.at < prev.at {
				all[id] = f
			}
		}
	}
	for _, p := range parts {
		res.OrdersRead += p.read
		res.SkippedRecords += p.skipped
		res.ConflictsTotal += len(p.conflicts)
		for _, c := range p.conflicts {
			if len(res.Conflicts) < maxConflictsReported {
				res.Conflicts = append(res.Conflicts, c)
			}
		}
	}
	for _, f := range all {
		if !f.inDay {
			continue
		}
		v := res.Summary.Ventas[f.vendor]
		v.NOrdenes++
		v.NSopaipillas += f.n
		res.Summary.Ventas[f.vendor] = v
	}
	return res
}
