package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
)

// TestPipeline: orders → newOrder → topic order → dailySummary → topics
// summary (summaries only) and report (cook and vendor reports) →
// KafkaSource on report → sendMail → SMTP, on each broker. Each vendor's
// email lists its orders as computed here from the orders placed.
func TestPipeline(t *testing.T) {
	for name, b := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			s := newSystem(t, b)
			today := events.DateOf(time.Now(), santiago)
			yesterday := today.AddDays(-1)
			yStart, _ := yesterday.Bounds(santiago)
			tStart, _ := today.Bounds(santiago)

			// Yesterday: the seed's vendor sells 101 in one order; another
			// vendor two orders, one of them retried (same body) and one
			// sent again with a different body (a conflict, not counted).
			s.order(yStart.Add(10*time.Hour), 3, "vendor_tarea2@yopmail.com", 101)
			s.order(yStart.Add(11*time.Hour), 10, "otra@yopmail.com", 5)
			s.order(yStart.Add(11*time.Hour+time.Minute), 10, "otra@yopmail.com", 5)
			s.order(yStart.Add(12*time.Hour), 11, "otra@yopmail.com", 7)
			s.order(yStart.Add(13*time.Hour), 11, "otra@yopmail.com", 70)
			// Just before midnight, retried just after: it belongs to yesterday.
			s.order(tStart.Add(-time.Second), 12, "tarde@yopmail.com", 2)
			s.order(tStart.Add(30*time.Second), 12, "tarde@yopmail.com", 2)
			// Today: one order.
			s.order(tStart.Add(time.Minute), 20, "vendor_tarea2@yopmail.com", 9)

			got := s.summarize(yesterday)
			want := events.Summary{Fecha: yesterday.String(), Ventas: map[string]events.Sales{
				"vendor_tarea2@yopmail.com": {NSopaipillas: 101, NOrdenes: 1},
				"otra@yopmail.com":          {NSopaipillas: 12, NOrdenes: 2},
				"tarde@yopmail.com":         {NSopaipillas: 2, NOrdenes: 1},
			}}
			if diff := cmp.Diff(want, got.Summary); diff != "" {
				t.Errorf("yesterday's summary (-want, +got):\n%s", diff)
			}
			if got.ConflictsTotal != 1 || len(got.Conflicts) != 1 || got.Conflicts[0].OrderID != 11 {
				t.Errorf("conflicts = %+v, want order 11 once", got.Conflicts)
			}

			// Asked again, the same numbers and the same event id.
			again := s.summarize(yesterday)
			if again.EventID != got.EventID {
				t.Errorf("second summary id %s, first %s", again.EventID, got.EventID)
			}

			gotToday := s.summarize(today)
			wantToday := events.Summary{Fecha: today.String(), Ventas: map[string]events.Sales{
				"vendor_tarea2@yopmail.com": {NSopaipillas: 9, NOrdenes: 1},
			}}
			if diff := cmp.Diff(wantToday, gotToday.Summary); diff != "" {
				t.Errorf("today's summary (-want, +got):\n%s", diff)
			}
			if gotToday.ReportStatus != events.StatusPartial {
				t.Errorf("today's report is %q, want partial", gotToday.ReportStatus)
			}
			// Another vendor orders today: asked again, only the readers
			// whose numbers changed (that vendor and the cook) get a new
			// partial report; vendor_tarea2's is unchanged.
			s.order(tStart.Add(2*time.Minute), 21, "otra@yopmail.com", 4)
			laterToday := s.summarize(today)

			// The summary topic holds exactly the contract's JSON, and
			// nothing else; the reports are on the report topic.
			onTopic := s.summaryEvents()
			reports := s.reportEvents()
			for _, id := range append(append(slices.Clone(got.CookReportEventIDs), got.VendorReportEventIDs...), laterToday.VendorReportEventIDs...) {
				if _, ok := reports[id]; !ok {
					t.Errorf("report event %s is not on the report topic", id)
				}
			}
			if len(got.VendorReportEventIDs) != 1 {
				t.Errorf("yesterday's vendor reports: %v, want one event", got.VendorReportEventIDs)
			}
			wantData := `{"ventas":{"otra@yopmail.com":{"n_sopaipillas":12,"n_ordenes":2},"tarde@yopmail.com":{"n_sopaipillas":2,"n_ordenes":1},"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"` + yesterday.String() + `"}`
			if diff := cmp.Diff(wantData, string(onTopic[got.EventID])); diff != "" {
				t.Errorf("summary event data (-want, +got):\n%s", diff)
			}

			// Yesterday (published twice with the same content): one final
			// email per vendor and one for the cook. Today: a partial per
			// reader, and a second one for the readers whose numbers the
			// later order changed.
			mails := s.delivered()
			var emails []report
			for _, m := range mails {
				emails = append(emails, parseReport(t, m.Raw))
			}
			hour := func(r dailysummary.Response) string { return r.CountedUntil.In(santiago).Format("15:04") }
			const cook = "<asdasdasda@yopmail.com>"
			final, partial := "Resumen final", "Resumen parcial, hasta las "
			wantReports := []report{
				{To: "<otra@yopmail.com>", Kind: vendorReport, Fecha: yesterday.String(), Estado: final, Ordenes: "2", Sopaipillas: "12"},
				{To: "<tarde@yopmail.com>", Kind: vendorReport, Fecha: yesterday.String(), Estado: final, Ordenes: "1", Sopaipillas: "2"},
				{To: "<vendor_tarea2@yopmail.com>", Kind: vendorReport, Fecha: yesterday.String(), Estado: final, Ordenes: "1", Sopaipillas: "101"},
				{To: cook, Kind: cookReport, Fecha: yesterday.String(), Estado: final, Ordenes: "4", Sopaipillas: "115",
					Vendedores: []string{"otra@yopmail.com 2 12", "tarde@yopmail.com 1 2", "vendor_tarea2@yopmail.com 1 101"}},
				{To: "<vendor_tarea2@yopmail.com>", Kind: vendorReport, Fecha: today.String(), Estado: partial + hour(gotToday), Ordenes: "1", Sopaipillas: "9"},
				{To: cook, Kind: cookReport, Fecha: today.String(), Estado: partial + hour(gotToday), Ordenes: "1", Sopaipillas: "9",
					Vendedores: []string{"vendor_tarea2@yopmail.com 1 9"}},
				{To: "<otra@yopmail.com>", Kind: vendorReport, Fecha: today.String(), Estado: partial + hour(laterToday), Ordenes: "1", Sopaipillas: "4"},
				{To: cook, Kind: cookReport, Fecha: today.String(), Estado: partial + hour(laterToday), Ordenes: "2", Sopaipillas: "13",
					Vendedores: []string{"otra@yopmail.com 1 4", "vendor_tarea2@yopmail.com 1 9"}},
			}
			order := func(rs []report) {
				sort.Slice(rs, func(i, j int) bool {
					a, b := rs[i], rs[j]
					return a.Fecha+a.To+a.Ordenes+a.Estado < b.Fecha+b.To+b.Ordenes+b.Estado
				})
			}
			for i, r := range wantReports {
				if r.Kind == vendorReport {
					wantReports[i].Listed, wantReports[i].NoContadas = listing(s.written, r.Fecha, strings.Trim(r.To, "<>"))
				}
			}
			order(emails)
			order(wantReports)
			if diff := cmp.Diff(wantReports, emails); diff != "" {
				t.Errorf("emails (-want, +got):\n%s", diff)
			}
		})
	}
}

// TestBadOrdersReachNoTopic: each bad request gets its 4xx and the order
// topic stays empty.
func TestBadOrdersReachNoTopic(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
	}{
		{"malformed JSON", "application/json", `{"order_id": 3,`, http.StatusBadRequest},
		{"wrong content type", "text/plain", `{"order_id": 3}`, http.StatusUnsupportedMediaType},
		{"missing content type", "", `{"order_id": 3}`, http.StatusUnsupportedMediaType},
		{"zero sopaipillas", "application/json", `{"order_id": 3, "email_vendedor": "a@b.cl", "email_cocinero": "c@d.cl", "numero_sopaipillas": 0}`, http.StatusUnprocessableEntity},
		{"email with CRLF", "application/json", `{"order_id": 3, "email_vendedor": "a@b.cl\r\nBcc: x@y.cl", "email_cocinero": "c@d.cl", "numero_sopaipillas": 1}`, http.StatusUnprocessableEntity},
		{"order id as string", "application/json", `{"order_id": "3", "email_vendedor": "a@b.cl", "email_cocinero": "c@d.cl", "numero_sopaipillas": 1}`, http.StatusUnprocessableEntity},
		{"body too large", "application/json", `{"x": "` + strings.Repeat("a", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for name, b := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			s := newSystem(t, b)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					status, body := post(t, s.newOrder.URL+"/newOrder", tc.contentType, tc.body)
					if status != tc.status {
						t.Errorf("status %d, want %d: %s", status, tc.status, body)
					}
				})
			}
			if n := s.topicRecords(s.orderTopic); n != 0 {
				t.Errorf("order topic holds %d records after only bad requests, want 0", n)
			}
		})
	}
}

// TestWrappedRecords: records on the report topic that are not CloudEvents
// reach sendMail wrapped by the KafkaSource (type dev.knative.kafka.event).
// A raw copy of a vendor report, a cook report or a summary (the same
// totals as the vendor report) already mailed mails nothing; a raw report
// never mailed is mailed as final; any other record is refused with 400
// and dead-lettered.
func TestWrappedRecords(t *testing.T) {
	for name, b := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			s := newSystem(t, b)
			s.expectDeadLetters()
			yesterday := events.DateOf(time.Now(), santiago).AddDays(-1)
			yStart, _ := yesterday.Bounds(santiago)
			s.order(yStart.Add(10*time.Hour), 3, "vendor_tarea2@yopmail.com", 101)
			got := s.summarize(yesterday)
			onTopic := s.summaryEvents()
			cook := events.CookReport{Cocinero: "asdasdasda@yopmail.com", NSopaipillas: 101, NOrdenes: 1, Fecha: yesterday.String(),
				Vendedores: map[string]events.Sales{"vendor_tarea2@yopmail.com": {NSopaipillas: 101, NOrdenes: 1}}}
			cookData, _ := json.Marshal(cook)
			neverMailed := `{"ventas":{"nuevo@yopmail.com":{"n_sopaipillas":5,"n_ordenes":1}},"fecha":"` + yesterday.String() + `"}`
			order := `{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 101}`
			vendorData := s.reportEvents()[got.VendorReportEventIDs[0]]
			// The summary's raw copy has the vendor report's totals and no
			// uncounted order: the same email, already sent.
			s.produceRaw(string(onTopic[got.EventID]), string(cookData), string(vendorData), neverMailed, order)

			var reports []report
			for _, m := range s.delivered() {
				reports = append(reports, parseReport(t, m.Raw))
			}
			sort.Slice(reports, func(i, j int) bool { return reports[i].To < reports[j].To })
			want := []report{
				{To: "<asdasdasda@yopmail.com>", Kind: cookReport, Fecha: yesterday.String(), Estado: "Resumen final", Ordenes: "1", Sopaipillas: "101",
					Vendedores: []string{"vendor_tarea2@yopmail.com 1 101"}},
				{To: "<nuevo@yopmail.com>", Kind: vendorReport, Fecha: yesterday.String(), Estado: "Resumen final", Ordenes: "1", Sopaipillas: "5"},
				{To: "<vendor_tarea2@yopmail.com>", Kind: vendorReport, Fecha: yesterday.String(), Estado: "Resumen final", Ordenes: "1", Sopaipillas: "101"},
			}
			for i, r := range want {
				if r.Kind == vendorReport {
					want[i].Listed, want[i].NoContadas = listing(s.written, r.Fecha, strings.Trim(r.To, "<>"))
				}
			}
			if diff := cmp.Diff(want, reports); diff != "" {
				t.Errorf("emails (-want, +got):\n%s", diff)
			}
			dead := s.deadLetters()
			if len(dead) != 1 || dead[0].Type != "dev.knative.kafka.event" || dead[0].Data != order || !strings.Contains(dead[0].Reason, "400") {
				t.Errorf("dead letters %+v, want the order record alone, refused with 400", dead)
			}
		})
	}
}

// listing is what a vendor's email of day fecha lists, by brute force over
// the orders placed: the first placing of an order_id counts (newOrder
// keys records by order_id: one partition, placed in order), in the day
// of its time; the vendor's counted orders by time then order_id
// ("order_id hh:mm quantity"), and a sentence for each later placing of a
// counted order with another body sent as the vendor's.
func listing(ws []written, fecha, vendor string) (listed, uncounted []string) {
	first := map[int]written{}
	var later []written
	for _, w := range ws {
		if _, ok := first[w.id]; ok {
			later = append(later, w)
			continue
		}
		first[w.id] = w
	}
	inDay := func(w written) bool { return events.DateOf(w.at, santiago).String() == fecha }
	var mine []written
	for _, w := range first {
		if w.vendor == vendor && inDay(w) {
			mine = append(mine, w)
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		return mine[i].at.Before(mine[j].at) || mine[i].at.Equal(mine[j].at) && mine[i].id < mine[j].id
	})
	for _, w := range mine {
		listed = append(listed, fmt.Sprintf("%d %s %d", w.id, w.at.In(santiago).Format("15:04"), w.n))
	}
	sopaipillas := func(n int) string {
		if n == 1 {
			return "1 sopaipilla"
		}
		return fmt.Sprintf("%d sopaipillas", n)
	}
	for _, w := range later {
		f := first[w.id]
		if w.vendor != vendor || !inDay(f) || w.vendor == f.vendor && w.n == f.n {
			continue
		}
		counted := "con " + sopaipillas(f.n)
		if f.vendor != vendor {
			counted += " a nombre de otro vendedor"
		}
		uncounted = append(uncounted, fmt.Sprintf("La orden %d se registró primero %s; tu envío de %s no se contó.", w.id, counted, sopaipillas(w.n)))
	}
	return listed, uncounted
}
