package sendmail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

var (
	vendors = []string{"ana@example.com", "beto@example.com", "carla@example.com"}
	cooks   = []string{"cocina1@example.com", "cocina2@example.com", "cocina3@example.com"}
)

// recipientsOf are the readers of a kind in the delivery tests.
func recipientsOf(k readerKind) []string {
	if k.name == "cooks" {
		return cooks
	}
	return vendors
}

// TestRedelivery delivers each report event three times, one after the
// other and all at once, to one or to three sendMail replicas sharing the
// ledger: every reader gets exactly one email.
func TestRedelivery(t *testing.T) {
	tests := []struct {
		name       string
		concurrent bool // the three deliveries overlap
		replicas   int  // sendMail instances sharing the ledger
	}{
		{name: "sequential", replicas: 1},
		{name: "concurrent", concurrent: true, replicas: 1},
		{name: "concurrent on three replicas", concurrent: true, replicas: 3},
	}
	for _, kind := range ledgerKinds() {
		for _, rk := range readerKinds {
			for _, tc := range tests {
				t.Run(kind+"/"+rk.name+"/"+tc.name, func(t *testing.T) {
					srv := smtptest.Start(t)
					ledger := newTestLedger(t, kind, time.Minute, time.Now)
					var fs []*Function
					for range tc.replicas {
						fs = append(fs, newTestFunction(t, srv, ledger, Options{}))
					}
					var wg sync.WaitGroup
					for _, e := range rk.events(t, recipientsOf(rk), finalMeta) {
						for i := range 3 {
							f := fs[i%len(fs)]
							if tc.concurrent {
								wg.Go(func() { deliverUntilAccepted(t, f, e) })
							} else if code := f.Receive(context.Background(), e).Status; code != 200 {
								t.Fatalf("delivery %d answered %d", i+1, code)
							}
						}
					}
					wg.Wait()
					if diff := cmp.Diff(onceEach(recipientsOf(rk)...), perRecipient(srv)); diff != "" {
						t.Errorf("emails per reader (-want, +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestSMTPOutage: while the SMTP server refuses connections every delivery
// answers 503 and nothing is recorded; when it is back, every reader gets
// exactly one email.
func TestSMTPOutage(t *testing.T) {
	for _, kind := range ledgerKinds() {
		for _, rk := range readerKinds {
			t.Run(kind+"/"+rk.name, func(t *testing.T) {
				srv := smtptest.Start(t)
				f := newTestFunction(t, srv, newTestLedger(t, kind, time.Minute, time.Now), Options{})
				evs := rk.events(t, recipientsOf(rk), partial1432)
				if err := srv.Refuse(); err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					for _, e := range evs {
						if code := f.Receive(context.Background(), e).Status; code != 503 {
							t.Fatalf("delivery %d during the outage answered %d, want 503", i+1, code)
						}
					}
				}
				if err := srv.Resume(); err != nil {
					t.Fatal(err)
				}
				for range 2 {
					for _, e := range evs {
						deliverUntilAccepted(t, f, e)
					}
				}
				if diff := cmp.Diff(onceEach(recipientsOf(rk)...), perRecipient(srv)); diff != "" {
					t.Errorf("emails per reader (-want, +got):\n%s", diff)
				}
			})
		}
	}
}

// TestFailureClasses: a reader refused for good (550) is recorded as failed
// and the report answers 200; one refused for now (451) makes the answer
// 503 and only that reader's email goes out on the redelivery.
func TestFailureClasses(t *testing.T) {
	tests := []struct {
		name      string
		code      int                              // the SMTP server's answer to the second reader's RCPT
		wantFirst int                              // sendMail's answer to the first delivery of its report
		wantAfter func(rs []string) map[string]int // emails per reader once it is accepted again and the report redelivered
		wantBook  []Outcome                        // the ledger's outcome per reader
	}{
		{
			name: "550 no such user", code: 550, wantFirst: 200,
			wantAfter: func(rs []string) map[string]int { return onceEach(rs[0], rs[2]) },
			wantBook:  []Outcome{Sent, Failed, Sent},
		},
		{
			name: "451 try later", code: 451, wantFirst: 503,
			wantAfter: func(rs []string) map[string]int { return onceEach(rs...) },
			wantBook:  []Outcome{Sent, Sent, Sent},
		},
	}
	for _, kind := range ledgerKinds() {
		for _, rk := range readerKinds {
			for _, tc := range tests {
				t.Run(kind+"/"+rk.name+"/"+tc.name, func(t *testing.T) {
					srv := smtptest.Start(t)
					ledger := newTestLedger(t, kind, time.Minute, time.Now)
					f := newTestFunction(t, srv, ledger, Options{})
					rs := recipientsOf(rk)
					evs := rk.events(t, rs, finalMeta)
					srv.RcptError(rs[1], tc.code)
					first := map[int]bool{}
					for _, e := range evs {
						first[f.Receive(context.Background(), e).Status] = true
					}
					if !first[tc.wantFirst] {
						t.Fatalf("first deliveries answered %v, want one %d", first, tc.wantFirst)
					}
					srv.RcptError(rs[1], 0)
					for _, e := range evs {
						deliverUntilAccepted(t, f, e)
					}
					if diff := cmp.Diff(tc.wantAfter(rs), perRecipient(srv)); diff != "" {
						t.Errorf("emails per reader (-want, +got):\n%s", diff)
					}
					var got []Outcome
					for _, e := range evs {
						rep, err := decodeReport(e, santiago)
						if err != nil {
							t.Fatal(err)
						}
						book, err := ledger.Open(context.Background(), rep.book())
						if err != nil {
							t.Fatal(err)
						}
						for _, l := range rep.letters {
							got = append(got, book.Done(l.id))
						}
					}
					if diff := cmp.Diff(tc.wantBook, got); diff != "" {
						t.Errorf("ledger (-want, +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func TestLedgerUnavailable(t *testing.T) {
	srv := smtptest.Start(t)
	ledger := newTestLedger(t, "memory", time.Minute, time.Now)
	ledger.mem.fail = errors.New("broker unreachable")
	f := newTestFunction(t, srv, ledger, Options{})
	if code := f.Receive(context.Background(), summaryEvent(t, testSummary(vendors...))).Status; code != 503 {
		t.Errorf("answered %d, want 503", code)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d emails sent without a ledger", n)
	}
}

// TestThousandVendors: a summary of 1,000 vendors goes out through the
// concurrency bound and the rate limiter, one email each, even delivered
// twice at once.
func TestThousandVendors(t *testing.T) {
	for _, kind := range ledgerKinds() {
		t.Run(kind, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, kind, time.Minute, time.Now), Options{Concurrency: 16, RatePerSecond: 2000})
			var many []string
			for i := range 1000 {
				many = append(many, fmt.Sprintf("vendedor%04d@example.com", i))
			}
			e := summaryEvent(t, testSummary(many...))
			start := time.Now()
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() { deliverUntilAccepted(t, f, e) })
			}
			wg.Wait()
			t.Logf("1000 vendors (%s ledger): %v, %d SMTP connections", kind, time.Since(start).Round(time.Millisecond), srv.Connections())
			if diff := cmp.Diff(onceEach(many...), perRecipient(srv)); diff != "" {
				t.Errorf("emails per vendor (-want, +got):\n%s", diff)
			}
		})
	}
}

// estados is the status part of each subject, per recipient, in order.
func estados(t *testing.T, srv *smtptest.Server) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for to, subs := range subjects(t, srv) {
		for _, s := range subs {
			i := strings.LastIndex(s, " — ")
			out[to] = append(out[to], s[i+len(" — "):])
		}
	}
	return out
}
