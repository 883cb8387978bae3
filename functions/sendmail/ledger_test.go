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

// TestLedgerProtocol walks two deliveries of one summary through the
// claim/lease protocol, on both ledgers.
func TestLedgerProtocol(t *testing.T) {
	type claimResult struct{ Granted, Busy []string }
	for _, kind := range ledgerKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Now()}
			l := newTestLedger(t, kind, time.Minute, clock.Now)
			const key = "/sopaipillas/dailySummary#summary-2021-11-13-x"
			open := func() Book {
				b, err := l.Open(ctx, key, clock.Now().Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			claim := func(b Book, vendors ...string) claimResult {
				g, busy, _, err := b.Claim(ctx, vendors)
				if err != nil {
					t.Fatal(err)
				}
				return claimResult{g, busy}
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

			if err := a.Settle(ctx, "v1", Sent); err != nil {
				t.Fatal(err)
			}
			if err := a.Settle(ctx, "v2", Failed); err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx, "v3"); err != nil {
				t.Fatal(err)
			}
			c := open()
			if diff := cmp.Diff(map[string]Outcome{"v1": Sent, "v2": Failed}, c.Settled()); diff != "" {
				t.Errorf("settled (-want, +got):\n%s", diff)
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
