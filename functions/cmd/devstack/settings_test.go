package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// TestEveryRequiredSettingIsNamed starts each function as its binary does
// (runner.RunOn: environment, setup, serve) with each required variable
// empty, then missing: it must refuse to start, naming the variable. The
// dev stack sets these itself; this is what a user who overrides one sees.
func TestEveryRequiredSettingIsNamed(t *testing.T) {
	run := map[string]func(context.Context, net.Listener) error{
		"newOrder": func(ctx context.Context, ln net.Listener) error {
			return runner.RunOn(ctx, "newOrder", neworder.Setup, ln, io.Discard)
		},
		"dailySummary": func(ctx context.Context, ln net.Listener) error {
			return runner.RunOn(ctx, "dailySummary", dailysummary.Setup, ln, io.Discard)
		},
		"sendMail": func(ctx context.Context, ln net.Listener) error {
			return runner.RunOn(ctx, "sendMail", sendmail.Setup, ln, io.Discard)
		},
	}
	// A port nothing listens on: a function that got past its settings
	// would fail connecting, without naming the variable.
	const noBroker = "127.0.0.1:1"
	for _, c := range []struct {
		function, variable string
		env                map[string]string // the other settings, valid
	}{
		{"newOrder", "KAFKA_BROKERS", nil},
		{"dailySummary", "KAFKA_BROKERS", nil},
		{"sendMail", "KAFKA_BROKERS", map[string]string{"MAIL_FROM": "reportes@example.com", "SMTP_HOST": "localhost"}},
		{"sendMail", "MAIL_FROM", map[string]string{"KAFKA_BROKERS": noBroker, "SMTP_HOST": "localhost"}},
		{"sendMail", "SMTP_HOST", map[string]string{"KAFKA_BROKERS": noBroker, "MAIL_FROM": "reportes@example.com", "MAIL_BACKEND": "smtp"}},
		{"sendMail", "SENDGRID_API_KEY", map[string]string{"KAFKA_BROKERS": noBroker, "MAIL_FROM": "reportes@example.com", "MAIL_BACKEND": "sendgrid"}},
	} {
		for _, missing := range []bool{false, true} {
			name := c.function + "/" + c.variable + "="
			if missing {
				name = c.function + "/no " + c.variable
			}
			t.Run(name, func(t *testing.T) {
				// Whatever the caller's environment (make test exports a
				// real broker's KAFKA_BROKERS), only these settings count.
				for _, kv := range os.Environ() {
					k, _, _ := strings.Cut(kv, "=")
					for _, prefix := range []string{"KAFKA_", "MAIL_", "SMTP_", "SENDGRID_", "SUMMARY_", "ORDER_", "TOPIC_", "PUBLISH_", "PORT", "LOG_LEVEL"} {
						if strings.HasPrefix(k, prefix) {
							t.Setenv(k, "")
							os.Unsetenv(k)
						}
					}
				}
				for k, v := range c.env {
					t.Setenv(k, v)
				}
				t.Setenv(c.variable, "")
				if missing {
					os.Unsetenv(c.variable)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err = run[c.function](ctx, ln)
				if err == nil || !strings.Contains(err.Error(), c.variable) {
					t.Errorf("%s started with %s: %v; want it refused naming %s", c.function, name, err, c.variable)
				}
			})
		}
	}
}
