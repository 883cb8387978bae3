package dailysummary

import (
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/events"
)

// Reasons a record of the order topic is skipped, as reported in
// skipped_records_by_reason (README, "Which day an order counts in").
const (
	// SkipNotAnOrder: neither a CloudEvent nor a JSON order object.
	SkipNotAnOrder = "not_an_order"
	// SkipInvalidCloudEvent: CloudEvent headers or envelope that the
	// CloudEvents spec refuses (no id, no source, bad specversion...).
	SkipInvalidCloudEvent = "invalid_cloudevent"
	// SkipOtherEventType: a valid CloudEvent that is not an order event.
	SkipOtherEventType = "other_event_type"
	// SkipInvalidOrder: an order (event data or plain JSON) that fails the
	// order's validation.
	SkipInvalidOrder = "invalid_order"
)

// Record is one committed record read from the order topic, decoded by
// KafkaLog. Exactly one of fast, Order or Event is set for an order; Skip
// names why anything else is not one.
type Record struct {
	Partition int32
	Offset    int64
	Timestamp time.Time
	// Event is a CloudEvent whose data is still to be checked.
	Event *cloudevents.Event
	// Order is an order decoded from a legacy record (plain JSON, or a
	// structured-mode CloudEvent); EventID is its event's id, if any.
	Order   *events.Order
	EventID string
	// Skip is the reason a record is not an order, when known.
	Skip string
	// fast is set instead for a record of exactly newOrder's shape.
	fast fastOrder
}

// Conflict is a later version of a counted order with a different body:
// reported, never counted.
type Conflict struct {
	OrderID   int64  `json:"order_id"`
	EventID   string `json:"event_id,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// maxConflictsReported bounds the answer; ConflictsTotal still counts all.
const maxConflictsReported = 100

// maxKnownAddresses bounds the addresses a partition remembers as valid.
const maxKnownAddresses = 1 << 16

// A first version in the day is packed into 64 bits, as a busy day keeps
// millions of them: vendor index (22 bits), numero_sopaipillas (10 bits),
// a 32-bit hash of the canonical body (to tell a retry from a conflict).
const (
	vendorBits = 22
	maxVendors = 1 << vendorBits
	nBits      = 10
)

// numero_sopaipillas fits its bits.
const _ = uint(1<<nBits - 1 - events.MaxSopaipillas)

func pack(vendor uint32, n int64, hash uint64) uint64 {
	return uint64(vendor)<<(64-vendorBits) | uint64(n)<<32 | hash&0xffffffff
}

func unpack(v uint64) (vendor uint32, n int64, hash uint32) {
	return uint32(v >> (64 - vendorBits)), int64(v >> 32 & (1<<nBits - 1)), uint32(v)
}

// errTooManyVendors fails a summary rather than count a vendor wrong.
var errTooManyVendors = fmt.Errorf("more than %d distinct vendors in one partition", maxVendors)

// partitionTally counts one partition, read whole in offset order. The
// first record of an order_id in the partition is the order's version
// there and its timestamp gives the order's day; later records of that
// order_id never count, whatever their timestamps. It keeps, per order_id
// seen, only what the day needs: the packed first version of orders of the
// day, and the bare ids of orders of other days (which must not be counted
// again when a retry of theirs is stamped in the day).
type partitionTally struct {
	partition  int32
	start, end int64 // the day, Unix ms
	inDay      map[int64]uint64
	before     map[int64]struct{} // first version stamped before the day
	after      map[int64]struct{} // first version stamped after the day
	vendorIdx  map[string]uint32  // address as written → vendor index
	canonIdx   map[string]uint32  // canonical address → vendor index
	names      []string           // canonical address by index
	sales      []events.Sales     // by vendor index
	valid      map[string]struct{}
	skipped    map[string]int
	conflicts  []Conflict
	nConflicts int
	read       int // order records stamped in the day
	err        error
}

// newPartitionTally counts partition p for the day [start, end); expect is
// an estimate of the day's orders in the partition, to size the tables
// once instead of growing them.
func newPartitionTally(p int32, start, end time.Time, expect int) *partitionTally {
	return &partitionTally{partition: p, start: start.UnixMilli(), end: end.UnixMilli(),
		inDay: make(map[int64]uint64, expect), before: map[int64]struct{}{}, after: map[int64]struct{}{},
		vendorIdx: map[string]uint32{}, canonIdx: map[string]uint32{}, valid: map[string]struct{}{}, skipped: map[string]int{}}
}

// add counts one record. Anything that is not a valid order is skipped and
// counted by reason if stamped in the day: one bad record never blocks a
// summary.
func (t *partitionTally) add(r Record) {
	at := r.Timestamp.UnixMilli()
	inDay := at >= t.start && at < t.end
	if r.fast.ok {
		if t.fastValid(&r.fast) {
			t.count(r.fast.id, r.fast.hash, r.fast.vendor, r.fast.n, at, r, string(r.fast.eventID))
		} else if inDay {
			t.skipped[SkipInvalidOrder]++
		}
		return
	}
	order, eventID, reason := r.decode()
	if reason != "" {
		if inDay {
			t.skipped[reason]++
		}
		return
	}
	canonical, err := json.Marshal(order)
	if err != nil {
		if inDay {
			t.skipped[SkipInvalidOrder]++
		}
		return
	}
	t.count(order.OrderID, bodyHash(canonical), []byte(order.EmailVendedor), order.NumeroSopaipillas, at, r, eventID)
}

// decode returns the order a record that is not of the fast shape carries,
// or why it carries none.
func (r Record) decode() (events.Order, string, string) {
	switch {
	case r.Order != nil:
		return *r.Order, r.EventID, ""
	case r.Event != nil:
		if r.Event.Type() != events.TypeOrderCreated {
			return events.Order{}, "", SkipOtherEventType
		}
		o, err := events.OrderFromEvent(*r.Event)
		if err != nil {
			return events.Order{}, "", SkipInvalidOrder
		}
		return o, r.Event.ID(), ""
	case r.Skip != "":
		return events.Order{}, "", r.Skip
	}
	return events.Order{}, "", SkipNotAnOrder
}

// fastValid checks a fast-path record's addresses with events.DecodeOrder
// the first time each is seen: validity is a property of the address.
func (t *partitionTally) fastValid(o *fastOrder) bool {
	_, vendorOK := t.valid[string(o.vendor)]
	_, cookOK := t.valid[string(o.cook)]
	if vendorOK && cookOK {
		return true
	}
	if _, err := events.DecodeOrder(o.value); err != nil {
		return false
	}
	if len(t.valid) < maxKnownAddresses {
		t.valid[string(o.vendor)] = struct{}{}
		t.valid[string(o.cook)] = struct{}{}
	}
	return true
}

// count keeps the first version of an order and reports later ones with
// another body as conflicts of the day's orders.
func (t *partitionTally) count(id int64, hash uint64, vendor []byte, n int64, at int64, r Record, eventID string) {
	if at >= t.start && at < t.end {
		t.read++
	}
	if prev, ok := t.inDay[id]; ok {
		if _, _, h := unpack(prev); h != uint32(hash) {
			t.nConflicts++
			if len(t.conflicts) < maxConflictsReported {
				t.conflicts = append(t.conflicts, Conflict{OrderID: id, EventID: eventID, Partition: r.Partition, Offset: r.Offset})
			}
		}
		return
	}
	if _, ok := t.before[id]; ok {
		return
	}
	if _, ok := t.after[id]; ok {
		return
	}
	switch {
	case at < t.start:
		t.before[id] = struct{}{}
	case at >= t.end:
		t.after[id] = struct{}{}
	default:
		v, ok := t.vendor(vendor)
		if !ok {
			t.err = errTooManyVendors
			return
		}
		t.inDay[id] = pack(v, n, hash)
		t.sales[v].NOrdenes++
		t.sales[v].NSopaipillas += n
	}
}

// vendor interns a vendor address under its canonical form.
func (t *partitionTally) vendor(addr []byte) (uint32, bool) {
	if i, ok := t.vendorIdx[string(addr)]; ok {
		return i, true
	}
	canon := events.CanonicalEmail(string(addr))
	i, ok := t.canonIdx[canon]
	if !ok {
		if len(t.names) >= maxVendors {
			return 0, false
		}
		i = uint32(len(t.names))
		t.names = append(t.names, canon)
		t.sales = append(t.sales, events.Sales{})
		t.canonIdx[canon] = i
	}
	if len(t.vendorIdx) < maxKnownAddresses {
		t.vendorIdx[string(addr)] = i
	}
	return i, true
}

// Result is a summary with what was seen while making it.
type Result struct {
	Summary events.Summary
	// OrdersRead counts the order records stamped in the day, retries and
	// conflicting versions included.
	OrdersRead int
	// SkippedRecords counts the records stamped in the day that are not
	// orders; SkippedByReason breaks them down (Skip* constants).
	SkippedRecords  int
	SkippedByReason map[string]int
	Conflicts       []Conflict
	ConflictsTotal  int
}

// merge combines the partitions' tallies into the day's summary. An order
// whose first versions are in several partitions (a repartitioned topic, a
// producer keying by something else) counts in the earliest of their days,
// and within one day in the lowest-numbered partition: a partition's order
// of the day is dropped if another partition saw it first before the day,
// or in the day at a lower partition number.
func merge(day events.Date, parts []*partitionTally) (Result, error) {
	res := Result{Summary: events.NewSummary(day), Conflicts: []Conflict{}, SkippedByReason: map[string]int{}}
	for _, p := range parts {
		if p.err != nil {
			return Result{}, p.err
		}
		res.OrdersRead += p.read
		for reason, n := range p.skipped {
			res.SkippedRecords += n
			res.SkippedByReason[reason] += n
		}
		res.ConflictsTotal += p.nConflicts
		for _, c := range p.conflicts {
			if len(res.Conflicts) < maxConflictsReported {
				res.Conflicts = append(res.Conflicts, c)
			}
		}
	}
	shared := sharedIDs(parts)
	for _, p := range parts {
		sales := p.sales
		if shared.dup != nil {
			sales = append([]events.Sales(nil), p.sales...)
			for id, v := range p.inDay {
				if shared.maybe(id) && !counts(parts, p, id) {
					vendor, n, _ := unpack(v)
					sales[vendor].NOrdenes--
					sales[vendor].NSopaipillas -= n
				}
			}
		}
		for v, s := range sales {
			if s.NOrdenes > 0 {
				res.Summary.Add(p.names[v], s)
			}
		}
	}
	return res, nil
}

// counts reports whether p's version of order id, in the day, is the one
// that counts (see merge).
func counts(parts []*partitionTally, p *partitionTally, id int64) bool {
	for _, q := range parts {
		if q == p {
			continue
		}
		if _, ok := q.before[id]; ok {
			return false
		}
		if _, ok := q.inDay[id]; ok && q.partition < p.partition {
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

// sharedIDs builds the filter over the ids that can decide a day's count:
// those of the day and those before it (an order first seen after the day
// in one partition never takes the day's order away from another).
func sharedIDs(parts []*partitionTally) idFilter {
	total := 0
	for _, p := range parts {
		total += len(p.inDay) + len(p.before)
	}
	if len(parts) < 2 || total == 0 {
		return idFilter{}
	}
	bits := uint(10)
	for 1<<bits < 8*total {
		bits++
	}
	f := idFilter{dup: make([]uint64, 1<<(bits-6)), shift: 64 - bits}
	seen := make([]uint64, len(f.dup))
	for _, p := range parts {
		// An id is in at most one of a partition's sets: look all of a
		// partition's up before marking them, so that none of them looks
		// shared with itself.
		for id := range p.inDay {
			f.check(seen, id)
		}
		for id := range p.before {
			f.check(seen, id)
		}
		for id := range p.inDay {
			f.mark(seen, id)
		}
		for id := range p.before {
			f.mark(seen, id)
		}
	}
	return f
}

func (f idFilter) check(seen []uint64, id int64) {
	h := f.hash(id)
	if seen[h>>6]&(1<<(h&63)) != 0 {
		f.dup[h>>6] |= 1 << (h & 63)
	}
}

func (f idFilter) mark(seen []uint64, id int64) {
	h := f.hash(id)
	seen[h>>6] |= 1 << (h & 63)
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
