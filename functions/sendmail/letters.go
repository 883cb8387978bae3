package sendmail

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/events"
)

// TypeKafkaEvent is the type a Knative KafkaSource gives a Kafka record that
// is not a CloudEvent: the data is the record's value as it was written.
const TypeKafkaEvent = "dev.knative.kafka.event"

// Reader kinds: whom a report's emails are for.
const (
	kindVendor = "vendor" // a vendor report or a summary: one email per vendor
	kindCook   = "cook"   // a cook report: one email, to its cocinero
)

// report is one report event as sendMail mails it: one letter per reader.
type report struct {
	kind    string // kindVendor or kindCook
	day     events.Date
	meta    events.ReportMeta
	letters []letter // sorted by recipient
}

// book is the ledger key of the report's emails: every email of one kind of
// reader for one day, partial or final, shares it (see Ledger).
func (r report) book() string { return r.kind + "/" + r.day.ISO() }

// letter is one reader's email of a report, before rendering.
type letter struct {
	id   EmailID
	view any // vendorView or cookView: what the templates show
}

// vendorView is what a vendor's email shows. Nombre is the reader's name
// in the vendor registry ("" without one: the email greets the address).
// Detalle is set for an email from a vendor report, which lists the
// counted orders (Ordenes, then Mas: "y 4 órdenes más") and says of each
// uncounted version why (NoContadas); a summary's email has totals only.
type vendorView struct {
	To, Nombre, Fecha, Estado string
	Parcial                   bool
	NOrdenes, NSopaipillas    int64
	Detalle                   bool
	Ordenes                   []orderRow
	IDWidth                   int // of the order column in the text table
	Mas                       string
	NoContadas                []string
}

// orderRow is one counted order: Hora is "15:04" in the business time zone.
type orderRow struct {
	OrderID  int64
	Hora     string
	Cantidad int64
}

// cookView is what a cook's email shows: totals and one row per vendor.
type cookView struct {
	To, Nombre, Fecha, Estado string
	Parcial                   bool
	NOrdenes, NSopaipillas    int64
	Vendedores                []vendorRow
	Width                     int // of the vendor column in the text table
}

type vendorRow struct {
	Vendor, Nombre         string // address, and the registry's name or ""
	NOrdenes, NSopaipillas int64
}

// Label is how a person reads the vendor: the name, else the address.
func (v vendorRow) Label() string {
	if v.Nombre != "" {
		return v.Nombre
	}
	return v.Vendor
}

// named gives each letter the names name (the vendor registry's) holds for
// its reader and, in a cook's, for each vendor. Names are not part of an
// email's identity (EmailID): a renamed vendor is not mailed again.
func (r report) named(name func(email string) string) report {
	out := r
	out.letters = make([]letter, len(r.letters))
	for i, l := range r.letters {
		switch v := l.view.(type) {
		case vendorView:
			v.Nombre = name(v.To)
			l.view = v
		case cookView:
			v.Nombre = name(v.To)
			v.Vendedores = slices.Clone(v.Vendedores)
			for j := range v.Vendedores {
				v.Vendedores[j].Nombre = name(v.Vendedores[j].Vendor)
				v.Width = max(v.Width, utf8.RuneCountInString(v.Vendedores[j].Label()))
			}
			l.view = v
		}
		out.letters[i] = l
	}
	return out
}

// errNotForUs is an event sendMail never takes: its type, or a wrapped
// Kafka record that is not a report. Answered 400.
type errNotForUs struct{ events.FieldError }

func (e *errNotForUs) Error() string { return e.Field + ": " + e.Detail }

// decodeReport reads a summary, a cook report, or a Kafka record wrapped by
// the KafkaSource whose value is one of them, into the letters to send.
// loc is the time zone a partial report's hour is shown in.
func decodeReport(e cloudevents.Event, loc *time.Location) (report, error) {
	if e.Type() == TypeKafkaEvent {
		unwrapped, err := unwrap(e)
		if err != nil {
			return report{}, err
		}
		e = unwrapped
	}
	meta, err := events.ReportMetaOf(e)
	if err != nil {
		return report{}, err
	}
	switch e.Type() {
	case events.TypeSummaryCreated:
		s, err := events.SummaryFromEvent(e)
		if err != nil {
			return report{}, err
		}
		return vendorLetters(s, meta, loc), nil
	case events.TypeCookReportCreated:
		c, err := events.CookReportFromEvent(e)
		if err != nil {
			return report{}, err
		}
		return cookLetters(c, meta, loc), nil
	case events.TypeVendorReportCreated:
		v, err := events.VendorReportFromEvent(e)
		if err != nil {
			return report{}, err
		}
		return vendorReportLetters(v, meta, loc), nil
	}
	return report{}, &errNotForUs{events.FieldError{Field: "type", Detail: fmt.Sprintf("must be %q, %q, %q or %q (a wrapped Kafka record), got %q",
		events.TypeVendorReportCreated, events.TypeCookReportCreated, events.TypeSummaryCreated, TypeKafkaEvent, e.Type())}}
}

// unwrap turns a wrapped Kafka record into the report event its value is,
// recognised by shape: a summary has "ventas", a cook report "cocinero", a
// vendor report "vendedores" without "cocinero" (strict decoding then
// refuses anything else in it). Its identity is its
// data, as for any report (the ledger keys emails by content), and without
// a reportstatus attribute it is final.
func unwrap(e cloudevents.Event) (cloudevents.Event, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(e.Data(), &members); err != nil || members == nil {
		return e, &errNotForUs{events.FieldError{Field: "data", Detail: "a wrapped Kafka record must be a summary or a cook report; this one is not a JSON object"}}
	}
	out := e.Clone()
	_, ventas := members["ventas"]
	_, cocinero := members["cocinero"]
	_, vendedores := members["vendedores"]
	switch {
	case ventas && !cocinero && !vendedores:
		out.SetType(events.TypeSummaryCreated)
	case cocinero && !ventas:
		out.SetType(events.TypeCookReportCreated)
	case vendedores && !ventas && !cocinero:
		out.SetType(events.TypeVendorReportCreated)
	default:
		return e, &errNotForUs{events.FieldError{Field: "data", Detail: `a wrapped Kafka record must be a summary (with "ventas"), a cook report (with "cocinero") or a vendor report (with "vendedores")`}}
	}
	return out, nil
}

// vendorLetters is one letter per vendor of a summary, each keyed by
// exactly the numbers it shows: the same key as the vendor report's letter
// with the same totals and no uncounted orders (vendorKey).
func vendorLetters(s events.Summary, meta events.ReportMeta, loc *time.Location) report {
	day, _ := events.ParseDate(s.Fecha) // validated
	r := report{kind: kindVendor, day: day, meta: meta}
	estado := estadoOf(meta, loc)
	for _, v := range s.Vendors() {
		sales := s.Ventas[v]
		r.letters = append(r.letters, letter{
			id:   emailID(v, meta, vendorKey(sales, nil)),
			view: vendorView{To: v, Fecha: s.Fecha, Estado: estado, Parcial: !meta.Final(), NOrdenes: sales.NOrdenes, NSopaipillas: sales.NSopaipillas},
		})
	}
	return r
}

// vendorKey is what identifies a vendor's email (emailID): its totals,
// as a summary's email always was, and the uncounted versions when there
// are any. The listed orders are not part of it: the same totals of one
// day and status come from the same orders. So a summary and a vendor
// report of the same day, delivered both (a summary from before the
// report topic), mail a vendor without uncounted orders once.
func vendorKey(sales events.Sales, uncounted []events.UncountedOrder) any {
	if len(uncounted) == 0 {
		return sales
	}
	return struct {
		Sales      events.Sales            `json:"ventas"`
		NoContadas []events.UncountedOrder `json:"no_contadas"`
	}{sales, uncounted}
}

// vendorReportLetters is one letter per vendor of a vendor report (one
// event of the day's), listing its orders.
func vendorReportLetters(v events.VendorReport, meta events.ReportMeta, loc *time.Location) report {
	day, _ := events.ParseDate(v.Fecha) // validated
	r := report{kind: kindVendor, day: day, meta: meta}
	estado := estadoOf(meta, loc)
	for _, to := range v.Vendors() {
		vo := v.Vendedores[to]
		view := vendorView{To: to, Fecha: v.Fecha, Estado: estado, Parcial: !meta.Final(), NOrdenes: vo.NOrdenes, NSopaipillas: vo.NSopaipillas,
			Detalle: true, IDWidth: len("Orden"), Mas: masOrdenes(vo.OrdenesNoListadas)}
		for _, o := range vo.Ordenes {
			hora := o.Hora
			if t, err := time.Parse(time.RFC3339, o.Hora); err == nil { // validated
				hora = t.In(loc).Format("15:04")
			}
			view.Ordenes = append(view.Ordenes, orderRow{OrderID: o.OrderID, Hora: hora, Cantidad: o.NumeroSopaipillas})
			view.IDWidth = max(view.IDWidth, len(strconv.FormatInt(o.OrderID, 10)))
		}
		for _, u := range vo.NoContadas {
			view.NoContadas = append(view.NoContadas, noContada(to, u))
		}
		r.letters = append(r.letters, letter{id: emailID(to, meta, vendorKey(vo.Sales(), vo.NoContadas)), view: view})
	}
	return r
}

// masOrdenes says how many counted orders the email does not list.
func masOrdenes(n int64) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "y 1 orden más"
	}
	return fmt.Sprintf("y %d órdenes más", n)
}

// sopaipillas is "1 sopaipilla", "20 sopaipillas".
func sopaipillas(n int64) string {
	if n == 1 {
		return "1 sopaipilla"
	}
	return fmt.Sprintf("%d sopaipillas", n)
}

// noContada says to vendor, in plain words, why a version of an order
// they sent did not count and what counted instead: "La orden 7 se
// registró primero con 20 sopaipillas; tu envío de 10 no se contó." The
// other vendor, when the counted version is someone else's, is not named.
func noContada(vendor string, u events.UncountedOrder) string {
	sent := "tu envío de " + sopaipillas(u.NumeroSopaipillas) + " no se contó."
	var counted string
	if c := u.Contada; c != nil {
		switch {
		case c.EmailVendedor != vendor:
			counted = "con " + sopaipillas(c.NumeroSopaipillas) + " a nombre de otro vendedor"
		case c.NumeroSopaipillas == u.NumeroSopaipillas:
			counted = "con otros datos (otro cocinero)"
		default:
			counted = "con " + sopaipillas(c.NumeroSopaipillas)
		}
	}
	switch u.Motivo {
	case events.ReasonEarlierDay:
		sent = "tu envío de " + sopaipillas(u.NumeroSopaipillas) + ", de un día posterior, no se contó."
		if counted == "" {
			return fmt.Sprintf("La orden %d ya se había registrado este día con otros datos; %s", u.OrderID, sent)
		}
		return fmt.Sprintf("La orden %d ya se había registrado este día %s; %s", u.OrderID, counted, sent)
	case events.ReasonLowerPartition:
		if counted == "" {
			return fmt.Sprintf("La orden %d llegó dos veces con datos distintos y se contó la otra; %s", u.OrderID, sent)
		}
		return fmt.Sprintf("La orden %d llegó dos veces con datos distintos y se contó la que venía %s; %s", u.OrderID, counted, sent)
	}
	if counted == "" {
		return fmt.Sprintf("La orden %d se registró primero con otros datos; %s", u.OrderID, sent)
	}
	return fmt.Sprintf("La orden %d se registró primero %s; %s", u.OrderID, counted, sent)
}

// cookLetters is the cook's one letter, keyed by exactly the numbers it
// shows: the totals and every vendor's row.
func cookLetters(c events.CookReport, meta events.ReportMeta, loc *time.Location) report {
	day, _ := events.ParseDate(c.Fecha) // validated
	view := cookView{To: c.Cocinero, Fecha: c.Fecha, Estado: estadoOf(meta, loc), Parcial: !meta.Final(),
		NOrdenes: c.NOrdenes, NSopaipillas: c.NSopaipillas, Width: len("Vendedor")}
	for v, sales := range c.Vendedores {
		view.Vendedores = append(view.Vendedores, vendorRow{Vendor: v, NOrdenes: sales.NOrdenes, NSopaipillas: sales.NSopaipillas})
		view.Width = max(view.Width, utf8.RuneCountInString(v))
	}
	slices.SortFunc(view.Vendedores, func(a, b vendorRow) int { return strings.Compare(a.Vendor, b.Vendor) })
	numbers := events.CookReport{NSopaipillas: c.NSopaipillas, NOrdenes: c.NOrdenes, Vendedores: c.Vendedores}
	return report{kind: kindCook, day: day, meta: meta, letters: []letter{{id: emailID(c.Cocinero, meta, numbers), view: view}}}
}

// emailID identifies a reader's email by what it says: its status and a
// hash of the numbers it shows (JSON of the reader's own entry; maps are
// marshalled with sorted keys, so the bytes are canonical). The hour of a
// partial report is not part of it: a later partial with the same numbers
// says nothing new.
func emailID(to string, meta events.ReportMeta, numbers any) EmailID {
	b, _ := json.Marshal(numbers) // Sales and CookSales always marshal
	sum := sha256.Sum256(b)
	status := events.StatusFinal
	if !meta.Final() {
		status = events.StatusPartial
	}
	return EmailID{To: to, Key: status + "-" + hex.EncodeToString(sum[:16]), Final: meta.Final(), Upto: meta.CountedUntil}
}

// estadoOf is the line that says whether the numbers are the day's last
// word: "Resumen final", or "Resumen parcial, hasta las 14:32" (the hour
// the counts go up to, in the business time zone).
func estadoOf(meta events.ReportMeta, loc *time.Location) string {
	if meta.Final() {
		return "Resumen final"
	}
	return "Resumen parcial, hasta las " + meta.CountedUntil.In(loc).Format("15:04")
}
