package sendmail

import (
	"context"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

const (
	v1, v2 = "v1@example.com", "v2@example.com"
	c1     = "c1@example.com"

	finalEstado = "Resumen final"
	parcial     = "Resumen parcial, hasta las "
)

// wrapped is e's data as the KafkaSource delivers a record that is not a
// CloudEvent: type dev.knative.kafka.event, no report extensions.
func wrapped(t *testing.T, e cloudevents.Event) cloudevents.Event {
	t.Helper()
	w := cloudevents.NewEvent()
	w.SetID("partition:0/offset:42")
	w.SetType(TypeKafkaEvent)
	w.SetSource("/apis/v1/namespaces/sopaipillas/kafkasources/summary-to-sendmail#summary")
	w.SetSubject("partition:0#42")
	if err := w.SetData("", e.Data()); err != nil {
		t.Fatal(err)
	}
	return w
}

func sales(n int64) events.Sales { return events.Sales{NOrdenes: n, NSopaipillas: 10 * n} }

func summaryOf(ventas map[string]events.Sales) events.Summary {
	return events.Summary{Fecha: testDay.String(), Ventas: ventas}
}

func cookOf(rows map[string]events.Sales) events.CookReport {
	r := events.CookReport{Cocinero: c1, Fecha: testDay.String(), Vendedores: rows}
	for _, s := range rows {
		r.NOrdenes += s.NOrdenes
		r.NSopaipillas += s.NSopaipillas
	}
	return r
}

// TestOneEmailPerContent delivers sequences of report events, each until
// sendMail accepts it, and checks which emails each reader got, in order,
// by the status their subject says.
func TestOneEmailPerContent(t *testing.T) {
	twoVendors := summaryOf(map[string]events.Sales{v1: sales(1), v2: sales(1)})
	v1Again := summaryOf(map[string]events.Sales{v1: sales(2), v2: sales(1)})
	oneCook := cookOf(map[string]events.Sales{v1: sales(1), v2: sales(1)})
	cookMore := cookOf(map[string]events.Sales{v1: sales(2), v2: sales(1)})
	tests := []struct {
		name   string
		events func(t *testing.T) []cloudevents.Event // delivered in order
		want   map[string][]string                    // each reader's emails, by status
	}{
		{
			name: "vendor 2 is not mailed again when vendor 1 orders again",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, twoVendors, partialAt(12, 0)), summaryEventMeta(t, v1Again, partialAt(13, 0))}
			},
			want: map[string][]string{v1: {parcial + "12:00", parcial + "13:00"}, v2: {parcial + "12:00"}},
		},
		{
			name: "partial then final: two emails",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, twoVendors, partial1432), summaryEventMeta(t, twoVendors, finalMeta)}
			},
			want: map[string][]string{v1: {parcial + "14:32", finalEstado}, v2: {parcial + "14:32", finalEstado}},
		},
		{
			name: "final then a replayed partial: none",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, v1Again, finalMeta), summaryEventMeta(t, twoVendors, partial1432)}
			},
			want: map[string][]string{v1: {finalEstado}, v2: {finalEstado}},
		},
		{
			name: "an earlier partial after a later one: none",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, v1Again, partialAt(15, 0)), summaryEventMeta(t, twoVendors, partialAt(12, 0))}
			},
			want: map[string][]string{v1: {parcial + "15:00"}, v2: {parcial + "15:00"}},
		},
		{
			name: "the same numbers counted up to later: none",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, twoVendors, partialAt(12, 0)), summaryEventMeta(t, twoVendors, partialAt(16, 0))}
			},
			want: map[string][]string{v1: {parcial + "12:00"}, v2: {parcial + "12:00"}},
		},
		{
			name: "the same report re-published, at another time, from another source: none",
			events: func(t *testing.T) []cloudevents.Event {
				again := summaryEvent(t, twoVendors)
				again.SetTime(time.Now())
				again.SetSource("/manual")
				again.SetID("prueba-1")
				return []cloudevents.Event{summaryEvent(t, twoVendors), again}
			},
			want: map[string][]string{v1: {finalEstado}, v2: {finalEstado}},
		},
		{
			name: "a final with changed numbers: a new email for whom they changed",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEvent(t, twoVendors), summaryEvent(t, v1Again)}
			},
			want: map[string][]string{v1: {finalEstado, finalEstado}, v2: {finalEstado}},
		},
		{
			name: "a wrapped replay of a mailed summary: none",
			events: func(t *testing.T) []cloudevents.Event {
				e := summaryEvent(t, twoVendors)
				return []cloudevents.Event{e, wrapped(t, e)}
			},
			want: map[string][]string{v1: {finalEstado}, v2: {finalEstado}},
		},
		{
			name: "a wrapped replay of a mailed vendor report: none",
			events: func(t *testing.T) []cloudevents.Event {
				e := vendorReportEvents(t, testVendorReport(v1, v2), finalMeta)[0]
				return []cloudevents.Event{e, wrapped(t, e)}
			},
			want: map[string][]string{v1: {finalEstado}, v2: {finalEstado}},
		},
		{
			name: "a wrapped summary never mailed is a final one",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{summaryEventMeta(t, twoVendors, partial1432), wrapped(t, summaryEventMeta(t, twoVendors, partial1432))}
			},
			want: map[string][]string{v1: {parcial + "14:32", finalEstado}, v2: {parcial + "14:32", finalEstado}},
		},
		{
			name: "cook: partial then final",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{cookEvent(t, oneCook, partial1432), cookEvent(t, oneCook, finalMeta)}
			},
			want: map[string][]string{c1: {parcial + "14:32", finalEstado}},
		},
		{
			name: "cook: final then a replayed partial",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{cookEvent(t, cookMore, finalMeta), cookEvent(t, oneCook, partial1432)}
			},
			want: map[string][]string{c1: {finalEstado}},
		},
		{
			name: "cook: one vendor's row changes",
			events: func(t *testing.T) []cloudevents.Event {
				return []cloudevents.Event{cookEvent(t, oneCook, partialAt(12, 0)), cookEvent(t, cookMore, partialAt(13, 0)), cookEvent(t, cookMore, partialAt(14, 0))}
			},
			want: map[string][]string{c1: {parcial + "12:00", parcial + "13:00"}},
		},
		{
			name: "cook: re-published and wrapped replays",
			events: func(t *testing.T) []cloudevents.Event {
				e := cookEvent(t, oneCook, finalMeta)
				return []cloudevents.Event{e, cookEvent(t, oneCook, finalMeta), wrapped(t, e)}
			},
			want: map[string][]string{c1: {finalEstado}},
		},
		{
			name: "vendors and cooks of the same day are separate readers",
			events: func(t *testing.T) []cloudevents.Event {
				s := summaryOf(map[string]events.Sales{c1: sales(1)}) // a cook who also sells
				return []cloudevents.Event{summaryEvent(t, s), cookEvent(t, oneCook, finalMeta)}
			},
			want: map[string][]string{c1: {finalEstado, finalEstado}},
		},
	}
	for _, kind := range ledgerKinds() {
		for _, tc := range tests {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				srv := smtptest.Start(t)
				f := newTestFunction(t, srv, newTestLedger(t, kind, time.Minute, time.Now), Options{})
				for _, e := range tc.events(t) {
					deliverUntilAccepted(t, f, e)
				}
				if diff := cmp.Diff(tc.want, estados(t, srv)); diff != "" {
					t.Errorf("emails per reader (-want, +got):\n%s", diff)
				}
			})
		}
	}
}

// TestPartialAndFinalAtOnce: a day's partial and final, each delivered
// three times at once to three replicas: each reader gets the final once,
// and a partial at most once and only before it.
func TestPartialAndFinalAtOnce(t *testing.T) {
	for _, kind := range ledgerKinds() {
		for _, rk := range readerKinds {
			t.Run(kind+"/"+rk.name, func(t *testing.T) {
				srv := smtptest.Start(t)
				ledger := newTestLedger(t, kind, time.Minute, time.Now)
				var fs []*Function
				for range 3 {
					fs = append(fs, newTestFunction(t, srv, ledger, Options{}))
				}
				rs := recipientsOf(rk)
				evs := append(rk.events(t, rs, partial1432), rk.events(t, rs, finalMeta)...)
				var wg sync.WaitGroup
				for i := range 3 {
					for _, e := range evs {
						wg.Go(func() { deliverUntilAccepted(t, fs[i], e) })
					}
				}
				wg.Wait()
				got := estados(t, srv)
				for _, r := range rs {
					switch es := got[r]; {
					case cmp.Equal(es, []string{finalEstado}), cmp.Equal(es, []string{parcial + "14:32", finalEstado}):
					default:
						t.Errorf("%s got %q, want the final once, after the partial if any", r, es)
					}
				}
				if len(got) != len(rs) {
					t.Errorf("emails to %d readers, want %d: %v", len(got), len(rs), got)
				}
			})
		}
	}
}

// TestSameEmailSameMessageID: the email of one content has one Message-ID
// whatever event carried it, so a mailbox can drop a copy the crash window
// let through.
func TestSameEmailSameMessageID(t *testing.T) {
	s := summaryOf(map[string]events.Sales{v1: sales(1)})
	e := summaryEvent(t, s)
	ids := map[string]bool{}
	for _, ev := range []cloudevents.Event{e, wrapped(t, e)} {
		rep, err := decodeReport(ev, santiago)
		if err != nil {
			t.Fatal(err)
		}
		ids[MessageID(rep.book(), rep.letters[0].id, "x.example")] = true
	}
	if len(ids) != 1 {
		t.Errorf("Message-IDs %v, want one", ids)
	}
	if code := newTestFunction(t, smtptest.Start(t), newTestLedger(t, "memory", time.Minute, time.Now), Options{}).Receive(context.Background(), e).Status; code != 200 {
		t.Errorf("answered %d", code)
	}
}
