package cerequest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"
)

func binary() http.Header {
	return http.Header{
		"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"},
		"Content-Type": {"application/json"},
	}
}

func with(h http.Header, name string, values ...string) http.Header {
	h[name] = values
	return h
}

func TestRead(t *testing.T) {
	const structured = `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}}`
	tests := []struct {
		name     string
		header   http.Header
		body     string
		encoding binding.Encoding
		typ      string // the event's type; "" for none
		field    string // *Error's Field; "" for no error
	}{
		{name: "binary", header: binary(), body: `{"a":1}`, encoding: binding.EncodingBinary, typ: "t"},
		{name: "structured", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: structured, encoding: binding.EncodingStructured, typ: "t"},
		{name: "plain JSON", header: http.Header{"Content-Type": {"application/json"}}, body: `{"a":1}`, encoding: binding.EncodingUnknown},
		{name: "no headers", header: http.Header{}, encoding: binding.EncodingUnknown},
		{name: "Ce-Type twice", header: with(binary(), "Ce-Type", "other.type", "t"), field: "Ce-Type"},
		{name: "Ce-Specversion twice", header: with(binary(), "Ce-Specversion", "1.0", "0.3"), field: "Ce-Specversion"},
		{name: "Ce-Id twice, same value", header: with(binary(), "Ce-Id", "1", "1"), field: "Ce-Id"},
		{name: "an extension twice", header: with(binary(), "Ce-Traceparent", "a", "b"), field: "Ce-Traceparent"},
		{name: "Content-Type twice", header: with(binary(), "Content-Type", "application/json", "text/plain"), field: "Content-Type"},
		{name: "two attributes twice: the first by name", header: with(with(binary(), "Ce-Type", "a", "b"), "Ce-Id", "1", "2"), field: "Ce-Id"},
		{name: "unknown specversion", header: with(binary(), "Ce-Specversion", "9.9"), field: "Ce-Specversion"},
		{name: "attributes without specversion", header: http.Header{"Ce-Type": {"t"}, "Content-Type": {"application/json"}}, field: "Ce-Type"},
		{name: "attributes beside a structured event", header: http.Header{"Content-Type": {"application/cloudevents+json"}, "Ce-Type": {"x"}}, body: structured, field: "Ce-Type"},
		{name: "binary without a required attribute", header: func() http.Header { h := binary(); delete(h, "Ce-Source"); return h }(), field: "cloudevent"},
		{name: "structured, not JSON", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: `{`, field: "cloudevent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header = tt.header
			e, encoding, err := Read(r)
			var bad *Error
			switch {
			case tt.field != "":
				if !errors.As(err, &bad) || bad.Field != tt.field {
					t.Fatalf("error %v, want an *Error naming %s", err, tt.field)
				}
				return
			case err != nil:
				t.Fatalf("error %v", err)
			}
			if encoding != tt.encoding {
				t.Errorf("encoding %v, want %v", encoding, tt.encoding)
			}
			got := ""
			if e != nil {
				got = e.Type()
			}
			if diff := cmp.Diff(tt.typ, got); diff != "" {
				t.Errorf("type (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestReadPassesTooBig(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`))
	r.Header = binary()
	r.Body = http.MaxBytesReader(w, r.Body, 10)
	_, _, err := Read(r)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Fatalf("error %v, want a *http.MaxBytesError", err)
	}
}
