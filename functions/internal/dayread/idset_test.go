package dayread

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIDSetAgainstMap: ids dense (a sequence spread over partitions) stay
// in the bitmap at about a byte an id; sparse ids (any of 2^53) move to the
// hash table; either way the set answers as a Go map does.
func TestIDSetAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n         int
		id        func(rng *rand.Rand, i int) int64
		wantTable bool
	}{
		{"a sequence, one id in six", 100_000, func(rng *rand.Rand, i int) int64 { return int64(6*i + 1 + rng.IntN(6)) }, false},
		{"random ids below 2^53", 100_000, func(rng *rand.Rand, _ int) int64 { return 1 + rng.Int64N(1<<53) }, true},
		{"few ids", 100, func(rng *rand.Rand, _ int) int64 { return 1 + rng.Int64N(1<<53) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(22, uint64(tc.n)))
			set, want := newIDSet(), map[int64]bool{}
			for i := range tc.n {
				id := tc.id(rng, i)
				if set.has(id) != want[id] {
					t.Fatalf("has(%d) = %v before adding, want %v", id, set.has(id), want[id])
				}
				if !want[id] {
					set.add(id)
					want[id] = true
				}
			}
			if set.len() != len(want) {
				t.Errorf("len %d, want %d", set.len(), len(want))
			}
			// Around the range held and within it, present or not.
			lo, hi := int64(1<<62), int64(0)
			for id := range want {
				lo, hi = min(lo, id), max(hi, id)
			}
			for _, id := range []int64{lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, (lo + hi) / 2, (lo+hi)/2 + 1} {
				if set.has(id) != want[id] {
					t.Errorf("has(%d) = %v, want %v (ids held in [%d, %d])", id, set.has(id), want[id], lo, hi)
				}
			}
			var got []int64
			set.each(func(id int64) { got = append(got, id) })
			slices.Sort(got)
			wantIDs := make([]int64, 0, len(want))
			for id := range want {
				wantIDs = append(wantIDs, id)
			}
			slices.Sort(wantIDs)
			if d := cmp.Diff(wantIDs, got); d != "" {
				t.Errorf("ids (-want, +got):\n%s", d)
			}
			if (set.tab != nil) != tc.wantTable {
				t.Errorf("moved to the hash table = %v, want %v", set.tab != nil, tc.wantTable)
			}
			if set.bm != nil {
				t.Logf("bitmap: %.2f bytes an id", float64(set.bm.GetSizeInBytes())/float64(set.len()))
			}
		})
	}
}
