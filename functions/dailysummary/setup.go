package dailysummary

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

// Config is dailySummary's environment.
type Config struct {
	kafka.Config
	kafka.TopicsConfig
	// TimeZone decides which calendar day an order belongs to.
	TimeZone string `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	// Lookback is how long before a day its summary looks for earlier
	// versions of the same orders (client retries across midnight).
	Lookback time.Duration `envconfig:"SUMMARY_LOOKBACK" default:"1h"`
	// Timeout bounds reading a day and publishing its summary.
	Timeout time.Duration `envconfig:"SUMMARY_TIMEOUT" default:"2m"`
	// Token, when set, is required on direct calls as a bearer token.
	Token string `envconfig:"SUMMARY_TOKEN"`
}

// Setup connects dailySummary to Kafka and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, nil, fmt.Errorf("SUMMARY_TIMEZONE %q: %w", cfg.TimeZone, err)
	}
	scfg := kafka.NewSaramaConfig(cfg.ClientID)
	if cfg.CreateTopics {
		if err := kafka.EnsureTopics(cfg.Brokers, scfg, cfg.ReplicationFactor, cfg.OrderTopicSpec(), cfg.SummaryTopicSpec()); err != nil {
			return nil, nil, err
		}
	}
	client, err := sarama.NewClient(cfg.Brokers, scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to Kafka at %v: %w", cfg.Brokers, err)
	}
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	f := New(KafkaLog{Client: client, Brokers: cfg.Brokers, Topic: cfg.OrderTopic}, pub, Options{
		SummaryTopic: cfg.SummaryTopic,
		Location:     loc,
		Retention:    cfg.Retention,
		Lookback:     cfg.Lookback,
		Timeout:      cfg.Timeout,
		Token:        cfg.Token,
		Now:          time.Now,
	}, log)
	return f.Handler(), runner.CloserFunc(func() error {
		pub.Close()
		return client.Close()
	}), nil
}

// KafkaLog is the order topic on Kafka.
type KafkaLog struct {
	Client sarama.Client
	// Brokers is the bootstrap list, for the extra readers of a large day.
	Brokers []string
	Topic   string
}

// Scan reads the records stamped in [from, to) of every partition. A record
// exactly as newOrder writes it is decoded by decodeFast without building a
// CloudEvent; anything else goes through the CloudEvents binding.
func (l KafkaLog) Scan(ctx context.Context, from, to time.Time, visitor func(partition int32) func(Record)) error {
	return kafka.ReadWindow(ctx, l.Client, l.Brokers, l.Topic, from, to, func(p int32) kafka.Visit {
		visit := visitor(p)
		return func(m *sarama.ConsumerMessage) error {
			visit(recordOf(ctx, m))
			return nil
		}
	})
}

// recordOf reads one record of the order topic.
func recordOf(ctx context.Context, m *sarama.ConsumerMessage) Record {
	r := Record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp}
	if !r.fast.decode(m.Headers, m.Value) {
		// A record missing a required attribute (id, source) is not an
		// order event, however valid its data: skipped like any poison.
		if event, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(m)); err == nil && event.Validate() == nil {
			r.Event = event
		}
	}
	return r
}
