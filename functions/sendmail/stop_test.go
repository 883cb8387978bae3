package sendmail

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

var _ runner.Stopper = stopCloser{} // the runner tells Setup's closer of SIGTERM

// TestStopFreesAndAnswers: sendMail told to stop mid-fan-out lets the sends
// in progress finish, claims and starts nothing more, frees every reader it
// holds and answers 503; another replica then mails the rest at once, on a
// clock that never moves (so no lease ran out), each reader exactly once.
// (A stop used to run into the server's 20 s drain limit with no answer,
// leaving 34 readers claimed for the 2-minute lease.)
func TestStopFreesAndAnswers(t *testing.T) {
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			clock := &fakeClock{t: time.Now()} // a broker refuses records stamped an hour ahead of it
			newLedger := newSharedLedger(t, kind, time.Minute, "")
			sender := &countingSender{block: make(chan struct{}), started: make(chan string, 100)}
			f := newTestFunctionWith(t, sender, newLedger(clock.Now), Options{Concurrency: 2, Now: clock.Now}, discardLog())
			var readers []string
			s := events.Summary{Fecha: testDay.String(), Ventas: map[string]events.Sales{}}
			for i := range 40 {
				r := fmt.Sprintf("v%02d@example.com", i)
				readers = append(readers, r)
				s.Ventas[r] = events.Sales{NOrdenes: 1, NSopaipillas: 1}
			}
			e := summaryEvent(t, s)
			answer := make(chan Result, 1)
			go func() { answer <- f.Receive(context.Background(), e) }()
			<-sender.started
			<-sender.started // both sends of the concurrency in progress
			f.Stop()
			close(sender.block)
			res := <-answer
			if res.Status != 503 || !strings.Contains(res.Detail, "stopping") {
				t.Errorf("answer to the delivery in flight: %d %q, want 503 saying it is stopping", res.Status, res.Detail)
			}
			if n := len(sender.counts()); n != 2 {
				t.Errorf("%d emails sent by the stopped replica, want the 2 in progress", n)
			}
			if res := f.Receive(context.Background(), e); res.Status != 503 {
				t.Errorf("a delivery after Stop: %d, want 503", res.Status)
			}
			g := newTestFunctionWith(t, sender, newLedger(clock.Now), Options{Now: clock.Now}, discardLog())
			if res := g.Receive(context.Background(), e); res.Status != 200 {
				t.Errorf("the redelivery to another replica: %d %s, want 200 (no reader still held)", res.Status, res.Detail)
			}
			if diff := cmp.Diff(onceEach(readers...), sender.counts()); diff != "" {
				t.Errorf("emails per reader (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestLeaseRenewal: a delivery that stops renewing (its process killed)
// frees its readers when its lease runs out; one that renews keeps them;
// a holder whose lease ran out and was taken over cannot take the reader
// back by renewing late, and may send nothing.
func TestLeaseRenewal(t *testing.T) {
	const lease = time.Minute
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Now()}
			l := newSharedLedger(t, kind, lease, "")(clock.Now)
			open := func() *book {
				b, err := l.Open(ctx, "vendor/2026-12-06")
				if err != nil {
					t.Fatal(err)
				}
				bk := b.(*book)
				t.Cleanup(func() { bk.Close(ctx) })
				return bk
			}
			claim := func(b *book, reader string) string {
				g, busy, err := b.Claim(ctx, ids(reader))
				switch {
				case err != nil:
					t.Fatal(err)
				case len(g) == 1:
					return "granted"
				case len(busy) == 1:
					return "busy"
				}
				return "done"
			}
			kill := func(b *book) { // no renewal, no end record
				b.mu.Lock()
				b.closed = true
				close(b.stop)
				b.mu.Unlock()
			}
			renew := func(b *book) {
				if err := b.renewOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			type step struct{ Claim, MaySend string }
			var got, want []step
			check := func(name string, b *book, reader string, wantClaim string, holder *book, wantMay bool) {
				got = append(got, step{name + ": " + claim(b, reader), fmt.Sprint(holder.MaySend(id(reader)))})
				want = append(want, step{name + ": " + wantClaim, fmt.Sprint(wantMay)})
			}

			killed := open()
			check("killed holder claims", killed, "k", "granted", killed, true)
			kill(killed)
			clock.Add(lease / 2)
			check("before its lease ends", open(), "k", "busy", killed, false)
			clock.Add(lease/2 + time.Second)
			taker := open()
			check("after its lease ended", taker, "k", "granted", taker, true)

			alive := open()
			check("renewing holder claims", alive, "r", "granted", alive, true)
			for range 4 {
				clock.Add(lease / 4)
				renew(alive)
			}
			check("a lease after, renewed", open(), "r", "busy", alive, true)

			late := open()
			check("late holder claims", late, "x", "granted", late, true)
			clock.Add(lease + time.Second)
			other := open()
			check("taken over", other, "x", "granted", other, true)
			renew(late) // written after its lease ran out: ignored
			if err := other.read(ctx); err != nil {
				t.Fatal(err)
			}
			check("after the late renewal", open(), "x", "busy", late, false)
			if !other.MaySend(id("x")) {
				t.Error("the late renewal took the reader back from its new holder")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("steps (-want, +got):\n%s", diff)
			}
		})
	}
}
