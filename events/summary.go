package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// SummaryEventID is the CloudEvent id of a summary: the day and a hash of the
// content. Publishing the same summary twice gives the same id (sendMail
// treats it as a redelivery); a summary with changed numbers gets a new one.
func SummaryEventID(s Summary) (string, error) {
	d, err := ParseDate(s.Fecha)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(s) // map keys are sorted: the bytes are canonical
	if err != nil {
		return "", fmt.Errorf("encoding summary: %w", err)
	}
	sum := sha256.Sum256(b)
	return "summary-" + d.ISO() + "-" + hex.EncodeToString(sum[:8]), nil
}

// NewSummaryEvent builds the event dailySummary publishes.
func NewSummaryEvent(s Summary) (cloudevents.Event, error) {
	if err := s.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("building summary event: %w", err)
	}
	id, err := SummaryEventID(s)
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(TypeSummaryCreated)
	e.SetSource(SourceDailySummary)
	e.SetSubject(s.Fecha)
	e.SetExtension(PartitionKeyExtension, s.Fecha)
	if err := e.SetData(cloudevents.ApplicationJSON, s); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encoding summary: %w", err)
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
	dec := json.NewDecoder(bytes.NewReader(e.Data()))
	dec.DisallowUnknownFields() // the schema refuses fields it does not name, inside ventas too
	if err := dec.Decode(&s); err != nil {
		return Summary{}, &ValidationError{Fields: []FieldError{{Detail: "data does not match the summary shape: " + err.Error()}}}
	}
	return s, s.Validate()
}
