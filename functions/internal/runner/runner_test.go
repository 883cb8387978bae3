package runner_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/logtest"
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
		// It started, then answered 503 to every report.
		name: "sendMail with a line break in the sender's name",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "MAIL_FROM": "a@b.cl", "SMTP_HOST": "127.0.0.1", "MAIL_FROM_NAME": "Sopa\r\nBcc: x@y.cl"},
		run:  runFn("sendMail", sendmail.Setup),
		want: "MAIL_FROM_NAME",
	}, {
		name: "sendMail with a sender of a reserved domain label",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "MAIL_FROM": "a@yj--b.cl", "SMTP_HOST": "127.0.0.1"},
		run:  runFn("sendMail", sendmail.Setup),
		want: "MAIL_FROM",
	}, {
		name: "sendMail that could never send",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "MAIL_FROM": "a@b.cl", "SMTP_HOST": "127.0.0.1", "MAIL_RATE_PER_SECOND": "0"},
		run:  runFn("sendMail", sendmail.Setup),
		want: "MAIL_RATE_PER_SECOND",
	}, {
		name: "newOrder that times out every order",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "PUBLISH_TIMEOUT": "0s"},
		run:  runFn("newOrder", neworder.Setup),
		want: "PUBLISH_TIMEOUT",
	}, {
		name: "newOrder that would never reload its vendors",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "VENDORS_RELOAD_INTERVAL": "0s"},
		run:  runFn("newOrder", neworder.Setup),
		want: "VENDORS_RELOAD_INTERVAL",
	}, {
		name: "dailySummary with a token no Bearer credential can carry",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "SUMMARY_TOKEN": strings.Repeat("ab", 16) + " " + strings.Repeat("cd", 16)},
		run:  runFn("dailySummary", dailysummary.Setup),
		want: "SUMMARY_TOKEN",
	}, {
		name: "a start that could never finish",
		env:  map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "STARTUP_TIMEOUT": "0s"},
		run:  runFn("newOrder", neworder.Setup),
		want: "STARTUP_TIMEOUT",
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
			for k, v := range tc.env {
				if k != "KAFKA_BROKERS" && len(v) > 3 && err != nil && strings.Contains(err.Error(), v) {
					t.Errorf("error %q repeats the value of %s", err, k)
				}
			}
		})
	}
}

// runFn runs the function on a loopback port of its own (RunOn reads the
// environment, PORT included, but never binds $PORT's fixed default).
func runFn[C any](name string, setup runner.Setup[C]) func(context.Context) error {
	return func(ctx context.Context) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return runner.RunOn(ctx, name, setup, ln, &bytes.Buffer{})
	}
}

// TestStartupIsBounded: a setup that never finishes (a broker that accepts
// connections and never answers) makes the function log why and return an
// error within STARTUP_TIMEOUT, answering 503 meanwhile instead of holding
// connections; a setup that finishes in time makes it ready.
func TestStartupIsBounded(t *testing.T) {
	t.Setenv("STARTUP_TIMEOUT", "500ms")
	stuck := make(chan struct{})
	defer close(stuck)
	type noConfig struct{}
	hang := func(ctx context.Context, _ noConfig, _ *slog.Logger) (http.Handler, io.Closer, error) {
		<-stuck // ignores ctx, as sarama.NewClient does
		return http.NotFoundHandler(), runner.CloserFunc(func() error { return nil }), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	var logs logtest.Buffer
	errc := make(chan error, 1)
	go func() { errc <- runner.RunOn(context.Background(), "stuck", hang, ln, &logs) }()

	// While it sets up: not ready, and answered.
	var readyz int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			readyz = resp.StatusCode
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if readyz != http.StatusServiceUnavailable {
		t.Errorf("/readyz during setup: %d, want 503", readyz)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "STARTUP_TIMEOUT") {
			t.Errorf("error %v, want one naming STARTUP_TIMEOUT", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a setup that never ends kept the function from exiting")
	}
	if !strings.Contains(logs.String(), `"msg":"startup failed"`) {
		t.Errorf("nothing logged about the failed startup: %s", logs.String())
	}

	// In time: ready.
	ok := func(ctx context.Context, _ noConfig, _ *slog.Logger) (http.Handler, io.Closer, error) {
		return http.NotFoundHandler(), runner.CloserFunc(func() error { return nil }), nil
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errc <- runner.RunOn(ctx, "ok", ok, ln, io.Discard) }()
	readyz = 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && readyz != http.StatusNoContent; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/readyz"); err == nil {
			readyz = resp.StatusCode
			resp.Body.Close()
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("stopping: %v", err)
	}
	if readyz != http.StatusNoContent {
		t.Errorf("/readyz after setup: %d, want 204", readyz)
	}
}

// TestCheckToken: a key shorter than MinTokenLength, or one a Bearer
// credential cannot carry, is refused, naming the variable and never the
// value; an empty one is the caller's to judge.
func TestCheckToken(t *testing.T) {
	for _, c := range []struct {
		value string
		ok    bool
	}{
		{"", true},
		{"clave-corta-1234", false},
		{strings.Repeat("a", runner.MinTokenLength-1), false},
		{strings.Repeat("ñ", runner.MinTokenLength-1) + "abc", false}, // characters, not bytes, and no token68
		{strings.Repeat("0f", 32), true},                              // openssl rand -hex 32
		{"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ+/==", true},        // openssl rand -base64 30
		{strings.Repeat("ab", 16) + " " + strings.Repeat("cd", 16), false},
		{strings.Repeat("ab", 16) + ":x", false},
	} {
		err := runner.CheckToken("BOARD_TOKEN", c.value)
		if (err == nil) != c.ok {
			t.Errorf("%q: %v, want ok %v", c.value, err, c.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "BOARD_TOKEN") || strings.Contains(err.Error(), c.value)) {
			t.Errorf("%q: %q should name the variable and not the value", c.value, err)
		}
	}
}

// TestSecretDropsTrailingLineBreak: a secret made from a file keeps its
// key, not the file's line break; anything else is kept as it is.
func TestSecretDropsTrailingLineBreak(t *testing.T) {
	for in, want := range map[string]string{
		"0f0f\n":        "0f0f",
		"0f0f\r\n":      "0f0f",
		"0f0f":          "0f0f",
		" pass word \n": " pass word ",
		"a\nb\n\n":      "a\nb",
		"":              "",
	} {
		t.Setenv("SOPAIPILLAS_TEST_SECRET", in)
		var cfg struct {
			S runner.Secret `envconfig:"SOPAIPILLAS_TEST_SECRET"`
		}
		if err := envconfig.Process("", &cfg); err != nil {
			t.Fatal(err)
		}
		if string(cfg.S) != want {
			t.Errorf("%q: %q, want %q", in, cfg.S, want)
		}
	}
}
