package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
)

// Publisher writes CloudEvents to Kafka in binary mode and reports each
// write's outcome. Many goroutines may publish at once; their records share
// batches.
type Publisher struct {
	producer sarama.AsyncProducer
	done     sync.WaitGroup
}

// ErrNotAcknowledged wraps every publish failure: the record may or may not
// be on the topic, so the caller must answer "retry".
var ErrNotAcknowledged = errors.New("kafka did not acknowledge the write")

// NewPublisher starts an idempotent producer on client.
func NewPublisher(client sarama.Client) (*Publisher, error) {
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("starting producer: %w", err)
	}
	p := &Publisher{producer: producer}
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		for m := range producer.Successes() {
			m.Metadata.(chan error) <- nil
		}
	}()
	go func() {
		defer p.done.Done()
		for e := range producer.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}()
	return p, nil
}

// Publish writes event to topic and returns once the broker acknowledged it
// on all in-sync replicas, or with an error wrapping ErrNotAcknowledged. The
// record key is the event's partitionkey extension and its timestamp the
// event's time.
func (p *Publisher) Publish(ctx context.Context, topic string, event cloudevents.Event) error {
	result := make(chan error, 1)
	msg := &sarama.ProducerMessage{Topic: topic, Timestamp: event.Time(), Metadata: result}
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&event), msg); err != nil {
		return fmt.Errorf("encoding event %s: %w", event.ID(), err)
	}
	select {
	case p.producer.Input() <- msg:
	case <-ctx.Done():
		return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), ctx.Err())
	}
	select {
	case err := <-result:
		if err != nil {
			return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), err)
		}
		return nil
	case <-ctx.Done():
		// The record may still be written; the id makes a retry recognisable.
		return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), ctx.Err())
	}
}

// Close flushes what is in flight and stops the producer.
func (p *Publisher) Close() error {
	p.producer.AsyncClose()
	p.done.Wait()
	return nil
}
