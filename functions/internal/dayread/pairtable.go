package dayread

// pairTable holds a partition's pairs, each in its slot of an
// open-addressing table keyed by vendor and cook: a day of 10M orders
// over thousands of pairs adds one order a record, and a Go map of
// indexes into a slice of pairs cost that add about three cache misses
// (control word, key, pair); a slot holding the pair costs one. Linear
// probing on a multiplicative hash, at most 3/4 full. A slot is empty
// while its pair has no order (sales.NOrdenes == 0): a pair is only made
// to add an order to it.
type pairTable struct {
	slots []pair // len a power of two
	shift uint8  // 64 - log2(len(slots))
	n     int    // pairs held
}

// minPairSlots is a new table's size: 1.5 KiB.
const minPairSlots = 64

func newPairTable() pairTable {
	return pairTable{slots: make([]pair, minPairSlots), shift: 64 - 6}
}

// slot returns the index of vendor and cook's pair in t.slots, or of the
// empty slot where it goes.
func (t *pairTable) slot(vendor, cook uint32) uint64 {
	mask := uint64(len(t.slots) - 1)
	i := (uint64(vendor)<<32 | uint64(cook)) * 0x9E3779B97F4A7C15 >> t.shift
	for {
		s := &t.slots[i]
		if s.sales.NOrdenes == 0 || s.vendor == vendor && s.cook == cook {
			return i
		}
		i = (i + 1) & mask
	}
}

// add adds an order of n sopaipillas to vendor and cook's sales.
func (t *pairTable) add(vendor, cook uint32, n int64) {
	i := t.slot(vendor, cook)
	s := &t.slots[i]
	if s.sales.NOrdenes == 0 {
		if 4*(t.n+1) > 3*len(t.slots) {
			t.grow()
			i = t.slot(vendor, cook)
			s = &t.slots[i]
		}
		s.vendor, s.cook = vendor, cook
		t.n++
	}
	s.sales.NOrdenes++
	s.sales.NSopaipillas += n
}

// grow doubles the table.
func (t *pairTable) grow() {
	old := t.slots
	t.slots, t.shift = make([]pair, 2*len(old)), t.shift-1
	for _, p := range old {
		if p.sales.NOrdenes > 0 {
			t.slots[t.slot(p.vendor, p.cook)] = p
		}
	}
}

// all yields the table's pairs, in no particular order.
func (t *pairTable) all(yield func(pair) bool) {
	for _, p := range t.slots {
		if p.sales.NOrdenes > 0 && !yield(p) {
			return
		}
	}
}
