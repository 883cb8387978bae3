package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/eapache/go-resiliency/breaker"

	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// Publisher writes CloudEvents to Kafka in binary mode and reports each
// write's outcome. Many goroutines may publish at once; their records share
// batches.
type Publisher struct {
	client sarama.Client
	done   sync.WaitGroup

	mu       sync.RWMutex // held for reading while sending to producer.Input()
	producer sarama.AsyncProducer
	renewed  time.Time
	closed   bool
	renewing atomic.Bool // a renewal is under way

	// maxPending bounds pending: records handed to the producer whose
	// outcome is not known yet (0: no bound).
	maxPending int64
	pending    atomic.Int64
}

// ErrOverloaded is returned at once when MaxPending records already wait
// for the broker: during a stall, newOrder sheds load instead of holding
// every request and its record in memory. It wraps ErrNotAcknowledged.
var ErrOverloaded = fmt.Errorf("%w: too many writes waiting for Kafka", ErrNotAcknowledged)

// SetMaxPending bounds the records waiting for the broker's answer; past
// it Publish returns ErrOverloaded at once. A record counts until the
// producer reports its outcome, not just until its caller stops waiting:
// that is what bounds memory during a long stall. Call it before Publish.
func (p *Publisher) SetMaxPending(n int) { p.maxPending = int64(n) }

// Pending is how many records wait for the broker's answer.
func (p *Publisher) Pending() int { return int(p.pending.Load()) }

// ErrNotAcknowledged wraps every publish failure: the record may or may not
// be on the topic, so the caller must answer "retry".
var ErrNotAcknowledged = errors.New("kafka did not acknowledge the write")

// renewEvery bounds how often a tripped producer is replaced.
const renewEvery = time.Second

// NewPublisher starts an idempotent producer on client.
func NewPublisher(client sarama.Client) (*Publisher, error) {
	p := &Publisher{client: client}
	producer, err := p.start()
	if err != nil {
		return nil, err
	}
	p.producer = producer
	p.watch(producer)
	return p, nil
}

// start starts a producer. On a stalled broker this takes long: an
// idempotent producer asks for its producer id first.
func (p *Publisher) start() (sarama.AsyncProducer, error) {
	producer, err := sarama.NewAsyncProducerFromClient(p.client)
	if err != nil {
		return nil, fmt.Errorf("starting producer: %w", err)
	}
	return producer, nil
}

// watch hands the results of producer (of this producer only, even after
// it is replaced) back to their callers. Call it with p.mu held, or before
// p is shared, so that Close waits for it.
func (p *Publisher) watch(producer sarama.AsyncProducer) {
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		for m := range producer.Successes() {
			m.Metadata.(chan error) <- nil
			p.pending.Add(-1)
		}
	}()
	go func() {
		defer p.done.Done()
		for e := range producer.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
			p.pending.Add(-1)
			if errors.Is(e.Err, breaker.ErrBreakerOpen) {
				// Whether or not its caller still waits: after a stall every
				// caller may have given up (or been shed), and nobody else
				// would replace the tripped producer.
				go p.renew(producer)
			}
		}
	}()
}

// Publish writes event to topic and returns once the broker acknowledged it
// on all in-sync replicas, or with an error wrapping ErrNotAcknowledged. The
// record key is the event's partitionkey extension and its timestamp the
// event's time.
//
// The write is traced ("send <topic>", a child of the span in ctx) and
// measured; the record carries that span's W3C trace context as the
// CloudEvents distributed-tracing extension (ce_traceparent, ce_tracestate).
func (p *Publisher) Publish(ctx context.Context, topic string, event cloudevents.Event) (err error) {
	ctx, done := telemetry.Publishing(ctx, topic, event.ID())
	defer func() { done(errorType(err)) }()
	return p.publish(ctx, topic, event)
}

func (p *Publisher) publish(ctx context.Context, topic string, event cloudevents.Event) error {
	result := make(chan error, 1)
	msg := &sarama.ProducerMessage{Topic: topic, Timestamp: event.Time(), Metadata: result}
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&event), msg); err != nil {
		return fmt.Errorf("encoding event %s: %w", event.ID(), err)
	}
	telemetry.InjectRecord(ctx, &msg.Headers)
	if n := p.pending.Add(1); p.maxPending > 0 && n > p.maxPending {
		p.pending.Add(-1)
		return fmt.Errorf("%w: event %s", ErrOverloaded, event.ID())
	}
	p.mu.RLock()
	producer := p.producer
	select {
	case producer.Input() <- msg:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		p.pending.Add(-1)
		return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), ctx.Err())
	}
	select {
	case err := <-result:
		if err != nil {
			if errors.Is(err, breaker.ErrBreakerOpen) {
				go p.renew(producer) // in the background: it may wait on the broker
			}
			return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), err)
		}
		return nil
	case <-ctx.Done():
		// The record may still be written; the id makes a retry recognisable.
		return fmt.Errorf("%w: event %s: %w", ErrNotAcknowledged, event.ID(), ctx.Err())
	}
}

// renew replaces a producer whose circuit breaker tripped. sarama opens a
// partition's breaker for a fixed 10 s after three failed leader lookups
// (a broker restart), and keeps failing writes for that long after the
// broker is back; a new producer starts with closed breakers. The new
// producer is started without holding p.mu: on a stalled broker that takes
// as long as the broker stays silent, and Publish must not wait for it
// (its callers are bounded by their context, not by the broker). One
// renewal runs at a time.
func (p *Publisher) renew(tripped sarama.AsyncProducer) {
	if !p.renewing.CompareAndSwap(false, true) {
		return
	}
	defer p.renewing.Store(false)
	p.mu.RLock()
	current := !p.closed && p.producer == tripped && time.Since(p.renewed) >= renewEvery
	p.mu.RUnlock()
	if !current {
		return // another caller renewed it already
	}
	// A refresh drops the connections that failed (sarama closes a broker
	// whose metadata request failed, and dials it again); the new
	// producer's first request (its producer id) goes to one of them, and
	// sarama retries that one on the same connection, even a dead one.
	// While the broker is silent the refresh fails (within Metadata.Timeout)
	// and the next failure tries again.
	if err := p.client.RefreshMetadata(); err != nil {
		return
	}
	fresh, err := p.start()
	if err != nil {
		return // keep the old one; the next failure tries again
	}
	p.mu.Lock()
	if p.closed || p.producer != tripped {
		p.mu.Unlock()
		fresh.AsyncClose() // never used: nothing to hand back
		return
	}
	p.producer, p.renewed = fresh, time.Now()
	p.watch(fresh)
	p.mu.Unlock()
	// No Publish holds tripped any more (they do so under p.mu.RLock); its
	// in-flight records still report their outcome.
	tripped.AsyncClose()
}

// Close flushes what is in flight and stops the producer.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.producer.AsyncClose()
	p.mu.Unlock()
	p.done.Wait()
	return nil
}

// errorType names a publish failure for metrics and spans (error.type):
// "" for none, overloaded (shed), timeout, canceled, breaker_open, the
// broker's error code, or _OTHER.
func errorType(err error) string {
	var kerr sarama.KError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrOverloaded):
		return "overloaded"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, breaker.ErrBreakerOpen):
		return "breaker_open"
	case errors.As(err, &kerr):
		return fmt.Sprintf("kafka_error_%d", int16(kerr))
	}
	return "_OTHER"
}
