// Package kafka connects the functions to Kafka with sarama: the client
// settings every function shares, topic creation, a publisher of CloudEvents
// that returns once the broker acknowledged, and a reader of a time window.
package kafka

import (
	"errors"
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
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 250 * time.Millisecond

	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1 // required by the idempotent producer
	c.Producer.Retry.Max = 20
	c.Producer.Retry.Backoff = 250 * time.Millisecond
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewHashPartitioner
	// Small linger: concurrent requests share a batch without making a lone
	// order wait.
	c.Producer.Flush.Frequency = time.Millisecond
	c.Producer.Flush.MaxMessages = 1000

	c.Consumer.Return.Errors = true
	c.Consumer.Fetch.Default = 4 << 20
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	return c
}
