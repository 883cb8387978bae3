package dayread

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIDTableAgainstMap: random ids, some repeated, any starting size (so
// that it grows), checked against a Go map.
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
				if table.has(id) {
					t.Fatalf("has(%d) before it was added", id)
				}
				table.add(id, v)
				want[id] = v
			}
			got := map[int64]uint32{}
			table.each(func(id int64, v uint32) { got[id] = v })
			if d := cmp.Diff(want, got); d != "" || table.len() != len(want) {
				t.Errorf("contents (-want, +got):\n%s (len %d, want %d)", d, table.len(), len(want))
			}
		})
	}
}
