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

// CookReport is one calendar day of the sopaipillas each cook made, by
// vendor, the data of a TypeCookReportCreated event (schemas/cookreport.json):
//
//	{"cocineros": {"cook@x": {"n_sopaipillas": 15, "n_ordenes": 2,
//	  "vendedores": {"vendor@x": {"n_sopaipillas": 15, "n_ordenes": 2}}}}, "fecha": "13/11/2021"}
//
// Cooks without orders are absent; a day without orders has "cocineros": {}.
type CookReport struct {
	Cocineros map[string]CookSales `json:"cocineros"`
	Fecha     string               `json:"fecha"`
}

// CookSales are one cook's numbers for the day, in all and by vendor.
type CookSales struct {
	NSopaipillas int64            `json:"n_sopaipillas"`
	NOrdenes     int64            `json:"n_ordenes"`
	Vendedores   map[string]Sales `json:"vendedores"`
}

// NewCookReport returns an empty cook report of day d.
func NewCookReport(d Date) CookReport {
	return CookReport{Cocineros: map[string]CookSales{}, Fecha: d.String()}
}

// Add adds sales of vendor's orders cooked by cook; negative sales take
// them back, and a cook or vendor left with no orders is removed.
func (r *CookReport) Add(cook, vendor string, sales Sales) {
	c := r.Cocineros[cook]
	if c.Vendedores == nil {
		c.Vendedores = map[string]Sales{}
	}
	c.NOrdenes += sales.NOrdenes
	c.NSopaipillas += sales.NSopaipillas
	v := c.Vendedores[vendor]
	v.NOrdenes += sales.NOrdenes
	v.NSopaipillas += sales.NSopaipillas
	if v.NOrdenes == 0 {
		delete(c.Vendedores, vendor)
	} else {
		c.Vendedores[vendor] = v
	}
	if c.NOrdenes == 0 {
		delete(r.Cocineros, cook)
		return
	}
	r.Cocineros[cook] = c
}

// Cooks returns the cooks with orders, sorted.
func (r CookReport) Cooks() []string {
	cs := make([]string, 0, len(r.Cocineros))
	for c := range r.Cocineros {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// Validate checks a cook report read from the wire against the rules of
// schemas/cookreport.json.
func (r CookReport) Validate() error {
	var bad []FieldError
	if _, err := ParseDate(r.Fecha); err != nil {
		bad = append(bad, FieldError{Field: "fecha", Detail: err.Error()})
	}
	if r.Cocineros == nil {
		bad = append(bad, FieldError{Field: "cocineros", Detail: "is required"})
	}
	positive := func(field string, s Sales) {
		if s.NOrdenes < 1 || s.NSopaipillas < 1 {
			bad = append(bad, FieldError{Field: field, Detail: "needs n_ordenes >= 1 and n_sopaipillas >= 1"})
		}
	}
	for _, c := range r.Cooks() {
		field := "cocineros[" + c + "]"
		cs := r.Cocineros[c]
		if msg := validateEmail(c); msg != "" {
			bad = append(bad, FieldError{Field: field, Detail: "cook " + msg})
		}
		positive(field, Sales{NSopaipillas: cs.NSopaipillas, NOrdenes: cs.NOrdenes})
		if cs.Vendedores == nil {
			bad = append(bad, FieldError{Field: field + ".vendedores", Detail: "is required"})
		}
		for v, s := range cs.Vendedores {
			vf := field + ".vendedores[" + v + "]"
			if msg := validateEmail(v); msg != "" {
				bad = append(bad, FieldError{Field: vf, Detail: "vendor " + msg})
			}
			positive(vf, s)
		}
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return &ValidationError{Fields: bad}
	}
	return nil
}

// NewCookReportEvent builds the cook report event dailySummary publishes
// beside the day's summary (same source, day and status).
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
// Unknown fields, at any depth, and duplicate keys are refused.
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
