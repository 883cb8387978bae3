package dailysummary

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// Config is dailySummary's environment.
type Config struct {
	kafka.Config
	kafka.TopicsConfig
	// TimeZone decides which calendar day an order belongs to.
	TimeZone string `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	// Timeout bounds reading a day and publishing its summary.
	Timeout time.Duration `envconfig:"SUMMARY_TIMEOUT" default:"2m" check:"positive"`
	// Token, when set, is required on direct calls as a bearer token.
	Token runner.Secret `envconfig:"SUMMARY_TOKEN"`
}

// Setup connects dailySummary to Kafka and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	if err := runner.CheckToken("SUMMARY_TOKEN", string(cfg.Token)); err != nil {
		return nil, nil, err
	}
	loc, err := runner.Location("SUMMARY_TIMEZONE", cfg.TimeZone)
	if err != nil {
		return nil, nil, err
	}
	// A broker that stops answering fails each call within the summary's
	// bound, so an abandoned call does not outlive the request by much.
	client, scfg, err := kafka.Open(ctx, cfg.Config, cfg.Timeout, cfg.OrderTopicSpec(), cfg.SummaryTopicSpec())
	if err != nil {
		return nil, nil, err
	}
	// The read is right whatever the setting; the setting decides whose
	// clock places an order in its day. Existing topics are not altered.
	switch tt, err := kafka.TimestampTypeContext(ctx, cfg.Brokers, scfg, cfg.OrderTopic); {
	case err != nil:
		log.Warn("could not check the order topic's message.timestamp.type", "topic", cfg.OrderTopic, "error", err)
	case tt != kafka.LogAppendTime:
		log.Warn("the order topic is not stamped by the broker: an order's day follows the clock of whoever wrote it",
			"topic", cfg.OrderTopic, "message.timestamp.type", tt, "want", kafka.LogAppendTime)
	}
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	// The reader's clients connect once, here, not per summary.
	reader := kafka.NewReader(client, cfg.Brokers)
	f := New(KafkaLog{Client: client, Brokers: cfg.Brokers, Topic: cfg.OrderTopic, Reader: reader}, pub, Options{
		SummaryTopic: cfg.SummaryTopic,
		Location:     loc,
		Retention:    cfg.Retention,
		Timeout:      cfg.Timeout,
		Token:        string(cfg.Token),
		Now:          time.Now,
	}, log)
	return f.Handler(), runner.CloserFunc(func() error {
		pub.Close()
		reader.Close()
		return client.Close()
	}), nil
}

// KafkaLog is the order topic on Kafka.
type KafkaLog struct {
	Client sarama.Client
	// Brokers is the bootstrap list, for the extra readers of a large day.
	Brokers []string
	Topic   string
	// Reader, if set, reads with clients connected once; otherwise each
	// Scan connects its own extra clients.
	Reader *kafka.Reader
}

// Scan reads every committed record of every partition (but those whose
// visitor is nil), from the oldest
// the topic keeps to its last stable offset when Scan starts
// (kafka.ReadCommitted). from and to only size the tally: the broker's
// time index estimates how many records the day has.
func (l KafkaLog) Scan(ctx context.Context, from, to time.Time, visitor func(partition int32, expect Expect) func(Record)) error {
	read := func(topic string, visitor func(r kafka.Range) kafka.Visit) error {
		return kafka.ReadCommitted(ctx, l.Client, l.Brokers, topic, visitor)
	}
	if l.Reader != nil {
		read = func(topic string, visitor func(r kafka.Range) kafka.Visit) error {
			return l.Reader.ReadCommitted(ctx, topic, visitor)
		}
	}
	links := telemetry.OrderLinks(ctx) // the read span links to the day's orders
	return read(l.Topic, func(r kafka.Range) kafka.Visit {
		visit := visitor(r.Partition, l.estimate(ctx, r, from, to))
		if visit == nil {
			return nil
		}
		return func(m *sarama.ConsumerMessage) error {
			links.Add(m.Timestamp, m.Headers)
			visit(recordOf(ctx, m))
			return nil
		}
	})
}

// estimate places r's records before, in and after [from, to) by the
// broker's time index: exact when timestamps are in offset order, a hint
// otherwise.
func (l KafkaLog) estimate(ctx context.Context, r kafka.Range, from, to time.Time) Expect {
	size := int(r.End - r.Start)
	start, err1 := kafka.OffsetAt(ctx, l.Client, l.Topic, r.Partition, from.UnixMilli())
	end, err2 := kafka.OffsetAt(ctx, l.Client, l.Topic, r.Partition, to.UnixMilli())
	if err1 != nil || err2 != nil {
		return Expect{Day: size}
	}
	clamp := func(o int64) int64 {
		if o < 0 || o > r.End { // -1: nothing stamped at or after
			return r.End
		}
		return max(o, r.Start)
	}
	start, end = clamp(start), clamp(end)
	return Expect{Before: int(start - r.Start), Day: int(max(0, end-start)), After: int(r.End - max(end, start))}
}

// recordOf decodes one record of the order topic. A record exactly as
// newOrder writes it is decoded by the fast path without building a
// CloudEvent. Otherwise, by what the record is (README, "Legacy records"):
//   - a binary-mode CloudEvent (ce_ headers) or one whose content-type says
//     structured mode: through the CloudEvents Kafka binding;
//   - a JSON object with a "specversion" member, whatever the content-type
//     header says (older SDKs write application/json): a structured-mode
//     CloudEvent;
//   - any other value: a plain-JSON order, as the seed's API wrote them.
func recordOf(ctx context.Context, m *sarama.ConsumerMessage) Record {
	var r Record
	if r.fast.decode(m.Headers, m.Value) {
		r.Partition, r.Offset, r.Timestamp = m.Partition, m.Offset, m.Timestamp
		return r
	}
	return slowRecordOf(ctx, m)
}

// slowRecordOf is recordOf without the fast path.
func slowRecordOf(ctx context.Context, m *sarama.ConsumerMessage) Record {
	r := Record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp}
	msg := kafka_sarama.NewMessageFromConsumerMessage(m)
	if msg.ReadEncoding() != binding.EncodingUnknown {
		event, err := binding.ToEvent(ctx, msg)
		if err == nil {
			err = event.Validate() // ToEvent does not check the required attributes
		}
		if err != nil {
			r.Skip = SkipInvalidCloudEvent
			return r
		}
		r.Event = event
		return r
	}
	if events.IsStructuredEvent(m.Value) {
		event, order, err := events.OrderFromStructured(m.Value)
		var syntax *events.SyntaxError
		switch {
		case errors.As(err, &syntax):
			r.Skip = SkipInvalidCloudEvent
		case event.Type() != events.TypeOrderCreated:
			r.Skip = SkipOtherEventType
		case err != nil:
			r.Skip = SkipInvalidOrder
		default:
			r.Order, r.EventID = &order, event.ID()
		}
		return r
	}
	order, err := events.DecodeOrder(m.Value)
	var syntax *events.SyntaxError
	switch {
	case errors.As(err, &syntax):
		r.Skip = SkipNotAnOrder
	case err != nil:
		r.Skip = SkipInvalidOrder
	default:
		r.Order = &order
	}
	return r
}
