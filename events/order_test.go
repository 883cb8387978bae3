package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
)

// seedOrder is the order of the seed's README, byte for byte.
const seedOrder = `{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`

// seedCanonical is seedOrder as MarshalJSON encodes it.
const seedCanonical = `{"email_cocinero":"asdasdasda@yopmail.com","email_vendedor":"vendor_tarea2@yopmail.com","numero_sopaipillas":15,"order_id":3}`

func seedOrderValue() Order {
	return Order{OrderID: 3, EmailVendedor: "vendor_tarea2@yopmail.com", EmailCocinero: "asdasdasda@yopmail.com", NumeroSopaipillas: 15}
}

// orderWith returns the seed order with field replaced by the raw JSON
// value, or removed when value is "".
func orderWith(field, value string) string {
	m := map[string]json.RawMessage{
		FieldOrderID:           json.RawMessage(`3`),
		FieldEmailVendedor:     json.RawMessage(`"vendor_tarea2@yopmail.com"`),
		FieldEmailCocinero:     json.RawMessage(`"asdasdasda@yopmail.com"`),
		FieldNumeroSopaipillas: json.RawMessage(`15`),
	}
	if value == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(value)
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{FieldOrderID, FieldEmailVendedor, FieldEmailCocinero, FieldNumeroSopaipillas, field} {
		v, ok := m[k]
		if !ok {
			continue
		}
		delete(m, k)
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + string(v))
	}
	b.WriteString("}")
	return b.String()
}

func TestDecodeOrderAccepts(t *testing.T) {
	tests := []struct {
		name string // what the case shows
		in   string // request body
		want Order  // decoded order
	}{{
		name: "seed order",
		in:   seedOrder,
		want: seedOrderValue(),
	}, {
		name: "extra fields are kept, compacted",
		in:   `{"order_id":3,"email_vendedor":"vendor_tarea2@yopmail.com","email_cocinero":"asdasdasda@yopmail.com","numero_sopaipillas":15,"nota": "sin  azúcar","mesa": { "n" : [1, 2] }}`,
		want: func() Order {
			o := seedOrderValue()
			o.Extra = map[string]json.RawMessage{"nota": json.RawMessage(`"sin  azúcar"`), "mesa": json.RawMessage(`{"n":[1,2]}`)}
			return o
		}(),
	}, {
		name: "extra field with HTML characters is stored escaped, as MarshalJSON writes it",
		in:   orderWith("nota", `"<b>&</b>"`),
		want: func() Order {
			o := seedOrderValue()
			o.Extra = map[string]json.RawMessage{"nota": json.RawMessage(`"\u003cb\u003e\u0026\u003c/b\u003e"`)}
			return o
		}(),
	}, {
		name: "extra null is kept",
		in:   orderWith("nota", `null`),
		want: func() Order {
			o := seedOrderValue()
			o.Extra = map[string]json.RawMessage{"nota": json.RawMessage(`null`)}
			return o
		}(),
	}, {
		name: "largest order_id and numero_sopaipillas",
		in:   `{"order_id":9007199254740991,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1000}`,
		want: Order{OrderID: MaxOrderID, EmailVendedor: "a@b.cl", EmailCocinero: "c@d.cl", NumeroSopaipillas: MaxSopaipillas},
	}, {
		name: "escaped key names the contract field",
		in:   `{"order\u005fid":3,"email_vendedor":"vendor_tarea2@yopmail.com","email_cocinero":"asdasdasda@yopmail.com","numero_sopaipillas":15}`,
		want: seedOrderValue(),
	}, {
		name: "surrounding whitespace",
		in:   "\n\t " + seedOrder + " \r\n",
		want: seedOrderValue(),
	}, {
		name: "plus sign and subdomain in addresses",
		in:   `{"order_id":1,"email_vendedor":"ana+ventas@mail.sopaipillas.cl","email_cocinero":"jose.perez@cocina.cl","numero_sopaipillas":1}`,
		want: Order{OrderID: 1, EmailVendedor: "ana+ventas@mail.sopaipillas.cl", EmailCocinero: "jose.perez@cocina.cl", NumeroSopaipillas: 1},
	}, {
		name: "integral numbers however spelled: 15.0, 1.5e1, 150e-1, 3E0",
		in:   `{"order_id":3E0,"email_vendedor":"vendor_tarea2@yopmail.com","email_cocinero":"asdasdasda@yopmail.com","numero_sopaipillas":150e-1}`,
		want: seedOrderValue(),
	}, {
		name: "largest order_id with a fraction of zeros and an exponent",
		in:   `{"order_id":9.007199254740991000e15,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1.0e3}`,
		want: Order{OrderID: MaxOrderID, EmailVendedor: "a@b.cl", EmailCocinero: "c@d.cl", NumeroSopaipillas: MaxSopaipillas},
	}, {
		name: "extra field nesting exactly MaxExtraDepth levels",
		in:   orderWith("x", strings.Repeat("[", MaxExtraDepth)+strings.Repeat("]", MaxExtraDepth)),
		want: func() Order {
			o := seedOrderValue()
			o.Extra = map[string]json.RawMessage{"x": json.RawMessage(strings.Repeat("[", MaxExtraDepth) + strings.Repeat("]", MaxExtraDepth))}
			return o
		}(),
	}, {
		name: "brackets inside strings do not nest",
		in:   orderWith("x", `["[[[[[[[[[[\"{{{{{{{{{{"]`),
		want: func() Order {
			o := seedOrderValue()
			o.Extra = map[string]json.RawMessage{"x": json.RawMessage(`["[[[[[[[[[[\"{{{{{{{{{{"]`)}
			return o
		}(),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOrder([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeOrder: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeOrder (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeOrderRefuses(t *testing.T) {
	tests := []struct {
		name   string       // what the case shows
		in     string       // request body
		syntax bool         // a *SyntaxError (400) rather than a *ValidationError (422)
		want   []FieldError // fields named, details ignored
	}{
		{name: "empty body", in: ``, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "not JSON", in: `order_id=3`, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "array", in: `[` + seedOrder + `]`, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "string", in: `"hola"`, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "null", in: `null`, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "truncated in a value", in: seedOrder[:40], syntax: true, want: []FieldError{{Field: "email_vendedor"}}},
		{name: "truncated after a value", in: seedOrder[:14], syntax: true, want: []FieldError{{Field: ""}}},
		{name: "trailing data", in: seedOrder + `{}`, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "two objects", in: seedOrder + seedOrder, syntax: true, want: []FieldError{{Field: ""}}},
		{name: "invalid UTF-8", in: orderWith("nota", "\"\xff\xfe\""), syntax: true, want: []FieldError{{Field: ""}}},
		{name: "duplicate key", in: orderWith("order_id", `4`)[:len(orderWith("order_id", `4`))-1] + `,"order_id":3}`, syntax: true, want: []FieldError{{Field: "order_id"}}},
		{name: "duplicate key spelt with an escape", in: `{"order_id":3,"order\u005fid":4,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1}`, syntax: true, want: []FieldError{{Field: "order_id"}}},
		{name: "deep nesting in an extra field", in: orderWith("x", strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), syntax: true, want: []FieldError{{Field: "x"}}},
		{name: "empty object", in: `{}`, want: []FieldError{{Field: "email_cocinero"}, {Field: "email_vendedor"}, {Field: "numero_sopaipillas"}, {Field: "order_id"}}},

		{name: "order_id missing", in: orderWith("order_id", ""), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id null", in: orderWith("order_id", `null`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id zero", in: orderWith("order_id", `0`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id minus zero", in: orderWith("order_id", `-0`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id negative", in: orderWith("order_id", `-3`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id fraction", in: orderWith("order_id", `3.5`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id fraction in an exponent", in: orderWith("order_id", `35e-1`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id fraction past float precision", in: orderWith("order_id", `3.0000000000000000001`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id 2^53 spelt with an exponent", in: orderWith("order_id", `9.007199254740992e15`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id 2^53+1 that a float rounds to 2^53", in: orderWith("order_id", `9007199254740993.0`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id huge exponent", in: orderWith("order_id", `1e99999999999999999999`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id tiny exponent", in: orderWith("order_id", `1e-99999999999999999999`), want: []FieldError{{Field: "order_id"}}},
		{name: "extra field nesting one level too deep", in: orderWith("x", strings.Repeat(`{"a":`, MaxExtraDepth+1)+"1"+strings.Repeat("}", MaxExtraDepth+1)), want: []FieldError{{Field: "x"}}},
		{name: "email_vendedor over-long and non-ASCII", in: orderWith("email_vendedor", `"`+strings.Repeat("ñ", 200)+`@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor address literal", in: orderWith("email_vendedor", `"a@[127.0.0.1]"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor domain label starts with a hyphen", in: orderWith("email_vendedor", `"a@-b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "order_id 2^53", in: orderWith("order_id", `9007199254740992`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id 2^63", in: orderWith("order_id", `9223372036854775808`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id 2^64 and more", in: orderWith("order_id", `123456789012345678901234567890`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id string", in: orderWith("order_id", `"3"`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id bool", in: orderWith("order_id", `true`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id array", in: orderWith("order_id", `[3]`), want: []FieldError{{Field: "order_id"}}},
		{name: "order_id object", in: orderWith("order_id", `{"id":3}`), want: []FieldError{{Field: "order_id"}}},

		{name: "numero_sopaipillas missing", in: orderWith("numero_sopaipillas", ""), want: []FieldError{{Field: "numero_sopaipillas"}}},
		{name: "numero_sopaipillas zero", in: orderWith("numero_sopaipillas", `0`), want: []FieldError{{Field: "numero_sopaipillas"}}},
		{name: "numero_sopaipillas negative", in: orderWith("numero_sopaipillas", `-15`), want: []FieldError{{Field: "numero_sopaipillas"}}},
		{name: "numero_sopaipillas over the maximum", in: orderWith("numero_sopaipillas", `1001`), want: []FieldError{{Field: "numero_sopaipillas"}}},
		{name: "numero_sopaipillas fraction", in: orderWith("numero_sopaipillas", `1.5`), want: []FieldError{{Field: "numero_sopaipillas"}}},
		{name: "numero_sopaipillas string", in: orderWith("numero_sopaipillas", `"15"`), want: []FieldError{{Field: "numero_sopaipillas"}}},

		{name: "email_vendedor missing", in: orderWith("email_vendedor", ""), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor null", in: orderWith("email_vendedor", `null`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor empty", in: orderWith("email_vendedor", `""`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor number", in: orderWith("email_vendedor", `42`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor array", in: orderWith("email_vendedor", `["a@b.cl"]`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor no at", in: orderWith("email_vendedor", `"vendor"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor CRLF header injection", in: orderWith("email_vendedor", `"a@b.cl\r\nBcc: x@evil.com"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor LF", in: orderWith("email_vendedor", `"a@b.cl\n"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor NUL", in: orderWith("email_vendedor", `"a\u0000@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor two addresses", in: orderWith("email_vendedor", `"a@b.cl, c@d.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor two addresses by semicolon", in: orderWith("email_vendedor", `"a@b.cl;c@d.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor display name", in: orderWith("email_vendedor", `"Ana <a@b.cl>"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor angle brackets", in: orderWith("email_vendedor", `"<a@b.cl>"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor comment", in: orderWith("email_vendedor", `"a@b.cl (Ana)"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor leading space", in: orderWith("email_vendedor", `" a@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor too long", in: orderWith("email_vendedor", `"`+strings.Repeat("a", 64)+"@"+strings.Repeat("b", 250)+`.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor non-ASCII", in: orderWith("email_vendedor", `"ñandú@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor local part over 64", in: orderWith("email_vendedor", `"`+strings.Repeat("a", 65)+`@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_vendedor quoted local part", in: orderWith("email_vendedor", `"\"a b\"@b.cl"`), want: []FieldError{{Field: "email_vendedor"}}},
		{name: "email_cocinero CRLF", in: orderWith("email_cocinero", `"c@d.cl\r\n"`), want: []FieldError{{Field: "email_cocinero"}}},
		{name: "email_cocinero display name", in: orderWith("email_cocinero", `"\"Jose\" <c@d.cl>"`), want: []FieldError{{Field: "email_cocinero"}}},
		{name: "every field wrong, sorted by name", in: `{"order_id":"x","email_vendedor":1,"email_cocinero":null,"numero_sopaipillas":1e9}`,
			want: []FieldError{{Field: "email_cocinero"}, {Field: "email_vendedor"}, {Field: "numero_sopaipillas"}, {Field: "order_id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOrder([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeOrder accepted %q as %+v", tt.in, got)
			}
			if gotSyntax := IsSyntax(err); gotSyntax != tt.syntax || IsValidation(err) == tt.syntax {
				t.Errorf("DecodeOrder error %v: IsSyntax = %v, IsValidation = %v; want syntax %v", err, gotSyntax, IsValidation(err), tt.syntax)
			}
			if diff := cmp.Diff(tt.want, Fields(err), ignoreDetail); diff != "" {
				t.Errorf("fields named (-want, +got):\n%s", diff)
			}
			for _, f := range Fields(err) {
				if f.Detail == "" {
					t.Errorf("field %q has no detail", f.Field)
				}
			}
			if diff := cmp.Diff(Order{}, got); diff != "" {
				t.Errorf("order returned with an error (-want, +got):\n%s", diff)
			}
		})
	}
}

// ignoreDetail compares field errors by field only: the details are prose.
var ignoreDetail = cmp.Transformer("field", func(fs []FieldError) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Field
	}
	return names
})

func TestOrderMarshalJSONCanonical(t *testing.T) {
	tests := []struct {
		name string // what the case shows
		in   string // a body carrying the order
		want string // canonical bytes
	}{
		{name: "seed", in: seedOrder, want: seedCanonical},
		{name: "keys in another order, other whitespace", in: "{ \"numero_sopaipillas\" :15 ,\n\"email_cocinero\":\"asdasdasda@yopmail.com\",\t\"order_id\":3, \"email_vendedor\" : \"vendor_tarea2@yopmail.com\" }", want: seedCanonical},
		{name: "escaped characters in a string", in: `{"order_id":3,"email_vendedor":"vendor_tarea2@yopmail.com","email_cocinero":"\u0061sdasdasda@yopmail.com","numero_sopaipillas":15}`, want: seedCanonical},
		{
			name: "extra fields sorted among the contract's, compacted",
			in:   `{"zeta": [1, 2], "order_id":3, "alfa" : {"b": 1, "a": 2}, "email_vendedor":"vendor_tarea2@yopmail.com","email_cocinero":"asdasdasda@yopmail.com","numero_sopaipillas":15}`,
			want: `{"alfa":{"b":1,"a":2},"email_cocinero":"asdasdasda@yopmail.com","email_vendedor":"vendor_tarea2@yopmail.com","numero_sopaipillas":15,"order_id":3,"zeta":[1,2]}`,
		},
		{
			name: "HTML characters escaped however they were sent",
			in:   orderWith("nota", `"\u003c<&>"`),
			want: `{"email_cocinero":"asdasdasda@yopmail.com","email_vendedor":"vendor_tarea2@yopmail.com","nota":"\u003c\u003c\u0026\u003e","numero_sopaipillas":15,"order_id":3}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := DecodeOrder([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeOrder: %v", err)
			}
			got, err := o.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("MarshalJSON (-want, +got):\n%s", diff)
			}
			// encoding/json re-compacts MarshalJSON's output: canonical
			// bytes must come through unchanged.
			viaJSON, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(viaJSON)); diff != "" {
				t.Errorf("json.Marshal (-want, +got):\n%s", diff)
			}
			again, err := DecodeOrder(got)
			if err != nil {
				t.Fatalf("DecodeOrder(canonical): %v", err)
			}
			if diff := cmp.Diff(o, again); diff != "" {
				t.Errorf("round trip (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestNewOrderEvent(t *testing.T) {
	accepted := time.Date(2021, 11, 13, 15, 4, 5, 123456789, time.UTC)
	e, err := NewOrderEvent(seedOrderValue(), accepted)
	if err != nil {
		t.Fatalf("NewOrderEvent: %v", err)
	}
	type attrs struct {
		ID, Type, Source, Subject, DataContentType, SpecVersion, PartitionKey string
		Time                                                                  time.Time
		Data                                                                  string
	}
	want := attrs{
		ID: "order-3", Type: TypeOrderCreated, Source: SourceNewOrder, Subject: "3",
		DataContentType: "application/json", SpecVersion: "1.0", PartitionKey: "3",
		Time: accepted, Data: seedCanonical,
	}
	pk, _ := e.Extensions()[PartitionKeyExtension].(string)
	got := attrs{
		ID: e.ID(), Type: e.Type(), Source: e.Source(), Subject: e.Subject(),
		DataContentType: e.DataContentType(), SpecVersion: e.SpecVersion(), PartitionKey: pk,
		Time: e.Time(), Data: string(e.Data()),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order event (-want, +got):\n%s", diff)
	}

	back, err := OrderFromEvent(e)
	if err != nil {
		t.Fatalf("OrderFromEvent: %v", err)
	}
	if diff := cmp.Diff(seedOrderValue(), back); diff != "" {
		t.Errorf("OrderFromEvent (-want, +got):\n%s", diff)
	}
}

func TestOrderEventIDStable(t *testing.T) {
	a, _ := DecodeOrder([]byte(seedOrder))
	b, _ := DecodeOrder([]byte(orderWith("numero_sopaipillas", `20`)))
	ea, err := NewOrderEvent(a, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	eb, err := NewOrderEvent(b, time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if ea.ID() != eb.ID() || ea.ID() != OrderEventID(3) {
		t.Errorf("ids %q and %q: a retry of order 3 must carry %q", ea.ID(), eb.ID(), OrderEventID(3))
	}
}

func TestOrderFromEventRefuses(t *testing.T) {
	good, err := NewOrderEvent(seedOrderValue(), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string                     // what the case shows
		edit func(e *cloudevents.Event) // what is wrong with the event
	}{
		{name: "wrong type", edit: func(e *cloudevents.Event) { e.SetType(TypeSummaryCreated) }},
		{name: "no data", edit: func(e *cloudevents.Event) { e.DataEncoded = nil }},
		{name: "data not JSON", edit: func(e *cloudevents.Event) { e.DataEncoded = []byte("3,a@b.cl") }},
		{name: "data invalid order", edit: func(e *cloudevents.Event) { e.DataEncoded = []byte(orderWith("order_id", `-1`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good.Clone()
			tt.edit(&e)
			if o, err := OrderFromEvent(e); err == nil {
				t.Errorf("OrderFromEvent accepted %+v", o)
			}
		})
	}
}
