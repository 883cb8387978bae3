package events

import (
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
