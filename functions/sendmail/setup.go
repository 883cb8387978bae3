package sendmail

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	registry "github.com/sopaipillas/sopaipillas/functions/internal/vendors" // the test files use the name vendors
)

// Config is sendMail's environment.
type Config struct {
	kafka.Config

	// Backend is smtp or sendgrid.
	Backend string `envconfig:"MAIL_BACKEND" default:"smtp"`
	// From is the sender's address; FromName its display name.
	From     string `envconfig:"MAIL_FROM" required:"true"`
	FromName string `envconfig:"MAIL_FROM_NAME" default:"Sopaipillas"`

	SMTPHost              string        `envconfig:"SMTP_HOST"`
	SMTPPort              int           `envconfig:"SMTP_PORT" default:"587"`
	SMTPUsername          runner.Secret `envconfig:"SMTP_USERNAME"`
	SMTPPassword          runner.Secret `envconfig:"SMTP_PASSWORD"`
	SMTPTLS               string        `envconfig:"SMTP_TLS" default:"starttls"`
	SMTPAllowInsecureAuth bool          `envconfig:"SMTP_ALLOW_INSECURE_AUTH" default:"false"`
	SMTPTimeout           time.Duration `envconfig:"SMTP_TIMEOUT" default:"15s"`
	// SMTPMaxIdle is how many connections are kept open between sends; 0
	// means MAIL_CONCURRENCY, one per concurrent send.
	SMTPMaxIdle int `envconfig:"SMTP_MAX_IDLE_CONNS" default:"0" check:"nonnegative"`

	SendGridAPIKey  runner.Secret `envconfig:"SENDGRID_API_KEY"`
	SendGridBaseURL string        `envconfig:"SENDGRID_BASE_URL" default:"https://api.sendgrid.com"`
	SendGridTimeout time.Duration `envconfig:"SENDGRID_TIMEOUT" default:"15s"`

	// Concurrency and RatePerSecond bound the fan-out of one summary.
	Concurrency   int     `envconfig:"MAIL_CONCURRENCY" default:"8" check:"nonnegative"`
	RatePerSecond float64 `envconfig:"MAIL_RATE_PER_SECOND" default:"50" check:"positive"`

	// The delivery ledger: a compacted topic, kept longer than the summaries
	// (3 days) and the dead letters (7 days) that can be redelivered.
	// LedgerRetention must be the topic's retention.ms: it bounds the days
	// whose reports are mailed (acceptedDays).
	LedgerTopic      string        `envconfig:"MAIL_LEDGER_TOPIC" default:"mail-sent"`
	LedgerPartitions int32         `envconfig:"MAIL_LEDGER_PARTITIONS" default:"3"`
	LedgerRetention  time.Duration `envconfig:"MAIL_LEDGER_RETENTION" default:"192h"`
	LedgerLease      time.Duration `envconfig:"MAIL_LEDGER_LEASE" default:"15s"`

	// VendorRegistry (VENDORS_FILE): when set, only the vendors and cooks
	// it lists are mailed.
	VendorRegistry
}

// VendorRegistry is the vendor registry's configuration.
type VendorRegistry = registry.Config

// LedgerTopicSpec is the ledger topic as created when missing.
func (c Config) LedgerTopicSpec() kafka.Topic {
	return kafka.Topic{Name: c.LedgerTopic, Partitions: c.LedgerPartitions, RetentionMs: c.LedgerRetention.Milliseconds(), Compact: true}
}

// Setup builds sendMail's mail backend and ledger and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	// Defaults for a Config built in code rather than read by envconfig.
	cfg.LedgerTopic = cmp.Or(cfg.LedgerTopic, "mail-sent")
	cfg.LedgerPartitions = cmp.Or(cfg.LedgerPartitions, 3)
	cfg.LedgerRetention = cmp.Or(cfg.LedgerRetention, 192*time.Hour)
	cfg.LedgerLease = cmp.Or(cfg.LedgerLease, DefaultLease)
	cfg.ClientID = cmp.Or(cfg.ClientID, "sopaipillas")
	if len(cfg.Brokers) == 0 {
		return nil, nil, fmt.Errorf("KAFKA_BROKERS is required: sendMail keeps its delivery ledger in Kafka")
	}
	if err := cfg.check(); err != nil {
		return nil, nil, err
	}
	// The registry first: a registry configured but unreadable stops
	// sendMail at once rather than let it mail anyone.
	reg, err := registry.Open(cfg.VendorRegistry, log)
	if err != nil {
		return nil, nil, err
	}
	started := false
	defer func() {
		if !started {
			closeRegistry(reg)
		}
	}()
	sender, closeSender, err := newSender(cfg)
	if err != nil {
		return nil, nil, err
	}
	report, err := NewReport(cfg.From, cfg.FromName)
	if err != nil {
		return nil, nil, err
	}
	scfg := LedgerSaramaConfig(cfg.ClientID)
	if cfg.CreateTopics {
		if err := kafka.EnsureTopics(cfg.Brokers, scfg, cfg.ReplicationFactor, cfg.LedgerTopicSpec()); err != nil {
			return nil, nil, err
		}
	}
	client, err := sarama.NewClient(cfg.Brokers, scfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to Kafka at %v: %w", cfg.Brokers, err)
	}
	ledger, closeLedger, err := NewKafkaLedger(client, cfg.LedgerTopic, cfg.LedgerLease, time.Now)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	opts := Options{Concurrency: cfg.Concurrency, RatePerSecond: cfg.RatePerSecond, Lease: cfg.LedgerLease, Retention: cfg.LedgerRetention, Now: time.Now}
	if reg != nil {
		opts.Registry = reg.Registry
	} else {
		log.Warn("sendMail mails any address a report names: VENDORS_FILE is not set")
	}
	f := New(sender, report, ledger, opts, log)
	h, err := f.Handler(ctx)
	if err != nil {
		closeLedger()
		client.Close()
		return nil, nil, err
	}
	started = true
	log.Info("sendMail ready", "backend", cfg.Backend, "ledger_topic", cfg.LedgerTopic)
	return h, stopCloser{stop: f.Stop, close: func() error {
		f.Stop()
		closeRegistry(reg)
		closeSender()
		closeLedger()
		return client.Close()
	}}, nil
}

// stopCloser is Setup's io.Closer, and a runner.Stopper: the runner calls
// Stop as the process is told to stop, Close once the server drained.
type stopCloser struct {
	stop  func()
	close func() error
}

func (c stopCloser) Stop()        { c.stop() }
func (c stopCloser) Close() error { return c.close() }

func closeRegistry(w *registry.Watcher) {
	if w != nil {
		w.Close()
	}
}

// check refuses, at start, settings that would otherwise fail every email
// later, naming the variable.
func (c Config) check() error {
	if err := events.CheckEmail(c.From); err != nil {
		return fmt.Errorf("MAIL_FROM %s", err)
	}
	if c.Backend != "smtp" {
		return nil
	}
	switch c.SMTPTLS {
	case mail.TLSStartTLS, mail.TLSImplicit, mail.TLSNone:
	default:
		return fmt.Errorf("SMTP_TLS must be %s, %s or %s, got %q", mail.TLSStartTLS, mail.TLSImplicit, mail.TLSNone, c.SMTPTLS)
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		return fmt.Errorf("SMTP_PORT must be between 1 and 65535, got %d", c.SMTPPort)
	}
	return nil
}

func newSender(cfg Config) (mail.Sender, func() error, error) {
	switch cfg.Backend {
	case "smtp":
		if cfg.SMTPHost == "" {
			return nil, nil, fmt.Errorf("SMTP_HOST is required when MAIL_BACKEND=smtp")
		}
		s, err := mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: string(cfg.SMTPUsername), Password: string(cfg.SMTPPassword),
			TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, AllowInsecureAuth: cfg.SMTPAllowInsecureAuth, MaxIdle: cmp.Or(cfg.SMTPMaxIdle, cfg.Concurrency),
		})
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "sendgrid":
		s, err := mail.NewSendGrid(mail.SendGridConfig{APIKey: string(cfg.SendGridAPIKey), BaseURL: cfg.SendGridBaseURL, Timeout: cfg.SendGridTimeout})
		if err != nil {
			return nil, nil, err
		}
		return s, func() error { return nil }, nil
	default:
		return nil, nil, fmt.Errorf("MAIL_BACKEND must be smtp or sendgrid, got %q", cfg.Backend)
	}
}
