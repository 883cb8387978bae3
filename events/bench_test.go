package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var benchOrder = []byte(`{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`)

func BenchmarkDecodeOrder(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOrder(benchOrder); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewOrderEvent(b *testing.B) {
	o, err := DecodeOrder(benchOrder)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewOrderEvent(o, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestContractEncodingMatchesMap: the fast encoding of an order without
// extra fields is byte for byte what the general one gives.
func TestContractEncodingMatchesMap(t *testing.T) {
	for _, o := range []Order{
		{OrderID: 3, EmailVendedor: "vendor_tarea2@yopmail.com", EmailCocinero: "asdasdasda@yopmail.com", NumeroSopaipillas: 15},
		{OrderID: MaxOrderID, EmailVendedor: "a&b<c>@x.cl", EmailCocinero: "o'brien+x@y.cl", NumeroSopaipillas: MaxSopaipillas},
	} {
		fast, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		withExtra := o
		withExtra.Extra = map[string]json.RawMessage{"zz": json.RawMessage(`1`)}
		general, err := withExtra.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(string(general), `,"zz":1`, "", 1)
		if string(fast) != want {
			t.Errorf("fast encoding\n  %s\nwant\n  %s", fast, want)
		}
	}
}
