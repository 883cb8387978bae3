package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// bounded runs call, a sarama call that takes no context (client creation,
// metadata refresh, a request to one broker), and returns its result, or
// ctx's error as soon as ctx is done, whichever comes first. The call
// itself cannot be stopped: abandon, if not nil, is called to cut it short
// (closing the connection it waits on), and release, if not nil, gets the
// result of a call that ended after it was abandoned (a client created too
// late is closed that way). The client's own timeouts (Net.ReadTimeout,
// Metadata.Timeout, SizeTimeouts) bound how long an abandoned call runs on.
func bounded[T any](ctx context.Context, call func() (T, error), abandon func(), release func(T)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
	}
	if abandon != nil {
		abandon()
	}
	if release != nil {
		go func() {
			if r := <-done; r.err == nil {
				release(r.v)
			}
		}()
	}
	var zero T
	return zero, ctx.Err()
}

// Connect is sarama.NewClient bounded by ctx: a broker that accepts
// connections but never answers (frozen, or behind a silent partition)
// makes it return ctx's error instead of waiting out every retry. A client
// that connects after ctx is done is closed.
// Until ctx is done, a failure to reach any broker is retried: a broker
// that is restarting or thawing is waited for, up to STARTUP_TIMEOUT.
func Connect(ctx context.Context, brokers []string, cfg *sarama.Config) (sarama.Client, error) {
	client, err := retryUnreachable(ctx, func() (sarama.Client, error) {
		return bounded(ctx, func() (sarama.Client, error) { return sarama.NewClient(brokers, cfg) },
			nil, func(c sarama.Client) { c.Close() })
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", brokers, err)
	}
	return client, nil
}

// retryUnreachable calls f again, after a second, while it fails because
// no broker could be reached and ctx is not done. The last error is
// returned (with ctx's when ctx ended during a wait).
func retryUnreachable[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var v T
	err := retry.Every(ctx, time.Second, func(err error) retrier.Action {
		switch {
		case err == nil:
			return retrier.Succeed
		case ctx.Err() == nil && unreachable(err):
			return retrier.Retry
		}
		return retrier.Fail
	}, func(context.Context) error {
		var err error
		v, err = f()
		return err
	})
	return v, err
}

// unreachable reports an error that says no broker answered, as opposed to
// one a broker gave.
func unreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne)
}

// RefreshMetadata is client.RefreshMetadata(topic) bounded by ctx.
func RefreshMetadata(ctx context.Context, client sarama.Client, topic string) error {
	_, err := bounded(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshMetadata(topic) }, nil, nil)
	return err
}

// Partitions is client.Partitions(topic) bounded by ctx: it refreshes the
// metadata when the topic is not known yet.
func Partitions(ctx context.Context, client sarama.Client, topic string) ([]int32, error) {
	return bounded(ctx, func() ([]int32, error) { return client.Partitions(topic) }, nil, nil)
}

// Open is what each function does first at start: a client configured as
// every function's (NewSaramaConfig) with its waits fitted to bound
// (SizeTimeouts: PUBLISH_TIMEOUT, SUMMARY_TIMEOUT, BOARD_TIMEOUT), the
// missing topics among topics created when cfg.CreateTopics, then Connect;
// all within ctx (STARTUP_TIMEOUT). It returns the client and its settings
// (for further admin calls).
func Open(ctx context.Context, cfg Config, bound time.Duration, topics ...Topic) (sarama.Client, *sarama.Config, error) {
	scfg := NewSaramaConfig(cfg.ClientID)
	SizeTimeouts(scfg, bound)
	if cfg.CreateTopics {
		if err := EnsureTopicsContext(ctx, cfg.Brokers, scfg, cfg.ReplicationFactor, topics...); err != nil {
			return nil, nil, err
		}
	}
	client, err := Connect(ctx, cfg.Brokers, scfg)
	if err != nil {
		return nil, nil, err
	}
	return client, scfg, nil
}
