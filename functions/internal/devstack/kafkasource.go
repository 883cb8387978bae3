package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// KafkaSource does locally what a Knative KafkaSource does in the cluster:
// it consumes a topic with a consumer group and POSTs each record to a sink
// as a binary-mode CloudEvent, retrying with exponential backoff on the
// answers Knative retries (5xx, 404, 408, 409, 429, network errors) and
// dead-lettering the rest. Offsets are committed only after the sink
// settled the event, so delivery is at least once.
type KafkaSource struct {
	Brokers []string
	Topic   string
	Group   string
	Sink    string
	// Retry is how many times a failed delivery is retried; Backoff is the
	// first delay, doubled on each retry (Knative's "exponential" policy).
	Retry   int
	Backoff time.Duration
	// DeadLetter receives events the sink refused or that ran out of
	// retries.
	DeadLetter func(ctx context.Context, e cloudevents.Event, reason string)
	Log        *slog.Logger
}

// Run consumes until ctx is done.
func (s *KafkaSource) Run(ctx context.Context) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-kafkasource"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true // marks are committed; only marked offsets count
	cfg.Consumer.Return.Errors = true
	group, err := sarama.NewConsumerGroup(s.Brokers, s.Group, cfg)
	if err != nil {
		return fmt.Errorf("kafkasource: joining group %q: %w", s.Group, err)
	}
	defer group.Close()
	client, err := cloudevents.NewClientHTTP(cehttp.WithClient(http.Client{Timeout: deliveryTimeout}))
	if err != nil {
		return fmt.Errorf("kafkasource: %w", err)
	}
	go func() {
		for err := range group.Errors() {
			s.Log.Warn("kafkasource consumer error", "error", err)
		}
	}()
	handler := &sourceHandler{source: s, client: client}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{s.Topic}, handler); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
			s.Log.Warn("kafkasource session ended", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

type sourceHandler struct {
	source *KafkaSource
	client cloudevents.Client
}

func (h *sourceHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *sourceHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim delivers one partition's records in order, like the
// KafkaSource's "ordered" delivery mode.
func (h *sourceHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		event, err := binding.ToEvent(sess.Context(), kafka_sarama.NewMessageFromConsumerMessage(m))
		if err != nil {
			h.source.Log.Warn("kafkasource: record is not a CloudEvent, skipped", "partition", m.Partition, "offset", m.Offset, "error", err)
			sess.MarkMessage(m, "")
			continue
		}
		if !h.source.deliver(sess.Context(), h.client, *event) {
			return nil // ctx done: leave unmarked, redelivered next time
		}
		sess.MarkMessage(m, "")
	}
	return nil
}

// deliver sends e until the sink settles it; false if ctx ended first.
func (s *KafkaSource) deliver(ctx context.Context, client cloudevents.Client, e cloudevents.Event) bool {
	backoff := s.Backoff
	for attempt := 0; ; attempt++ {
		sctx := cloudevents.ContextWithTarget(cloudevents.WithEncodingBinary(ctx), s.Sink)
		result := client.Send(sctx, e)
		status := statusOf(result)
		switch {
		case cloudevents.IsACK(result) && status/100 == 2:
			return true
		case ctx.Err() != nil:
			return false
		case !retryable(status):
			s.DeadLetter(ctx, e, fmt.Sprintf("sink answered %d: %v", status, result))
			return true
		case attempt >= s.Retry:
			s.DeadLetter(ctx, e, fmt.Sprintf("gave up after %d retries: %v", s.Retry, result))
			return true
		}
		s.Log.Warn("kafkasource: delivery failed, retrying", "event_id", e.ID(), "attempt", attempt+1, "status", status, "backoff", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// statusOf is the HTTP status of a send, or 0 for a network error.
func statusOf(result error) int {
	var r *cehttp.Result
	if cloudevents.ResultAs(result, &r) {
		return r.StatusCode
	}
	if result == nil || cloudevents.IsACK(result) {
		return http.StatusOK
	}
	return 0
}

// retryable is Knative's rule: network errors, 5xx, 404, 408, 409 and 429.
func retryable(status int) bool {
	switch {
	case status == 0, status >= 500:
		return true
	case status == http.StatusNotFound, status == http.StatusRequestTimeout,
		status == http.StatusConflict, status == http.StatusTooManyRequests:
		return true
	}
	return false
}

// deliveryTimeout bounds one POST to a sink, as Knative's delivery timeout
// does; a sink that hangs counts as a network error and is retried.
const deliveryTimeout = 60 * time.Second
