// Package cerequest reads the CloudEvent of an HTTP request: the one
// reader of every function that receives events over HTTP (newOrder,
// dailySummary, sendMail).
//
// It is the CloudEvents HTTP protocol binding 1.0 (binary and structured
// content modes) as the SDK reads it, plus what the SDK leaves out: the
// required attributes (spec 1.0 §3.1), and one event per request. A
// request whose attributes could name two events is not a valid
// CloudEvent: an attribute header sent twice (the SDK reads the first, a
// proxy or another consumer may read the last), attribute headers beside
// a structured-mode body, or attribute headers without Ce-Specversion.
package cerequest

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Error is a request that is not one valid CloudEvent, answered 400.
// Field is the header at fault ("Ce-Type") or "cloudevent" for the event
// as a whole; Detail says what is wrong, in words a sender can act on.
type Error struct {
	Field  string
	Detail string
}

func (e *Error) Error() string { return e.Field + ": " + e.Detail }

// Read returns the request's event and its content mode
// (binding.EncodingBinary or binding.EncodingStructured). A request with
// no CloudEvent at all (no Ce- header, a Content-Type other than
// application/cloudevents) gives a nil event, binding.EncodingUnknown and
// no error, its body unread: whether a plain body is welcome is the
// caller's to say. Errors: *Error, or a *http.MaxBytesError (wrapped)
// when the body passes the caller's http.MaxBytesReader.
func Read(r *http.Request) (*event.Event, binding.Encoding, error) {
	attr, repeated := attributeHeaders(r.Header)
	if repeated != "" {
		return nil, binding.EncodingUnknown, &Error{Field: repeated, Detail: "appears more than once: a request carries one event, each of its headers once"}
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	encoding := msg.ReadEncoding()
	switch {
	case encoding == binding.EncodingUnknown && r.Header.Get("Ce-Specversion") != "":
		return nil, encoding, &Error{Field: "Ce-Specversion", Detail: "unsupported specversion " + r.Header.Get("Ce-Specversion") + ": send 1.0"}
	case encoding == binding.EncodingUnknown && attr != "":
		// Attributes without a version must not pass as a plain body.
		return nil, encoding, &Error{Field: attr, Detail: "a CloudEvent attribute without Ce-Specversion"}
	case encoding == binding.EncodingUnknown:
		return nil, encoding, nil
	case encoding == binding.EncodingStructured && attr != "":
		return nil, encoding, &Error{Field: attr, Detail: "beside a structured-mode event: send the attributes once, as Ce-* headers (binary mode) or in the body"}
	}
	e, err := binding.ToEvent(r.Context(), msg)
	if err == nil {
		err = e.Validate() // binding.ToEvent does not check the required attributes
	}
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return nil, encoding, err
		}
		return nil, encoding, &Error{Field: "cloudevent", Detail: "invalid CloudEvent: " + err.Error()}
	}
	return e, encoding, nil
}

// attributeHeaders returns the name of an attribute header (Ce-*), if
// any, and the name of a header the binding reads that came more than
// once (an attribute, or Content-Type, which is datacontenttype in binary
// mode and the event format in structured mode). Header names are
// canonical, so "ce-type" and "Ce-Type" are one name with two values.
func attributeHeaders(h http.Header) (attr, repeated string) {
	for name, values := range h {
		isAttr := len(name) > 3 && strings.EqualFold(name[:3], "ce-")
		if isAttr && (attr == "" || name < attr) {
			attr = name // the first in order, so the answer is the same every time
		}
		if (isAttr || name == "Content-Type") && len(values) > 1 && (repeated == "" || name < repeated) {
			repeated = name
		}
	}
	return attr, repeated
}
