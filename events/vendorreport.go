package events

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Bounds of a vendor report (issue 25; api/asyncapi.yaml): a vendor's
// email lists at most MaxOrdersListed counted orders and
// MaxUncountedListed uncounted ones, so that a 10-million-order day still
// fits in events and in an email. MaxVendorReportEventBytes bounds one
// event's data: a day's vendors are split over as many events as needed.
const (
	MaxOrdersListed           = 500
	MaxUncountedListed        = 100
	MaxVendorReportEventBytes = 256 << 10
)

// Why a version of an order does not count (README, "Which day an order
// counts in"): its partition holds an earlier record of the order_id; or
// another partition's first record of it is stamped on an earlier day; or
// on the same day, in a lower-numbered partition. dailySummary's conflicts
// (reason) and the vendor report (motivo) name them so.
const (
	ReasonLaterInPartition = "later_in_partition"
	ReasonEarlierDay       = "earlier_day"
	ReasonLowerPartition   = "lower_partition"
)

// horaPattern is the pattern of hora in schemas/vendorreport.json: RFC
// 3339 with an upper-case T and offset, at most nanoseconds.
var horaPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// VendorReport is vendors' orders of one calendar day: the data of a
// TypeVendorReportCreated event (schemas/vendorreport.json). One day's
// report may be split over several events (Split); each vendor is whole in
// one of them.
//
//	{"fecha": "13/11/2021", "vendedores": {"ana@x": {"n_sopaipillas": 101, "n_ordenes": 2,
//	  "ordenes": [{"order_id": 3, "hora": "2021-11-13T10:15:04-03:00", "numero_sopaipillas": 15}, ...],
//	  "ordenes_no_listadas": 0,
//	  "no_contadas": [{"order_id": 7, "numero_sopaipillas": 10, "motivo": "lower_partition",
//	                   "contada": {"email_vendedor": "ana@x", "numero_sopaipillas": 20}}]}}}
type VendorReport struct {
	Fecha      string                  `json:"fecha"`
	Vendedores map[string]VendorOrders `json:"vendedores"`
}

// VendorOrders is one vendor's day. NSopaipillas and NOrdenes are the
// summary's numbers for the vendor (0 for a vendor with only uncounted
// orders); Ordenes the counted orders in time order, at most
// MaxOrdersListed, and OrdenesNoListadas = NOrdenes - len(Ordenes);
// NoContadas the versions sent for this vendor that did not count, at most
// MaxUncountedListed, by partition and offset.
type VendorOrders struct {
	NSopaipillas      int64            `json:"n_sopaipillas"`
	NOrdenes          int64            `json:"n_ordenes"`
	Ordenes           []ListedOrder    `json:"ordenes"`
	OrdenesNoListadas int64            `json:"ordenes_no_listadas"`
	NoContadas        []UncountedOrder `json:"no_contadas"`
}

// Sales are the vendor's totals, as the summary gives them.
func (v VendorOrders) Sales() Sales { return Sales{NSopaipillas: v.NSopaipillas, NOrdenes: v.NOrdenes} }

// ListedOrder is one counted order: Hora is its record's timestamp, RFC
// 3339 in the business time zone.
type ListedOrder struct {
	OrderID           int64  `json:"order_id"`
	Hora              string `json:"hora"`
	NumeroSopaipillas int64  `json:"numero_sopaipillas"`
}

// UncountedOrder is a version of an order sent for the vendor that did
// not count: what it sent, why (Motivo: a Reason* constant) and, when the
// day read knows it, the version that counted instead.
type UncountedOrder struct {
	OrderID           int64         `json:"order_id"`
	NumeroSopaipillas int64         `json:"numero_sopaipillas"`
	Motivo            string        `json:"motivo"`
	Contada           *CountedOrder `json:"contada,omitempty"`
}

// CountedOrder is what the counted version of an order sent.
type CountedOrder struct {
	EmailVendedor     string `json:"email_vendedor"`
	NumeroSopaipillas int64  `json:"numero_sopaipillas"`
}

// Vendors returns the report's vendors, sorted.
func (r VendorReport) Vendors() []string {
	vs := make([]string, 0, len(r.Vendedores))
	for v := range r.Vendedores {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Validate checks a vendor report read from the wire against the rules of
// schemas/vendorreport.json, and those a schema cannot say: fecha is a day
// of the calendar, n_ordenes <= n_sopaipillas, ordenes_no_listadas =
// n_ordenes - len(ordenes), the listed quantities add up to at most
// n_sopaipillas, ordenes are in time order, and a vendor without counted
// orders has uncounted ones.
func (r VendorReport) Validate() error {
	var bad []FieldError
	if _, err := ParseDate(r.Fecha); err != nil {
		bad = append(bad, FieldError{Field: "fecha", Detail: err.Error()})
	}
	if len(r.Vendedores) == 0 {
		bad = append(bad, FieldError{Field: "vendedores", Detail: "needs at least one vendor"})
	}
	for _, v := range r.Vendors() {
		bad = append(bad, r.Vendedores[v].check("vendedores["+v+"]", v)...)
	}
	if len(bad) > 0 {
		sort.SliceStable(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return &ValidationError{Fields: bad}
	}
	return nil
}

func (o VendorOrders) check(field, vendor string) []FieldError {
	var bad []FieldError
	add := func(f, detail string) { bad = append(bad, FieldError{Field: field + f, Detail: detail}) }
	if msg := validateEmail(vendor); msg != "" {
		add("", "vendor "+msg)
	} else if CanonicalEmail(vendor) != vendor {
		add("", "vendor must be lower case, as published (one mailbox, one vendor)")
	}
	switch {
	case o.NOrdenes < 0 || o.NSopaipillas < o.NOrdenes || o.NOrdenes == 0 && o.NSopaipillas != 0:
		add(".n_ordenes", "needs 0 <= n_ordenes <= n_sopaipillas, both 0 or both >= 1")
	case o.NOrdenes == 0 && len(o.NoContadas) == 0:
		add(".no_contadas", "a vendor without counted orders is listed only for its uncounted ones")
	}
	if o.Ordenes == nil {
		add(".ordenes", "is required")
	}
	if len(o.Ordenes) > MaxOrdersListed {
		add(".ordenes", fmt.Sprintf("lists at most %d orders", MaxOrdersListed))
	}
	if o.OrdenesNoListadas != o.NOrdenes-int64(len(o.Ordenes)) {
		add(".ordenes_no_listadas", "must be n_ordenes minus the orders listed")
	}
	var sum int64
	var prev time.Time
	for i, l := range o.Ordenes {
		// The line's field is named only when it is wrong: a busy day
		// lists half a million lines.
		at := func(f, detail string) { add(fmt.Sprintf(".ordenes[%d]", i)+f, detail) }
		checkOrderLine(at, "", l.OrderID, l.NumeroSopaipillas)
		sum += l.NumeroSopaipillas
		t, err := time.Parse(time.RFC3339, l.Hora)
		switch {
		case err != nil || !horaPattern.MatchString(l.Hora):
			at(".hora", "must be an RFC 3339 timestamp (2021-11-13T10:15:04-03:00)")
		case t.Before(prev):
			at(".hora", "orders are listed in time order")
		default:
			prev = t
		}
	}
	if sum > o.NSopaipillas {
		add(".ordenes", "the listed orders add up to more than n_sopaipillas")
	}
	if o.NoContadas == nil {
		add(".no_contadas", "is required")
	}
	if len(o.NoContadas) > MaxUncountedListed {
		add(".no_contadas", fmt.Sprintf("lists at most %d versions", MaxUncountedListed))
	}
	for i, u := range o.NoContadas {
		f := fmt.Sprintf(".no_contadas[%d]", i)
		checkOrderLine(add, f, u.OrderID, u.NumeroSopaipillas)
		if u.Motivo != ReasonLaterInPartition && u.Motivo != ReasonEarlierDay && u.Motivo != ReasonLowerPartition {
			add(f+".motivo", fmt.Sprintf("must be %q, %q or %q", ReasonLaterInPartition, ReasonEarlierDay, ReasonLowerPartition))
		}
		if c := u.Contada; c != nil {
			if msg := validateEmail(c.EmailVendedor); msg != "" {
				add(f+".contada.email_vendedor", msg)
			} else if CanonicalEmail(c.EmailVendedor) != c.EmailVendedor {
				add(f+".contada.email_vendedor", "must be lower case, as published")
			}
			if c.NumeroSopaipillas < 1 || c.NumeroSopaipillas > MaxSopaipillas {
				add(f+".contada.numero_sopaipillas", fmt.Sprintf("must be from 1 to %d", MaxSopaipillas))
			}
		}
	}
	return bad
}

// Split returns the report as reports whose data each marshal to at most
// maxBytes, vendors sorted by address and packed in that order: the same
// day gives the same reports, so the same event ids. A vendor is never
// split; one too large for maxBytes alone is an error (with the listing
// bounds a vendor takes some 60 KiB at most). A report without vendors
// gives none.
func (r VendorReport) Split(maxBytes int) ([]VendorReport, error) {
	var out []VendorReport
	err := SplitVendors(r.Fecha, r.Vendors(), func(v string) VendorOrders { return r.Vendedores[v] }, maxBytes, func(p VendorReport) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// SplitVendors is Split for a report too large to hold whole: vendors,
// sorted, are read one at a time (entry) and each part is handed to yield
// as soon as it is full, so only one part is held at once. It packs
// exactly as Split does. An error from yield stops it and is returned.
func SplitVendors(fecha string, vendors []string, entry func(string) VendorOrders, maxBytes int, yield func(VendorReport) error) error {
	cur := VendorReport{Fecha: fecha, Vendedores: map[string]VendorOrders{}}
	// {"fecha":"dd/mm/aaaa","vendedores":{}}: 37 bytes; each vendor adds
	// "addr":{...} and a comma.
	const envelope = len(`{"fecha":"","vendedores":{}}`)
	size := envelope + len(fecha)
	for _, v := range vendors {
		vo := entry(v)
		b, err := json.Marshal(map[string]VendorOrders{v: vo})
		if err != nil {
			return fmt.Errorf("encoding vendor report: %w", err)
		}
		n := len(b) - 2 // without the braces
		if len(cur.Vendedores) > 0 {
			n++ // the comma
		}
		if size+n > maxBytes && len(cur.Vendedores) > 0 {
			if err := yield(cur); err != nil {
				return err
			}
			cur = VendorReport{Fecha: fecha, Vendedores: map[string]VendorOrders{}}
			size, n = envelope+len(fecha), n-1
		}
		if size+n > maxBytes {
			return fmt.Errorf("vendor report: %s alone takes %d bytes, more than %d", v, envelope+len(fecha)+n, maxBytes)
		}
		cur.Vendedores[v] = vo
		size += n
	}
	if len(cur.Vendedores) > 0 {
		return yield(cur)
	}
	return nil
}

// NewVendorReportEvents builds the events of a day's vendor report, which
// dailySummary publishes beside the day's summary (same source, day and
// report status): the report split (Split) so that each event's data is at
// most MaxVendorReportEventBytes. Each id comes from the day, the status
// and the event's content: vendorreport-<yyyy-mm-dd>[-partial]-<hash>.
func NewVendorReportEvents(r VendorReport, meta ReportMeta) ([]cloudevents.Event, error) {
	parts, err := r.Split(MaxVendorReportEventBytes)
	if err != nil {
		return nil, err
	}
	out := make([]cloudevents.Event, 0, len(parts))
	for _, p := range parts {
		e, err := NewVendorReportEvent(p, meta)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// NewVendorReportEvent builds the event of one part of a day's vendor
// report (SplitVendors), validated; its id comes from the day, the status
// and the part's content.
func NewVendorReportEvent(p VendorReport, meta ReportMeta) (cloudevents.Event, error) {
	if err := p.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building vendor report event: %w", err)
	}
	d, err := ParseDate(p.Fecha)
	if err != nil {
		return cloudevents.Event{}, err
	}
	id, err := reportID("vendorreport", d, meta.Status, p)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	if err := setReport(&e, id, TypeVendorReportCreated, p.Fecha, meta, p); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building vendor report event: %w", err)
	}
	return e, nil
}

// VendorReportFromEvent returns the validated vendor report an event
// carries. Names match exactly; unknown members, at any depth, and
// duplicate names are refused.
func VendorReportFromEvent(e cloudevents.Event) (VendorReport, error) {
	if e.Type() != TypeVendorReportCreated {
		return VendorReport{}, &ValidationError{Fields: []FieldError{{Field: "type", Detail: fmt.Sprintf("must be %q, got %q", TypeVendorReportCreated, e.Type())}}}
	}
	var r VendorReport
	if err := decodeStrict(e.Data(), &r); err != nil {
		return VendorReport{}, err
	}
	return r, r.Validate()
}

// checkOrderLine checks an order's order_id and numero_sopaipillas as a
// report repeats them: the ranges of an order (Order).
func checkOrderLine(add func(field, detail string), f string, id, n int64) {
	if id < 1 || id > MaxOrderID {
		add(f+".order_id", fmt.Sprintf("must be from 1 to %d", int64(MaxOrderID)))
	}
	if n < 1 || n > MaxSopaipillas {
		add(f+".numero_sopaipillas", fmt.Sprintf("must be from 1 to %d", MaxSopaipillas))
	}
}
