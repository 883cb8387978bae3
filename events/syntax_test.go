package events

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSyntaxMessages: a body that is not JSON is answered in the client's
// terms: where (line, column) and what to write, never the parser's name,
// its offsets or its vocabulary ("literal", "object value").
func TestSyntaxMessages(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       FieldError
	}{
		{name: "a form body", body: "email_vendedor=ana%40feria.cl&numero_sopaipillas=3",
			want: FieldError{Detail: `body is not JSON: it looks like a form (name=value&...); send a JSON object, {"name": value, ...}, with Content-Type: application/json`}},
		{name: "a form starting like false", body: "fecha=13-11-2021",
			want: FieldError{Detail: `body is not JSON: it looks like a form (name=value&...); send a JSON object, {"name": value, ...}, with Content-Type: application/json`}},
		{name: "empty", body: "  ", want: FieldError{Detail: "body is not JSON: the body is empty; send a JSON object, {...}"}},
		{name: "cut short", body: `{"order_id": 1,`, want: FieldError{Detail: `value is not JSON: it ends too early: a string, object or array is not closed (a missing ", } or ])`}},
		{name: "a bare word", body: "{\n  \"email_vendedor\": ana}", want: FieldError{Field: "email_vendedor",
			Detail: `value is not JSON: at line 2, column 21: expected a value (a number, a string in double quotes, true, false, null, {...} or [...]), found 'a'`}},
		{name: "a word like true", body: `{"email_vendedor": tomas}`, want: FieldError{Field: "email_vendedor",
			Detail: `value is not JSON: at line 1, column 21: a text value must be in double quotes ("like this"); the only bare words are true, false and null`}},
		{name: "single quotes", body: `{'order_id': 1}`, want: FieldError{Detail: `value is not JSON: at line 1, column 2: names and strings take double quotes ("), not single quotes`}},
		{name: "trailing comma", body: `{"order_id": 1,}`, want: FieldError{Detail: `value is not JSON: at line 1, column 15: a comma must be followed by another member or element: remove the comma before } or ]`}},
		{name: "missing comma", body: `{"order_id": 1 "n": 2}`, want: FieldError{Detail: `value is not JSON: at line 1, column 16: expected a comma (,) before the next member, or } to end the object, found '"' (a comma missing, or a number written with a leading 0)`}},
		{name: "missing colon", body: `{"order_id" 1}`, want: FieldError{Field: "order_id", Detail: `value is not JSON: at line 1, column 13: expected a colon (:) after the member's name, found '1'`}},
		{name: "a tab in a string", body: "{\"nota\": \"a\tb\"}", want: FieldError{Field: "nota", Detail: `value is not JSON: at line 1, column 12: a string may not hold a raw tab or line break: write \t or \n`}},
		{name: "a bad escape", body: `{"nota": "C:\x"}`, want: FieldError{Field: "nota", Detail: `value is not JSON: at line 1, column 13: a backslash in a string starts an escape: write \\ for a backslash, \" for a quote, \n, \t or \uXXXX`}},
		{name: "a column counts characters", body: `{"nota": "ñandú", "n": 1.}`, want: FieldError{Field: "n", Detail: `value is not JSON: at line 1, column 26: a number is written as 15, -3, 1.5 or 1e3; found '}'`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeObject([]byte(tc.body))
			if !IsSyntax(err) {
				t.Fatalf("error %v, want a SyntaxError", err)
			}
			got := Fields(err)
			if d := cmp.Diff([]FieldError{tc.want}, got); d != "" {
				t.Errorf("(-want, +got):\n%s", d)
			}
			for _, banned := range []string{"jsontext", "literal", "offset", "object value", "invalid character"} {
				if strings.Contains(err.Error(), banned) {
					t.Errorf("%q names the parser's %q", err, banned)
				}
			}
		})
	}
}

// TestReportMessages: a report whose JSON is well formed but of the wrong
// shape is answered in the schema's terms (JSON types, members), not Go's
// ("json: cannot unmarshal JSON string into Go int64").
func TestReportMessages(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       FieldError
	}{
		{name: "a count as a string", data: `{"fecha":"13/11/2021","ventas":{"a@b.cl":{"n_sopaipillas":"3","n_ordenes":1}}}`,
			want: FieldError{Field: "ventas[a@b.cl].n_sopaipillas", Detail: "must be a whole number, not a string"}},
		{name: "a member of another case", data: `{"fecha":"13/11/2021","ventas":{"a@b.cl":{"N_SOPAIPILLAS":3,"n_ordenes":1}}}`,
			want: FieldError{Field: "ventas[a@b.cl].N_SOPAIPILLAS", Detail: "is not a member the schema defines: remove it (names are lower case, as in the schema)"}},
		{name: "a date as a number", data: `{"fecha":13,"ventas":{}}`, want: FieldError{Field: "fecha", Detail: "must be a string, not a number"}},
		{name: "sales as an array", data: `{"fecha":"13/11/2021","ventas":[]}`, want: FieldError{Field: "ventas", Detail: "must be an object, not an array"}},
		{name: "a fraction", data: `{"fecha":"13/11/2021","ventas":{"a@b.cl":{"n_sopaipillas":2.5,"n_ordenes":1}}}`,
			want: FieldError{Field: "ventas[a@b.cl].n_sopaipillas", Detail: "must be a whole number (2, 2.0 or 0.2e1; not 2.5)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Summary
			err := decodeStrict([]byte(tc.data), &s)
			if d := cmp.Diff([]FieldError{tc.want}, Fields(err)); d != "" {
				t.Errorf("(-want, +got):\n%s", d)
			}
			if err != nil && (strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "json:")) {
				t.Errorf("%q names Go's types or the library", err)
			}
		})
	}
}
