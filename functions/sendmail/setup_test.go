package sendmail

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
)

// TestSetupRefusesBadSettings: a setting that would fail every email later
// stops sendMail at start, with an error naming the variable.
func TestSetupRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config) // the bad setting, on top of a good configuration
		want   string        // the variable the error must name
	}{
		{name: "MAIL_FROM not an address", mutate: func(c *Config) { c.From = "not an email" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM empty", mutate: func(c *Config) { c.From = "" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM with a display name", mutate: func(c *Config) { c.From = "Sopaipillas <reportes@example.com>" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM list", mutate: func(c *Config) { c.From = "a@example.com, b@example.com" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM not ASCII", mutate: func(c *Config) { c.From = "reportes@sopaipillas.cl\u00e9" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM with CRLF", mutate: func(c *Config) { c.From = "reportes@example.com\r\nBcc: x@y.z" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM without domain", mutate: func(c *Config) { c.From = "reportes@" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM local part over 64", mutate: func(c *Config) { c.From = strings.Repeat("a", 65) + "@example.com" }, want: "MAIL_FROM"},
		{name: "MAIL_FROM bad with sendgrid too", mutate: func(c *Config) { c.Backend, c.SendGridAPIKey, c.From = "sendgrid", "k", "nope" }, want: "MAIL_FROM"},
		{name: "unknown TLS mode", mutate: func(c *Config) { c.SMTPTLS = "ssl" }, want: "SMTP_TLS"},
		{name: "empty TLS mode", mutate: func(c *Config) { c.SMTPTLS = "" }, want: "SMTP_TLS"},
		{name: "port 0", mutate: func(c *Config) { c.SMTPPort = 0 }, want: "SMTP_PORT"},
		{name: "port negative", mutate: func(c *Config) { c.SMTPPort = -25 }, want: "SMTP_PORT"},
		{name: "port over 65535", mutate: func(c *Config) { c.SMTPPort = 65536 }, want: "SMTP_PORT"},
		{name: "unknown backend", mutate: func(c *Config) { c.Backend = "pigeon" }, want: "MAIL_BACKEND"},
		{name: "no SMTP host", mutate: func(c *Config) { c.SMTPHost = "" }, want: "SMTP_HOST"},
		{name: "registry file missing", mutate: func(c *Config) { c.File, c.ReloadInterval = "/nonexistent/vendors.yaml", time.Second }, want: "VENDORS_FILE"},
		{name: "registry reload interval zero", mutate: func(c *Config) { c.File = "/nonexistent/vendors.yaml" }, want: "VENDORS_RELOAD_INTERVAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := goodConfig()
			tc.mutate(&cfg)
			h, closer, err := Setup(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				closer.Close()
				t.Fatalf("Setup accepted the settings (handler %T)", h)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Setup error = %q, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestConfigCheckAcceptsGoodSettings: the checks refuse only what is wrong.
func TestConfigCheckAcceptsGoodSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{name: "starttls on 587", mutate: func(*Config) {}},
		{name: "implicit tls on 465", mutate: func(c *Config) { c.SMTPTLS, c.SMTPPort = "tls", 465 }},
		{name: "local catcher", mutate: func(c *Config) { c.SMTPTLS, c.SMTPPort = "none", 1025 }},
		{name: "port 65535", mutate: func(c *Config) { c.SMTPPort = 65535 }},
		{name: "plus and dots in MAIL_FROM", mutate: func(c *Config) { c.From = "no.reply+reportes@mail.sopaipillas.cl" }},
		{name: "sendgrid ignores SMTP settings", mutate: func(c *Config) { c.Backend, c.SMTPTLS, c.SMTPPort = "sendgrid", "", 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := goodConfig()
			tc.mutate(&cfg)
			if err := cfg.check(); err != nil {
				t.Errorf("check = %v, want nil", err)
			}
		})
	}
}

// goodConfig is a configuration Setup accepts up to connecting to Kafka.
func goodConfig() Config {
	return Config{
		Config:  kafka.Config{Brokers: []string{"127.0.0.1:1"}},
		Backend: "smtp", From: "reportes@sopaipillas.example", FromName: "Sopaipillas",
		SMTPHost: "127.0.0.1", SMTPPort: 587, SMTPTLS: "starttls",
	}
}
