package events

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError says what is wrong with one field of a payload.
type FieldError struct {
	// Field is the JSON name of the field, or "" for the payload as a whole.
	Field string `json:"field"`
	// Detail says what is wrong, in words a client developer can act on.
	Detail string `json:"detail"`
}

// SyntaxError is returned for a payload that is not well-formed JSON of the
// expected shape (answered 400): not an object, invalid UTF-8, duplicate keys.
type SyntaxError struct{ FieldError }

func (e *SyntaxError) Error() string { return describe("malformed JSON", []FieldError{e.FieldError}) }

// ValidationError is returned for a well-formed payload whose fields are wrong
// (answered 422). It lists every wrong field, sorted by field name.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string { return describe("invalid fields", e.Fields) }

func describe(what string, fields []FieldError) string {
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		if f.Field == "" {
			parts = append(parts, f.Detail)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s", f.Field, f.Detail))
	}
	return what + ": " + strings.Join(parts, "; ")
}

// IsSyntax reports whether err is, or wraps, a *SyntaxError.
func IsSyntax(err error) bool {
	var s *SyntaxError
	return errors.As(err, &s)
}

// IsValidation reports whether err is, or wraps, a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// Fields returns the field errors carried by err, or nil.
func Fields(err error) []FieldError {
	var s *SyntaxError
	if errors.As(err, &s) {
		return []FieldError{s.FieldError}
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Fields
	}
	return nil
}
