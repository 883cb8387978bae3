package dailysummary

import (
	"encoding/json"
	"math"
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
	// fast is set instead of Event for a record of exactly newOrder's shape
	// (see KafkaLog.Scan).
	fast fastOrder
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

// first is what is kept of the first accepted version of an order: 24
// bytes, as a busy day keeps millions of them.
type first struct {
	at     int64 // record time, Unix ms
	hash   uint64
	vendor uint32 // index into partitionTally.vendorNames
	n      int16
	inDay  bool
}

// first.n holds any valid numero_sopaipillas.
const _ = uint(math.MaxInt16 - events.MaxSopaipillas)

// maxKnownAddresses bounds the addresses a partition remembers as valid.
const maxKnownAddresses = 1 << 16

// partitionTally counts one partition's records. Versions of an order share
// a partition (the order_id is the key), so the first version by offset is
// the first accepted.
type partitionTally struct {
	start, end  int64 // the day, Unix ms
	orders      map[int64]first
	vendors     map[string]uint32 // index of each vendor address in vendorNames
	vendorNames []string
	valid       map[string]struct{} // addresses events.DecodeOrder accepted
	skipped     int
	conflicts   []Conflict
	read        int
}

func newPartitionTally(start, end time.Time) *partitionTally {
	return &partitionTally{start: start.UnixMilli(), end: end.UnixMilli(), orders: map[int64]first{},
		vendors: map[string]uint32{}, valid: map[string]struct{}{}}
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
	if r.fast.ok {
		t.addFast(r, at)
		return
	}
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
	t.count(order.OrderID, bodyHash(canonical), order.EmailVendedor, order.NumeroSopaipillas, at, r, r.Event.ID())
}

// addFast counts a record decoded by the fast path. Its addresses are
// checked by events.DecodeOrder the first time they are seen: validity is a
// property of the address alone.
func (t *partitionTally) addFast(r Record, at int64) {
	o := &r.fast
	_, vendorOK := t.valid[string(o.vendor)]
	_, cookOK := t.valid[string(o.cook)]
	if !vendorOK || !cookOK {
		if _, err := events.DecodeOrder(o.value); err != nil {
			t.skipped++
			return
		}
		if len(t.valid) < maxKnownAddresses {
			t.valid[string(o.vendor)] = struct{}{}
			t.valid[string(o.cook)] = struct{}{}
		}
	}
	if prev, ok := t.orders[o.id]; ok {
		if prev.hash != o.hash && at >= t.start {
			t.conflicts = append(t.conflicts, Conflict{OrderID: o.id, EventID: string(o.eventID), Partition: r.Partition, Offset: r.Offset})
		}
		return
	}
	t.orders[o.id] = first{at: at, hash: o.hash, vendor: t.vendor(o.vendor), n: int16(o.n), inDay: at >= t.start}
}

// count keeps the first version of an order and reports later ones with
// another body as conflicts.
func (t *partitionTally) count(id int64, hash uint64, vendor string, n int64, at int64, r Record, eventID string) {
	if prev, ok := t.orders[id]; ok {
		if prev.hash != hash && at >= t.start {
			t.conflicts = append(t.conflicts, Conflict{OrderID: id, EventID: eventID, Partition: r.Partition, Offset: r.Offset})
		}
		return
	}
	t.orders[id] = first{at: at, hash: hash, vendor: t.vendor([]byte(vendor)), n: int16(n), inDay: at >= t.start}
}

// vendor interns a vendor address.
func (t *partitionTally) vendor(addr []byte) uint32 {
	if i, ok := t.vendors[string(addr)]; ok {
		return i
	}
	i := uint32(len(t.vendorNames))
	t.vendorNames = append(t.vendorNames, string(addr))
	t.vendors[t.vendorNames[i]] = i
	return i
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
// version (the first partition's among equals).
func merge(day events.Date, parts []*partitionTally) Result {
	res := Result{Summary: events.NewSummary(day), Conflicts: []Conflict{}}
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
	shared := sharedIDs(parts)
	for i, p := range parts {
		sales := make([]events.Sales, len(p.vendorNames))
		for id, f := range p.orders {
			if !f.inDay || shared.maybe(id) && !earliest(parts, i, id, f) {
				continue
			}
			sales[f.vendor].NOrdenes++
			sales[f.vendor].NSopaipillas += int64(f.n)
		}
		for v, s := range sales {
			if s.NOrdenes > 0 {
				res.Summary.Add(p.vendorNames[v], s)
			}
		}
	}
	return res
}

// earliest reports whether f, partition i's version of order id, is the one
// that counts: no other partition has a version stamped earlier, nor as
// early in a partition before i.
func earliest(parts []*partitionTally, i int, id int64, f first) bool {
	for j, p := range parts {
		if j == i {
			continue
		}
		if g, ok := p.orders[id]; ok && (g.at < f.at || g.at == f.at && j < i) {
			return false
		}
	}
	return true
}

// idFilter holds, for a hash of every order id, whether two partitions saw
// ids with that hash: no false negatives, so only ids it names need looking
// up in the other partitions. An order normally lives in one partition
// only, and this avoids a merged map of every order of the day.
type idFilter struct {
	dup   []uint64
	shift uint
}

func sharedIDs(parts []*partitionTally) idFilter {
	total := 0
	for _, p := range parts {
		total += len(p.orders)
	}
	if len(parts) < 2 || total == 0 {
		return idFilter{}
	}
	bits := uint(10)
	for 1<<bits < 16*total {
		bits++
	}
	f := idFilter{dup: make([]uint64, 1<<(bits-6)), shift: 64 - bits}
	seen := make([]uint64, len(f.dup))
	for _, p := range parts {
		// Ids are distinct within a partition: look all of a partition's
		// up before marking them, so that none of them looks shared with
		// itself.
		for id := range p.orders {
			h := f.hash(id)
			if seen[h>>6]&(1<<(h&63)) != 0 {
				f.dup[h>>6] |= 1 << (h & 63)
			}
		}
		for id := range p.orders {
			h := f.hash(id)
			seen[h>>6] |= 1 << (h & 63)
		}
	}
	return f
}

func (f idFilter) hash(id int64) uint64 { return uint64(id) * 0x9E3779B97F4A7C15 >> f.shift }

// maybe reports whether id may be in more than one partition.
func (f idFilter) maybe(id int64) bool {
	if f.dup == nil {
		return false
	}
	h := f.hash(id)
	return f.dup[h>>6]&(1<<(h&63)) != 0
}
