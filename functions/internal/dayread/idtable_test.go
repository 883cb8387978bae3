package dayread

import (
	"math/rand/v2"
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
