package runner_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// TestMissingConfigurationNamesTheVariable: a function started without what
// it needs stops at once with a message naming the variable.
func TestMissingConfigurationNamesTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string // set on top of an empty configuration
		run  func(context.Context) error
		want string // the message must contain this
	}{{
		name: "newOrder without brokers",
		run:  runFn("newOrder", neworder.Setup),
		want: "KAFKA_BROKERS",
	}, {
		name: "dailySummary without brokers",
		run:  runFn("dailySummary", dailysummary.Setup),
		want: "KAFKA_BROKERS",
	}, {
		name: "dailySummary with an unknown time zone",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "SUMMARY_TIMEZONE": "America/Valparaiso"},
		run:  runFn("dailySummary", dailysummary.Setup),
		want: "SUMMARY_TIMEZONE",
	}, {
		name: "sendMail without a sender",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "SMTP_HOST": "127.0.0.1"},
		run:  runFn("sendMail", sendmail.Setup),
		want: "MAIL_FROM",
	}, {
		name: "sendMail with SMTP but no host",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "MAIL_FROM": "a@b.cl"},
		run:  runFn("sendMail", sendmail.Setup),
		want: "SMTP_HOST",
	}, {
		name: "a port that is not a number",
		env:  map[string]string{"PORT": "ochenta"},
		run:  runFn("newOrder", neworder.Setup),
		want: "PORT",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"PORT", "KAFKA_BROKERS", "MAIL_FROM", "SMTP_HOST", "SUMMARY_TIMEZONE", "MAIL_BACKEND"} {
				t.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := tc.run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func runFn[C any](name string, setup runner.Setup[C]) func(context.Context) error {
	return func(ctx context.Context) error {
		return runner.Run(ctx, name, setup, &bytes.Buffer{})
	}
}
