package dayread

import (
	"testing"

	"github.com/sopaipillas/sopaipillas/events"
)

// TestPairTable adds orders to pairs across several growths, the pair
// (0, 0) among them, and checks every pair's sales against a map.
func TestPairTable(t *testing.T) {
	tests := []struct {
		name           string
		vendors, cooks uint32
		ordersEachPair int
	}{
		{"empty", 0, 0, 0},
		{"one pair", 1, 1, 3},
		{"no growth", 5, 5, 2},
		{"several growths", 1000, 37, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newPairTable()
			want := map[[2]uint32]events.Sales{}
			for k := range tt.ordersEachPair {
				for v := range tt.vendors {
					for c := range tt.cooks {
						n := int64(v+c) + int64(k) + 1
						tab.add(v, c, n)
						s := want[[2]uint32{v, c}]
						s.NOrdenes++
						s.NSopaipillas += n
						want[[2]uint32{v, c}] = s
					}
				}
			}
			got := map[[2]uint32]events.Sales{}
			for p := range tab.all {
				key := [2]uint32{p.vendor, p.cook}
				if _, dup := got[key]; dup {
					t.Fatalf("pair %v yielded twice", key)
				}
				got[key] = p.sales
			}
			if len(got) != len(want) || tab.n != len(want) {
				t.Fatalf("got %d pairs (n %d), want %d", len(got), tab.n, len(want))
			}
			for k, s := range want {
				if got[k] != s {
					t.Errorf("pair %v: got %+v, want %+v", k, got[k], s)
				}
			}
			if 4*tab.n > 3*len(tab.slots) {
				t.Errorf("%d pairs in %d slots: over 3/4 full", tab.n, len(tab.slots))
			}
		})
	}
}
