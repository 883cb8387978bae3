package dayread

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	seedVendor = "vendor_tarea2@yopmail.com"
	seedCook   = "asdasdasda@yopmail.com"
)

func santiago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatalf("loading America/Santiago: %v", err)
	}
	return loc
}

// kgoRecord is m as the kgo consumer delivers it.
func kgoRecord(m *sarama.ConsumerMessage) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
	}
	return r
}

// memLog is an order topic in memory, records in offset order within each
// partition; Scan hands each partition's records to the visitor, as
// KafkaLog does.
type memLog []Record

func (l memLog) Scan(_ context.Context, _, _ time.Time, visitor func(int32, Expect) func(Record)) error {
	byPartition := map[int32][]Record{}
	for _, r := range l {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	for p, rs := range byPartition {
		if visit := visitor(p, Expect{Day: len(rs)}); visit != nil {
			for _, r := range rs {
				visit(r)
			}
		}
	}
	return nil
}
