package dayread

import "math/bits"

// idTable is a hash table from order_id to a 32-bit value (or a bare set
// of ids), with open addressing and linear probing. A summary keeps one
// entry per order of the topic, millions on a busy day: 12 bytes a slot
// (8 for a set) sized once from an estimate, instead of a Go map's ~19
// bytes an entry and its per-entry lookup cost (README, "Sizing
// dailySummary"). Order ids are at least 1, so 0 marks an empty slot.
type idTable struct {
	keys []int64
	vals []uint32 // nil for a set
	n    int
	// lo and hi bound the ids held (when n > 0): ids are mostly given in
	// sequence, so the orders of one day hold a narrow range and an id of
	// another day is mostly outside it, told absent without a probe
	// (mayHold).
	lo, hi int64
}

// maxLoad is the fill at which the table doubles: linear probing stays
// within a cache line or two up to here.
const maxLoad = 0.8

func newIDTable(expect int, withVals bool) *idTable {
	size := max(16, int(float64(expect)/maxLoad)+1)
	t := &idTable{keys: make([]int64, size)}
	if withVals {
		t.vals = make([]uint32, size)
	}
	return t
}

// find returns the slot holding id, or the empty slot where it would go.
func (t *idTable) find(id int64) (int, bool) {
	// Fibonacci hashing, then a multiply-shift into [0, len) ("fastrange").
	h, _ := bits.Mul64(uint64(id)*0x9E3779B97F4A7C15, uint64(len(t.keys)))
	for i := int(h); ; i++ {
		if i == len(t.keys) {
			i = 0
		}
		switch t.keys[i] {
		case id:
			return i, true
		case 0:
			return i, false
		}
	}
}

// mayHold reports whether id is within the range of the ids held: false
// means it is not there. Entries are never removed, so the range only
// widens and false stays true of id until id itself is added.
func (t *idTable) mayHold(id int64) bool { return t.n > 0 && id >= t.lo && id <= t.hi }

func (t *idTable) has(id int64) bool {
	if !t.mayHold(id) {
		return false
	}
	_, ok := t.find(id)
	return ok
}

func (t *idTable) get(id int64) (uint32, bool) {
	i, ok := t.find(id)
	if !ok || t.vals == nil {
		return 0, ok
	}
	return t.vals[i], true
}

// add inserts id, which must not be there yet, with value v.
func (t *idTable) add(id int64, v uint32) {
	if float64(t.n+1) > maxLoad*float64(len(t.keys)) {
		t.grow()
	}
	i, _ := t.find(id)
	t.put(i, id, v)
}

// addAt inserts id at slot, the empty slot find just returned for it
// (saving a second probe), unless the table must grow first.
func (t *idTable) addAt(slot int, id int64, v uint32) {
	if float64(t.n+1) > maxLoad*float64(len(t.keys)) {
		t.add(id, v)
		return
	}
	t.put(slot, id, v)
}

// put fills the empty slot with id and v, widening the range held.
func (t *idTable) put(slot int, id int64, v uint32) {
	t.keys[slot] = id
	if t.vals != nil {
		t.vals[slot] = v
	}
	if t.n == 0 {
		t.lo, t.hi = id, id
	}
	t.lo, t.hi = min(t.lo, id), max(t.hi, id)
	t.n++
}

func (t *idTable) grow() {
	old := *t
	*t = idTable{keys: make([]int64, 2*len(old.keys))}
	if old.vals != nil {
		t.vals = make([]uint32, len(t.keys))
	}
	for i, id := range old.keys {
		if id != 0 {
			var v uint32
			if old.vals != nil {
				v = old.vals[i]
			}
			t.add(id, v)
		}
	}
}

func (t *idTable) len() int { return t.n }

// each calls fn for every id and its value.
func (t *idTable) each(fn func(id int64, v uint32)) {
	for i, id := range t.keys {
		if id != 0 {
			var v uint32
			if t.vals != nil {
				v = t.vals[i]
			}
			fn(id, v)
		}
	}
}
