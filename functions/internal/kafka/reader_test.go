package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadEndsFixedAtStart: the read stops at the last stable offsets
// taken when it starts, per partition: records written while it runs are
// not visited, an empty partition is done at once, and Ends reports where
// every partition ends, in partition order.
func TestReadEndsFixedAtStart(t *testing.T) {
	for name, brokers := range testBrokers(t) {
		t.Run(name, func(t *testing.T) {
			topic := fmt.Sprintf("fixed-%d", time.Now().UnixNano())
			if err := EnsureTopics(brokers, NewSaramaConfig("test"), -1, Topic{Name: topic, Partitions: 3, RetentionMs: 3600 * 1000}); err != nil {
				t.Fatal(err)
			}
			p := producer(t, brokers, "")
			send := func(part int32, value string) {
				t.Helper()
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(value)}); err != nil {
					t.Errorf("sending %s: %v", value, err) // also called from the read's goroutines
				}
			}
			for i := range 3 {
				send(0, fmt.Sprintf("p0-%d", i))
			}
			send(1, "p1-0")
			rd, err := NewReader(Config{Brokers: brokers, ClientID: "test"}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ends, err := rd.Ends(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]int64{3, 1, 0}, ends); d != "" {
				t.Errorf("ends (-want, +got):\n%s", d)
			}
			var (
				mu     sync.Mutex
				got    = map[int32][]string{}
				ranges = map[int32]Range{}
				once   sync.Once
			)
			err = rd.Read(ctx, topic, func(r Range) func(*kgo.Record) error {
				mu.Lock()
				ranges[r.Partition] = r
				mu.Unlock()
				return func(rec *kgo.Record) error {
					// Written during the read, after its ends were fixed.
					once.Do(func() { send(0, "late-0"); send(1, "late-1"); send(2, "late-2") })
					mu.Lock()
					defer mu.Unlock()
					got[rec.Partition] = append(got[rec.Partition], string(rec.Value))
					return nil
				}
			})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			want := map[int32][]string{0: {"p0-0", "p0-1", "p0-2"}, 1: {"p1-0"}}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("records read (-want, +got):\n%s", d)
			}
			wantRanges := map[int32]Range{0: {0, 0, 3}, 1: {1, 0, 1}, 2: {2, 0, 0}}
			if d := cmp.Diff(wantRanges, ranges); d != "" {
				t.Errorf("ranges (-want, +got):\n%s", d)
			}
		})
	}
}
