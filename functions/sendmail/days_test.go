package sendmail

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// acceptedOracle says whether sendMail must mail a report of day (dd/mm/yyyy)
// at now with the ledger keeping retention, by the rule's own terms and
// time.Date arithmetic alone: the day before must have begun in UTC, less
// than retention ago.
func acceptedOracle(day string, now time.Time, retention time.Duration) bool {
	t, err := time.Parse("02/01/2006", day)
	if err != nil {
		panic(err)
	}
	prev := time.Date(t.Year(), t.Month(), t.Day()-1, 0, 0, 0, 0, time.UTC)
	return !now.Before(prev) && (retention == 0 || now.Sub(prev) < retention)
}

// TestReportDaysAndClocks is the ledger's promise under any clock: for a
// generated report day around the accepted window of a generated sendMail
// clock (over a century), and generated clocks of the replicas that write
// the ledger (so the records' timestamps, on a CreateTime topic: behind by
// minutes to years, ahead by up to decades), a
// report delivered twice at once and again later, by replicas with other
// clocks, mails each reader exactly once when its day is accepted, and
// nobody, answering 422 naming fecha, when it is not. (The ledger used to
// look its book up by timestamp: a day in the future, or records stamped
// before the lookup, were not found, and everyone was mailed again.)
func TestReportDaysAndClocks(t *testing.T) {
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			// The writers' clocks, from the real time: a real broker refuses
			// a record stamped more than an hour ahead of its own clock
			// (log.message.timestamp.after.max.ms), so far-ahead clocks are
			// tried in memory and on kfake only.
			skews := []time.Duration{0, -time.Minute, -26 * time.Hour, -3 * 24 * time.Hour, -2 * 365 * 24 * time.Hour, 30 * time.Minute}
			if kind == "memory" || os.Getenv("KAFKA_BROKERS") == "" {
				skews = append(skews, 30*time.Hour, 80*365*24*time.Hour)
			}
			seed := uint64(time.Now().UnixNano())
			rng := rand.New(rand.NewPCG(seed, 1))
			srv := smtptest.Start(t)
			newLedger := newSharedLedger(t, kind, time.Minute, "")
			cases := 24
			if kind == "memory" {
				cases = 200
			}
			want := map[string]int{}
			for i := range cases {
				// sendMail's own clock: any instant this century or the next.
				now := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(100 * 365 * 24 * time.Hour))))
				retention := []time.Duration{0, 192 * time.Hour, 24*time.Hour + time.Duration(rng.Int64N(int64(30*24*time.Hour)))}[rng.IntN(3)]
				day := events.DateOf(now, time.UTC).AddDays(rng.IntN(40) - 34)
				if rng.IntN(8) == 0 {
					day = events.Date{Year: 2099, Month: 12, Day: 31}
				}
				opts := func() Options {
					return Options{Retention: retention, Now: func() time.Time { return now }}
				}
				clock := func() func() time.Time {
					skew := skews[rng.IntN(len(skews))]
					return func() time.Time { return time.Now().Add(skew) }
				}
				// Two replicas with one clock deliver at once; a third, with
				// another, delivers later.
				shared := clock()
				a := newTestFunction(t, srv, newLedger(shared), opts())
				b := newTestFunction(t, srv, newLedger(shared), opts())
				c := newTestFunction(t, srv, newLedger(clock()), opts())

				readers := []string{fmt.Sprintf("a%d@example.com", i), fmt.Sprintf("b%d@example.com", i)}
				s := events.Summary{Fecha: day.String(), Ventas: map[string]events.Sales{}}
				for j, r := range readers {
					s.Ventas[r] = events.Sales{NOrdenes: 1, NSopaipillas: int64(j + 2)}
				}
				e := summaryEvent(t, s)
				accepted := acceptedOracle(day.String(), now, retention)
				if !accepted {
					for _, f := range []*Function{a, b, c} {
						res := f.Receive(context.Background(), e)
						if res.Status != 422 || len(res.Fields) != 1 || res.Fields[0].Field != "fecha" {
							t.Errorf("seed %d case %d: %s at %s (retention %s): answered %d %v, want 422 naming fecha", seed, i, day, now, retention, res.Status, res.Fields)
						}
					}
					continue
				}
				var wg sync.WaitGroup
				for _, f := range []*Function{a, b} {
					wg.Go(func() { deliverUntilAccepted(t, f, e) })
				}
				wg.Wait()
				if res := c.Receive(context.Background(), e); res.Status != 200 {
					t.Errorf("seed %d case %d: the later redelivery of %s answered %d %s", seed, i, day, res.Status, res.Detail)
				}
				for _, r := range readers {
					want[r] = 1
				}
			}
			if diff := cmp.Diff(want, perRecipient(srv)); diff != "" {
				t.Errorf("seed %d: emails per reader (-want, +got):\n%s", seed, diff)
			}
		})
	}
}

// TestAcceptedDaysExamples are the cases, at 06/12/2026 12:00 UTC
// with the default 192h of retention, each report delivered twice: a day
// accepted mails its reader once, any other is refused both times and
// mails nobody. (Before: 31/12/2099 and 08/12/2026 mailed twice.)
func TestAcceptedDaysExamples(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		fecha  string
		status int // of both deliveries
		emails int
	}{
		{"31/12/2099", 422, 0},
		{"08/12/2026", 422, 0},
		{"07/12/2026", 200, 1},
		{"06/12/2026", 200, 1},
		{"30/11/2026", 200, 1},
		{"29/11/2026", 422, 0},
	} {
		sender := &countingSender{}
		f := newTestFunctionWith(t, sender, NewMemoryLedger(0, time.Now), Options{Retention: 192 * time.Hour, Now: func() time.Time { return now }}, discardLog())
		s := events.Summary{Fecha: tc.fecha, Ventas: map[string]events.Sales{"v@example.com": {NOrdenes: 1, NSopaipillas: 1}}}
		for n := range 2 {
			if got := f.Receive(context.Background(), summaryEvent(t, s)); got.Status != tc.status {
				t.Errorf("fecha %s, delivery %d: answered %d (%s), want %d", tc.fecha, n+1, got.Status, got.Detail, tc.status)
			}
		}
		if got := sender.counts()["v@example.com"]; got != tc.emails {
			t.Errorf("fecha %s: %d emails, want %d", tc.fecha, got, tc.emails)
		}
	}
}

// countingSender is a mail.Sender that accepts every email and counts them
// per recipient; block, when set, holds each send until it is closed.
type countingSender struct {
	mu      sync.Mutex
	to      map[string]int
	block   chan struct{}
	started chan string // when set, gets each recipient as its send starts
}

func (s *countingSender) Send(ctx context.Context, m mail.Message) error {
	if s.started != nil {
		s.started <- m.To
	}
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.to == nil {
		s.to = map[string]int{}
	}
	s.to[m.To]++
	return nil
}

func (s *countingSender) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.to)
}
