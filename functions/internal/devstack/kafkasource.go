package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// KafkaSource does locally what a Knative KafkaSource does in the cluster
// (the eventing-kafka-broker data plane, Knative 1.13+): it consumes a topic
// read_committed with a consumer group and POSTs each record to a sink as a
// binary-mode CloudEvent, retrying with exponential backoff on the answers
// Knative retries (5xx, 404, 408, 409, 429, network errors) and
// dead-lettering the rest. Offsets are committed only after the sink
// settled the event, so delivery is at least once.
//
// A record that is a valid CloudEvent (Kafka protocol binding, binary or
// structured) is forwarded as it is, plus the extensions
// knativekafkapartition and knativekafkaoffset. Any other record is
// wrapped in a new CloudEvent (see wrapRecord), as the real source does.
type KafkaSource struct {
	Brokers []string
	Topic   string
	Group   string
	Sink    string
	// Namespace and Name are the KafkaSource object's, used in the source
	// of wrapped records; empty means the deployed object's,
	// sopaipillas/summary-to-sendmail (k8s/app/kafkasource-summary-to-sendmail.yaml;
	// the name predates the report topic it now reads).
	Namespace, Name string
	// Retry is how many times a failed delivery is retried; Backoff is the
	// first delay, doubled on each retry (Knative's "exponential" policy:
	// retry 10 from PT1S waits 1 s, 2 s, ... 512 s).
	Retry   int
	Backoff time.Duration
	// MaxBackoff, when set, bounds each wait. Knative has no such bound;
	// the fault harness sets one so that a scenario ends in minutes.
	MaxBackoff time.Duration
	// DeadLetter receives events the sink refused or that ran out of
	// retries.
	DeadLetter func(ctx context.Context, e cloudevents.Event, reason string)
	// Attempted, when set, is told of each POST and its answer's status
	// (0: no answer), for a harness that checks the deliveries.
	Attempted func(e cloudevents.Event, status int)
	Log       *slog.Logger
}

// Run consumes until ctx is done.
func (s *KafkaSource) Run(ctx context.Context) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "sopaipillas-kafkasource"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = true // marks are committed; only marked offsets count
	cfg.Consumer.Return.Errors = true
	// The real source's consumer: isolation.level=read_committed
	// (data-plane/config/source/100-config-kafka-source-data-plane.yaml).
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	group, err := sarama.NewConsumerGroup(s.Brokers, s.Group, cfg)
	if err != nil {
		return fmt.Errorf("kafkasource: joining group %q: %w", s.Group, err)
	}
	defer group.Close()
	// Not NewClientHTTP: its defaults (WithTimeNow, WithUUIDs) would add a
	// time or an id the record's event does not have.
	protocol, err := cehttp.New(cehttp.WithClient(http.Client{Timeout: deliveryTimeout}))
	if err != nil {
		return fmt.Errorf("kafkasource: %w", err)
	}
	client, err := cloudevents.NewClient(protocol)
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
		event := h.source.toEvent(m)
		if !h.source.deliver(sess.Context(), h.client, event) {
			return nil // ctx done: leave unmarked, redelivered next time
		}
		sess.MarkMessage(m, "")
	}
	return nil
}

// The rules below follow knative-extensions/eventing-kafka-broker,
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/
// dispatcher/impl/consumer/: CloudEventDeserializer.java (a record the
// CloudEvents Kafka binding refuses is "invalid"), NullCloudEventInterceptor
// (a null value may still be a binary CloudEvent), KeyDeserializer (the key
// as a UTF-8 string; empty is none), InvalidCloudEventInterceptor.java (the
// wrapping) and CloudEventOverridesMutator.java (the two extensions, added
// to every event, wrapped ones included, as the interceptor runs first).

// wrappedType is the type of a record that was not a CloudEvent.
const wrappedType = "dev.knative.kafka.event"

// toEvent is the event the real source sends for m.
func (s *KafkaSource) toEvent(m *sarama.ConsumerMessage) cloudevents.Event {
	e, ok := recordEvent(m)
	if !ok {
		e = s.wrapRecord(m)
	}
	e.SetExtension("knativekafkapartition", strconv.FormatInt(int64(m.Partition), 10))
	e.SetExtension("knativekafkaoffset", strconv.FormatInt(m.Offset, 10))
	return e
}

// recordEvent reads m as a CloudEvent of the Kafka protocol binding: a
// structured one (content-type application/cloudevents...) or a binary one
// (a ce_specversion header), valid by the spec's rules.
func recordEvent(m *sarama.ConsumerMessage) (cloudevents.Event, bool) {
	headers := make(map[string][]byte, len(m.Headers))
	var contentType string
	for _, h := range m.Headers {
		k := strings.ToLower(string(h.Key))
		if k == "content-type" {
			contentType = string(h.Value)
		}
		headers[k] = h.Value
	}
	// kafka_sarama.NewMessage, not NewMessageFromConsumerMessage: that one
	// adds kafkatopic, kafkapartition and kafkaoffset extensions the real
	// source does not send.
	e, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessage(m.Value, contentType, headers))
	if err != nil || e.Validate() != nil {
		return cloudevents.Event{}, false
	}
	return *e, true
}

// wrapRecord builds the event of a record that is not a CloudEvent, as
// InvalidCloudEventInterceptor.validRecord does: id
// "partition:<p>/offset:<o>", source
// "/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>", subject
// "partition:<p>#<o>", time the record's timestamp, the key (when not
// empty) as extensions key and partitionkey, each header but content-type
// as kafkaheader<name> (name lower-cased, all but a-z and 0-9 dropped; a
// later header of the same name wins), content-type as the datacontenttype
// (lower-cased), and the raw value as data.
func (s *KafkaSource) wrapRecord(m *sarama.ConsumerMessage) cloudevents.Event {
	ns, name := s.Namespace, s.Name
	if ns == "" {
		ns = "sopaipillas"
	}
	if name == "" {
		name = "summary-to-sendmail"
	}
	e := cloudevents.NewEvent()
	e.SetID(fmt.Sprintf("partition:%d/offset:%d", m.Partition, m.Offset))
	e.SetTime(time.UnixMilli(m.Timestamp.UnixMilli()).UTC())
	e.SetType(wrappedType)
	e.SetSource(fmt.Sprintf("/apis/v1/namespaces/%s/kafkasources/%s#%s", ns, name, m.Topic))
	e.SetSubject(fmt.Sprintf("partition:%d#%d", m.Partition, m.Offset))
	if len(m.Key) > 0 {
		e.SetExtension("partitionkey", javaString(m.Key))
		e.SetExtension("key", javaString(m.Key))
	}
	contentType := ""
	for _, h := range m.Headers {
		if strings.EqualFold(string(h.Key), "content-type") {
			contentType = strings.ToLower(javaString(h.Value))
			continue
		}
		e.SetExtension("kafkaheader"+extensionSuffix(string(h.Key)), javaString(h.Value))
	}
	if contentType != "" {
		e.SetDataContentType(contentType)
	}
	if m.Value != nil {
		e.DataEncoded = m.Value
	}
	return e
}

// extensionSuffix is InvalidCloudEventInterceptor.replaceBadChars: each
// character lower-cased, then only a-z and 0-9 kept.
func extensionSuffix(name string) string {
	var b strings.Builder
	for _, r := range name {
		r = unicode.ToLower(r)
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// javaString is new String(b, UTF_8): each invalid byte becomes U+FFFD.
func javaString(b []byte) string { return string([]rune(string(b))) }

// deliver sends e until the sink settles it; false if ctx ended first. A
// POST in flight when ctx ends completes (within deliveryTimeout), as a
// stopping dispatcher drains: cut short, it would leave the sink halfway.
func (s *KafkaSource) deliver(ctx context.Context, client cloudevents.Client, e cloudevents.Event) bool {
	backoff := s.backoff()
	var status int
	r := retrier.New(backoff, retry.Classifier(func(err error) retrier.Action {
		switch {
		case err == nil:
			return retrier.Succeed
		case ctx.Err() == nil && retryable(status):
			return retrier.Retry
		}
		return retrier.Fail
	}))
	err := retry.Run(ctx, r, func(_ context.Context, attempt int) error {
		sctx := cloudevents.ContextWithTarget(cloudevents.WithEncodingBinary(context.WithoutCancel(ctx)), s.Sink)
		result := client.Send(sctx, e)
		status = statusOf(result)
		if s.Attempted != nil {
			s.Attempted(e, status)
		}
		if cloudevents.IsACK(result) && status/100 == 2 {
			return nil
		}
		if retryable(status) && attempt < len(backoff) {
			s.Log.Warn("kafkasource: delivery failed, retrying", "event_id", e.ID(), "attempt", attempt+1, "status", status, "backoff", backoff[attempt])
		}
		return fmt.Errorf("sink answered %d: %w", status, result)
	})
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		return false // unmarked: delivered again by the next session
	case !retryable(status):
		s.DeadLetter(ctx, e, err.Error())
	default:
		s.DeadLetter(ctx, e, fmt.Sprintf("gave up after %d retries: %v", s.Retry, err))
	}
	return true
}

// backoff is the wait before each retry: Retry waits from Backoff,
// doubling, each at most MaxBackoff when that is set.
func (s *KafkaSource) backoff() []time.Duration {
	if s.MaxBackoff > 0 {
		return retrier.LimitedExponentialBackoff(s.Retry, s.Backoff, s.MaxBackoff)
	}
	return retrier.ExponentialBackoff(s.Retry, s.Backoff)
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
