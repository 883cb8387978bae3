package dayread

import (
	"context"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
)

// BenchmarkRecordOf decodes one record of newOrder's shape, as written
// by newOrder's binding: the fast path's cost per record.
func BenchmarkRecordOf(b *testing.B) {
	m := kgoRecord(orderRecord(b, events.Order{OrderID: 123456789, EmailVendedor: seedVendor, EmailCocinero: seedCook, NumeroSopaipillas: 15},
		time.Date(2021, 11, 13, 15, 4, 5, 123456789, time.UTC), 0))
	ctx := context.Background()
	if !recordOf(ctx, m).fast.ok {
		b.Fatal("the record is not of the fast shape")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !recordOf(ctx, m).fast.ok {
			b.Fatal("not fast")
		}
	}
}
