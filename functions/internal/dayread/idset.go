package dayread

import "github.com/RoaringBitmap/roaring/v2/roaring64"

// idSet is a set of order ids, for the orders of the days other than the
// one counted: the rules only need to know that such an order was seen. It
// is a roaring bitmap while that is the smaller form (about 1 byte an id
// for ids as dense as a sequence spread over a few partitions), and moves
// to an idTable (about 10 bytes an id) once the bitmap takes more, as it
// does for sparse ids.
type idSet struct {
	bm  *roaring64.Bitmap
	tab *idTable
	n   int
	// lo and hi bound the ids held (when n > 0): with ids in sequence an
	// order read for the first time is mostly outside them, told absent
	// without a lookup in the bitmap.
	lo, hi int64
}

// Every checkEvery additions the bitmap's size is compared with
// maxBitmapBytesPerID bytes an id, about what the idTable takes.
const (
	checkEvery          = 1 << 14
	maxBitmapBytesPerID = 10
)

func newIDSet() *idSet { return &idSet{bm: roaring64.New()} }

func (s *idSet) has(id int64) bool {
	switch {
	case s.n == 0 || id < s.lo || id > s.hi:
		return false
	case s.tab != nil:
		return s.tab.has(id)
	}
	return s.bm.Contains(uint64(id))
}

// add inserts id, which must not be there yet.
func (s *idSet) add(id int64) {
	if s.n == 0 {
		s.lo, s.hi = id, id
	}
	s.lo, s.hi = min(s.lo, id), max(s.hi, id)
	s.n++
	if s.tab != nil {
		s.tab.add(id, 0)
		return
	}
	s.bm.Add(uint64(id))
	if s.n%checkEvery == 0 && s.bm.GetSizeInBytes() > uint64(s.n)*maxBitmapBytesPerID {
		s.tab = newIDTable(2*s.n, false)
		it := s.bm.Iterator()
		for it.HasNext() {
			s.tab.add(int64(it.Next()), 0)
		}
		s.bm = nil
	}
}

func (s *idSet) len() int { return s.n }

// each calls fn for every id.
func (s *idSet) each(fn func(id int64)) {
	if s.tab != nil {
		s.tab.each(func(id int64, _ uint32) { fn(id) })
		return
	}
	it := s.bm.Iterator()
	for it.HasNext() {
		fn(int64(it.Next()))
	}
}
