package neworder

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
)

// Config is newOrder's environment.
type Config struct {
	kafka.Config
	kafka.TopicsConfig
	// PublishTimeout bounds the wait for Kafka's acknowledgement; past it the
	// client gets 503 and retries.
	PublishTimeout time.Duration `envconfig:"PUBLISH_TIMEOUT" default:"5s" check:"positive"`
	// MaxPendingPublishes bounds the orders waiting for Kafka's
	// acknowledgement; past it a request gets 503 at once. 0 derives it from
	// the memory limit (GOMEMLIMIT): see maxPending.
	MaxPendingPublishes int `envconfig:"MAX_PENDING_PUBLISHES" default:"0" check:"nonnegative"`
	// AuthConfig is the vendor registry: who may place orders (auth.go).
	AuthConfig
}

// Setup connects newOrder to Kafka and returns its handler. Every wait is
// bounded by ctx (STARTUP_TIMEOUT).
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	// A broker that stops answering is given up on within the publish
	// timeout, so the producer reconnects soon after it comes back.
	client, _, err := kafka.Open(ctx, cfg.Config, cfg.PublishTimeout, cfg.OrderTopicSpec())
	if err != nil {
		return nil, nil, err
	}
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	limit := maxPending(cfg.MaxPendingPublishes, debug.SetMemoryLimit(-1))
	pub.SetMaxPending(limit)
	log.Info("newOrder ready", "max_pending_publishes", limit, "publish_timeout", cfg.PublishTimeout.String())
	authz, stopAuth, err := openAuth(cfg.AuthConfig, log)
	if err != nil {
		pub.Close()
		client.Close()
		return nil, nil, err
	}
	f := New(pub, cfg.OrderTopic, cfg.PublishTimeout, time.Now, log)
	f.SetAuthorizer(authz)
	return f.Handler(), runner.CloserFunc(func() error {
		stopAuth.Close()
		pub.Close()
		return client.Close()
	}), nil
}

// Memory one order costs while it waits for Kafka's acknowledgement: the
// request (goroutine, buffers, body), the record in the producer and its
// retries, and the share of the clients' connections and retries shed
// meanwhile. Fault scenario 9 (200 new orders a second, every client
// retrying, a 45 s freeze) peaked at about 110 KiB per waiting order before
// the server bounded requests and connections (runner, server); rounded
// up, it leaves the pod room for the burst when a stall ends.
const pendingCost = 128 << 10

// defaultMaxPending applies when there is no memory limit to derive from.
const defaultMaxPending = 1000

// maxPending is the bound on orders waiting for Kafka: configured if set,
// else derived from the memory limit (server.MemoryBound): 256Mi gives 920.
func maxPending(configured int, memoryLimit int64) int {
	return server.MemoryBound(configured, memoryLimit, pendingCost, defaultMaxPending)
}
