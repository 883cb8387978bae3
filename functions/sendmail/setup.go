package sendmail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
)

// Config is sendMail's environment.
type Config struct {
	// Backend is smtp or sendgrid.
	Backend string `envconfig:"MAIL_BACKEND" default:"smtp"`
	// From is the sender's address; FromName its display name.
	From     string `envconfig:"MAIL_FROM" required:"true"`
	FromName string `envconfig:"MAIL_FROM_NAME" default:"Sopaipillas"`

	SMTPHost              string        `envconfig:"SMTP_HOST"`
	SMTPPort              int           `envconfig:"SMTP_PORT" default:"587"`
	SMTPUsername          string        `envconfig:"SMTP_USERNAME"`
	SMTPPassword          string        `envconfig:"SMTP_PASSWORD"`
	SMTPTLS               string        `envconfig:"SMTP_TLS" default:"starttls"`
	SMTPAllowInsecureAuth bool          `envconfig:"SMTP_ALLOW_INSECURE_AUTH" default:"false"`
	SMTPTimeout           time.Duration `envconfig:"SMTP_TIMEOUT" default:"15s"`

	// Concurrency and RatePerSecond bound the fan-out of one summary.
	Concurrency   int     `envconfig:"MAIL_CONCURRENCY" default:"8"`
	RatePerSecond float64 `envconfig:"MAIL_RATE_PER_SECOND" default:"50"`
}

// Setup builds sendMail's mail backend and returns its handler.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, io.Closer, error) {
	sender, err := newSender(cfg)
	if err != nil {
		return nil, nil, err
	}
	report, err := NewReport(cfg.From, cfg.FromName)
	if err != nil {
		return nil, nil, err
	}
	f := New(sender, report, nopLedger{}, Options{Concurrency: cfg.Concurrency, RatePerSecond: cfg.RatePerSecond, Now: time.Now}, log)
	h, err := f.Handler(ctx)
	if err != nil {
		return nil, nil, err
	}
	return h, runner.CloserFunc(func() error { return nil }), nil
}

func newSender(cfg Config) (mail.Sender, error) {
	switch cfg.Backend {
	case "smtp":
		if cfg.SMTPHost == "" {
			return nil, fmt.Errorf("SMTP_HOST is required when MAIL_BACKEND=smtp")
		}
		return mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout, AllowInsecureAuth: cfg.SMTPAllowInsecureAuth,
		})
	default:
		return nil, fmt.Errorf("MAIL_BACKEND must be smtp or sendgrid, got %q", cfg.Backend)
	}
}

// nopLedger remembers nothing: every delivery sends every email.
type nopLedger struct{}

func (nopLedger) Done(context.Context, string) (map[string]Outcome, error) { return nil, nil }
func (nopLedger) Record(context.Context, string, string, Outcome) error    { return nil }
