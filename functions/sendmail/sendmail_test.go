package sendmail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

var vendors = []string{"ana@example.com", "beto@example.com", "carla@example.com"}

// TestRedelivery delivers each summary event three times, one after the
// other and all at once, to one or to three sendMail replicas sharing the
// ledger: every vendor gets exactly one email.
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
	for _, kind := range ledgerKinds {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				srv := smtptest.Start(t)
				ledger := newTestLedger(t, kind, time.Minute, time.Now)
				var fs []*Function
				for range tc.replicas {
					fs = append(fs, newTestFunction(t, srv, ledger, Options{}))
				}
				e := summaryEvent(t, testSummary(vendors...))
				var wg sync.WaitGroup
				for i := range 3 {
					f := fs[i%len(fs)]
					if tc.concurrent {
						wg.Go(func() { deliverUntilAccepted(t, f, e) })
					} else if code := status(t, f.Receive(context.Background(), e)); code != 200 {
						t.Fatalf("delivery %d answered %d", i+1, code)
					}
				}
				wg.Wait()
				if diff := cmp.Diff(onceEach(vendors...), perRecipient(srv)); diff != "" {
					t.Errorf("emails per vendor (-want, +got):\n%s", diff)
				}
			})
		}
	}
}

// TestSMTPOutage: while the SMTP server refuses connections every delivery
// answers 503 and nothing is recorded; when it is back, every vendor gets
// exactly one email.
func TestSMTPOutage(t *testing.T) {
	for _, kind := range ledgerKinds {
		t.Run(kind, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, kind, time.Minute, time.Now), Options{})
			e := summaryEvent(t, testSummary(vendors...))
			if err := srv.Refuse(); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if code := status(t, f.Receive(context.Background(), e)); code != 503 {
					t.Fatalf("delivery %d during the outage answered %d, want 503", i+1, code)
				}
			}
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
			deliverUntilAccepted(t, f, e)
			deliverUntilAccepted(t, f, e)
			if diff := cmp.Diff(onceEach(vendors...), perRecipient(srv)); diff != "" {
				t.Errorf("emails per vendor (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestFailureClasses: a vendor refused for good (550) is recorded as failed
// and the summary answers 200; one refused for now (451) makes the answer
// 503 and only that vendor goes out on the redelivery.
func TestFailureClasses(t *testing.T) {
	tests := []struct {
		name      string
		code      int            // the SMTP server's answer to beto's RCPT
		wantFirst int            // sendMail's answer to the first delivery
		wantAfter map[string]int // emails per vendor once beto is accepted again and the event redelivered
		wantBook  map[string]Outcome
	}{
		{
			name: "550 no such user", code: 550, wantFirst: 200,
			wantAfter: map[string]int{"ana@example.com": 1, "carla@example.com": 1},
			wantBook:  map[string]Outcome{"ana@example.com": Sent, "beto@example.com": Failed, "carla@example.com": Sent},
		},
		{
			name: "451 try later", code: 451, wantFirst: 503,
			wantAfter: onceEach(vendors...),
			wantBook:  map[string]Outcome{"ana@example.com": Sent, "beto@example.com": Sent, "carla@example.com": Sent},
		},
	}
	for _, kind := range ledgerKinds {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				srv := smtptest.Start(t)
				ledger := newTestLedger(t, kind, time.Minute, time.Now)
				f := newTestFunction(t, srv, ledger, Options{})
				e := summaryEvent(t, testSummary(vendors...))
				srv.RcptError("beto@example.com", tc.code)
				if code := status(t, f.Receive(context.Background(), e)); code != tc.wantFirst {
					t.Fatalf("first delivery answered %d, want %d", code, tc.wantFirst)
				}
				srv.RcptError("beto@example.com", 0)
				deliverUntilAccepted(t, f, e)
				if diff := cmp.Diff(tc.wantAfter, perRecipient(srv)); diff != "" {
					t.Errorf("emails per vendor (-want, +got):\n%s", diff)
				}
				book, err := ledger.Open(context.Background(), e.Source()+"#"+e.ID(), time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.wantBook, book.Settled()); diff != "" {
					t.Errorf("ledger (-want, +got):\n%s", diff)
				}
			})
		}
	}
}

// TestNewSummaryIsNewReport: a later summary of the same day with changed
// numbers is emailed again; publishing an identical one is not.
func TestNewSummaryIsNewReport(t *testing.T) {
	srv := smtptest.Start(t)
	f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
	first := testSummary("ana@example.com")
	deliverUntilAccepted(t, f, summaryEvent(t, first))
	deliverUntilAccepted(t, f, summaryEvent(t, testSummary("ana@example.com"))) // identical
	changed := testSummary("ana@example.com")
	changed.Ventas["ana@example.com"] = events.Sales{NOrdenes: 2, NSopaipillas: 30}
	deliverUntilAccepted(t, f, summaryEvent(t, changed))
	if got := perRecipient(srv)["ana@example.com"]; got != 2 {
		t.Errorf("ana got %d emails, want 2 (one per distinct summary)", got)
	}
}

func TestMalformedEvent(t *testing.T) {
	good := summaryEvent(t, testSummary(vendors...))
	tests := []struct {
		name   string
		mutate func(*cloudevents.Event)
	}{
		{name: "wrong type", mutate: func(e *cloudevents.Event) { e.SetType("cl.sopaipillas.order.created.v1") }},
		{name: "not json", mutate: func(e *cloudevents.Event) { e.SetData("text/plain", "hola") }},
		{name: "vendor with a header", mutate: func(e *cloudevents.Event) {
			e.SetData(cloudevents.ApplicationJSON, map[string]any{"fecha": "13/11/2021", "ventas": map[string]any{"a@example.com\r\nBcc: evil@example.net": map[string]int{"n_sopaipillas": 1, "n_ordenes": 1}}})
		}},
		{name: "two vendors in one", mutate: func(e *cloudevents.Event) {
			e.SetData(cloudevents.ApplicationJSON, map[string]any{"fecha": "13/11/2021", "ventas": map[string]any{"a@example.com, evil@example.net": map[string]int{"n_sopaipillas": 1, "n_ordenes": 1}}})
		}},
		{name: "bad date", mutate: func(e *cloudevents.Event) {
			e.SetData(cloudevents.ApplicationJSON, map[string]any{"fecha": "13/11/2021\r\nBcc: x@y.z", "ventas": map[string]any{}})
		}},
		{name: "extra field", mutate: func(e *cloudevents.Event) {
			e.SetData(cloudevents.ApplicationJSON, map[string]any{"fecha": "13/11/2021", "ventas": map[string]any{}, "bcc": "evil@example.net"})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
			e := good.Clone()
			tc.mutate(&e)
			if code := status(t, f.Receive(context.Background(), e)); code != 400 {
				t.Errorf("answered %d, want 400", code)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d emails sent", n)
			}
		})
	}
}

func TestLedgerUnavailable(t *testing.T) {
	srv := smtptest.Start(t)
	ledger := newTestLedger(t, "memory", time.Minute, time.Now)
	ledger.mem.fail = errors.New("broker unreachable")
	f := newTestFunction(t, srv, ledger, Options{})
	if code := status(t, f.Receive(context.Background(), summaryEvent(t, testSummary(vendors...)))); code != 503 {
		t.Errorf("answered %d, want 503", code)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d emails sent without a ledger", n)
	}
}

// TestEmailContent reads the email as the SMTP server received it.
func TestEmailContent(t *testing.T) {
	srv := smtptest.Start(t)
	f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
	s := events.Summary{Fecha: "13/11/2021", Ventas: map[string]events.Sales{"vendedor@example.com": {NSopaipillas: 101, NOrdenes: 2}}}
	e := summaryEvent(t, s)
	deliverUntilAccepted(t, f, e)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want 1", len(msgs))
	}
	got, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("text part as received:\n%s", got.Text)
	if got.Subject != "Reporte de sopaipillas — 13/11/2021" {
		t.Errorf("Subject = %q", got.Subject)
	}
	from, err := got.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Sopaipillas" || from[0].Address != testFrom {
		t.Errorf("From = %v %v", from, err)
	}
	if want := "<" + MessageID(e.ID(), "vendedor@example.com", "sopaipillas.example") + ">"; got.Header.Get("Message-Id") != want {
		t.Errorf("Message-ID = %q, want %q", got.Header.Get("Message-Id"), want)
	}
	if _, err := got.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	for _, want := range []string{"Fecha: 13/11/2021", "Cantidad de ordenes recibidas: 2", "Cantidad de sopaipillas vendidas: 101"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, got.Text)
		}
	}
	for _, want := range []string{"<strong>13/11/2021</strong>", "Cantidad de ordenes recibidas</td>", "<strong>2</strong>", "<strong>101</strong>", `name="viewport"`} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
}

// TestThousandVendors: a summary of 1,000 vendors goes out through the
// concurrency bound and the rate limiter, one email each, even delivered
// twice at once.
func TestThousandVendors(t *testing.T) {
	for _, kind := range ledgerKinds {
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
