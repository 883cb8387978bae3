package neworder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

// Config is newOrder's environment.
type Config struct {
	kafka.Config
	kafka.TopicsConfig
	// PublishTimeout bounds the wait for Kafka's acknowledgement; past it the
	// client gets 503 and retries.
	PublishTimeout time.Duration `envconfig:"PUBLISH_TIMEOUT" default:"5s"`
	// AuthConfig is the vendor registry: who may place orders (auth.go).
	AuthConfig
}

// Setup connects newOrder to Kafka and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	scfg := kafka.NewSaramaConfig(cfg.ClientID)
	if cfg.CreateTopics {
		if err := kafka.EnsureTopics(cfg.Brokers, scfg, cfg.ReplicationFactor, cfg.OrderTopicSpec()); err != nil {
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
