package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// offsetRetryFor bounds how long GetOffset waits out a missing leader.
const offsetRetryFor = 10 * time.Second

// GetOffset is sarama's Client.GetOffset bounded by ctx, that also waits
// out the moments when a partition has no usable leader: right after the
// topic was created (a KRaft broker serves metadata before its replica is
// ready) and during a leader election. Other errors return at once.
func GetOffset(ctx context.Context, client sarama.Client, topic string, p int32, at int64) (int64, error) {
	deadline := time.Now().Add(offsetRetryFor)
	// Waits of 50 ms doubling to 1 s, then 1 s until the deadline.
	r := retrier.New(retrier.LimitedExponentialBackoff(6, 50*time.Millisecond, time.Second), retry.Classifier(func(err error) retrier.Action {
		switch {
		case err == nil:
			return retrier.Succeed
		case ctx.Err() == nil && leaderMissing(err) && time.Now().Before(deadline):
			return retrier.Retry
		}
		return retrier.Fail
	})).WithInfiniteRetry()
	var offset int64
	err := retry.Run(ctx, r, func(ctx context.Context, _ int) error {
		var err error
		offset, err = OffsetAt(ctx, client, topic, p, at)
		return err
	})
	if ctx.Err() != nil {
		return 0, fmt.Errorf("offset of %s/%d: %w", topic, p, err)
	}
	return offset, err
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
