package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// offsetRetryFor bounds how long GetOffset waits out a missing leader.
const offsetRetryFor = 10 * time.Second

// GetOffset is sarama's Client.GetOffset bounded by ctx, that also waits
// out the moments when a partition has no usable leader: right after the
// topic was created (a KRaft broker serves metadata before its replica is
// ready) and during a leader election. Other errors return at once.
func GetOffset(ctx context.Context, client sarama.Client, topic string, p int32, at int64) (int64, error) {
	deadline := time.Now().Add(offsetRetryFor)
	backoff := 50 * time.Millisecond
	for {
		offset, err := OffsetAt(ctx, client, topic, p, at)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("offset of %s/%d: %w", topic, p, ctx.Err())
		}
		if err == nil || !leaderMissing(err) || time.Now().After(deadline) {
			return offset, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (while waiting for a leader: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// OffsetAt is client.GetOffset bounded by ctx, tried once: the first
// offset stamped at or after at (milliseconds), or sarama.OffsetOldest or
// sarama.OffsetNewest.
func OffsetAt(ctx context.Context, client sarama.Client, topic string, p int32, at int64) (int64, error) {
	return bounded(ctx, func() (int64, error) { return client.GetOffset(topic, p, at) }, nil, nil)
}

func leaderMissing(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrUnknownTopicOrPartition) ||
		errors.Is(err, sarama.ErrOffsetNotAvailable)
}
