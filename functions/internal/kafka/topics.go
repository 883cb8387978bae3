package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// Topic describes a topic the functions rely on.
type Topic struct {
	Name        string
	Partitions  int32
	RetentionMs int64
	// Compact keeps the latest record of each key as well as the retention
	// window (cleanup.policy=compact,delete).
	Compact bool
	// TimestampType is message.timestamp.type: LogAppendTime makes every
	// record's timestamp the broker's clock when it appended the record;
	// empty keeps the broker's default (CreateTime, the producer's clock).
	TimestampType string
}

// LogAppendTime is the message.timestamp.type of the order topic: an
// order's day is the day Kafka acknowledged it, whatever the clock of the
// process that wrote it (README, "Which day an order counts in").
const LogAppendTime = "LogAppendTime"

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left exactly as they are, so it is safe to run at every start and from
// every replica at once.
func EnsureTopics(brokers []string, cfg *sarama.Config, replication int16, topics ...Topic) error {
	return EnsureTopicsContext(context.Background(), brokers, cfg, replication, topics...)
}

// EnsureTopicsContext is EnsureTopics bounded by ctx: a broker that accepts
// connections but does not answer makes it return ctx's error. Until then
// a broker that cannot be reached is tried again.
func EnsureTopicsContext(ctx context.Context, brokers []string, cfg *sarama.Config, replication int16, topics ...Topic) error {
	_, err := retryUnreachable(ctx, func() (struct{}, error) {
		return bounded(ctx, func() (struct{}, error) { return struct{}{}, ensureTopics(ctx, brokers, cfg, replication, topics) }, nil, nil)
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("creating topics at %v: %w", brokers, err)
	}
	return err
}

func ensureTopics(ctx context.Context, brokers []string, cfg *sarama.Config, replication int16, topics []Topic) error {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %v: %w", brokers, err)
	}
	defer admin.Close()
	for _, t := range topics {
		retention := strconv.FormatInt(t.RetentionMs, 10)
		entries := map[string]*string{"retention.ms": &retention}
		if t.Compact {
			policy := "compact,delete"
			entries["cleanup.policy"] = &policy
		}
		if t.TimestampType != "" {
			tt := t.TimestampType
			entries["message.timestamp.type"] = &tt
		}
		err := admin.CreateTopic(t.Name, &sarama.TopicDetail{
			NumPartitions:     t.Partitions,
			ReplicationFactor: replication,
			ConfigEntries:     entries,
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("creating topic %q: %w", t.Name, err)
		}
	}
	return waitForLeaders(ctx, admin, topics)
}

// waitForLeaders returns once every partition of topics has a leader. A
// real broker takes a moment to elect them after CreateTopics returns, and
// until then reads and writes fail with NotLeaderForPartition.
func waitForLeaders(ctx context.Context, admin sarama.ClusterAdmin, topics []Topic) error {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errNoLeader := errors.New("a partition has no leader")
	err := retry.Every(ctx, 100*time.Millisecond, func(err error) retrier.Action {
		if err == nil {
			return retrier.Succeed
		}
		return retrier.Retry
	}, func(context.Context) error {
		md, err := admin.DescribeTopics(names)
		if err == nil && !allLed(md) {
			err = errNoLeader
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("topics %v have no leader: %w", names, err)
	}
	return nil
}

func allLed(md []*sarama.TopicMetadata) bool {
	for _, t := range md {
		if !errors.Is(t.Err, sarama.ErrNoError) || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if !errors.Is(p.Err, sarama.ErrNoError) || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// TopicsConfig names the topics and how they are created when missing.
type TopicsConfig struct {
	OrderTopic        string        `envconfig:"ORDER_TOPIC" default:"order"`
	SummaryTopic      string        `envconfig:"SUMMARY_TOPIC" default:"summary"`
	OrderPartitions   int32         `envconfig:"ORDER_TOPIC_PARTITIONS" default:"6"`
	SummaryPartitions int32         `envconfig:"SUMMARY_TOPIC_PARTITIONS" default:"3"`
	Retention         time.Duration `envconfig:"TOPIC_RETENTION" default:"72h"`
}

// OrderTopicSpec is the "order" topic, stamped by the broker.
func (c TopicsConfig) OrderTopicSpec() Topic {
	return Topic{Name: c.OrderTopic, Partitions: c.OrderPartitions, RetentionMs: c.Retention.Milliseconds(), TimestampType: LogAppendTime}
}

// TimestampType returns the message.timestamp.type a topic has, as the
// broker reports it. Topics that already exist are never altered, so the
// functions check it at start and warn when it is not the one they create.
func TimestampType(brokers []string, cfg *sarama.Config, topic string) (string, error) {
	return TimestampTypeContext(context.Background(), brokers, cfg, topic)
}

// TimestampTypeContext is TimestampType bounded by ctx.
func TimestampTypeContext(ctx context.Context, brokers []string, cfg *sarama.Config, topic string) (string, error) {
	return bounded(ctx, func() (string, error) { return timestampType(brokers, cfg, topic) }, nil, nil)
}

func timestampType(brokers []string, cfg *sarama.Config, topic string) (string, error) {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return "", fmt.Errorf("connecting to Kafka at %v: %w", brokers, err)
	}
	defer admin.Close()
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"message.timestamp.type"}})
	if err != nil {
		return "", fmt.Errorf("describing topic %q: %w", topic, err)
	}
	for _, e := range entries {
		if e.Name == "message.timestamp.type" {
			return e.Value, nil
		}
	}
	return "CreateTime", nil // Kafka's default when not reported
}

// SummaryTopicSpec is the "summary" topic.
func (c TopicsConfig) SummaryTopicSpec() Topic {
	return Topic{Name: c.SummaryTopic, Partitions: c.SummaryPartitions, RetentionMs: c.Retention.Milliseconds()}
}
