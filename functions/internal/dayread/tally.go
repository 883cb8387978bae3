package dayread

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// Conflict is a version of a counted order with another body: listed in
// the counted order's day, never counted. EmailVendedor (canonical) and
// NumeroSopaipillas are what this version sent, so that its vendor can be
// told (issue 23 §6).
type Conflict struct {
	OrderID           int64  `json:"order_id"`
	EventID           string `json:"event_id,omitempty"`
	Partition         int32  `json:"partition"`
	Offset            int64  `json:"offset"`
	EmailVendedor     string `json:"email_vendedor"`
	NumeroSopaipillas int64  `json:"numero_sopaipillas"`
	// Counted is the version that counts instead, Reason why (Reason*).
	Counted CountedVersion `json:"counted"`
	Reason  string         `json:"reason"`
}

// CountedVersion is where the version of an order that counts is. Offset
// is omitted when it is the first record of the order_id in the conflict's
// own partition (ReasonLaterInPartition): the tally keeps no offsets, nor
// bodies, so EmailVendedor (canonical) and NumeroSopaipillas, what the
// counted version sent, are then known only when the order is read again
// (in several partitions) or is among its vendor's listed orders.
type CountedVersion struct {
	Partition         int32  `json:"partition"`
	Offset            *int64 `json:"offset,omitempty"`
	EmailVendedor     string `json:"email_vendedor,omitempty"`
	NumeroSopaipillas int64  `json:"numero_sopaipillas,omitempty"`
}

// Why a version of an order does not count (README, "Which day an order
// counts in"): its partition holds an earlier record of the order_id; or
// another partition's first record of it is stamped on an earlier day; or
// on the same day, in a lower-numbered partition.
const (
	ReasonLaterInPartition = events.ReasonLaterInPartition
	ReasonEarlierDay       = events.ReasonEarlierDay
	ReasonLowerPartition   = events.ReasonLowerPartition
)

// maxConflictsReported bounds the answer; ConflictsTotal still counts all.
const maxConflictsReported = 100

// maxKnownAddresses bounds the addresses a partition remembers (addrs).
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
	before     *idSet   // first version stamped before the day
	after      *idSet   // first version stamped after the day
	// addrs holds what the partition knows of each address as written
	// (address), so that one lookup gives a record's address both its
	// validity and its index in names; canonIdx maps the canonical forms
	// to their index in names.
	addrs      map[string]address
	canonIdx   map[string]uint32
	names      []string
	pairs      pairTable
	skipped    map[string]int
	conflicts  []Conflict
	nConflicts int
	read       int              // order records stamped in the day
	orders     *partitionOrders // the vendor report's listings (orders.go), or nil
	// seen, when set, is told of each valid order record before it is
	// counted (Live follows orders across partitions and days with it).
	seen func(id int64, r Record)
}

// newPartitionTally counts partition p for the day [start, end); expect
// sizes the tables once instead of growing them.
func newPartitionTally(p int32, start, end time.Time, expect Expect) *partitionTally {
	return &partitionTally{partition: p, start: start.UnixMilli(), end: end.UnixMilli(),
		inDay: newIDTable(expect.Day, true), before: newIDSet(), after: newIDSet(),
		addrs: map[string]address{}, canonIdx: map[string]uint32{}, pairs: newPairTable(),
		skipped: map[string]int{}}
}

// add counts one record. Anything that is not a valid order is skipped and
// counted by reason if stamped in the day: one bad record never blocks a
// summary.
func (t *partitionTally) add(r Record) {
	at := r.Timestamp.UnixMilli()
	inDay := at >= t.start && at < t.end
	if r.fast.ok {
		// The fast shape's numbers are in range and its strings are the
		// addresses as events.DecodeOrder reads them: the order is valid
		// when both addresses are.
		vendor, cook := t.address(r.fast.vendor), t.address(r.fast.cook)
		switch {
		case !vendor.valid || !cook.valid:
			if inDay {
				t.skipped[SkipInvalidOrder]++
			}
		case t.count(r.fast.id, r.fast.value, r.fast.vendor, r.fast.n, at, r, r.fast.eventID):
			t.addUp(t.name(r.fast.vendor, vendor), t.name(r.fast.cook, cook), r.fast.id, r.fast.n, at)
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
	// decode validated the order; its addresses are named through
	// address all the same, so that what addrs says of their validity is
	// always what events.CheckEmail says.
	vendor, cook := []byte(order.EmailVendedor), []byte(order.EmailCocinero)
	if t.count(order.OrderID, canonical, vendor, order.NumeroSopaipillas, at, r, []byte(eventID)) {
		t.addUp(t.name(vendor, t.address(vendor)), t.name(cook, t.address(cook)), order.OrderID, order.NumeroSopaipillas, at)
	}
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

// version returns the valid order a record carries, its event id and the
// hash of its body as the tally compares them, if it carries one.
func (r Record) version() (events.Order, string, uint32, bool) {
	if r.fast.ok {
		o, err := events.DecodeOrder(r.fast.value)
		return o, string(r.fast.eventID), uint32(bodyHash(r.fast.value)), err == nil
	}
	o, eventID, reason := r.decode()
	if reason != "" {
		return o, "", 0, false
	}
	canonical, err := json.Marshal(o)
	if err != nil {
		return o, "", 0, false
	}
	return o, eventID, uint32(bodyHash(canonical)), true
}

// address is what a partition knows of an address as written: whether
// events.CheckEmail accepts it, and, once an order of the day names it,
// its index in names (its canonical form). 8 bytes, passed in a register.
type address struct {
	name         uint32
	valid, named bool
}

// address returns what the partition knows of raw, checking it with
// events.CheckEmail the first time: validity is a property of the address,
// checked once (the rule is events', as newOrder applies it).
func (t *partitionTally) address(raw []byte) address {
	if a, ok := t.addrs[string(raw)]; ok {
		return a
	}
	a := address{valid: events.CheckEmail(string(raw)) == nil}
	if len(t.addrs) < maxKnownAddresses {
		t.addrs[string(raw)] = a
	}
	return a
}

// name returns the index in names of raw, a valid address of which a is
// what address said, interning its canonical form the first time.
func (t *partitionTally) name(raw []byte, a address) uint32 {
	if a.named {
		return a.name
	}
	canon := events.CanonicalEmail(string(raw))
	i, ok := t.canonIdx[canon]
	if !ok {
		i = uint32(len(t.names))
		t.names = append(t.names, canon)
		t.canonIdx[canon] = i
	}
	// Once an address, a second lookup: when addrs is full it may or may
	// not hold raw, and only an entry it holds is updated.
	if _, known := t.addrs[string(raw)]; known || len(t.addrs) < maxKnownAddresses {
		t.addrs[string(raw)] = address{name: i, valid: true, named: true}
	}
	return i
}

// addUp adds an order of the day (its first version) to its vendor and
// cook's sales, indexes in names, and to its vendor's listing.
func (t *partitionTally) addUp(vendor, cook uint32, id, n, at int64) {
	t.pairs.add(vendor, cook, n)
	t.listOrder(vendor, id, n, at)
}

// count keeps the first version of an order, reporting whether it is one
// of the day for the caller to add up (addUp), and reports later ones with
// another body as conflicts of the day's orders. body is the order's
// canonical JSON, hashed only when the order is one of the day's: other
// days' orders need no body, only to be known as seen. eventID is only
// copied for a conflict: a string per record would be garbage per record.
func (t *partitionTally) count(id int64, body, vendor []byte, n int64, at int64, r Record, eventID []byte) bool {
	if t.seen != nil {
		t.seen(id, r)
	}
	inDay := at >= t.start && at < t.end
	if inDay {
		t.read++
	}
	// A record of another day is looked up in the day's table only if its
	// id is within the table's range: on a topic of ids in sequence most
	// are not, and the probe is a cache miss a record. The range holds
	// every id the table holds whatever order records come in, so an id
	// outside it is not an order of the day (yet); it still goes through
	// the other days' sets below, so that its first record is the one
	// that counts if the day's record of it comes later.
	slot := idSlot{i: -1}
	var ofDay bool
	if inDay || t.inDay.mayHold(id) {
		slot, ofDay = t.inDay.find(id)
	}
	if ofDay {
		if t.inDay.val(slot) != uint32(bodyHash(body)) {
			t.nConflicts++
			c := Conflict{OrderID: id, EventID: string(eventID), Partition: r.Partition, Offset: r.Offset,
				EmailVendedor: events.CanonicalEmail(string(vendor)), NumeroSopaipillas: n,
				Counted: CountedVersion{Partition: r.Partition}, Reason: ReasonLaterInPartition}
			if len(t.conflicts) < maxConflictsReported {
				t.conflicts = append(t.conflicts, c)
			}
			t.listUncounted(c)
		}
		return false
	}
	if t.before.has(id) || t.after.has(id) {
		return false
	}
	switch {
	case at < t.start:
		t.before.add(id)
	case at >= t.end:
		t.after.add(id)
	default:
		t.inDay.addAt(slot, id, uint32(bodyHash(body)))
		return true
	}
	return false
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
	// Vendors is the same day by vendor with its orders listed (counted
	// and not): published as vendor reports.
	Vendors VendorDay
}

// merge combines the partitions' tallies into the day's summary, and
// returns the order ids of the day that are in several partitions (a
// repartitioned topic, a producer keying by something else) with the
// partitions that hold them, for resolve. Normally there are none.
func merge(day events.Date, parts []*partitionTally) (Result, *sharedOrders) {
	slices.SortFunc(parts, func(a, b *partitionTally) int { return cmp.Compare(a.partition, b.partition) })
	res := sumUp(day, parts)
	shared := findShared(parts)
	if shared == nil && len(res.Conflicts) > maxConflictsReported {
		res.Conflicts = res.Conflicts[:maxConflictsReported]
	}
	return res, shared
}

// sumUp adds up the partitions' tallies, in partition order, as they are:
// merge, or a Live day that knows its shared orders already.
func sumUp(day events.Date, parts []*partitionTally) Result {
	res := Result{Summary: events.NewSummary(day), Cooks: events.NewCookDay(day), Conflicts: []Conflict{}, SkippedByReason: map[string]int{}}
	for _, p := range parts {
		res.OrdersRead += p.read
		for reason, n := range p.skipped {
			res.SkippedRecords += n
			res.SkippedByReason[reason] += n
		}
		res.ConflictsTotal += p.nConflicts
		res.Conflicts = append(res.Conflicts, p.conflicts...)
		for pr := range p.pairs.all {
			res.Summary.Add(p.names[pr.vendor], pr.sales)
			res.Cooks.Add(p.names[pr.cook], p.names[pr.vendor], pr.sales)
		}
	}
	return res
}

// findShared returns the order ids of the day that are in several
// partitions, with the partitions that hold them; nil when there are none.
func findShared(parts []*partitionTally) *sharedOrders {
	var shared *sharedOrders
	filter := sharedIDs(parts)
	if filter.dup != nil {
		for _, p := range parts {
			p.inDay.each(func(id int64, _ uint32) {
				if !filter.maybe(id) {
					return
				}
				for _, q := range parts {
					if q != p && (q.inDay.has(id) || q.before.has(id) || q.after.has(id)) {
						if shared == nil {
							shared = &sharedOrders{ids: map[int64]struct{}{}, holders: map[int32]bool{}}
						}
						shared.ids[id] = struct{}{}
						shared.holders[p.partition], shared.holders[q.partition] = true, true
					}
				}
			})
		}
	}
	return shared
}

// sharedOrders are order ids of a day's orders that are in several
// partitions, and the partitions that hold them.
type sharedOrders struct {
	ids     map[int64]struct{}
	holders map[int32]bool
}

// version is one valid record of an order, as resolve reads it.
type version struct {
	offset int64
	at     int64 // Unix ms
	hash   uint32
	order  events.Order
	event  string
}

// resolve settles the orders of the day that are in several partitions,
// from every valid record of them (versions, by partition in offset
// order). The first record of an order in a partition is its version
// there; the version that counts is the one of the earliest day, and
// within one day of the lowest-numbered partition (README, "Which day an
// order counts in"). merge counted each partition's version of the day:
// the losers are taken back out. Every other record of an order that counts
// in the day, with another body than the counted one, is a conflict of the
// day, wherever it is; the partitions' own conflict counts of these orders
// are replaced by that.
func resolve(res *Result, start, end int64, shared *sharedOrders, versions map[int64]map[int32][]version, lists *vendorLists) error {
	dayOf := func(at int64) int { // before, in, after the day
		switch {
		case at < start:
			return -1
		case at >= end:
			return 1
		}
		return 0
	}
	var found []Conflict
	for id := range shared.ids {
		byPart := versions[id]
		parts := slices.Sorted(maps.Keys(byPart))
		winner := int32(-1)
		for _, p := range parts {
			if winner < 0 || dayOf(byPart[p][0].at) < dayOf(byPart[winner][0].at) {
				winner = p
			}
		}
		if winner < 0 {
			return fmt.Errorf("order %d counted at first is gone from the topic (retention?)", id)
		}
		counted := byPart[winner][0]
		for _, p := range parts {
			vs := byPart[p]
			first := vs[0]
			if dayOf(first.at) != 0 {
				continue
			}
			// What the partition's own tally did with its version of the day.
			for _, v := range vs[1:] {
				if v.hash != first.hash {
					res.ConflictsTotal--
				}
			}
			if p != winner {
				back := events.Sales{NOrdenes: -1, NSopaipillas: -first.order.NumeroSopaipillas}
				res.Summary.Add(first.order.EmailVendedor, back)
				if res.Summary.Ventas[first.order.EmailVendedor].NOrdenes == 0 {
					delete(res.Summary.Ventas, first.order.EmailVendedor)
				}
				res.Cooks.Add(first.order.EmailCocinero, first.order.EmailVendedor, back)
				lists.takeBack(first.order.EmailVendedor, id, p)
			}
		}
		if dayOf(counted.at) != 0 {
			continue // not an order of the day: its conflicts go with its own day
		}
		for _, p := range parts {
			reason := ReasonLaterInPartition
			switch first := byPart[p][0]; {
			case p == winner:
			case dayOf(first.at) > 0:
				reason = ReasonEarlierDay
			default:
				reason = ReasonLowerPartition
			}
			for i, v := range byPart[p] {
				if p == winner && i == 0 || v.hash == counted.hash {
					continue
				}
				c := Conflict{OrderID: id, EventID: v.event, Partition: p, Offset: v.offset,
					EmailVendedor: events.CanonicalEmail(v.order.EmailVendedor), NumeroSopaipillas: v.order.NumeroSopaipillas,
					Counted: CountedVersion{Partition: winner, EmailVendedor: events.CanonicalEmail(counted.order.EmailVendedor),
						NumeroSopaipillas: counted.order.NumeroSopaipillas}, Reason: reason}
				if p != winner {
					c.Counted.Offset = &counted.offset
				}
				found = append(found, c)
			}
		}
	}
	res.ConflictsTotal += len(found)
	lists.replaceUncounted(shared.ids, found)
	kept := append([]Conflict{}, found...)
	for _, c := range res.Conflicts {
		if _, ok := shared.ids[c.OrderID]; !ok {
			kept = append(kept, c)
		}
	}
	slices.SortFunc(kept, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	res.Conflicts = kept[:min(len(kept), maxConflictsReported)]
	return nil
}

// idFilter holds, for a hash of every order id, whether two partitions saw
// ids with that hash: no false negatives, so only ids it names need looking
// up in the other partitions. An order normally lives in one partition
// only, and this avoids a merged map of every order of the day.
type idFilter struct {
	dup  []uint64
	bits uint   // the filter holds 1<<bits bits
	mask uint64 // 1<<bits - 1
}

// sharedIDs builds the filter over the ids of the day's first versions:
// an id of the day is shared if another partition has it as a version of
// the day, or of another day (before it, it takes the count away; after
// it, it is a conflict of the day). It is sized by the day's orders only.
func sharedIDs(parts []*partitionTally) idFilter {
	total := 0
	for _, p := range parts {
		total += p.inDay.len()
	}
	if len(parts) < 2 || total == 0 {
		return idFilter{}
	}
	bits := uint(10)
	for 1<<bits < 8*total {
		bits++
	}
	f := idFilter{dup: make([]uint64, 1<<(bits-6)), bits: bits, mask: 1<<bits - 1}
	seen := make([]uint64, len(f.dup))
	for _, p := range parts {
		// Look all of a partition's ids of the day up before marking them,
		// so that none of them looks shared with itself.
		p.inDay.each(func(id int64, _ uint32) { f.check(seen, id) })
		p.inDay.each(func(id int64, _ uint32) { f.mark(seen, id) })
	}
	// An id of another day here is never also of the day here: a hit is
	// another partition's, or a hash collision that the exact check in
	// merge rules out.
	for _, p := range parts {
		check := func(id int64) { f.check(seen, id) }
		p.before.each(check)
		p.after.each(check)
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

// hash keeps ids that are close together in the same words: each
// partition's ids are visited in id order, so that the passes walk the
// filter in order instead of missing the cache on almost every id (a
// multiplicative hash took a second for 10M orders of the day, on one core
// after the read). Folding the higher bits in spreads ids that differ
// only above the filter's size. A collision only costs an exact lookup.
func (f idFilter) hash(id int64) uint64 {
	u := uint64(id)
	return (u ^ u>>f.bits ^ u>>(2*f.bits)) & f.mask
}

// maybe reports whether id may be in more than one partition.
func (f idFilter) maybe(id int64) bool {
	if f.dup == nil {
		return false
	}
	h := f.hash(id)
	return f.dup[h>>6]&(1<<(h&63)) != 0
}
