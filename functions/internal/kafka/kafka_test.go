package kafka

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testBrokers is the embedded broker, and the real one make test starts.
func testBrokers(t *testing.T) map[string][]string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	out := map[string][]string{"embedded": cluster.ListenAddrs()}
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		out["apache-kafka"] = strings.Split(b, ",")
	}
	return out
}

// TestEnsureTopicsLeavesExistingTopicsAlone: creating twice is fine, and a
// topic that exists keeps its own settings.
func TestEnsureTopicsLeavesExistingTopicsAlone(t *testing.T) {
	for name, brokers := range testBrokers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := NewSaramaConfig("test")
			topic := fmt.Sprintf("ensure-%d", time.Now().UnixNano())
			if err := EnsureTopics(brokers, cfg, -1, Topic{Name: topic, Partitions: 2, RetentionMs: 1000}); err != nil {
				t.Fatal(err)
			}
			if err := EnsureTopics(brokers, cfg, -1, Topic{Name: topic, Partitions: 5, RetentionMs: 2000}); err != nil {
				t.Fatalf("second EnsureTopics: %v", err)
			}
			client, err := sarama.NewClient(brokers, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			parts, err := client.Partitions(topic)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 2 {
				t.Errorf("topic has %d partitions, want the first creation's 2", len(parts))
			}
		})
	}
}

// TestReadWindow: the records stamped in [from, to) of every partition, each
// partition in offset order, and nothing else.
func TestReadWindow(t *testing.T) {
	for name, brokers := range testBrokers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := NewSaramaConfig("test")
			topic := fmt.Sprintf("window-%d", time.Now().UnixNano())
			if err := EnsureTopics(brokers, cfg, -1, Topic{Name: topic, Partitions: 3, RetentionMs: 72 * 3600 * 1000}); err != nil {
				t.Fatal(err)
			}
			client, err := sarama.NewClient(brokers, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			pub, err := NewPublisher(client)
			if err != nil {
				t.Fatal(err)
			}
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			// ids 0..29 an hour ago plus i seconds; the window takes 10..19.
			for i := 0; i < 30; i++ {
				e := cloudevents.NewEvent()
				e.SetID(fmt.Sprint(i))
				e.SetType("test")
				e.SetSource("/test")
				e.SetTime(base.Add(time.Duration(i) * time.Second))
				e.SetExtension("partitionkey", fmt.Sprint(i))
				if err := pub.Publish(context.Background(), topic, e); err != nil {
					t.Fatal(err)
				}
			}
			pub.Close()

			var mu sync.Mutex
			got := map[int32][]string{}
			err = ReadWindow(context.Background(), client, brokers, topic, base.Add(10*time.Second), base.Add(20*time.Second), func(p int32) Visit {
				return func(m *sarama.ConsumerMessage) error {
					mu.Lock()
					defer mu.Unlock()
					for _, h := range m.Headers {
						if string(h.Key) == "ce_id" {
							got[p] = append(got[p], string(h.Value))
						}
					}
					return nil
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, ids := range got {
				all = append(all, ids...)
			}
			want := map[string]bool{}
			for i := 10; i < 20; i++ {
				want[fmt.Sprint(i)] = true
			}
			gotSet := map[string]bool{}
			for _, id := range all {
				gotSet[id] = true
			}
			if diff := cmp.Diff(want, gotSet); diff != "" || len(all) != 10 {
				t.Errorf("ids read (-want, +got):\n%s\n(read %d records)", diff, len(all))
			}
		})
	}
}
