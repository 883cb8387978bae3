package dailysummary

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

// Config is dailySummary's environment.
type Config struct {
	kafka.Config
	kafka.TopicsConfig
	// ReportTopic carries the cook and vendor reports, so that the summary
	// topic carries only summaries (issue 24). Created, when missing, as
	// the summary topic is.
	ReportTopic string `envconfig:"REPORT_TOPIC" default:"report"`
	// TimeZone decides which calendar day an order belongs to.
	TimeZone string `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	// Timeout bounds reading a day and publishing its summary.
	Timeout time.Duration `envconfig:"SUMMARY_TIMEOUT" default:"2m" check:"positive"`
	// Token, when set, is required on direct calls as a bearer token.
	Token runner.Secret `envconfig:"SUMMARY_TOKEN"`
}

// Check refuses a report topic that is empty or is the order or summary
// topic: a consumer of summaries must never meet a report there.
func (c *Config) Check() error {
	switch c.ReportTopic {
	case "":
		return errors.New("configuration: REPORT_TOPIC must not be empty")
	case c.SummaryTopic:
		return errors.New("configuration: REPORT_TOPIC must differ from SUMMARY_TOPIC: the summary topic carries only summaries")
	case c.OrderTopic:
		return errors.New("configuration: REPORT_TOPIC must differ from ORDER_TOPIC")
	}
	return nil
}

// ReportTopicSpec is the report topic, created as the summary topic.
func (c Config) ReportTopicSpec() kafka.Topic {
	spec := c.SummaryTopicSpec()
	spec.Name = c.ReportTopic
	return spec
}

// Setup connects dailySummary to Kafka and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	if err := cfg.Check(); err != nil { // runner.Load checked it too; a Config built in code is checked here
		return nil, nil, err
	}
	if err := runner.CheckToken("SUMMARY_TOKEN", string(cfg.Token)); err != nil {
		return nil, nil, err
	}
	loc, err := runner.Location("SUMMARY_TIMEZONE", cfg.TimeZone)
	if err != nil {
		return nil, nil, err
	}
	// A broker that stops answering fails each call within the summary's
	// bound, so an abandoned call does not outlive the request by much.
	client, scfg, err := kafka.Open(ctx, cfg.Config, cfg.Timeout, cfg.OrderTopicSpec(), cfg.SummaryTopicSpec(), cfg.ReportTopicSpec())
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
	reader, err := kafka.NewReader(cfg.Config, cfg.Timeout)
	if err != nil {
		pub.Close()
		client.Close()
		return nil, nil, err
	}
	f := New(dayread.KafkaLog{Reader: reader, Topic: cfg.OrderTopic}, pub, Options{
		SummaryTopic: cfg.SummaryTopic,
		ReportTopic:  cfg.ReportTopic,
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
