package events

import "bytes"

// FieldFecha is the one field of a summary request.
const FieldFecha = "fecha"

// DecodeSummaryRequest parses the body of a summary request: empty (or
// only JSON whitespace), {} or {"fecha": "dd/mm/YYYY"}
// (schemas/summary-request.json). It returns the requested day and whether one was
// given. Unknown fields are refused: a mistyped "fecha" must not silently
// summarize another day.
func DecodeSummaryRequest(body []byte) (Date, bool, error) {
	if len(bytes.Trim(body, " \t\r\n")) == 0 { // JSON's whitespace only: a body of U+00A0 is not empty
		return Date{}, false, nil
	}
	members, err := decodeObject(body)
	if err != nil {
		return Date{}, false, err
	}
	for k := range members {
		if k != FieldFecha {
			return Date{}, false, &ValidationError{Fields: []FieldError{{Field: k, Detail: `is not a field of a summary request (only "fecha")`}}}
		}
	}
	raw, ok := members[FieldFecha]
	if !ok {
		return Date{}, false, nil
	}
	s, msg := decodeString(raw)
	if msg != "" {
		return Date{}, false, &ValidationError{Fields: []FieldError{{Field: FieldFecha, Detail: msg}}}
	}
	d, err := ParseDate(s)
	if err != nil {
		return Date{}, false, &ValidationError{Fields: []FieldError{{Field: FieldFecha, Detail: err.Error()}}}
	}
	return d, true, nil
}
