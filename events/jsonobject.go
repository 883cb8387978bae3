package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
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
	var se *jsonv2.SemanticError
	var syn *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		return &ValidationError{Fields: []FieldError{{Field: fieldName(se.JSONPointer), Detail: semanticDetail(se)}}}
	case errors.As(err, &syn):
		return &ValidationError{Fields: []FieldError{{Field: fieldName(syn.JSONPointer), Detail: "is not JSON: " + jsonErr(syn, data)}}}
	}
	return &ValidationError{Fields: []FieldError{{Detail: "does not match the schema: " + jsonErr(err, data)}}}
}

// semanticDetail says what is wrong with a well-formed value in the
// schema's terms (JSON types, members), not Go's.
func semanticDetail(se *jsonv2.SemanticError) string {
	switch {
	case errors.Is(se.Err, jsonv2.ErrUnknownName):
		return "is not a member the schema defines: remove it (names are lower case, as in the schema)"
	case se.Err != nil && !strings.HasPrefix(se.Err.Error(), "json"):
		return se.Err.Error() // integralCounts' own words
	}
	want := "another JSON type"
	if se.GoType != nil {
		switch se.GoType.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "a whole number"
		case reflect.String:
			want = "a string"
		case reflect.Map, reflect.Struct:
			want = "an object"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Bool:
			want = "true or false"
		}
	}
	found := map[jsontext.Kind]string{'"': "a string", '0': "a number", '{': "an object", '[': "an array", 't': "true", 'f': "false", 'n': "null"}[se.JSONKind]
	if found == "" {
		return "must be " + want
	}
	return "must be " + want + ", not " + found
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
		return nil, &SyntaxError{FieldError{Detail: "body is not JSON: " + jsonErr(err, data)}}
	}
	if tok.Kind() != '{' {
		return nil, &SyntaxError{FieldError{Detail: "body must be a JSON object"}}
	}
	members := make(map[string]json.RawMessage, 4)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, memberError(err, data)
		}
		key := name.String()
		value, err := dec.ReadValue()
		if err != nil {
			return nil, memberError(err, data)
		}
		members[key] = json.RawMessage(bytes.Clone(value))
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace
		return nil, &SyntaxError{FieldError{Detail: "body is not JSON: " + jsonErr(err, data)}}
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, &SyntaxError{FieldError{Detail: "body has data after the JSON object"}}
	}
	return members, nil
}

// memberError names the top-level member an error is in.
func memberError(err error, data []byte) error {
	field := ""
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		for t := range se.JSONPointer.Tokens() {
			field = t // the first token: the top-level member
			break
		}
	}
	detail := "value is not JSON: " + jsonErr(err, data)
	if errors.Is(err, jsontext.ErrDuplicateName) {
		detail = "appears more than once"
		if se != nil && len(se.JSONPointer) > 0 && se.JSONPointer.LastToken() != field {
			detail = "has a member " + strconv.Quote(se.JSONPointer.LastToken()) + " more than once"
		}
	}
	return &SyntaxError{FieldError{Field: field, Detail: detail}}
}

// jsonErr says what is wrong with data, where err is the syntax error
// jsontext found in it, in a client's words: where (line and column, as
// an editor counts them) and what to write instead, without the parser's
// name or its internal terms. RFC 8259 is the grammar.
func jsonErr(err error, data []byte) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if len(bytes.TrimSpace(data)) == 0 {
			return "the body is empty; send a JSON object, {...}"
		}
		return "it ends too early: a string, object or array is not closed (a missing \", } or ])"
	}
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) || se.Err == nil {
		return "it is not well-formed JSON (RFC 8259)"
	}
	if first := bytes.TrimLeft(data, " \t\r\n"); len(first) > 0 && first[0] != '{' && first[0] != '[' && bytes.IndexByte(data, '=') > 0 {
		return "it looks like a form (name=value&...); send a JSON object, {\"name\": value, ...}, with Content-Type: application/json"
	}
	return "at " + position(data, se.ByteOffset) + ": " + syntaxHint(se.Err.Error(), data, se.ByteOffset)
}

// position writes a byte offset of data as "line L, column C" (both from
// 1, columns in characters).
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return "line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col)
}

// syntaxHint turns jsontext's description of a syntax error (msg) into
// what to write: each case is one of its messages.
func syntaxHint(msg string, data []byte, offset int64) string {
	found := ""
	if offset >= 0 && offset < int64(len(data)) {
		r, _ := utf8.DecodeRune(data[offset:])
		found = strconv.QuoteRune(r)
	}
	switch {
	case strings.Contains(msg, "'\\''"):
		return "names and strings take double quotes (\"), not single quotes"
	case strings.Contains(msg, "in literal"):
		return "a text value must be in double quotes (\"like this\"); the only bare words are true, false and null"
	case strings.Contains(msg, "',' at start of value"):
		return "a comma must be followed by another member or element: remove the comma before } or ]"
	case strings.Contains(msg, "at start of value"):
		return "expected a value (a number, a string in double quotes, true, false, null, {...} or [...]), found " + found
	case strings.Contains(msg, "after object name"):
		return "expected a colon (:) after the member's name, found " + found
	case strings.Contains(msg, "after object value"):
		return "expected a comma (,) before the next member, or } to end the object, found " + found + " (a comma missing, or a number written with a leading 0)"
	case strings.Contains(msg, "after array element"):
		return "expected a comma (,) before the next element, or ] to end the array, found " + found
	case strings.Contains(msg, "at start of string"):
		return "a member's name must be a string in double quotes, found " + found + " (a trailing comma before } is not allowed)"
	case strings.Contains(msg, "escape sequence"):
		return "a backslash in a string starts an escape: write \\\\ for a backslash, \\\" for a quote, \\n, \\t or \\uXXXX"
	case strings.Contains(msg, "in string"):
		return "a string may not hold a raw tab or line break: write \\t or \\n"
	case strings.Contains(msg, "in number"):
		return "a number is written as 15, -3, 1.5 or 1e3; found " + found
	}
	return "it is not well-formed JSON (RFC 8259), found " + found
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
