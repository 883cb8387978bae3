package dayread

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIDTableAgainstMap: random ids, some repeated, any starting size (so
// that it grows), inserted by add or, as the tally does, by find then
// addAt, checked against a Go map, ids that are not there included, and
// the range of ids it says it may hold.
func TestIDTableAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expect int   // the size hint
		n      int   // ids inserted
		span   int64 // ids drawn from [1, span]
	}{
		{name: "sized right", expect: 5000, n: 5000, span: 1 << 53},
		{name: "grows from nothing", expect: 0, n: 20000, span: 1 << 53},
		{name: "dense small ids", expect: 100, n: 5000, span: 6000},
		{name: "sequential-ish", expect: 10, n: 3000, span: 3000},
		{name: "full to maxLoad", expect: 40000, n: 40000, span: 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			table, want := newIDTable(tc.expect, true), map[int64]uint32{}
			for range tc.n {
				id := 1 + rng.Int64N(tc.span)
				v := rng.Uint32()
				if _, ok := want[id]; ok {
					if got, ok := table.get(id); !ok || got != want[id] {
						t.Fatalf("get(%d) = %d, %v; want %d", id, got, ok, want[id])
					}
					continue
				}
				slot, ok := table.find(id)
				if ok {
					t.Fatalf("find(%d) before it was added", id)
				}
				if id%2 == 0 {
					table.add(id, v)
				} else {
					table.addAt(slot, id, v)
				}
				want[id] = v
			}
			for range tc.n {
				id := 1 + rng.Int64N(tc.span)
				if _, ok := want[id]; table.has(id) != ok {
					t.Fatalf("has(%d) = %v, want %v", id, !ok, ok)
				}
			}
			lo, hi := int64(1<<62), int64(0)
			for id := range want {
				lo, hi = min(lo, id), max(hi, id)
			}
			if !table.mayHold(lo) || !table.mayHold(hi) || table.mayHold(lo-1) || table.mayHold(hi+1) {
				t.Errorf("mayHold around [%d, %d]: %v %v %v %v, want true true false false", lo, hi,
					table.mayHold(lo), table.mayHold(hi), table.mayHold(lo-1), table.mayHold(hi+1))
			}
			got := map[int64]uint32{}
			table.each(func(id int64, v uint32) { got[id] = v })
			if d := cmp.Diff(want, got); d != "" || table.len() != len(want) {
				t.Errorf("contents (-want, +got):\n%s (len %d, want %d)", d, table.len(), len(want))
			}
		})
	}
}

// TestIDTableDenseAndSparse: ids as a summary meets them, dense (in
// sequence, one partition's share of six, jittered, shuffled within their
// ranges), sparse, and both mixed, inserted as the tally does (find, then
// addAt) or by add, checked against a Go map after every batch: whatever
// part of the table holds an id, and whether its range moved to a dense
// chunk and back, it answers as the map does.
func TestIDTableDenseAndSparse(t *testing.T) {
	type gen func(rng *rand.Rand, i int) int64
	seq := func(start, stride int64) gen {
		return func(_ *rand.Rand, i int) int64 { return start + int64(i)*stride }
	}
	jitter := func(g gen, by int) gen {
		return func(rng *rand.Rand, i int) int64 { return g(rng, max(0, i+rng.IntN(2*by+1)-by)) }
	}
	sparse := func(rng *rand.Rand, _ int) int64 { return 1 + rng.Int64N(1<<53) }
	mix := func(a, b gen, aShare int) gen {
		return func(rng *rand.Rand, i int) int64 {
			if rng.IntN(100) < aShare {
				return a(rng, i)
			}
			return b(rng, i)
		}
	}
	shuffled := func(start int64, span int64) gen {
		return func(rng *rand.Rand, _ int) int64 { return start + rng.Int64N(span) }
	}
	for _, tc := range []struct {
		name   string
		expect int // the size hint
		n      int // ids drawn (repeats are looked up, not added)
		gen    gen
	}{
		{name: "in sequence", expect: 300_000, n: 300_000, gen: seq(1, 1)},
		{name: "one partition of six", expect: 100_000, n: 100_000, gen: seq(3_000_001, 6)},
		{name: "size unknown", expect: 0, n: 100_000, gen: seq(77_777, 6)},
		{name: "jittered a little", expect: 100_000, n: 100_000, gen: jitter(seq(1_000_003, 6), 20)},
		{name: "jittered a lot", expect: 100_000, n: 100_000, gen: jitter(seq(1_000_003, 6), 500)},
		{name: "shuffled within dense ranges", expect: 60_000, n: 60_000, gen: shuffled(1<<20, 3<<16)},
		{name: "sparse", expect: 50_000, n: 50_000, gen: sparse},
		{name: "dense then sparse", expect: 100_000, n: 100_000, gen: func(rng *rand.Rand, i int) int64 {
			if i < 60_000 {
				return 5 + int64(i)*3
			}
			return sparse(rng, i)
		}},
		{name: "mixed", expect: 100_000, n: 150_000, gen: mix(seq(1, 2), sparse, 70)},
		{name: "two dense regions far apart", expect: 100_000, n: 200_000, gen: func(rng *rand.Rand, i int) int64 {
			return []int64{1, 1 << 40}[i%2] + int64(i/2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(tc.n)))
			table, want := newIDTable(tc.expect, true), map[int64]uint32{}
			check := func() {
				t.Helper()
				if table.len() != len(want) {
					t.Fatalf("len %d, want %d", table.len(), len(want))
				}
				for range 2000 {
					id := tc.gen(rng, rng.IntN(tc.n+1000))
					id += int64(rng.IntN(3) - 1)
					if id < 1 {
						continue
					}
					v, ok := want[id]
					got, gotOK := table.get(id)
					if table.has(id) != ok || gotOK != ok || got != v {
						t.Fatalf("id %d: has %v, get %d, %v; want %d, %v", id, table.has(id), got, gotOK, v, ok)
					}
				}
			}
			for i := range tc.n {
				id := tc.gen(rng, i)
				v := rng.Uint32()
				slot, found := table.find(id)
				if w, ok := want[id]; ok {
					if !found || table.val(slot) != w {
						t.Fatalf("find(%d) = %v, %d; want true, %d", id, found, table.val(slot), w)
					}
					continue
				}
				if found {
					t.Fatalf("find(%d) before it was added", id)
				}
				if i%3 == 0 {
					table.add(id, v)
				} else {
					table.addAt(slot, id, v)
				}
				want[id] = v
				if i%(tc.n/8) == 0 {
					check()
				}
			}
			check()
			got := map[int64]uint32{}
			table.each(func(id int64, v uint32) {
				if _, dup := got[id]; dup {
					t.Fatalf("each gave %d twice", id)
				}
				got[id] = v
			})
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("contents (-want, +got):\n%s", d)
			}
			lo, hi := int64(1<<62), int64(0)
			for id := range want {
				lo, hi = min(lo, id), max(hi, id)
			}
			if !table.mayHold(lo) || !table.mayHold(hi) || table.mayHold(lo-1) || table.mayHold(hi+1) {
				t.Errorf("mayHold around [%d, %d] wrong", lo, hi)
			}
			t.Logf("%d ids: %d dense chunks, %d in the hash table (%d slots), %d ranges given up",
				len(want), table.chunks, table.hn, len(table.keys), len(table.noDense))
		})
	}
}

// BenchmarkIDTableBytes reports the heap a day's tables of
// SOPAIPILLAS_SUMMARY_PER_DAY orders (default 1,000,000) take
// (bytes_per_id), ids in sequence spread over six partitions as the
// steady bench's keys spread them (one id in six each), or given to one
// partition in runs, or sparse. One op fills the six tables.
func BenchmarkIDTableBytes(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SOPAIPILLAS_SUMMARY_PER_DAY"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, tc := range []struct {
		name string
		id   func(p, i int) int64 // partition p's i-th id
	}{
		{name: "one in six", id: func(p, i int) int64 { return 3_000_001 + int64(p+6*i) }},
		{name: "runs", id: func(p, i int) int64 { return 3_000_001 + int64(p*n/6+i) }},
		{name: "sparse", id: func(p, i int) int64 { return 1 + int64((uint64(p*n+i)*0x9E3779B97F4A7C15)>>11) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			heap := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			var bytes uint64
			for range b.N {
				base := heap()
				tables := make([]*idTable, 6)
				for p := range tables {
					tables[p] = newIDTable(n/6, true)
					for i := range n / 6 {
						id := tc.id(p, i)
						s, _ := tables[p].find(id)
						tables[p].addAt(s, id, uint32(i))
					}
				}
				bytes = heap() - base
				runtime.KeepAlive(tables)
			}
			b.ReportMetric(float64(bytes)/float64(n), "bytes_per_id")
		})
	}
}
