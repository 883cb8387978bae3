package events

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeOrder checks the order decoder on any bytes: it never panics, it
// fails with a *SyntaxError or a *ValidationError naming a field, and what it
// accepts is valid and survives MarshalJSON → DecodeOrder unchanged, with
// canonical bytes that are a fixed point. Seed corpus: testdata/fuzz/FuzzDecodeOrder.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range []string{
		seedOrder,
		seedCanonical,
		`{}`,
		`{"order_id":9007199254740991,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1000,"x":{"y":[1,"<&>",null]}}`,
		`{"order_id":3.0,"email_vendedor":"a@b.cl","email_cocinero":"c@d.cl","numero_sopaipillas":1}`,
		`{"order_id":3,"order_id":3}`,
		`{"order_id":3,"email_vendedor":"Ana <a@b.cl>","email_cocinero":"c@d.cl\r\nBcc: x@y.cl","numero_sopaipillas":"15"}`,
		"{\"order_id\":3,\"x\":\"\xff\"}",
		`[[[[[[[[[[]]]]]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeOrder(data)
		if err != nil {
			if !IsSyntax(err) && !IsValidation(err) {
				t.Fatalf("DecodeOrder error %T %v is neither syntax nor validation", err, err)
			}
			if len(Fields(err)) == 0 {
				t.Fatalf("DecodeOrder error %v carries no field error", err)
			}
			return
		}
		if o.OrderID < 1 || o.OrderID > MaxOrderID || o.NumeroSopaipillas < 1 || o.NumeroSopaipillas > MaxSopaipillas {
			t.Fatalf("accepted out-of-range order %+v", o)
		}
		if validateEmail(o.EmailVendedor) != "" || validateEmail(o.EmailCocinero) != "" {
			t.Fatalf("accepted invalid addresses %q, %q", o.EmailVendedor, o.EmailCocinero)
		}
		canonical, err := o.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of an accepted order: %v", err)
		}
		again, err := DecodeOrder(canonical)
		if err != nil {
			t.Fatalf("DecodeOrder(%s) of canonical bytes: %v", canonical, err)
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("round trip through %s (-want, +got):\n%s", canonical, diff)
		}
		twice, err := again.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(canonical, twice) {
			t.Fatalf("canonical bytes are not a fixed point:\n%s\n%s", canonical, twice)
		}
	})
}

// FuzzDecodeSummaryRequest checks the summary-trigger parser on any bytes:
// it never panics, errors are syntax or validation errors naming one field,
// and an accepted day formats back to the fecha that was sent. Seed corpus:
// testdata/fuzz/FuzzDecodeSummaryRequest.
func FuzzDecodeSummaryRequest(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		`{"fecha": "13/11/2021"}`,
		`{"fecha":"29/02/2024"}`,
		`{"fecha":"31/02/2025"}`,
		`{"fecha":"2025-11-13"}`,
		`{"fecha":"13/11/2021","fecha":"14/11/2021"}`,
		`{"fecha":null}`,
		`{"dia":"13/11/2021"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ok, err := DecodeSummaryRequest(data)
		if err != nil {
			if !IsSyntax(err) && !IsValidation(err) {
				t.Fatalf("error %T %v is neither syntax nor validation", err, err)
			}
			if len(Fields(err)) != 1 {
				t.Fatalf("error %v carries %d field errors, want 1", err, len(Fields(err)))
			}
			return
		}
		if !ok {
			if d != (Date{}) {
				t.Fatalf("no day asked for, yet got %v", d)
			}
			return
		}
		again, err := ParseDate(d.String())
		if err != nil || again != d {
			t.Fatalf("day %v formats as %q which parses as %v, %v", d, d.String(), again, err)
		}
		// The day came from a fecha string equal to its own formatting.
		members, err := decodeObject(data)
		if err != nil {
			t.Fatalf("accepted a body decodeObject refuses: %v", err)
		}
		fecha, msg := decodeString(members[FieldFecha])
		if msg != "" || fecha != d.String() {
			t.Fatalf("fecha %q (%s) was read as %v", fecha, msg, d)
		}
	})
}
