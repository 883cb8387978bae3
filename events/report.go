package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/types"
)

// CloudEvent extension attributes of the reports dailySummary publishes
// (summary and cook report). The data stays exactly the seed's JSON; what
// a report is (partial or final) travels beside it.
const (
	// ExtensionReportStatus is StatusPartial for a day that had not ended
	// when it was counted, StatusFinal for a day that had. An event without
	// it (published before it existed) is final.
	ExtensionReportStatus = "reportstatus"
	// ExtensionCountedUntil is the instant the counts go up to (a Timestamp
	// attribute, RFC 3339): the end of the day for a final report, the
	// moment it was counted for a partial one.
	ExtensionCountedUntil = "countedupto"
)

// Report statuses (ExtensionReportStatus).
const (
	StatusPartial = "partial"
	StatusFinal   = "final"
)

// ReportMeta is what a report event says about its counts besides its data.
type ReportMeta struct {
	// Status is StatusPartial or StatusFinal.
	Status string
	// CountedUntil is the instant the counts go up to.
	CountedUntil time.Time
	// Computed is when the report was computed: the event's time.
	Computed time.Time
}

// NewReportMeta describes a report of day [start, end) counted at now: final
// once the day has ended, partial (counted up to now) before.
func NewReportMeta(start, end, now time.Time) ReportMeta {
	if now.Before(end) {
		return ReportMeta{Status: StatusPartial, CountedUntil: now.UTC(), Computed: now.UTC()}
	}
	return ReportMeta{Status: StatusFinal, CountedUntil: end.UTC(), Computed: now.UTC()}
}

// Final reports whether the counts are the day's last word.
func (m ReportMeta) Final() bool { return m.Status != StatusPartial }

// ReportMetaOf reads the report attributes of a summary or cook report
// event. An event without ExtensionReportStatus is final: events published
// before partial reports existed carried no status, and their readers took
// every one as the day's report.
func ReportMetaOf(e cloudevents.Event) (ReportMeta, error) {
	m := ReportMeta{Status: StatusFinal, Computed: e.Time()}
	ext := e.Extensions()
	if v, ok := ext[ExtensionReportStatus]; ok {
		s, err := types.ToString(v)
		if err != nil || s != StatusPartial && s != StatusFinal {
			return m, &ValidationError{Fields: []FieldError{{Field: ExtensionReportStatus, Detail: fmt.Sprintf("must be %q or %q", StatusPartial, StatusFinal)}}}
		}
		m.Status = s
	}
	if v, ok := ext[ExtensionCountedUntil]; ok {
		t, err := types.ToTime(v)
		if err != nil {
			return m, &ValidationError{Fields: []FieldError{{Field: ExtensionCountedUntil, Detail: "must be an RFC 3339 timestamp"}}}
		}
		m.CountedUntil = t
	} else if !m.Final() {
		return m, &ValidationError{Fields: []FieldError{{Field: ExtensionCountedUntil, Detail: "is required on a partial report"}}}
	}
	return m, nil
}

// setReport sets the attributes every report event shares.
func setReport(e *cloudevents.Event, id, typ, fecha string, meta ReportMeta, data any) error {
	if meta.Status != StatusPartial && meta.Status != StatusFinal {
		return fmt.Errorf("report status %q", meta.Status)
	}
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(SourceDailySummary)
	e.SetSubject(fecha)
	e.SetTime(meta.Computed)
	e.SetExtension(PartitionKeyExtension, fecha) // a day's reports share a partition: in order
	e.SetExtension(ExtensionReportStatus, meta.Status)
	e.SetExtension(ExtensionCountedUntil, meta.CountedUntil)
	return e.SetData(cloudevents.ApplicationJSON, data)
}

// reportID is an event id from the kind, the day, the status and a hash of
// the data: the same report published twice has the same id, a changed one
// (numbers, or partial → final) a new one. A final report's id is as it
// was before partial reports existed: <kind>-<yyyy-mm-dd>-<hash>.
func reportID(kind string, d Date, status string, data any) (string, error) {
	b, err := json.Marshal(data) // map keys are sorted: the bytes are canonical
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", kind, err)
	}
	sum := sha256.Sum256(b)
	id := kind + "-" + d.ISO() + "-"
	if status == StatusPartial {
		id += StatusPartial + "-"
	}
	return id + hex.EncodeToString(sum[:8]), nil
}

// CookDay is one calendar day of the sopaipillas each cook made, by vendor:
// what dailySummary counts beside the summary. It is published as one
// CookReport event per cook (Reports), so that no event grows with the
// number of cooks and each cook's report stands alone.
type CookDay struct {
	Cocineros map[string]CookSales `json:"cocineros"`
	Fecha     string               `json:"fecha"`
}

// CookSales are one cook's numbers for the day, in all and by vendor.
type CookSales struct {
	NSopaipillas int64            `json:"n_sopaipillas"`
	NOrdenes     int64            `json:"n_ordenes"`
	Vendedores   map[string]Sales `json:"vendedores"`
}

// NewCookDay returns an empty cook day of d.
func NewCookDay(d Date) CookDay {
	return CookDay{Cocineros: map[string]CookSales{}, Fecha: d.String()}
}

// Add adds sales of vendor's orders cooked by cook; negative sales take
// them back, and a cook or vendor left with no orders is removed.
func (c *CookDay) Add(cook, vendor string, sales Sales) {
	cs := c.Cocineros[cook]
	if cs.Vendedores == nil {
		cs.Vendedores = map[string]Sales{}
	}
	cs.NOrdenes += sales.NOrdenes
	cs.NSopaipillas += sales.NSopaipillas
	v := cs.Vendedores[vendor]
	v.NOrdenes += sales.NOrdenes
	v.NSopaipillas += sales.NSopaipillas
	if v.NOrdenes == 0 {
		delete(cs.Vendedores, vendor)
	} else {
		cs.Vendedores[vendor] = v
	}
	if cs.NOrdenes == 0 {
		delete(c.Cocineros, cook)
		return
	}
	c.Cocineros[cook] = cs
}

// Reports returns each cook's report, sorted by cook.
func (c CookDay) Reports() []CookReport {
	out := make([]CookReport, 0, len(c.Cocineros))
	for cook, cs := range c.Cocineros {
		out = append(out, CookReport{Cocinero: cook, NSopaipillas: cs.NSopaipillas, NOrdenes: cs.NOrdenes, Vendedores: cs.Vendedores, Fecha: c.Fecha})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cocinero < out[j].Cocinero })
	return out
}

// CookReport is one cook's day: the sopaipillas and orders they made, in
// all and by vendor. It is the data of a TypeCookReportCreated event
// (schemas/cookreport.json):
//
//	{"cocinero": "cook@x", "n_sopaipillas": 15, "n_ordenes": 2,
//	 "vendedores": {"vendor@x": {"n_sopaipillas": 15, "n_ordenes": 2}}, "fecha": "13/11/2021"}
type CookReport struct {
	Cocinero     string           `json:"cocinero"`
	NSopaipillas int64            `json:"n_sopaipillas"`
	NOrdenes     int64            `json:"n_ordenes"`
	Vendedores   map[string]Sales `json:"vendedores"`
	Fecha        string           `json:"fecha"`
}

// Validate checks a cook report read from the wire against the rules of
// schemas/cookreport.json.
func (r CookReport) Validate() error {
	var bad []FieldError
	if _, err := ParseDate(r.Fecha); err != nil {
		bad = append(bad, FieldError{Field: "fecha", Detail: err.Error()})
	}
	if msg := validateEmail(r.Cocinero); msg != "" {
		bad = append(bad, FieldError{Field: "cocinero", Detail: msg})
	} else if CanonicalEmail(r.Cocinero) != r.Cocinero {
		bad = append(bad, FieldError{Field: "cocinero", Detail: "must be lower case, as published (one mailbox, one cook)"})
	}
	if r.NOrdenes < 1 || r.NSopaipillas < 1 {
		bad = append(bad, FieldError{Field: "n_ordenes", Detail: "needs n_ordenes >= 1 and n_sopaipillas >= 1"})
	}
	if len(r.Vendedores) == 0 {
		bad = append(bad, FieldError{Field: "vendedores", Detail: "needs at least one vendor"})
	}
	for v, s := range r.Vendedores {
		field := "vendedores[" + v + "]"
		if msg := validateEmail(v); msg != "" {
			bad = append(bad, FieldError{Field: field, Detail: "vendor " + msg})
		} else if CanonicalEmail(v) != v {
			bad = append(bad, FieldError{Field: field, Detail: "vendor must be lower case, as published"})
		}
		if s.NOrdenes < 1 || s.NSopaipillas < 1 {
			bad = append(bad, FieldError{Field: field, Detail: "needs n_ordenes >= 1 and n_sopaipillas >= 1"})
		}
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return &ValidationError{Fields: bad}
	}
	return nil
}

// NewCookReportEvent builds the event of one cook's report, which
// dailySummary publishes beside the day's summary (same source, day and
// report status). Its id comes from the day, the status and the content
// (the cook included): cookreport-<yyyy-mm-dd>[-partial]-<hash>.
func NewCookReportEvent(r CookReport, meta ReportMeta) (cloudevents.Event, error) {
	if err := r.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building cook report event: %w", err)
	}
	d, err := ParseDate(r.Fecha)
	if err != nil {
		return cloudevents.Event{}, err
	}
	id, err := reportID("cookreport", d, meta.Status, r)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	if err := setReport(&e, id, TypeCookReportCreated, r.Fecha, meta, r); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building cook report event: %w", err)
	}
	return e, nil
}

// CookReportFromEvent returns the validated cook report an event carries.
// Names match exactly; unknown members, at any depth, and duplicate names
// are refused.
func CookReportFromEvent(e cloudevents.Event) (CookReport, error) {
	if e.Type() != TypeCookReportCreated {
		return CookReport{}, &ValidationError{Fields: []FieldError{{Field: "type", Detail: fmt.Sprintf("must be %q, got %q", TypeCookReportCreated, e.Type())}}}
	}
	var r CookReport
	if err := decodeStrict(e.Data(), &r); err != nil {
		return CookReport{}, err
	}
	return r, r.Validate()
}
