package vendors

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReservationHeld: a token held by a request in progress is not lent to
// another; given back, it is whole again; spent, it refills at the rate.
func TestReservationHeld(t *testing.T) {
	l := NewLimiter(1, 2)
	key := sha256.Sum256([]byte("k"))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type answer struct {
		OK   bool
		Wait time.Duration
	}
	reserve := func(at time.Duration) (*Reservation, answer) {
		r, ok, wait := l.Reserve(key, t0.Add(at))
		return r, answer{ok, wait}
	}
	var got []answer
	r1, a := reserve(0)
	got = append(got, a)
	r2, a := reserve(0)
	got = append(got, a)
	_, a = reserve(0) // both held: refused, one free in 1 s if both succeed
	got = append(got, a)
	r1.Settle(false, t0.Add(10*time.Second)) // refused: given back
	r1.Settle(true, t0.Add(10*time.Second))  // a second call counts for nothing
	r3, a := reserve(10 * time.Second)
	got = append(got, a)
	r2.Settle(true, t0.Add(10*time.Second))
	r3.Settle(true, t0.Add(10*time.Second))
	_, a = reserve(10*time.Second + 500*time.Millisecond) // both spent: half a token
	got = append(got, a)
	want := []answer{{true, 0}, {true, 0}, {false, time.Second}, {true, 0}, {false, 500 * time.Millisecond}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Reserve (-want, +got):\n%s", diff)
	}
	var none *Reservation
	none.Settle(true, t0) // the nil Reservation holds nothing
}
