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

// TestReadCommitted: every committed data record of every partition, in
// offset order, with its own timestamp; nothing of an aborted transaction;
// and the read ends although every partition ends with a control marker
// (a commit or abort marker is an offset no record is ever delivered at).
// Timestamps are deliberately out of offset order: the read must not care.
func TestReadCommitted(t *testing.T) {
	for name, brokers := range testBrokers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := NewSaramaConfig("test")
			topic := fmt.Sprintf("committed-%d", time.Now().UnixNano())
			// CreateTime: the test's own timestamps must reach the topic.
			if err := EnsureTopics(brokers, cfg, -1, Topic{Name: topic, Partitions: 2, RetentionMs: 72 * 3600 * 1000}); err != nil {
				t.Fatal(err)
			}
			now := time.Now().Truncate(time.Millisecond)
			plain := producer(t, brokers, "")
			send := func(p sarama.SyncProducer, part int32, value string, ts time.Time) {
				t.Helper()
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(value), Timestamp: ts}); err != nil {
					t.Fatalf("sending %s: %v", value, err)
				}
			}
			// Kafka 4 refuses CreateTime stamps more than an hour ahead
			// (message.timestamp.after.max.ms).
			send(plain, 0, "future", now.Add(50*time.Minute))
			send(plain, 0, "past", now.Add(-30*time.Hour))
			send(plain, 0, "now", now)

			txn := producer(t, brokers, fmt.Sprintf("txn-%d", time.Now().UnixNano()))
			inTxn := func(commit bool, sends func()) {
				t.Helper()
				if err := txn.BeginTxn(); err != nil {
					t.Fatal(err)
				}
				sends()
				var err error
				if commit {
					err = txn.CommitTxn()
				} else {
					err = txn.AbortTxn()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			inTxn(true, func() { send(txn, 0, "committed-0", now); send(txn, 1, "committed-1", now) })
			inTxn(false, func() { send(txn, 0, "aborted-0", now); send(txn, 1, "aborted-1", now) })
			inTxn(true, func() { send(txn, 1, "committed-2", now.Add(-time.Minute)) })
			// Partition 0 now ends with an ABORT marker, partition 1 with a
			// COMMIT marker.

			client, err := sarama.NewClient(brokers, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			type rec struct {
				Value string
				At    time.Time
			}
			var mu sync.Mutex
			got := map[int32][]rec{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err = ReadCommitted(ctx, client, brokers, topic, func(r Range) Visit {
				return func(m *sarama.ConsumerMessage) error {
					mu.Lock()
					defer mu.Unlock()
					got[r.Partition] = append(got[r.Partition], rec{string(m.Value), m.Timestamp.Truncate(time.Millisecond)})
					return nil
				}
			})
			if err != nil {
				t.Fatalf("ReadCommitted: %v", err)
			}
			want := map[int32][]rec{
				0: {{"future", now.Add(50 * time.Minute)}, {"past", now.Add(-30 * time.Hour)}, {"now", now}, {"committed-0", now}},
				1: {{"committed-1", now}, {"committed-2", now.Add(-time.Minute)}},
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("records read (-want, +got):\n%s", diff)
			}
		})
	}
}

// producer is a synchronous producer; with transactionalID, a
// transactional one.
func producer(t *testing.T, brokers []string, transactionalID string) sarama.SyncProducer {
	t.Helper()
	cfg := NewSaramaConfig("test")
	if transactionalID != "" {
		cfg.Producer.Transaction.ID = transactionalID
	}
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestOrderTopicStampedByBroker: the order topic is created with
// LogAppendTime, and TimestampType reports it (and CreateTime otherwise).
func TestOrderTopicStampedByBroker(t *testing.T) {
	for name, brokers := range testBrokers(t) {
		t.Run(name, func(t *testing.T) {
			cfg := NewSaramaConfig("test")
			suffix := time.Now().UnixNano()
			topics := TopicsConfig{OrderTopic: fmt.Sprintf("order-%d", suffix), SummaryTopic: fmt.Sprintf("summary-%d", suffix), OrderPartitions: 1, SummaryPartitions: 1, Retention: time.Hour}
			if err := EnsureTopics(brokers, cfg, -1, topics.OrderTopicSpec(), topics.SummaryTopicSpec()); err != nil {
				t.Fatal(err)
			}
			for topic, want := range map[string]string{topics.OrderTopic: LogAppendTime, topics.SummaryTopic: "CreateTime"} {
				got, err := TimestampType(brokers, cfg, topic)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: message.timestamp.type %q, want %q", topic, got, want)
				}
			}
		})
	}
}
