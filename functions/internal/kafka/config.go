// Package kafka connects the functions to Kafka with sarama: the client
// settings every function shares, topic creation, a publisher of CloudEvents
// that returns once the broker acknowledged, and a reader of a time window.
package kafka

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Config is the Kafka part of every function's environment.
type Config struct {
	// Brokers is the bootstrap list, e.g. "my-cluster-kafka-bootstrap.kafka:9092".
	Brokers Brokers `envconfig:"KAFKA_BROKERS" required:"true"`
	// ClientID names this process in broker logs and quotas.
	ClientID string `envconfig:"KAFKA_CLIENT_ID" default:"sopaipillas"`
	// CreateTopics creates missing topics at start; off where an operator
	// (Strimzi) owns them.
	CreateTopics bool `envconfig:"KAFKA_CREATE_TOPICS" default:"true"`
	// ReplicationFactor of created topics; -1 takes the broker's default.
	ReplicationFactor int16 `envconfig:"KAFKA_REPLICATION_FACTOR" default:"-1"`
}

// Brokers is a comma-separated bootstrap list naming at least one broker:
// envconfig's required only catches a missing variable, and an empty one
// would otherwise reach sarama, whose error does not name it.
type Brokers []string

// Decode implements envconfig.Decoder.
func (b *Brokers) Decode(value string) error {
	*b = nil
	for _, addr := range strings.Split(value, ",") {
		if addr = strings.TrimSpace(addr); addr != "" {
			*b = append(*b, addr)
		}
	}
	if len(*b) == 0 {
		return errors.New("KAFKA_BROKERS is empty: name at least one broker, e.g. localhost:9092")
	}
	return nil
}

// NewSaramaConfig returns the settings every function uses. The producer is
// idempotent with acks=all: an acknowledged write is on every in-sync
// replica and a retried batch is never written twice.
func NewSaramaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	// Kafka 4 dropped the protocol versions before 2.1; sarama negotiates
	// down from this per broker.
	c.Version = sarama.V4_0_0_0
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 30 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	// Retries wait 50 ms, doubling: a broker that has just come back
	// (fault scenario 9: the first metadata answer after a freeze lists no
	// brokers until the broker is unfenced, ~0.3 s) is tried again soon,
	// and one that stays away is not asked more often than before. A fixed
	// 250 ms cost up to half a second of the first write after a stall.
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.BackoffFunc = retryBackoff(50*time.Millisecond, time.Second)
	c.Metadata.Timeout = 30 * time.Second

	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Producer.Retry.Max = 20 // 8.75 s of waits in all, past a leader election
	c.Producer.Retry.BackoffFunc = retryBackoff(50*time.Millisecond, 500*time.Millisecond)
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewHashPartitioner
	// No linger: a record is sent as soon as the connection is free, and
	// the records that arrive while a request is in flight (one, for the
	// idempotent producer) share the next batch. A 1 ms linger cost every
	// order ~1.5 ms (sarama's timer starts with a batch and the in-flight
	// request comes on top): publish p50 at 5,000/s 2.3 → 0.7 ms, newOrder
	// p50 at c1 1.7 → 0.4 ms, p99 at 5,000/s 13–18 → 9 ms (bench/RESULTS.md).
	c.Producer.Flush.Frequency = 0
	c.Producer.Flush.MaxMessages = 1000

	c.Consumer.Return.Errors = true
	c.Consumer.Fetch.Default = 4 << 20
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	return c
}

// retryBackoff is a sarama BackoffFunc: the wait before retry number
// retries (sarama counts the producer's from 1, the metadata's from 0) is
// first, doubling from the second retry on, at most limit.
func retryBackoff(first, limit time.Duration) func(retries, maxRetries int) time.Duration {
	return func(retries, _ int) time.Duration {
		d := first
		for i := 1; i < retries && d < limit; i++ {
			d *= 2
		}
		return min(d, limit)
	}
}

// SizeTimeouts fits every wait of a client into bound, the longest its
// caller waits for one answer (PUBLISH_TIMEOUT, SUMMARY_TIMEOUT; at most
// 30 s). One request to a broker that does not answer (frozen, or behind a
// partition that drops packets without closing anything) is given up on
// after a third of bound: the connection is dropped and the request sent
// again on a new one, so a caller's wait holds two retries on fresh
// connections, and after a partition heals the client does not wait out
// TCP's retransmission backoff (a segment lost at the start of a 20 s
// partition is sent again 25.4 s after it; a SYN sent 1.5 s before the heal
// is sent again 1.5 s after it) on a connection it could replace at once.
// A call the caller abandoned (see bounded) ends soon after it. The
// broker's own wait for the in-sync replicas (Producer.Timeout) stays below
// the read timeout, so a slow but healthy acknowledgement is answered (and
// retried) rather than mistaken for a dead connection.
func SizeTimeouts(c *sarama.Config, bound time.Duration) {
	bound = min(max(bound, 2*time.Second), 30*time.Second)
	read := readTimeout(bound)
	c.Net.ReadTimeout = read
	c.Net.WriteTimeout = read
	c.Net.DialTimeout = min(read, 5*time.Second)
	c.Metadata.Timeout = bound
	c.Producer.Timeout = read * 4 / 5
	c.Net.Proxy.Enable = true // sarama's only hook for a dialer of our own
	c.Net.Proxy.Dialer = newDialer(c.Net.DialTimeout, read)
}

// readTimeout is how long a client sized to bound (SizeTimeouts) waits for
// one answer from a broker before it drops the connection: a third of
// bound, which is taken between 2 s and 30 s, and at least 1 s.
func readTimeout(bound time.Duration) time.Duration {
	return max(min(max(bound, 2*time.Second), 30*time.Second)/3, time.Second)
}

// newDialer dials brokers with TCP keep-alives probing an idle connection
// after 5 s, every 2 s, 3 times, and (on Linux) TCP_USER_TIMEOUT: data
// unacknowledged for userTimeout closes the connection. A peer that
// vanished is noticed in seconds, not in the kernel's 15 minutes. A
// connection on which a read timed out is closed (see closeOnTimeout).
func newDialer(timeout, userTimeout time.Duration) dialer {
	return dialer{&net.Dialer{
		Timeout:         timeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3},
		Control:         userTimeoutControl(userTimeout),
	}}
}

// dialer is sarama's Net.Proxy.Dialer.
type dialer struct{ d *net.Dialer }

// Dial implements proxy.Dialer.
func (d dialer) Dial(network, addr string) (net.Conn, error) {
	c, err := d.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &closeOnTimeout{Conn: c}, nil
}

// closeOnTimeout closes its connection when a read times out. Kafka answers
// a connection's requests in order, so once an answer is given up on, the
// next answer read would be that late one: sarama then fails the request
// it is waiting for with "correlation ID didn't match". And sarama keeps
// using a connection whose first request (ApiVersions) timed out, so a
// connection opened while the broker was frozen or cut off would carry
// that stale answer into the first requests after the broker is back.
// Closed, the connection fails at once and sarama dials a new one.
type closeOnTimeout struct {
	net.Conn
}

func (c *closeOnTimeout) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.Conn.Close()
	}
	return n, err
}
