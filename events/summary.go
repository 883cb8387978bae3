package events

import (
	"fmt"
	"sort"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Summary is one calendar day of sales, by vendor. Its JSON is the contract:
//
//	{"ventas": {"vendor@example.com": {"n_sopaipillas": 101, "n_ordenes": 1}}, "fecha": "13/11/2021"}
//
// Vendors without sales are absent; a day without sales has "ventas": {}.
type Summary struct {
	Ventas map[string]Sales `json:"ventas"`
	Fecha  string           `json:"fecha"`
}

// Sales are one vendor's numbers for the day.
type Sales struct {
	NSopaipillas int64 `json:"n_sopaipillas"`
	NOrdenes     int64 `json:"n_ordenes"`
}

// NewSummary returns an empty summary of day d.
func NewSummary(d Date) Summary {
	return Summary{Ventas: map[string]Sales{}, Fecha: d.String()}
}

// Add adds sales to vendor's numbers.
func (s *Summary) Add(vendor string, sales Sales) {
	v := s.Ventas[vendor]
	v.NOrdenes += sales.NOrdenes
	v.NSopaipillas += sales.NSopaipillas
	s.Ventas[vendor] = v
}

// Vendors returns the vendors with sales, sorted.
func (s Summary) Vendors() []string {
	vs := make([]string, 0, len(s.Ventas))
	for v := range s.Ventas {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Validate checks a summary read from the wire.
func (s Summary) Validate() error {
	var bad []FieldError
	if _, err := ParseDate(s.Fecha); err != nil {
		bad = append(bad, FieldError{Field: "fecha", Detail: err.Error()})
	}
	if s.Ventas == nil {
		bad = append(bad, FieldError{Field: "ventas", Detail: "is required"})
	}
	for _, v := range s.Vendors() {
		field := "ventas[" + v + "]"
		if msg := validateEmail(v); msg != "" {
			bad = append(bad, FieldError{Field: field, Detail: "vendor " + msg})
		} else if CanonicalEmail(v) != v {
			// One mailbox, one vendor: two spellings would be two emails.
			bad = append(bad, FieldError{Field: field, Detail: "vendor must be lower case, as published (one mailbox, one vendor)"})
		}
		if n := s.Ventas[v]; n.NOrdenes < 1 || n.NSopaipillas < n.NOrdenes {
			bad = append(bad, FieldError{Field: field, Detail: "needs n_ordenes >= 1 and n_sopaipillas >= n_ordenes"})
		}
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	return nil
}

// SummaryEventID is the CloudEvent id of a final summary: the day and a
// hash of the content. Publishing the same summary twice gives the same id
// (sendMail treats it as a redelivery); a summary with changed numbers gets
// a new one. A partial summary's id also says "partial" (see reportID).
func SummaryEventID(s Summary) (string, error) {
	d, err := ParseDate(s.Fecha)
	if err != nil {
		return "", err
	}
	return reportID("summary", d, StatusFinal, s)
}

// NewSummaryEvent builds the event dailySummary publishes: the seed's JSON
// as data, meta as the time and the report extensions.
func NewSummaryEvent(s Summary, meta ReportMeta) (cloudevents.Event, error) {
	if err := s.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building summary event: %w", err)
	}
	d, err := ParseDate(s.Fecha)
	if err != nil {
		return cloudevents.Event{}, err
	}
	id, err := reportID("summary", d, meta.Status, s)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	if err := setReport(&e, id, TypeSummaryCreated, s.Fecha, meta, s); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building summary event: %w", err)
	}
	return e, nil
}

// SummaryFromEvent returns the validated summary a summary event carries.
func SummaryFromEvent(e cloudevents.Event) (Summary, error) {
	if e.Type() != TypeSummaryCreated {
		return Summary{}, &ValidationError{Fields: []FieldError{{Field: "type", Detail: fmt.Sprintf("must be %q, got %q", TypeSummaryCreated, e.Type())}}}
	}
	members, err := decodeObject(e.Data())
	if err != nil {
		return Summary{}, err
	}
	for k := range members {
		if k != "ventas" && k != "fecha" {
			return Summary{}, &ValidationError{Fields: []FieldError{{Field: k, Detail: "is not a summary field"}}}
		}
	}
	var s Summary
	if err := decodeStrict(e.Data(), &s); err != nil {
		return Summary{}, err
	}
	return s, s.Validate()
}
