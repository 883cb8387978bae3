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

func (t *idTable) has(id int64) bool {
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
	t.keys[i] = id
	if t.vals != nil {
		t.vals[i] = v
	}
	t.n++
}

// addAt inserts id at slot, the empty slot find just returned for it
// (saving a second probe), unless the table must grow first.
func (t *idTable) addAt(slot int, id int64, v uint32) {
	if float64(t.n+1) > maxLoad*float64(len(t.keys)) {
		t.add(id, v)
		return
	}
	t.keys[slot] = id
	if t.vals != nil {
		t.vals[slot] = v
	}
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
