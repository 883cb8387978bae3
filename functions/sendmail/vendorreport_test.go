package sendmail

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// sentOrder is an order as the test writes it: the hour in UTC, so the
// expected hour in Santiago (UTC-3 in November 2021) is computed by hand.
type sentOrder struct {
	id        int64
	utcH, min int
	n         int64
}

// anaReport is ana's day: the orders given, listed (at most listed of
// them, the rest counted as not listed), and uncounted versions.
func anaReport(orders []sentOrder, listed int, uncounted []events.UncountedOrder) events.VendorReport {
	vo := events.VendorOrders{Ordenes: []events.ListedOrder{}, NoContadas: uncounted}
	for i, o := range orders {
		vo.NOrdenes++
		vo.NSopaipillas += o.n
		if i < listed {
			at := time.Date(2021, 11, 13, o.utcH, o.min, 0, 0, time.UTC).In(time.FixedZone("-03", -3*3600))
			vo.Ordenes = append(vo.Ordenes, events.ListedOrder{OrderID: o.id, Hora: at.Format(time.RFC3339), NumeroSopaipillas: o.n})
		}
	}
	vo.OrdenesNoListadas = vo.NOrdenes - int64(len(vo.Ordenes))
	return events.VendorReport{Fecha: "13/11/2021", Vendedores: map[string]events.VendorOrders{"ana@example.com": vo}}
}

var (
	textRow = regexp.MustCompile(`^([0-9]+) +([0-9]{2}:[0-9]{2}) +([0-9]+)$`)
	htmlRow = regexp.MustCompile(`<tr><td[^>]*>([0-9]+)</td><td[^>]*>([0-9]{2}:[0-9]{2})</td><td[^>]*>([0-9]+)</td></tr>`)
	htmlLi  = regexp.MustCompile(`<li[^>]*>([^<]*)</li>`)
)

// emailParts reads what a vendor's email lists: the order rows of the
// text part and of the HTML part, and the uncounted sentences of each.
func emailParts(text, html string) (textRows, htmlRows [][3]string, textNo, htmlNo []string) {
	section := ""
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		l = strings.TrimRight(l, " ")
		switch {
		case l == "Tus órdenes que contaron:" || l == "Órdenes que no se contaron:":
			section = l
		case l == "":
			section = ""
		case section == "Tus órdenes que contaron:" && textRow.MatchString(l):
			m := textRow.FindStringSubmatch(l)
			textRows = append(textRows, [3]string{m[1], m[2], m[3]})
		case section == "Órdenes que no se contaron:" && strings.HasPrefix(l, "- "):
			textNo = append(textNo, strings.TrimPrefix(l, "- "))
		}
	}
	for _, m := range htmlRow.FindAllStringSubmatch(html, -1) {
		htmlRows = append(htmlRows, [3]string{m[1], m[2], m[3]})
	}
	for _, m := range htmlLi.FindAllStringSubmatch(html, -1) {
		htmlNo = append(htmlNo, m[1])
	}
	return textRows, htmlRows, textNo, htmlNo
}

// TestVendorReportEmail: the vendor's email lists exactly the orders of
// the report (order_id, hour in Santiago, quantity), says how many more
// there are, and says of each uncounted version what was sent and what
// counted instead; the text and HTML parts list the same.
func TestVendorReportEmail(t *testing.T) {
	three := []sentOrder{{3, 13, 15, 15}, {9, 15, 1, 86}, {12, 22, 40, 1}}
	var many []sentOrder
	for i := range events.MaxOrdersListed + 4 {
		many = append(many, sentOrder{int64(1000 + i), 11 + i/60%12, i % 60, int64(1 + i%7)})
	}
	uncounted := []events.UncountedOrder{
		{OrderID: 7, NumeroSopaipillas: 10, Motivo: events.ReasonLaterInPartition, Contada: &events.CountedOrder{EmailVendedor: "ana@example.com", NumeroSopaipillas: 20}},
	}
	allReasons := []events.UncountedOrder{
		{OrderID: 7, NumeroSopaipillas: 10, Motivo: events.ReasonLaterInPartition, Contada: &events.CountedOrder{EmailVendedor: "ana@example.com", NumeroSopaipillas: 20}},
		{OrderID: 8, NumeroSopaipillas: 1, Motivo: events.ReasonLaterInPartition},
		{OrderID: 21, NumeroSopaipillas: 5, Motivo: events.ReasonLowerPartition, Contada: &events.CountedOrder{EmailVendedor: "beto@example.com", NumeroSopaipillas: 1}},
		{OrderID: 22, NumeroSopaipillas: 5, Motivo: events.ReasonEarlierDay, Contada: &events.CountedOrder{EmailVendedor: "ana@example.com", NumeroSopaipillas: 5}},
	}
	tests := []struct {
		name    string
		report  events.VendorReport
		orders  []sentOrder // listed, in order
		mas     string
		no      []string
		textHas []string
	}{
		{name: "three orders, one uncounted", report: anaReport(three, 3, uncounted), orders: three,
			no:      []string{"La orden 7 se registró primero con 20 sopaipillas; tu envío de 10 sopaipillas no se contó."},
			textHas: []string{"Cantidad de órdenes recibidas: 3", "Cantidad de sopaipillas vendidas: 102", "Orden   Hora  Cantidad"}},
		{name: "more than are listed", report: anaReport(many, events.MaxOrdersListed, []events.UncountedOrder{}), orders: many[:events.MaxOrdersListed],
			mas: "y 4 órdenes más"},
		{name: "one not listed", report: anaReport(three, 2, []events.UncountedOrder{}), orders: three[:2], mas: "y 1 orden más"},
		{name: "every reason", report: anaReport(three, 3, allReasons), orders: three, no: []string{
			"La orden 7 se registró primero con 20 sopaipillas; tu envío de 10 sopaipillas no se contó.",
			"La orden 8 se registró primero con otros datos; tu envío de 1 sopaipilla no se contó.",
			"La orden 21 llegó dos veces con datos distintos y se contó la que venía con 1 sopaipilla a nombre de otro vendedor; tu envío de 5 sopaipillas no se contó.",
			"La orden 22 ya se había registrado este día con otros datos (otro cocinero); tu envío de 5 sopaipillas, de un día posterior, no se contó.",
		}},
		{name: "only uncounted", report: events.VendorReport{Fecha: "13/11/2021", Vendedores: map[string]events.VendorOrders{"ana@example.com": {
			Ordenes: []events.ListedOrder{}, NoContadas: allReasons[2:3]}}},
			no:      []string{"La orden 21 llegó dos veces con datos distintos y se contó la que venía con 1 sopaipilla a nombre de otro vendedor; tu envío de 5 sopaipillas no se contó."},
			textHas: []string{"Cantidad de órdenes recibidas: 0", "Este día no tienes órdenes que contaran."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
			for _, e := range vendorReportEvents(t, tc.report, finalMeta) {
				deliverUntilAccepted(t, f, e)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d emails, want 1", len(msgs))
			}
			got, err := msgs[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "three orders, one uncounted" {
				t.Logf("text part as received:\n%s", got.Text)
			}
			var want [][3]string
			for _, o := range tc.orders {
				h := (o.utcH + 24 - 3) % 24 // Santiago is UTC-3 in November
				want = append(want, [3]string{strconv.FormatInt(o.id, 10), fmt.Sprintf("%02d:%02d", h, o.min), strconv.FormatInt(o.n, 10)})
			}
			textRows, htmlRows, textNo, htmlNo := emailParts(got.Text, got.HTML)
			if d := cmp.Diff(want, textRows); d != "" {
				t.Errorf("text part's orders (-want, +got):\n%s", d)
			}
			if d := cmp.Diff(want, htmlRows); d != "" {
				t.Errorf("HTML part's orders (-want, +got):\n%s", d)
			}
			if d := cmp.Diff(tc.no, textNo); d != "" {
				t.Errorf("text part's uncounted (-want, +got):\n%s", d)
			}
			if d := cmp.Diff(tc.no, htmlNo); d != "" {
				t.Errorf("HTML part's uncounted (-want, +got):\n%s", d)
			}
			var htmlHas []string
			textHas := tc.textHas
			if tc.mas != "" {
				textHas = append(textHas, tc.mas)
				htmlHas = append(htmlHas, ">"+tc.mas+"</p>")
			} else if strings.Contains(got.Text, "más") {
				t.Errorf("text part says there are more orders:\n%s", got.Text)
			}
			checkParts(t, got.Text, got.HTML, textHas, htmlHas)
			if strings.Contains(got.Text, "ordenes") || strings.Contains(got.HTML, "ordenes") {
				t.Error(`"ordenes" without its accent`)
			}
		})
	}
}

// TestVendorEmailOnce: a summary and a vendor report of the same day and
// status (one from before the report topic, one after) mail a vendor
// without uncounted orders once, in either order; a vendor told of an
// uncounted order gets that email too.
func TestVendorEmailOnce(t *testing.T) {
	three := []sentOrder{{3, 13, 15, 15}, {9, 15, 1, 86}, {12, 22, 40, 1}}
	clean := anaReport(three, 3, []events.UncountedOrder{})
	told := anaReport(three, 3, []events.UncountedOrder{{OrderID: 7, NumeroSopaipillas: 10, Motivo: events.ReasonLaterInPartition}})
	summary := events.Summary{Fecha: "13/11/2021", Ventas: map[string]events.Sales{"ana@example.com": clean.Vendedores["ana@example.com"].Sales()}}
	tests := []struct {
		name   string
		events func(t *testing.T) []cloudevents.Event
		want   int
	}{
		{"summary, then vendor report", func(t *testing.T) []cloudevents.Event {
			return append([]cloudevents.Event{summaryEvent(t, summary)}, vendorReportEvents(t, clean, finalMeta)...)
		}, 1},
		{"vendor report, then summary", func(t *testing.T) []cloudevents.Event {
			return append(vendorReportEvents(t, clean, finalMeta), summaryEvent(t, summary))
		}, 1},
		{"vendor report twice", func(t *testing.T) []cloudevents.Event {
			return append(vendorReportEvents(t, clean, finalMeta), vendorReportEvents(t, clean, finalMeta)...)
		}, 1},
		{"summary, then a report with an uncounted order", func(t *testing.T) []cloudevents.Event {
			return append([]cloudevents.Event{summaryEvent(t, summary)}, vendorReportEvents(t, told, finalMeta)...)
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
			for _, e := range tc.events(t) {
				deliverUntilAccepted(t, f, e)
			}
			if d := cmp.Diff(map[string]int{"ana@example.com": tc.want}, perRecipient(srv)); d != "" {
				t.Errorf("emails per reader (-want, +got):\n%s", d)
			}
		})
	}
	// The identity itself: the same for the summary's letter and the
	// report's.
	s, err := decodeReport(summaryEvent(t, summary), santiago)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeReport(vendorReportEvents(t, clean, finalMeta)[0], santiago)
	if err != nil {
		t.Fatal(err)
	}
	if s.book() != r.book() || s.letters[0].id != r.letters[0].id {
		t.Errorf("summary's email %s %+v, vendor report's %s %+v", s.book(), s.letters[0].id, r.book(), r.letters[0].id)
	}
}
