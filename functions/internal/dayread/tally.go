package dayread

import (
	"encoding/json"
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

// pair is a vendor and a cook (indexes into partitionTally.names) and the
// sales of their orders of the day: the summary adds them up by vendor,
// the cook reports by cook.
type pair struct {
	vendor, cook uint32
	sales        events.Sales
}

// partitionTally counts one partition, read whole in offset order. The
// first record of an order_id in the partition is the order's version
// there and its timestamp gives the order's day; later records of that
// order_id never count, whatever their timestamps. Sales are added up as
// first versions arrive. Per order_id it keeps only what the day needs:
// for an order of the day a 32-bit hash of its body (to tell a retry from
// a conflict), for orders of other days the bare id (so that a retry of
// theirs stamped in the day is not counted).
type partitionTally struct {
	partition  int32
	start, end int64    // the day, Unix ms
	inDay      *idTable // body hash of the first version
	before     *idTable // first version stamped before the day
	after      *idTable // first version stamped after the day
	// valid holds addresses as written that passed events.DecodeOrder:
	// validity is a property of the address, checked once. Addresses of
	// counted orders are interned: addrIdx maps them as written, canonIdx
	// canonically, to their index in names (canonical).
	valid      map[string]struct{}
	addrIdx    map[string]uint32
	canonIdx   map[string]uint32
	names      []string
	pairIdx    map[uint64]uint32 // vendor<<32 | cook → index in pairs
	pairs      []pair
	skipped    map[string]int
	conflicts  []Conflict
	nConflicts int
	read       int // order records stamped in the day
}

// newPartitionTally counts partition p for the day [start, end); expect
// sizes the tables once instead of growing them.
func newPartitionTally(p int32, start, end time.Time, expect Expect) *partitionTally {
	return &partitionTally{partition: p, start: start.UnixMilli(), end: end.UnixMilli(),
		inDay: newIDTable(expect.Day, true), before: newIDTable(expect.Before, false), after: newIDTable(expect.After, false),
		valid: map[string]struct{}{}, addrIdx: map[string]uint32{}, canonIdx: map[string]uint32{}, pairIdx: map[uint64]uint32{},
		skipped: map[string]int{}}
}

// add counts one record. Anything that is not a valid order is skipped and
// counted by reason if stamped in the day: one bad record never blocks a
// summary.
func (t *partitionTally) add(r Record) {
	at := r.Timestamp.UnixMilli()
	inDay := at >= t.start && at < t.end
	if r.fast.ok {
		if t.fastValid(&r.fast) {
			t.count(r.fast.id, r.fast.hash, r.fast.vendor, r.fast.cook, r.fast.n, at, r, string(r.fast.eventID))
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
	t.count(order.OrderID, bodyHash(canonical), []byte(order.EmailVendedor), []byte(order.EmailCocinero), order.NumeroSopaipillas, at, r, eventID)
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

// validOrder returns the valid order a record carries, if any.
func (r Record) validOrder() (events.Order, bool) {
	if r.fast.ok {
		o, err := events.DecodeOrder(r.fast.value)
		return o, err == nil
	}
	o, _, reason := r.decode()
	return o, reason == ""
}

// fastValid checks a fast-path record's addresses with events.DecodeOrder
// the first time each is seen.
func (t *partitionTally) fastValid(o *fastOrder) bool {
	_, vendorOK := t.addrIdx[string(o.vendor)]
	if !vendorOK {
		_, vendorOK = t.valid[string(o.vendor)]
	}
	_, cookOK := t.addrIdx[string(o.cook)]
	if !cookOK {
		_, cookOK = t.valid[string(o.cook)]
	}
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

// addr interns a valid address under its canonical form.
func (t *partitionTally) addr(raw []byte) uint32 {
	if i, ok := t.addrIdx[string(raw)]; ok {
		return i
	}
	canon := events.CanonicalEmail(string(raw))
	i, ok := t.canonIdx[canon]
	if !ok {
		i = uint32(len(t.names))
		t.names = append(t.names, canon)
		t.canonIdx[canon] = i
	}
	if len(t.addrIdx) < maxKnownAddresses {
		t.addrIdx[string(raw)] = i
	}
	return i
}

// pair returns the index in pairs of a vendor and a cook, adding it.
func (t *partitionTally) pair(vendor, cook []byte) uint32 {
	v, c := t.addr(vendor), t.addr(cook)
	key := uint64(v)<<32 | uint64(c)
	i, ok := t.pairIdx[key]
	if !ok {
		i = uint32(len(t.pairs))
		t.pairs = append(t.pairs, pair{vendor: v, cook: c})
		t.pairIdx[key] = i
	}
	return i
}

// count keeps the first version of an order and reports later ones with
// another body as conflicts of the day's orders.
func (t *partitionTally) count(id int64, hash uint64, vendor, cook []byte, n int64, at int64, r Record, eventID string) {
	inDay := at >= t.start && at < t.end
	if inDay {
		t.read++
	}
	slot, ok := t.inDay.find(id)
	if ok {
		if t.inDay.vals[slot] != uint32(hash) {
			t.nConflicts++
			if len(t.conflicts) < maxConflictsReported {
				t.conflicts = append(t.conflicts, Conflict{OrderID: id, EventID: eventID, Partition: r.Partition, Offset: r.Offset})
			}
		}
		return
	}
	if t.before.has(id) || t.after.has(id) {
		return
	}
	switch {
	case at < t.start:
		t.before.add(id, 0)
	case at >= t.end:
		t.after.add(id, 0)
	default:
		t.inDay.addAt(slot, id, uint32(hash))
		p := &t.pairs[t.pair(vendor, cook)]
		p.sales.NOrdenes++
		p.sales.NSopaipillas += n
	}
}

// Result is a summary with what was seen while making it.
type Result struct {
	Summary events.Summary
	// Cooks is the same day by cook (published as one report per cook).
	Cooks events.CookDay
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
// of the day loses if another partition saw it first before the day, or in
// the day at a lower partition number. The losers, by partition, are
// returned: their numbers are still in the summary and must be taken back
// out (Counter.takeBack). Normally there are none.
func merge(day events.Date, parts []*partitionTally) (Result, map[int32]map[int64]struct{}) {
	res := Result{Summary: events.NewSummary(day), Cooks: events.NewCookDay(day), Conflicts: []Conflict{}, SkippedByReason: map[string]int{}}
	for _, p := range parts {
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
		for _, pr := range p.pairs {
			if pr.sales.NOrdenes > 0 {
				res.Summary.Add(p.names[pr.vendor], pr.sales)
				res.Cooks.Add(p.names[pr.cook], p.names[pr.vendor], pr.sales)
			}
		}
	}
	var losers map[int32]map[int64]struct{}
	shared := sharedIDs(parts)
	if shared.dup == nil {
		return res, nil
	}
	for _, p := range parts {
		p.inDay.each(func(id int64, _ uint32) {
			if shared.maybe(id) && !counts(parts, p, id) {
				if losers == nil {
					losers = map[int32]map[int64]struct{}{}
				}
				if losers[p.partition] == nil {
					losers[p.partition] = map[int64]struct{}{}
				}
				losers[p.partition][id] = struct{}{}
			}
		})
	}
	return res, losers
}

// counts reports whether p's version of order id, in the day, is the one
// that counts (see merge).
func counts(parts []*partitionTally, p *partitionTally, id int64) bool {
	for _, q := range parts {
		if q == p {
			continue
		}
		if q.before.has(id) || q.inDay.has(id) && q.partition < p.partition {
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
		total += p.inDay.len() + p.before.len()
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
		check := func(id int64, _ uint32) { f.check(seen, id) }
		mark := func(id int64, _ uint32) { f.mark(seen, id) }
		p.inDay.each(check)
		p.before.each(check)
		p.inDay.each(mark)
		p.before.each(mark)
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
