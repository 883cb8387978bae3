// Package problem writes RFC 9457 problem details (application/problem+json),
// the one error format of every sopaipillas endpoint.
package problem

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// ContentType is the media type of a problem answer.
const ContentType = "application/problem+json"

// Details is the body of an error answer. Errors names each wrong field.
type Details struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []events.FieldError `json:"errors,omitempty"`
}

// Write answers with status and a problem body. fields may be nil.
func Write(w http.ResponseWriter, status int, detail string, fields []events.FieldError) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = Encode(w, Details{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: fields,
	})
}

// Encode writes v as JSON and a newline, as json.Encoder does but without
// its HTML escaping: a JSON body is read by programs and people, not
// embedded in a page, and "Bearer <key>" must read as written, not as
// "Bearer \u003ckey\u003e".
func Encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Marshal is json.Marshal without its HTML escaping (Encode), and without
// the newline Encode adds.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := Encode(&b, v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteUnavailable answers 503 with Retry-After: the request may be retried
// as it is.
func WriteUnavailable(w http.ResponseWriter, retryAfter time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retryAfter.Seconds()))))
	Write(w, http.StatusServiceUnavailable, detail, nil)
}

// WriteInput answers a payload error from package events: 400 for a
// *events.SyntaxError, 422 for a *events.ValidationError. It reports whether
// err was one of them.
func WriteInput(w http.ResponseWriter, err error) bool {
	switch {
	case events.IsSyntax(err):
		Write(w, http.StatusBadRequest, err.Error(), events.Fields(err))
	case events.IsValidation(err):
		Write(w, http.StatusUnprocessableEntity, err.Error(), events.Fields(err))
	default:
		return false
	}
	return true
}

// WriteBodyError answers an error from reading a request body: 413 when it
// was over the limit, 400 otherwise.
func WriteBodyError(w http.ResponseWriter, err error, limit int64) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		Write(w, http.StatusRequestEntityTooLarge, "body is larger than "+strconv.FormatInt(limit, 10)+" bytes", []events.FieldError{{Detail: "body too large"}})
		return
	}
	Write(w, http.StatusBadRequest, "could not read body: "+err.Error(), nil)
}

// Only passes requests of the allowed methods to h and answers any other
// with 405, Allow and a problem body (RFC 9110 §15.5.6), so that every path
// of a function answers in one format.
func Only(h http.Handler, allow ...string) http.Handler {
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allow, r.Method) {
			w.Header().Set("Allow", allowed)
			Write(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+allowed, []events.FieldError{{Field: "method", Detail: "must be " + allowed}})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NotFound answers 404 with a problem body: a function's paths are few
// and named in api/openapi.yaml.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Write(w, http.StatusNotFound, "no such path: "+r.URL.Path, nil)
}
