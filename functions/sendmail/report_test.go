package sendmail

import (
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	registry "github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// TestEmailContent reads each kind of email as the SMTP server received
// it: headers, and the numbers in the text and the HTML part.
func TestEmailContent(t *testing.T) {
	vendorSummary := events.Summary{Fecha: "13/11/2021", Ventas: map[string]events.Sales{"vendedor@example.com": {NSopaipillas: 101, NOrdenes: 2}}}
	cook := events.CookReport{Cocinero: "cocinero@example.com", NSopaipillas: 116, NOrdenes: 3, Fecha: "13/11/2021", Vendedores: map[string]events.Sales{
		"vendedor@example.com": {NSopaipillas: 101, NOrdenes: 2}, "otra.vendedora@example.com": {NSopaipillas: 15, NOrdenes: 1},
	}}
	tests := []struct {
		name     string
		event    func(t *testing.T) cloudevents.Event
		to       string
		subject  string
		textHas  []string // lines of the text part
		htmlHas  []string
		htmlLack []string
	}{
		{
			name: "vendor, final", event: func(t *testing.T) cloudevents.Event { return summaryEvent(t, vendorSummary) },
			to: "vendedor@example.com", subject: "Reporte de sopaipillas — 13/11/2021 — Resumen final",
			textHas: []string{"Hola vendedor@example.com,", "Resumen final", "Este es tu resumen del día.", "Fecha: 13/11/2021", "Estado: Resumen final",
				"Cantidad de órdenes recibidas: 2", "Cantidad de sopaipillas vendidas: 101"},
			htmlHas:  []string{"<strong>13/11/2021</strong>", "<strong>Resumen final</strong>", "Cantidad de órdenes recibidas</td>", "<strong>2</strong>", "<strong>101</strong>", `name="viewport"`},
			htmlLack: []string{"parcial"},
		},
		{
			name: "vendor, partial", event: func(t *testing.T) cloudevents.Event { return summaryEventMeta(t, vendorSummary, partial1432) },
			to: "vendedor@example.com", subject: "Reporte de sopaipillas — 13/11/2021 — Resumen parcial, hasta las 14:32",
			textHas: []string{"Resumen parcial, hasta las 14:32", "El día aún no termina: cuando cierre recibirás el resumen final.", "Estado: Resumen parcial, hasta las 14:32",
				"Cantidad de órdenes recibidas: 2", "Cantidad de sopaipillas vendidas: 101"},
			htmlHas: []string{"<strong>Resumen parcial, hasta las 14:32</strong>", "<strong>101</strong>"},
		},
		{
			name: "cook, partial", event: func(t *testing.T) cloudevents.Event { return cookEvent(t, cook, partial1432) },
			to: "cocinero@example.com", subject: "Reporte de cocina — 13/11/2021 — Resumen parcial, hasta las 14:32",
			textHas: []string{"Hola cocinero@example.com,", "Resumen parcial, hasta las 14:32", "Fecha: 13/11/2021",
				"Cantidad de órdenes cocinadas: 3", "Cantidad de sopaipillas cocinadas: 116", "Por vendedor:",
				"Vendedor                    Órdenes  Sopaipillas",
				"otra.vendedora@example.com        1           15",
				"vendedor@example.com              2          101"},
			htmlHas: []string{"Cantidad de sopaipillas cocinadas</td>", "<strong>116</strong>", `<th scope="col"`,
				">otra.vendedora@example.com</td><td style=\"padding:8px 0;border-bottom:1px solid #eee;text-align:right\">1</td><td style=\"padding:8px 0;border-bottom:1px solid #eee;text-align:right\">15</td>"},
		},
		{
			name: "cook, final", event: func(t *testing.T) cloudevents.Event { return cookEvent(t, cook, finalMeta) },
			to: "cocinero@example.com", subject: "Reporte de cocina — 13/11/2021 — Resumen final",
			textHas: []string{"Resumen final", "Este es tu resumen de cocina del día.", "Cantidad de órdenes cocinadas: 3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{})
			e := tc.event(t)
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
			if got.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", got.Subject, tc.subject)
			}
			if diff := cmp.Diff([]string{tc.to}, msgs[0].To); diff != "" {
				t.Errorf("recipients (-want, +got):\n%s", diff)
			}
			from, err := got.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "Sopaipillas" || from[0].Address != testFrom {
				t.Errorf("From = %v %v", from, err)
			}
			rep, err := decodeReport(e, santiago)
			if err != nil {
				t.Fatal(err)
			}
			if want := "<" + MessageID(rep.book(), rep.letters[0].id, "sopaipillas.example") + ">"; got.Header.Get("Message-Id") != want {
				t.Errorf("Message-ID = %q, want %q", got.Header.Get("Message-Id"), want)
			}
			if _, err := got.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			checkParts(t, got.Text, got.HTML, tc.textHas, tc.htmlHas)
			for _, lack := range tc.htmlLack {
				if strings.Contains(got.HTML, lack) {
					t.Errorf("HTML part has %q", lack)
				}
			}
		})
	}
}

// TestPartialHour: the hour of a partial report is said in the business
// time zone, daylight saving included.
func TestPartialHour(t *testing.T) {
	tests := []struct {
		name string
		upto time.Time
		loc  *time.Location
		want string
	}{
		{name: "Santiago in summer (UTC-3)", upto: time.Date(2021, 11, 13, 17, 32, 0, 0, time.UTC), loc: santiago, want: "Resumen parcial, hasta las 14:32"},
		{name: "Santiago in winter (UTC-4)", upto: time.Date(2021, 6, 13, 17, 32, 0, 0, time.UTC), loc: santiago, want: "Resumen parcial, hasta las 13:32"},
		{name: "UTC", upto: time.Date(2021, 11, 13, 17, 32, 59, 0, time.UTC), loc: time.UTC, want: "Resumen parcial, hasta las 17:32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := estadoOf(events.ReportMeta{Status: events.StatusPartial, CountedUntil: tc.upto}, tc.loc)
			if got != tc.want {
				t.Errorf("estadoOf = %q, want %q", got, tc.want)
			}
		})
	}
	if got := estadoOf(events.ReportMeta{Status: events.StatusFinal}, santiago); got != "Resumen final" {
		t.Errorf("final: %q", got)
	}
	f := New(nil, nil, nil, Options{}, discardLog())
	if f.opts.Location.String() != DefaultTimeZone {
		t.Errorf("default time zone %v, want %s", f.opts.Location, DefaultTimeZone)
	}
}

// TestEmailNames: with a vendor registry, each email greets its reader by
// the registry's name and a cook's table reads vendors by name (the
// address beside it in HTML); an address the registry names not stays as
// it is. Both parts say the same.
func TestEmailNames(t *testing.T) {
	reg := mustRegistry(t,
		registry.Vendor{Email: "vendedor@example.com", Name: "María Pérez", Cooks: []string{"cocinero@example.com"}},
		registry.Vendor{Email: "otra.vendedora@example.com", Cooks: []string{"cocinero@example.com"}})
	cook := events.CookReport{Cocinero: "cocinero@example.com", NSopaipillas: 116, NOrdenes: 3, Fecha: "13/11/2021", Vendedores: map[string]events.Sales{
		"vendedor@example.com": {NSopaipillas: 101, NOrdenes: 2}, "otra.vendedora@example.com": {NSopaipillas: 15, NOrdenes: 1},
	}}
	tests := []struct {
		name             string
		event            func(t *testing.T) cloudevents.Event
		textHas, htmlHas []string
	}{
		{
			name:    "vendor greeted by name",
			event:   func(t *testing.T) cloudevents.Event { return summaryEvent(t, testSummary("vendedor@example.com")) },
			textHas: []string{"Hola María Pérez,"},
			htmlHas: []string{">Hola María Pérez,</p>"},
		},
		{
			name:  "cook's table by name, padded by characters",
			event: func(t *testing.T) cloudevents.Event { return cookEvent(t, cook, finalMeta) },
			textHas: []string{"Hola cocinero@example.com,",
				"Vendedor                    Órdenes  Sopaipillas",
				"María Pérez                       2          101",
				"otra.vendedora@example.com        1           15"},
			htmlHas: []string{`>María Pérez<br><span style="color:#666;font-size:12px">vendedor@example.com</span></td>`,
				`word-break:break-all">otra.vendedora@example.com</td>`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			f := newTestFunction(t, srv, newTestLedger(t, "memory", time.Minute, time.Now), Options{Registry: func() *registry.Registry { return reg }})
			deliverUntilAccepted(t, f, tc.event(t))
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d emails, want 1", len(msgs))
			}
			got, err := msgs[0].Parse()
			if err != nil {
				t.Fatal(err)
			}
			checkParts(t, got.Text, got.HTML, tc.textHas, tc.htmlHas)
		})
	}
}

// checkParts checks that the text part has each of textHas as a whole line
// (trailing spaces aside) and the HTML part contains each of htmlHas.
func checkParts(t *testing.T, text, html string, textHas, htmlHas []string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		lines[strings.TrimRight(l, " ")] = true
	}
	for _, want := range textHas {
		if !lines[want] {
			t.Errorf("text part lacks the line %q:\n%s", want, text)
		}
	}
	for _, want := range htmlHas {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
}
