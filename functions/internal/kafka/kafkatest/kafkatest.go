// Package kafkatest gives tests the functions' own Kafka publisher on a
// broker (real or embedded), closed when the test ends.
package kafkatest

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
)

// NewPublisher connects to brokers with cfg (nil: kafka.NewSaramaConfig
// named "test") and starts a kafka.Publisher on that client, as newOrder
// and dailySummary do. Both are closed by t.Cleanup, the publisher first.
func NewPublisher(t testing.TB, brokers []string, cfg *sarama.Config) (*kafka.Publisher, sarama.Client) {
	t.Helper()
	if cfg == nil {
		cfg = kafka.NewSaramaConfig("test")
	}
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatalf("connecting to %v: %v", brokers, err)
	}
	t.Cleanup(func() { client.Close() })
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		t.Fatalf("starting the publisher: %v", err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub, client
}
