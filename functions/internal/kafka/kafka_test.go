package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// TestSizeTimeouts: a request to a silent broker is given up on within a
// third of the caller's bound, the broker's replica wait stays below that, and the
// settings pass sarama's own validation.
func TestSizeTimeouts(t *testing.T) {
	type timeouts struct{ Read, Write, Dial, Metadata, Producer time.Duration }
	tests := []struct {
		name  string
		bound time.Duration
		want  timeouts
	}{
		// newOrder's default PUBLISH_TIMEOUT
		{name: "5s", bound: 5 * time.Second, want: timeouts{1666666666, 1666666666, 1666666666, 5 * time.Second, 1333333332}},
		// dailySummary's SUMMARY_TIMEOUT in fault scenarios 9 and 10
		{name: "10s", bound: 10 * time.Second, want: timeouts{3333333333, 3333333333, 3333333333, 10 * time.Second, 2666666666}},
		// dailySummary's default 2m is taken as 30 s; dials stay at 5 s
		{name: "2m", bound: 2 * time.Minute, want: timeouts{10 * time.Second, 10 * time.Second, 5 * time.Second, 30 * time.Second, 8 * time.Second}},
		// a bound below 2 s is taken as 2 s; the read timeout is at least 1 s
		{name: "100ms", bound: 100 * time.Millisecond, want: timeouts{time.Second, time.Second, time.Second, 2 * time.Second, 800 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewSaramaConfig("test")
			SizeTimeouts(c, tt.bound)
			got := timeouts{c.Net.ReadTimeout, c.Net.WriteTimeout, c.Net.DialTimeout, c.Metadata.Timeout, c.Producer.Timeout}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SizeTimeouts(%s) (-want, +got):\n%s", tt.bound, diff)
			}
			if got.Read != readTimeout(tt.bound) {
				t.Errorf("readTimeout(%s) = %s, want the read timeout SizeTimeouts set, %s", tt.bound, readTimeout(tt.bound), got.Read)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("sarama rejects the settings: %v", err)
			}
		})
	}
}

// TestRetryBackoff: the waits between retries of metadata and of a
// produce, and what they add up to (a produce is retried across a leader
// election, longer than with the fixed 250 ms it had: 5 s).
func TestRetryBackoff(t *testing.T) {
	c := NewSaramaConfig("test")
	waits := func(f func(int, int) time.Duration, from, n int) (got []time.Duration, sum time.Duration) {
		for r := from; r < from+n; r++ {
			got = append(got, f(r, n))
			sum += got[len(got)-1]
		}
		return got, sum
	}
	ms := time.Millisecond
	tests := []struct {
		name    string
		f       func(int, int) time.Duration
		from, n int
		want    []time.Duration
		wantSum time.Duration
	}{
		{"metadata", c.Metadata.Retry.BackoffFunc, 0, c.Metadata.Retry.Max, []time.Duration{50 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms}, 800 * ms},
		{"producer", c.Producer.Retry.BackoffFunc, 1, c.Producer.Retry.Max, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms,
			500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms, 500 * ms}, 8750 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sum := waits(tt.f, tt.from, tt.n)
			if diff := cmp.Diff(tt.want, got); diff != "" || sum != tt.wantSum {
				t.Errorf("waits (-want, +got):\n%s; sum %s, want %s", diff, sum, tt.wantSum)
			}
		})
	}
	if err := c.Validate(); err != nil {
		t.Errorf("sarama rejects the settings: %v", err)
	}
}

// TestDialedConnectionClosesOnReadTimeout: once an answer is given up on,
// the connection is not used again (its next answer would be the late one).
func TestDialedConnectionClosesOnReadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a broker that accepts and never answers
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	c, err := newDialer(time.Second, time.Second).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatalf("write before the timeout: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 8)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read: got %v, want a timeout", err)
	}
	if _, err := c.Write([]byte("next request")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after the timeout: got %v, want %v", err, net.ErrClosed)
	}
}
