package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeStrict decodes a report's data into v as its schema reads it: names
// match exactly (encoding/json would take "N_SOPAIPILLAS" for
// n_sopaipillas), members the type does not name are refused at any depth,
// and so are duplicate names and invalid UTF-8 (encoding/json/v2's
// defaults). Errors name the member, as a JSON Pointer.
func decodeStrict(data []byte, v any) error {
	err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true), integralCounts)
	if err == nil {
		return nil
	}
	var ptr jsontext.Pointer
	var se *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		ptr = se.JSONPointer
	case errors.As(err, &syn):
		ptr = syn.JSONPointer
	}
	return &ValidationError{Fields: []FieldError{{Field: fieldName(ptr), Detail: "does not match the schema: " + err.Error()}}}
}

// integralCounts makes every int64 of a report read as JSON Schema's
// "integer" with the contract's bound: any integral number up to 2^53-1,
// however spelled (2, 2.0, 0.2e1), and nothing with a fraction.
var integralCounts = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *int64) error {
	if dec.PeekKind() != '0' {
		return errors.ErrUnsupported // not a number: the default error names the type
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	n, ok, inRange := integral(tok.String(), -MaxSafeInteger, MaxSafeInteger)
	switch {
	case !ok:
		return errors.New("must be a whole number (2, 2.0 or 0.2e1; not 2.5)")
	case !inRange:
		return fmt.Errorf("must be at most %d", int64(MaxSafeInteger))
	}
	*v = n
	return nil
}))

// fieldName writes a JSON Pointer as the field names of Validate: members
// keyed by an address in brackets, others after a dot:
// /ventas/a@b.cl/n_ordenes is ventas[a@b.cl].n_ordenes.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		switch {
		case b.Len() == 0:
			b.WriteString(tok)
		case strings.Contains(tok, "@"):
			b.WriteString("[" + tok + "]")
		default:
			b.WriteString("." + tok)
		}
	}
	return b.String()
}

// decodeObject splits a JSON object into its members, refusing what
// encoding/json would silently accept: invalid UTF-8, duplicate keys at any
// depth (which would let two readers see two different orders) and trailing
// data. jsontext (encoding/json/v2's syntax layer) checks all three.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, &SyntaxError{FieldError{Detail: "body is not valid UTF-8"}}
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, &SyntaxError{FieldError{Detail: "body is not JSON: " + jsonErr(err)}}
	}
	if tok.Kind() != '{' {
		return nil, &SyntaxError{FieldError{Detail: "body must be a JSON object"}}
	}
	members := make(map[string]json.RawMessage, 4)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, memberError(err)
		}
		key := name.String()
		value, err := dec.ReadValue()
		if err != nil {
			return nil, memberError(err)
		}
		members[key] = json.RawMessage(bytes.Clone(value))
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace
		return nil, &SyntaxError{FieldError{Detail: "body is not JSON: " + jsonErr(err)}}
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, &SyntaxError{FieldError{Detail: "body has data after the JSON object"}}
	}
	return members, nil
}

// memberError names the top-level member an error is in.
func memberError(err error) error {
	field := ""
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		for t := range se.JSONPointer.Tokens() {
			field = t // the first token: the top-level member
			break
		}
	}
	detail := "value is not JSON: " + jsonErr(err)
	if errors.Is(err, jsontext.ErrDuplicateName) {
		detail = "appears more than once"
		if se != nil && len(se.JSONPointer) > 0 && se.JSONPointer.LastToken() != field {
			detail = "has a member " + strconv.Quote(se.JSONPointer.LastToken()) + " more than once"
		}
	}
	return &SyntaxError{FieldError{Field: field, Detail: detail}}
}

func jsonErr(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// decodeInt reads an integral JSON number within [min, max]: 15, 15.0 and
// 1.5e1 are 15 (JSON Schema's "integer"). Fractions, strings and
// out-of-range values are refused rather than rounded.
func decodeInt(raw json.RawMessage, minV, maxV int64) (int64, string) {
	if isNull(raw) {
		return 0, "is required"
	}
	s := string(raw)
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		if s[0] == '"' {
			return 0, "must be a JSON number, not a string"
		}
		return 0, "must be a JSON number"
	}
	n, ok, inRange := integral(s, minV, maxV)
	switch {
	case !ok:
		return 0, "must be a whole number: no fraction (15, 15.0 and 1.5e1 are whole; 15.5 is not)"
	case !inRange:
		return 0, fmt.Sprintf("must be between %d and %d", minV, maxV)
	}
	return n, ""
}

// decodeString reads a JSON string.
func decodeString(raw json.RawMessage) (string, string) {
	if isNull(raw) {
		return "", "is required"
	}
	if raw[0] != '"' {
		return "", "must be a JSON string"
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", "must be a JSON string"
	}
	return s, ""
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
