package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
)

// source does what a Knative KafkaSource does for sendMail: it is the dev
// stack's KafkaSource stand-in (read_committed, a consumer group from the
// oldest offset, binary CloudEvents forwarded with knativekafkapartition
// and knativekafkaoffset, other records wrapped as dev.knative.kafka.event,
// Knative's retry and dead-letter rules), retrying until the sink settles
// each event with waits from 200 ms doubling to at most 2 s, so that a
// scenario ends in minutes, and recording every POST.
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

// Waits of the harness's source: enough retries for any scenario, none
// longer than sourceMaxBackoff.
const (
	sourceRetry      = 10_000
	sourceBackoff    = 200 * time.Millisecond
	sourceMaxBackoff = 2 * time.Second
)

// run delivers until ctx is done.
func (s *source) run(ctx context.Context) error {
	ks := &devstack.KafkaSource{
		Brokers: s.brokers, Topic: s.topic, Group: "sopaipillas-faults-" + s.topic, Sink: s.sink,
		Retry: sourceRetry, Backoff: sourceBackoff, MaxBackoff: sourceMaxBackoff,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeadLetter: s.deadLetter,
		Attempted:  s.attempted,
	}
	return ks.Run(ctx)
}

func (s *source) attempted(e cloudevents.Event, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, delivery{eventID: e.ID(), status: status, at: time.Now()})
	if status/100 == 2 {
		if s.settled == nil {
			s.settled = map[string]bool{}
		}
		s.settled[e.ID()] = true
	}
}

func (s *source) deadLetter(_ context.Context, e cloudevents.Event, reason string) {
	s.mu.Lock()
	s.deadLetters = append(s.deadLetters, e.ID())
	s.mu.Unlock()
	logf("source: %s dead-lettered: %s", e.ID(), reason)
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
