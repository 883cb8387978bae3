package salesboard

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// Config is salesBoard's environment.
type Config struct {
	kafka.Config
	OrderTopic string `envconfig:"ORDER_TOPIC" default:"order"`
	// OrderPartitions and Retention create a missing order topic as
	// newOrder would; Retention also bounds the days offered.
	OrderPartitions int32         `envconfig:"ORDER_TOPIC_PARTITIONS" default:"6"`
	Retention       time.Duration `envconfig:"TOPIC_RETENTION" default:"72h"`
	// TimeZone decides which calendar day an order belongs to: it must be
	// dailySummary's.
	TimeZone string `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	// Timeout bounds one question to Kafka (where the topic ends, one live
	// update of today); whole counts of a day run in the background,
	// unbounded, and the day answers "counting" meanwhile.
	Timeout time.Duration `envconfig:"BOARD_TIMEOUT" default:"30s" check:"positive"`
	// Token, when set, is the owner's key: entered once, kept in a cookie.
	Token runner.Secret `envconfig:"BOARD_TOKEN"`
	// VendorsConfig is the vendor registry (VENDORS_FILE, newOrder's and
	// sendMail's): the board shows each vendor's name from it. Without it
	// the board shows addresses.
	VendorsConfig
}

// VendorsConfig is vendors.Config under a name of its own, so that Config
// can embed it beside kafka.Config (envconfig reads an embedded struct's
// variables without a prefix).
type VendorsConfig = vendors.Config

// Setup connects salesBoard to Kafka and returns its handler, ready at
// once: today is counted whole in the background (Board.Run), since a
// whole read of a full topic outlasts any startup bound (26 s at 3 days
// of 10M orders on the bench, docs/sales-board.md).
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	if err := runner.CheckToken("BOARD_TOKEN", string(cfg.Token)); err != nil {
		return nil, nil, err
	}
	loc, err := runner.Location("SUMMARY_TIMEZONE", cfg.TimeZone)
	if err != nil {
		return nil, nil, err
	}
	topics := kafka.TopicsConfig{OrderTopic: cfg.OrderTopic, OrderPartitions: cfg.OrderPartitions, Retention: cfg.Retention}
	// Open creates a missing order topic and checks that Kafka answers;
	// the board reads with franz-go (kafka.Reader) and needs no more of it.
	client, _, err := kafka.Open(ctx, cfg.Config, cfg.Timeout, topics.OrderTopicSpec())
	if err != nil {
		return nil, nil, err
	}
	client.Close()
	registry, err := vendors.Open(cfg.VendorsConfig, log)
	if err != nil {
		return nil, nil, err
	}
	names := RegistryNames(nil)
	if registry != nil {
		names = RegistryNames(registry.Registry)
	}
	reader, err := kafka.NewReader(cfg.Config, cfg.Timeout)
	if err != nil {
		if registry != nil {
			registry.Close()
		}
		return nil, nil, err
	}
	sum := dayread.New(dayread.KafkaLog{Reader: reader, Topic: cfg.OrderTopic}, loc)
	board := New(sum, TopicEnds{Reader: reader, Topic: cfg.OrderTopic}, Options{
		Location: loc, Retention: cfg.Retention, Timeout: cfg.Timeout, Token: string(cfg.Token), Now: time.Now,
	}, log)
	release := func() {
		reader.Close()
		if registry != nil {
			registry.Close()
		}
	}
	if cfg.Token == "" {
		log.Warn("BOARD_TOKEN is empty: anyone who can reach the board sees every vendor's sales; set it everywhere but make dev")
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { board.Run(runCtx) })
	h := board.Handler().WithNames(names)
	return h, runner.CloserFunc(func() error {
		h.Close()
		stop()
		wg.Wait()
		board.Close()
		release()
		return nil
	}), nil
}

// TopicEnds is Ends of a topic on Kafka: the last stable offset of each
// partition (kafka.Reader.Ends), so that an open transaction does not move
// it and its commit does.
type TopicEnds struct {
	Reader *kafka.Reader
	Topic  string
}

// Ends implements Ends.
func (e TopicEnds) Ends(ctx context.Context) ([]int64, error) {
	return e.Reader.Ends(ctx, e.Topic)
}
