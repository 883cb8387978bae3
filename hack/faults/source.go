package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// source does what a Knative KafkaSource does for sendMail: it reads the
// summary topic and POSTs each record to the sink as a binary-mode
// CloudEvent, again and again (with backoff) until the sink answers 2xx.
// It reads every partition from the oldest offset and is never restarted
// in a scenario, so it needs no committed position.
type source struct {
	brokers []string
	topic   string
	sink    string

	mu          sync.Mutex
	attempts    []delivery
	settled     map[string]bool // event ids answered 2xx
	deadLetters []string
}

// delivery is one POST to the sink.
type delivery struct {
	eventID string
	status  int // 0: no answer
	at      time.Time
}

// run delivers until ctx is done.
func (s *source) run(ctx context.Context) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-faults-source"
	consumer, err := sarama.NewConsumer(s.brokers, cfg)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(s.topic)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	client, err := cloudevents.NewClientHTTP(cehttp.WithClient(http.Client{Timeout: time.Minute}))
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	var wg sync.WaitGroup
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(s.topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("source: %s/%d: %w", s.topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					e, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(m))
					if err != nil {
						logf("source: record %d/%d is not a CloudEvent, skipped", m.Partition, m.Offset)
						continue
					}
					s.deliver(ctx, client, *e)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// deliver POSTs e until a 2xx, with exponential backoff from 200ms to 2s.
// A 4xx the KafkaSource does not retry sends e to the dead letters.
func (s *source) deliver(ctx context.Context, client cloudevents.Client, e cloudevents.Event) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		result := client.Send(cloudevents.ContextWithTarget(cloudevents.WithEncodingBinary(ctx), s.sink), e)
		status := 0
		var r *cehttp.Result
		if cloudevents.ResultAs(result, &r) {
			status = r.StatusCode
		} else if cloudevents.IsACK(result) {
			status = http.StatusOK
		}
		s.mu.Lock()
		s.attempts = append(s.attempts, delivery{eventID: e.ID(), status: status, at: time.Now()})
		if status/100 == 2 {
			s.settled[e.ID()] = true
		}
		s.mu.Unlock()
		if status/100 == 2 {
			return
		}
		if status/100 == 4 && !slices.Contains([]int{404, 408, 409, 429}, status) {
			s.mu.Lock()
			s.deadLetters = append(s.deadLetters, e.ID())
			s.mu.Unlock()
			logf("source: sink answered %d to %s: dead-lettered", status, e.ID())
			return
		}
		_ = sleep(ctx, backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// deliveries returns the POSTs so far.
func (s *source) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.attempts...)
}

// isSettled reports whether event id was answered 2xx.
func (s *source) isSettled(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settled[id]
}

// deadLettered reports whether some event was given up.
func (s *source) deadLettered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deadLetters) > 0
}
