package dayread

import (
	"cmp"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// What the vendor report (events.VendorReport) lists of each vendor's day:
// the earliest events.MaxOrdersListed counted orders and the first
// events.MaxUncountedListed uncounted versions (by partition and offset).
// The day read keeps no per-order data beyond its id tables, so these
// lists are kept as the partitions are read, bounded per vendor: memory
// grows with vendors × the bounds, never with the orders of the day.

// listed is a counted order as the listing keeps it: 24 bytes.
type listed struct {
	at, id    int64 // record timestamp (Unix ms), order_id
	n         int32 // sopaipillas (at most events.MaxSopaipillas)
	partition int32 // where the counted version is
}

// compare is the listing's order: time, then order_id, then partition.
func (a listed) compare(b listed) int {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id), cmp.Compare(a.partition, b.partition))
}

func (a listed) before(b listed) bool { return a.compare(b) < 0 }

// vendorList is one vendor's listing. orders is a max-heap (by before)
// once it holds events.MaxOrdersListed entries: its root is the one the
// next earlier order displaces.
type vendorList struct {
	orders    []listed
	uncounted []Conflict // sorted by partition and offset
}

// add keeps o if it is among the vendor's earliest orders so far.
func (l *vendorList) add(o listed) {
	const limit = events.MaxOrdersListed
	switch {
	case len(l.orders) < limit:
		l.orders = append(l.orders, o)
		if len(l.orders) == limit {
			heapify(l.orders)
		}
	case o.before(l.orders[0]):
		l.orders[0] = o
		siftDown(l.orders, 0)
	}
}

// remove takes the order id counted in partition out (see resolve).
func (l *vendorList) remove(id int64, partition int32) {
	i := slices.IndexFunc(l.orders, func(o listed) bool { return o.id == id && o.partition == partition })
	if i < 0 {
		return
	}
	// Below the bound it is no longer a heap: add appends again, and
	// heapifies once full.
	l.orders = slices.Delete(l.orders, i, i+1)
}

// addUncounted keeps c if it is among the vendor's first uncounted
// versions by partition and offset.
func (l *vendorList) addUncounted(c Conflict) {
	at := func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	}
	i, found := slices.BinarySearchFunc(l.uncounted, c, at)
	if found || i >= events.MaxUncountedListed {
		return
	}
	l.uncounted = slices.Insert(l.uncounted, i, c)
	if len(l.uncounted) > events.MaxUncountedListed {
		l.uncounted = l.uncounted[:events.MaxUncountedListed]
	}
}

func heapify(h []listed) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
}

func siftDown(h []listed, i int) {
	for {
		largest, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[largest].before(h[l]) {
			largest = l
		}
		if r < len(h) && h[largest].before(h[r]) {
			largest = r
		}
		if largest == i {
			return
		}
		h[i], h[largest] = h[largest], h[i]
		i = largest
	}
}

// vendorLists are the listings of a day's vendors, shared by the
// partitions' tallies, keyed by canonical address.
type vendorLists struct {
	mu      sync.Mutex
	vendors map[string]*vendorList
}

func newVendorLists() *vendorLists { return &vendorLists{vendors: map[string]*vendorList{}} }

// of returns vendor's listing, adding it; the caller holds mu.
func (v *vendorLists) of(vendor string) *vendorList {
	l := v.vendors[vendor]
	if l == nil {
		l = &vendorList{}
		v.vendors[vendor] = l
	}
	return l
}

// partitionOrders is one partition's side of the listings: counted orders
// wait in pending and go to the shared listings in batches, so that the
// partitions, read concurrently, take the lock once per batch.
type partitionOrders struct {
	shared  *vendorLists
	pending []pendingOrder
	lists   []*vendorList // by index in the tally's names
	// cutoff is, by index in the tally's names, the latest time a vendor's
	// full listing held at the last flush (0: not full). The listing only
	// gets earlier, so an order after it can never be listed: skipped
	// here, most of a busy day's orders never reach the lock.
	cutoff []int64
}

type pendingOrder struct {
	vendor uint32 // index in the tally's names
	listed
}

const pendingBatch = 4096

func newPartitionOrders(shared *vendorLists) *partitionOrders {
	return &partitionOrders{shared: shared, pending: make([]pendingOrder, 0, pendingBatch)}
}

// listOrder notes a counted version of the day: vendor is its index in
// the tally's names.
func (t *partitionTally) listOrder(vendor uint32, id, n, at int64) {
	o := t.orders
	if o == nil {
		return
	}
	if int(vendor) < len(o.cutoff) && o.cutoff[vendor] != 0 && at > o.cutoff[vendor] {
		return
	}
	o.pending = append(o.pending, pendingOrder{vendor: vendor, listed: listed{at: at, id: id, n: int32(n), partition: t.partition}})
	if len(o.pending) == pendingBatch {
		t.flushOrders()
	}
}

// listUncounted notes a conflict for the vendor whose version it is.
func (t *partitionTally) listUncounted(c Conflict) {
	if t.orders == nil {
		return
	}
	s := t.orders.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	s.of(c.EmailVendedor).addUncounted(c)
}

// flushOrders moves the pending orders to the shared listings.
func (t *partitionTally) flushOrders() {
	o := t.orders
	if o == nil || len(o.pending) == 0 {
		return
	}
	o.shared.mu.Lock()
	defer o.shared.mu.Unlock()
	for _, p := range o.pending {
		for int(p.vendor) >= len(o.lists) {
			o.lists = append(o.lists, nil)
			o.cutoff = append(o.cutoff, 0)
		}
		l := o.lists[p.vendor]
		if l == nil {
			l = o.shared.of(t.names[p.vendor])
			o.lists[p.vendor] = l
		}
		l.add(p.listed)
		if len(l.orders) == events.MaxOrdersListed {
			o.cutoff[p.vendor] = l.orders[0].at
		}
	}
	o.pending = o.pending[:0]
}

// takeBack removes a version counted at first that another partition's
// version displaced (resolve).
func (v *vendorLists) takeBack(vendor string, id int64, partition int32) {
	if v == nil {
		return
	}
	if l := v.vendors[events.CanonicalEmail(vendor)]; l != nil {
		l.remove(id, partition)
	}
}

// replaceUncounted swaps the partitions' own conflicts of orders that are
// in several partitions for the ones resolve found across them.
func (v *vendorLists) replaceUncounted(ids map[int64]struct{}, found []Conflict) {
	if v == nil {
		return
	}
	for _, l := range v.vendors {
		l.uncounted = slices.DeleteFunc(l.uncounted, func(c Conflict) bool { _, ok := ids[c.OrderID]; return ok })
	}
	for _, c := range found {
		v.of(c.EmailVendedor).addUncounted(c)
	}
}

// VendorDay is the day by vendor with its orders listed, counted and not:
// the vendor reports' content. Each vendor's entry is built when asked
// (Entry), so that a busy day's report (some 250 bytes a listed order once
// built and encoded) is never held whole: dailySummary publishes it part by
// part (events.SplitVendors).
type VendorDay struct {
	// Fecha is the day, dd/mm/aaaa.
	Fecha   string
	vendors []string // sorted
	entry   func(vendor string) events.VendorOrders
}

// Vendors returns the day's vendors, sorted: every vendor of the summary
// and every vendor with only uncounted versions.
func (d VendorDay) Vendors() []string { return d.vendors }

// Entry returns vendor's part of the report.
func (d VendorDay) Entry(vendor string) events.VendorOrders { return d.entry(vendor) }

// Equal reports whether two days list the same (go-cmp uses it).
func (d VendorDay) Equal(o VendorDay) bool {
	return d.Fecha == o.Fecha && slices.Equal(d.vendors, o.vendors) && reflect.DeepEqual(d.Report(), o.Report())
}

// Report returns the whole report (tests, small days).
func (d VendorDay) Report() events.VendorReport {
	r := events.VendorReport{Fecha: d.Fecha, Vendedores: map[string]events.VendorOrders{}}
	for _, v := range d.vendors {
		r.Vendedores[v] = d.entry(v)
	}
	return r
}

// day is the day's vendor report: every vendor of the summary, with its
// listing, and every vendor with only uncounted versions. hora is in loc.
// An uncounted version whose counted version is listed (the same order_id
// and partition) is told what counted.
func (v *vendorLists) day(s events.Summary, loc *time.Location) VendorDay {
	var unknown []Conflict
	for _, l := range v.vendors {
		unknown = append(unknown, l.uncounted...)
	}
	counted := v.countedOf(unknown)
	var vendors []string
	for vendor := range s.Ventas {
		vendors = append(vendors, vendor)
	}
	for vendor, l := range v.vendors {
		if _, ok := s.Ventas[vendor]; !ok && len(l.uncounted) > 0 {
			vendors = append(vendors, vendor) // else only versions taken back
		}
	}
	slices.Sort(vendors)
	entry := func(vendor string) events.VendorOrders {
		sales := s.Ventas[vendor]
		vo := events.VendorOrders{NSopaipillas: sales.NSopaipillas, NOrdenes: sales.NOrdenes,
			Ordenes: []events.ListedOrder{}, NoContadas: []events.UncountedOrder{}}
		if l := v.vendors[vendor]; l != nil {
			for _, o := range slices.SortedFunc(slices.Values(l.orders), listed.compare) {
				vo.Ordenes = append(vo.Ordenes, events.ListedOrder{OrderID: o.id, Hora: time.UnixMilli(o.at).In(loc).Format(time.RFC3339Nano), NumeroSopaipillas: int64(o.n)})
			}
			for _, c := range l.uncounted {
				u := events.UncountedOrder{OrderID: c.OrderID, NumeroSopaipillas: c.NumeroSopaipillas, Motivo: c.Reason}
				if c.Counted.EmailVendedor != "" {
					u.Contada = &events.CountedOrder{EmailVendedor: c.Counted.EmailVendedor, NumeroSopaipillas: c.Counted.NumeroSopaipillas}
				} else {
					u.Contada = counted[listedKey{c.OrderID, c.Counted.Partition}]
				}
				vo.NoContadas = append(vo.NoContadas, u)
			}
		}
		vo.OrdenesNoListadas = vo.NOrdenes - int64(len(vo.Ordenes))
		return vo
	}
	return VendorDay{Fecha: s.Fecha, vendors: vendors, entry: entry}
}

// listedKey is a counted version: its order_id and partition.
type listedKey struct {
	id        int64
	partition int32
}

// countedOf finds, among the listings, the counted versions of conflicts
// whose counted body the read did not know (Counted.EmailVendedor empty):
// a version counted in its partition is listed under its vendor when it
// is among the vendor's earliest orders.
func (v *vendorLists) countedOf(cs []Conflict) map[listedKey]*events.CountedOrder {
	counted := map[listedKey]*events.CountedOrder{}
	for _, c := range cs {
		if c.Counted.EmailVendedor == "" {
			counted[listedKey{c.OrderID, c.Counted.Partition}] = nil
		}
	}
	if len(counted) == 0 {
		return counted
	}
	for vendor, l := range v.vendors {
		for _, o := range l.orders {
			k := listedKey{o.id, o.partition}
			if _, ok := counted[k]; ok {
				counted[k] = &events.CountedOrder{EmailVendedor: vendor, NumeroSopaipillas: int64(o.n)}
			}
		}
	}
	return counted
}

// fillCounted tells the day's conflicts what counted, where the listings
// know it.
func (v *vendorLists) fillCounted(cs []Conflict) {
	counted := v.countedOf(cs)
	for i, c := range cs {
		if k := counted[listedKey{c.OrderID, c.Counted.Partition}]; c.Counted.EmailVendedor == "" && k != nil {
			cs[i].Counted.EmailVendedor, cs[i].Counted.NumeroSopaipillas = k.EmailVendedor, k.NumeroSopaipillas
		}
	}
}
