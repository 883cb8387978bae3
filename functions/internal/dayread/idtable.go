package dayread

import (
	"cmp"
	"math/bits"
	"slices"
)

// idTable is a table from order_id to a 32-bit value (or a bare set of
// ids). A summary keeps one entry per order of the day, millions on a
// busy day (README, "Sizing dailySummary"), so it is built for size:
//
//   - a hash table with open addressing and linear probing, 12 bytes a
//     slot (8 for a set) instead of a Go map's ~19 bytes an entry and its
//     per-entry lookup cost; order ids are at least 1, so 0 marks an empty
//     slot;
//   - for a table of values, dense chunks: once at least denseMin ids of
//     one range of 2^16 ids are held, as when ids are given in sequence,
//     that range moves to a presence bitmap and its values in id order
//     (about 4.8 bytes an id with ids spread over 6 partitions, 4.2 with
//     one), found by indexing instead of hashing. Sparse ids stay in the
//     hash table.
//
// An id is in at most one of the two: a range with a dense chunk holds
// none of its ids in the hash table.
type idTable struct {
	keys []int64
	vals []uint32 // nil for a set
	hn   int      // ids in keys
	// hlo and hhi bound the ids in keys (when hn > 0); recomputed when
	// the hash table is rebuilt.
	hlo, hhi int64
	n        int // ids held
	// lo and hi bound the ids held (when n > 0): ids are mostly given in
	// sequence, so the orders of one day hold a narrow range and an id of
	// another day is mostly outside it, told absent without a probe
	// (mayHold).
	lo, hi int64
	// expect is the size hint: the hash table starts small for a table of
	// values (the ids may be dense) and takes this size at once when a
	// rebuild finds them sparse.
	expect int
	// dir holds the dense chunks by range (id >> chunkShift), from range
	// dirBase, nil where a range has none; it spans at most a few times
	// the chunks it holds (canPlace).
	dir     []*denseChunk
	dirBase int64
	chunks  int
	// noDense holds the ranges whose chunk was given up (demote): they
	// stay in the hash table.
	noDense map[int64]bool
}

const (
	// maxLoad is the fill at which the hash table is rebuilt (and grows):
	// linear probing stays within a cache line or two up to here.
	maxLoad = 0.8
	// stagingSlots is the hash table a table of values starts with when
	// it expects more: enough to see a few thousand ids of one range.
	stagingSlots = 8192
	// A range moves to a dense chunk (about 8.7 KiB, then 4 bytes an id)
	// once it holds denseMin ids (15 bytes each in the hash table): there
	// the chunk takes about half the room. A new range whose previous
	// range has a chunk of at least denseMin ids gets a chunk with its
	// first id (ids in sequence).
	denseMin = 2048
)

// idSlot is where find found an id or would put it: a slot of the hash
// table (c nil; i < 0 when find did not probe), or a dense chunk (c, and
// the id's rank in it when found).
type idSlot struct {
	c *denseChunk
	i int
}

func newIDTable(expect int, withVals bool) *idTable {
	size := max(16, int(float64(expect)/maxLoad)+1)
	if withVals {
		size = min(size, stagingSlots)
	}
	t := &idTable{keys: make([]int64, size), expect: expect}
	if withVals {
		t.vals = make([]uint32, size)
	}
	return t
}

// chunkOf returns the dense chunk of id's range, or nil.
func (t *idTable) chunkOf(id int64) *denseChunk {
	k := id>>chunkShift - t.dirBase
	if uint64(k) < uint64(len(t.dir)) {
		return t.dir[k]
	}
	return nil
}

// find returns where id is, or where it would go.
func (t *idTable) find(id int64) (idSlot, bool) {
	if t.chunks > 0 {
		if c := t.chunkOf(id); c != nil {
			low := int(id & (chunkIDs - 1))
			if !c.has(low) {
				return idSlot{c: c, i: -1}, false
			}
			return idSlot{c: c, i: c.rank(low)}, true
		}
	}
	if t.hn == 0 || id < t.hlo || id > t.hhi {
		return idSlot{i: -1}, false
	}
	i, ok := t.probe(id)
	return idSlot{i: i}, ok
}

// probe returns the hash table's slot holding id, or the empty slot where
// it would go.
func (t *idTable) probe(id int64) (int, bool) {
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

// val returns the value of the id find found at s.
func (t *idTable) val(s idSlot) uint32 {
	if s.c != nil {
		return s.c.vals[s.i]
	}
	return t.vals[s.i]
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
	s, ok := t.find(id)
	if !ok || t.vals == nil {
		return 0, ok
	}
	return t.val(s), true
}

// add inserts id, which must not be there yet, with value v.
func (t *idTable) add(id int64, v uint32) {
	if c := t.chunkFor(id); c != nil {
		t.addDense(c, id, v)
		return
	}
	if t.full() {
		t.rebuild()
		if c := t.chunkFor(id); c != nil {
			t.addDense(c, id, v)
			return
		}
	}
	i, _ := t.probe(id)
	t.put(i, id, v)
	t.held(id)
}

// addAt inserts id at s, where find just said it would go (saving a
// second probe), unless that is not where it goes now.
func (t *idTable) addAt(s idSlot, id int64, v uint32) {
	switch {
	case s.c != nil:
		t.addDense(s.c, id, v)
	case s.i < 0 || t.chunks > 0 || t.full():
		// Not probed, or a range that may get a chunk, or a rebuild first.
		t.add(id, v)
	default:
		t.put(s.i, id, v)
		t.held(id)
	}
}

func (t *idTable) full() bool { return float64(t.hn+1) > maxLoad*float64(len(t.keys)) }

// put fills the hash table's empty slot with id and v.
func (t *idTable) put(slot int, id int64, v uint32) {
	t.keys[slot] = id
	if t.vals != nil {
		t.vals[slot] = v
	}
	if t.hn == 0 {
		t.hlo, t.hhi = id, id
	}
	t.hlo, t.hhi = min(t.hlo, id), max(t.hhi, id)
	t.hn++
}

// held counts id as held, widening the range held.
func (t *idTable) held(id int64) {
	if t.n == 0 {
		t.lo, t.hi = id, id
	}
	t.lo, t.hi = min(t.lo, id), max(t.hi, id)
	t.n++
}

// chunkFor returns the dense chunk id goes to: its range's, or a new one
// when the previous range has a full enough chunk (ids in sequence), the
// hash table holds none of the range's ids and the directory can take it.
func (t *idTable) chunkFor(id int64) *denseChunk {
	if t.chunks == 0 {
		return nil
	}
	if c := t.chunkOf(id); c != nil {
		return c
	}
	k := id >> chunkShift
	prev := t.chunkOf(id - chunkIDs)
	if prev == nil || len(prev.vals) < denseMin || t.noDense[k] ||
		(t.hn > 0 && t.hlo>>chunkShift <= k && t.hhi>>chunkShift >= k) {
		return nil
	}
	if !t.canPlace(k) {
		return nil
	}
	c := newDenseChunk(prev.full())
	t.place(k, c)
	return c
}

func (t *idTable) addDense(c *denseChunk, id int64, v uint32) {
	c.insert(int(id&(chunkIDs-1)), v)
	t.held(id)
	if c.moved > 64*len(c.vals)+chunkIDs {
		t.demote(id >> chunkShift)
	}
}

// canPlace reports whether the directory can take a chunk of range k:
// it spans at most a few times the chunks it holds (ids dense in ranges
// far apart keep some in the hash table).
func (t *idTable) canPlace(k int64) bool {
	if t.chunks == 0 {
		return true
	}
	lo, hi := min(t.dirBase, k), max(t.dirBase+int64(len(t.dir))-1, k)
	return hi-lo+1 <= 4*int64(t.chunks+1)+64
}

// place puts c in the directory as range k's chunk, which canPlace allows.
func (t *idTable) place(k int64, c *denseChunk) {
	if t.chunks == 0 {
		t.dir, t.dirBase = append(t.dir[:0], c), k
		t.chunks = 1
		return
	}
	lo, hi := min(t.dirBase, k), max(t.dirBase+int64(len(t.dir))-1, k)
	if lo == t.dirBase && hi-lo < int64(cap(t.dir)) {
		t.dir = t.dir[:max(len(t.dir), int(hi-lo+1))]
	} else if lo < t.dirBase || hi >= t.dirBase+int64(len(t.dir)) {
		// Grown with room on the side it grows to: ranges in sequence.
		dir := make([]*denseChunk, hi-lo+1, 2*(hi-lo+1))
		copy(dir[t.dirBase-lo:], t.dir)
		t.dir, t.dirBase = dir, lo
	}
	t.dir[k-t.dirBase] = c
	t.chunks++
}

// demote gives up range k's chunk, its inserts out of order having cost
// too much: its ids go back to the hash table for good.
func (t *idTable) demote(k int64) {
	c := t.dir[k-t.dirBase]
	t.dir[k-t.dirBase] = nil
	t.chunks--
	if t.noDense == nil {
		t.noDense = map[int64]bool{}
	}
	t.noDense[k] = true
	c.each(k, func(id int64, v uint32) {
		if t.full() {
			t.rebuild()
		}
		i, _ := t.probe(id)
		t.put(i, id, v)
	})
}

type idEntry struct {
	id int64
	v  uint32
}

// rebuild makes the hash table anew when it is full: the ranges it holds
// denseMin ids of move to dense chunks, the rest is rehashed into a table
// filled to at most half of maxLoad, or to the size expected when no range
// is dense.
func (t *idTable) rebuild() {
	oldKeys, oldVals := t.keys, t.vals
	promote := t.denseRanges()
	var moving, staying []idEntry
	for i, id := range oldKeys {
		if id == 0 {
			continue
		}
		var v uint32
		if oldVals != nil {
			v = oldVals[i]
		}
		if promote[id>>chunkShift] {
			moving = append(moving, idEntry{id, v})
		} else {
			staying = append(staying, idEntry{id, v})
		}
	}
	slices.SortFunc(moving, func(a, b idEntry) int { return cmp.Compare(a.id, b.id) })
	for len(moving) > 0 {
		k := moving[0].id >> chunkShift
		end := 1
		for end < len(moving) && moving[end].id>>chunkShift == k {
			end++
		}
		if t.canPlace(k) {
			// Room for the whole range at the density seen.
			span := moving[end-1].id - moving[0].id + 1
			c := newDenseChunk(int(min(chunkIDs, int64(end)*chunkIDs/span)))
			t.place(k, c)
			for _, e := range moving[:end] {
				c.insert(int(e.id&(chunkIDs-1)), e.v)
			}
		} else {
			staying = append(staying, moving[:end]...)
		}
		moving = moving[end:]
	}
	size := max(16, int(float64(len(staying))/(maxLoad/2))+1)
	if len(promote) == 0 {
		size = 2 * len(oldKeys)
		if float64(len(staying)) >= stagingSlots*maxLoad {
			// Enough ids seen to tell they are sparse: as large as expected.
			size = max(size, int(float64(t.expect)/maxLoad)+1)
		}
	}
	t.keys, t.hn = make([]int64, size), 0
	if oldVals != nil {
		t.vals = make([]uint32, size)
	}
	for _, e := range staying {
		i, _ := t.probe(e.id)
		t.put(i, e.id, e.v)
	}
}

// denseRanges returns the ranges of which the hash table holds at least
// denseMin ids and that may have a chunk; nil for a set, or when the ids
// are too spread to tell cheaply (they are then not dense).
func (t *idTable) denseRanges() map[int64]bool {
	if t.vals == nil || t.hn < denseMin {
		return nil
	}
	// A count per bucket of ranges first, so that sparse ids (a range
	// each) cost no map of their ranges.
	const sketchBits = 12
	sketch := make([]uint32, 1<<sketchBits)
	bucket := func(k int64) uint64 { return uint64(k) * 0x9E3779B97F4A7C15 >> (64 - sketchBits) }
	for _, id := range t.keys {
		if id != 0 {
			sketch[bucket(id>>chunkShift)]++
		}
	}
	counts := map[int64]int{}
	for _, id := range t.keys {
		if id != 0 && sketch[bucket(id>>chunkShift)] >= denseMin {
			counts[id>>chunkShift]++
			if len(counts) > 1<<sketchBits {
				return nil
			}
		}
	}
	var dense map[int64]bool
	for k, n := range counts {
		if n >= denseMin && !t.noDense[k] {
			if dense == nil {
				dense = map[int64]bool{}
			}
			dense[k] = true
		}
	}
	return dense
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
	for k, c := range t.dir {
		if c != nil {
			c.each(t.dirBase+int64(k), fn)
		}
	}
}

const (
	chunkShift = 16
	chunkIDs   = 1 << chunkShift
	// blockWords is the bitmap words a rank is kept for.
	blockWords = 8
)

// denseChunk holds the ids of one range of 2^16 in a presence bitmap and
// their values in id order: an id's value is at its rank, the ids held
// below it. Ids mostly come in order and are appended; one out of order
// shifts the values after it (moved counts them).
type denseChunk struct {
	bits [chunkIDs / 64]uint64
	// ranks[b] is the ids held in the blocks before block b, for the
	// blocks up to top's.
	ranks [chunkIDs / 64 / blockWords]uint32
	vals  []uint32
	top   int // the largest id held (low bits), -1 when none
	moved int
}

func newDenseChunk(expect int) *denseChunk {
	return &denseChunk{vals: make([]uint32, 0, expect), top: -1}
}

// full returns the ids the chunk would hold with its whole range at the
// density of the part it spans: what the next range takes in sequence.
func (c *denseChunk) full() int {
	first := 0
	for w, word := range c.bits {
		if word != 0 {
			first = w<<6 | bits.TrailingZeros64(word)
			break
		}
	}
	return min(chunkIDs, len(c.vals)*chunkIDs/(c.top-first+1))
}

func (c *denseChunk) has(low int) bool { return c.bits[low>>6]&(1<<(low&63)) != 0 }

// rank returns the ids held below low.
func (c *denseChunk) rank(low int) int {
	w := low >> 6
	r := int(c.ranks[w/blockWords])
	for i := w &^ (blockWords - 1); i < w; i++ {
		r += bits.OnesCount64(c.bits[i])
	}
	return r + bits.OnesCount64(c.bits[w]&(1<<(low&63)-1))
}

// insert adds low, which must not be there yet, with value v.
func (c *denseChunk) insert(low int, v uint32) {
	b := low >> 6 / blockWords
	topBlock := -1
	if c.top >= 0 {
		topBlock = c.top >> 6 / blockWords
	}
	if low > c.top {
		for i := topBlock + 1; i <= b; i++ {
			c.ranks[i] = uint32(len(c.vals))
		}
		c.bits[low>>6] |= 1 << (low & 63)
		c.vals = append(c.vals, v)
		c.top = low
		return
	}
	r := c.rank(low)
	c.bits[low>>6] |= 1 << (low & 63)
	c.vals = slices.Insert(c.vals, r, v)
	c.moved += len(c.vals) - 1 - r
	for i := b + 1; i <= topBlock; i++ {
		c.ranks[i]++
	}
}

// each calls fn for every id held, range k's, and its value, in order.
func (c *denseChunk) each(k int64, fn func(id int64, v uint32)) {
	r := 0
	for w, word := range c.bits {
		for word != 0 {
			low := w<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			fn(k<<chunkShift|int64(low), c.vals[r])
			r++
		}
	}
}
