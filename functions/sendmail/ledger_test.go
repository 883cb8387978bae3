package sendmail

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLedgerProtocol walks two deliveries of one report through the
// claim/lease protocol, on both ledgers.
func TestLedgerProtocol(t *testing.T) {
	type claimResult struct{ Granted, Busy []string }
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Now()}
			l := newTestLedger(t, kind, time.Minute, clock.Now)
			open := func() Book {
				b, err := l.Open(ctx, "vendor/2021-11-13")
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			claim := func(b Book, readers ...string) claimResult {
				g, busy, err := b.Claim(ctx, ids(readers...))
				if err != nil {
					t.Fatal(err)
				}
				return claimResult{tos(g), tos(busy)}
			}
			check := func(step string, want, got claimResult) {
				t.Helper()
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s (-want, +got):\n%s", step, diff)
				}
			}

			a, b := open(), open()
			check("a claims all", claimResult{Granted: []string{"v1", "v2", "v3"}}, claim(a, "v1", "v2", "v3"))
			check("b finds them held", claimResult{Busy: []string{"v1", "v2", "v3"}}, claim(b, "v1", "v2", "v3"))

			if err := a.Settle(ctx, id("v1"), Sent); err != nil {
				t.Fatal(err)
			}
			if err := a.Settle(ctx, id("v2"), Failed); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx, id("v3")); err != nil {
				t.Fatal(err)
			}
			c := open()
			if diff := cmp.Diff([]Outcome{Sent, Failed, ""}, dones(c, ids("v1", "v2", "v3"))); diff != "" {
				t.Errorf("done (-want, +got):\n%s", diff)
			}
			check("c takes the released one", claimResult{Granted: []string{"v3"}}, claim(c, "v1", "v2", "v3"))

			// c dies without settling: its claim blocks until the lease ends.
			d := open()
			check("d while c's lease runs", claimResult{Busy: []string{"v3"}}, claim(d, "v3"))
			clock.Add(time.Minute + time.Second)
			e := open()
			check("e after c's lease", claimResult{Granted: []string{"v3"}}, claim(e, "v3"))
		})
	}
}

// TestLedgerReaders: a claim holds the reader, whatever email it is for;
// a settled final supersedes every partial of the day, and a settled
// partial the partials counted up to earlier; the same numbers counted up
// to later are the same email; a new final is a new email.
func TestLedgerReaders(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2021, 11, 13, h, 0, 0, 0, time.UTC) }
	partial := func(key string, h int) EmailID { return EmailID{To: "r", Key: "partial-" + key, Upto: at(h)} }
	final := func(key string) EmailID { return EmailID{To: "r", Key: "final-" + key, Final: true, Upto: at(24)} }
	tests := []struct {
		name    string
		settled []EmailID // settled as sent, in this order
		want    map[EmailID]Outcome
	}{
		{
			name: "nothing sent", settled: nil,
			want: map[EmailID]Outcome{partial("a", 12): "", final("a"): ""},
		},
		{
			name: "a partial sent", settled: []EmailID{partial("a", 12)},
			want: map[EmailID]Outcome{partial("a", 12): Sent, partial("a", 14): Sent, partial("b", 14): "", partial("b", 10): Superseded, final("a"): ""},
		},
		{
			name: "the final sent", settled: []EmailID{partial("a", 12), final("a")},
			want: map[EmailID]Outcome{partial("a", 12): Sent, partial("b", 14): Superseded, final("a"): Sent, final("b"): ""},
		},
	}
	for _, kind := range ledgerKinds() {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				l := newTestLedger(t, kind, time.Minute, time.Now)
				open := func() Book {
					b, err := l.Open(ctx, "cook/2021-11-13")
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
				for _, e := range tc.settled {
					b := open()
					if g, _, err := b.Claim(ctx, []EmailID{e}); err != nil || len(g) != 1 {
						t.Fatalf("claim %v: granted %v, %v", e, g, err)
					}
					if err := b.Settle(ctx, e, Sent); err != nil {
						t.Fatal(err)
					}
				}
				b := open()
				got := map[EmailID]Outcome{}
				for e := range tc.want {
					got[e] = b.Done(e)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("done (-want, +got):\n%s", diff)
				}
				// Whatever email it is for, a live claim holds the reader.
				holder, other := open(), open()
				if g, _, err := holder.Claim(ctx, []EmailID{final("z")}); err != nil || len(g) != 1 {
					t.Fatalf("claim: granted %v, %v", g, err)
				}
				if _, busy, err := other.Claim(ctx, []EmailID{final("y")}); err != nil || len(busy) != 1 {
					t.Errorf("a second email to a held reader: busy %v, %v; want it busy", busy, err)
				}
			})
		}
	}
}

func id(to string) EmailID { return EmailID{To: to, Key: "final-x", Final: true} }

func ids(tos ...string) []EmailID {
	var out []EmailID
	for _, to := range tos {
		out = append(out, id(to))
	}
	return out
}

func tos(es []EmailID) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.To)
	}
	return out
}

func dones(b Book, es []EmailID) []Outcome {
	var out []Outcome
	for _, e := range es {
		out = append(out, b.Done(e))
	}
	return out
}
