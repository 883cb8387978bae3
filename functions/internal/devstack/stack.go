// Package devstack runs the whole system on one machine for `make dev`: the
// three functions as separate HTTP servers, Kafka (in-process unless
// KAFKA_BROKERS names real brokers), a mail catcher, and local equivalents
// of what Knative does around the functions (KafkaSource, PingSource and the
// ingress routing /newOrder and /dailySummary).
package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/kelseyhightower/envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// Options are the dev stack's own settings (DEV_*); the functions read
// their usual variables.
type Options struct {
	Dir              string `envconfig:"DEV_DIR" default:".dev"`
	Host             string `envconfig:"DEV_HOST" default:"127.0.0.1"`
	GatewayPort      int    `envconfig:"DEV_GATEWAY_PORT" default:"5000"`
	NewOrderPort     int    `envconfig:"DEV_NEWORDER_PORT" default:"8081"`
	DailySummaryPort int    `envconfig:"DEV_DAILYSUMMARY_PORT" default:"8082"`
	SendMailPort     int    `envconfig:"DEV_SENDMAIL_PORT" default:"8083"`
	KafkaPort        int    `envconfig:"DEV_KAFKA_PORT" default:"9092"`
	SMTPPort         int    `envconfig:"DEV_SMTP_PORT" default:"1025"`
	MailWebPort      int    `envconfig:"DEV_MAIL_WEB_PORT" default:"8025"`
	// Schedule is when the local PingSource closes the day, in
	// SUMMARY_TIMEZONE, like the PingSource in k8s/.
	Schedule string `envconfig:"DEV_SUMMARY_SCHEDULE" default:"5 1 * * *"`
	// VendorsFile turns the vendor registry on (VENDORS_FILE of newOrder and
	// sendMail); off by default, so the seed's curl needs no key.
	VendorsFile string `envconfig:"DEV_VENDORS_FILE"`
}

// Run starts everything and blocks until ctx is done.
func Run(ctx context.Context, opts Options, log *slog.Logger, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	goRun := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				once.Do(func() { first = fmt.Errorf("%s: %w", name, err); cancel() })
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	kafkaDesc, err := startKafka(ctx, opts, goRun)
	if err != nil {
		return err
	}
	mailDesc, err := startMail(ctx, opts, log, goRun)
	if err != nil {
		return err
	}
	defaultEnv("MAIL_FROM", "reportes@sopaipillas.local")
	os.Setenv("VENDORS_FILE", opts.VendorsFile)

	urls := map[string]string{}
	for _, fn := range []struct {
		name  string
		port  int
		setup func(context.Context, *slog.Logger) (http.Handler, io.Closer, error)
	}{
		{"newOrder", opts.NewOrderPort, setupFrom(neworder.Setup)},
		{"dailySummary", opts.DailySummaryPort, setupFrom(dailysummary.Setup)},
		{"sendMail", opts.SendMailPort, setupFrom(sendmail.Setup)},
	} {
		flog := log.With("function", fn.name)
		handler, closer, err := fn.setup(ctx, flog)
		if err != nil {
			return fmt.Errorf("%s: %w", fn.name, err)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, fmt.Sprint(fn.port)))
		if err != nil {
			closer.Close()
			return fmt.Errorf("%s: %w", fn.name, err)
		}
		urls[fn.name] = "http://" + ln.Addr().String()
		goRun(fn.name, func() error {
			defer closer.Close()
			return server.Serve(ctx, server.New(handler), ln, flog)
		})
	}

	gw, err := net.Listen("tcp", net.JoinHostPort(opts.Host, fmt.Sprint(opts.GatewayPort)))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	goRun("gateway", func() error {
		return server.Serve(ctx, server.New(gateway(urls)), gw, log.With("component", "gateway"))
	})

	var topics struct {
		SummaryTopic string   `envconfig:"SUMMARY_TOPIC" default:"summary"`
		Brokers      []string `envconfig:"KAFKA_BROKERS"`
		TimeZone     string   `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	}
	if err := envconfig.Process("", &topics); err != nil {
		return err
	}
	loc, err := time.LoadLocation(topics.TimeZone)
	if err != nil {
		return fmt.Errorf("SUMMARY_TIMEZONE: %w", err)
	}
	deadDir := filepath.Join(opts.Dir, "dead-letter")
	source := &KafkaSource{
		Brokers: topics.Brokers, Topic: topics.SummaryTopic, Group: "sopaipillas-sendmail", Sink: urls["sendMail"],
		Retry: 10, Backoff: 200 * time.Millisecond, Log: log.With("component", "kafkasource"),
		DeadLetter: FileDeadLetter(deadDir, log.With("component", "kafkasource")),
	}
	goRun("kafkasource", func() error { return source.Run(ctx) })
	ping := &PingSource{Schedule: opts.Schedule, Location: loc, Sink: urls["dailySummary"], Log: log.With("component", "pingsource")}
	goRun("pingsource", func() error { return ping.Run(ctx) })

	base := "http://" + gw.Addr().String()
	fmt.Fprintf(out, `
sopaipillas is running.
  Kafka          %s
  Mail           %s
  newOrder       %s   dailySummary %s   sendMail %s
  PingSource     %q in %s -> dailySummary;  KafkaSource summary -> sendMail

Try:
  curl -X POST %s/newOrder -H 'Content-Type: application/json' \
    -d '{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}'
  curl -X POST %s/dailySummary

Ctrl-C stops everything.
`, kafkaDesc, mailDesc, urls["newOrder"], urls["dailySummary"], urls["sendMail"], opts.Schedule, loc, base, base)

	<-ctx.Done()
	cancel()
	wg.Wait()
	return first
}

// setupFrom reads a function's configuration from the environment, as its
// binary would, and sets it up.
func setupFrom[C any](setup runner.Setup[C]) func(context.Context, *slog.Logger) (http.Handler, io.Closer, error) {
	return func(ctx context.Context, log *slog.Logger) (http.Handler, io.Closer, error) {
		var cfg C
		if err := envconfig.Process("", &cfg); err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
		return setup(ctx, cfg, log)
	}
}

// startKafka starts the in-process broker unless KAFKA_BROKERS is set. Its
// data persists in the dev directory across restarts.
func startKafka(ctx context.Context, opts Options, goRun func(string, func() error)) (string, error) {
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		return b + " (KAFKA_BROKERS)", nil
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(opts.KafkaPort), kfake.DataDir(filepath.Join(opts.Dir, "kafka")))
	if err != nil {
		return "", fmt.Errorf("embedded Kafka on port %d: %w", opts.KafkaPort, err)
	}
	goRun("kafka", func() error { <-ctx.Done(); cluster.Close(); return nil })
	addrs := strings.Join(cluster.ListenAddrs(), ",")
	os.Setenv("KAFKA_BROKERS", addrs)
	return addrs + " (embedded; data in " + filepath.Join(opts.Dir, "kafka") + ")", nil
}

// startMail starts the mail catcher unless SMTP_HOST is set.
func startMail(ctx context.Context, opts Options, log *slog.Logger, goRun func(string, func() error)) (string, error) {
	if h := os.Getenv("SMTP_HOST"); h != "" {
		return h + " (SMTP_HOST)", nil
	}
	catcher := &Catcher{Dir: filepath.Join(opts.Dir, "mail"), Log: log.With("component", "mailcatcher")}
	smtpSrv, err := catcher.Start(net.JoinHostPort(opts.Host, fmt.Sprint(opts.SMTPPort)))
	if err != nil {
		return "", err
	}
	webLn, err := net.Listen("tcp", net.JoinHostPort(opts.Host, fmt.Sprint(opts.MailWebPort)))
	if err != nil {
		smtpSrv.Close()
		return "", fmt.Errorf("mail catcher web: %w", err)
	}
	goRun("mailcatcher", func() error { <-ctx.Done(); return smtpSrv.Close() })
	goRun("mailcatcher-web", func() error {
		return server.Serve(ctx, server.New(catcher.WebHandler()), webLn, log.With("component", "mailcatcher-web"))
	})
	host, port := smtpSrv.Host(), fmt.Sprint(smtpSrv.Port())
	os.Setenv("SMTP_HOST", host)
	os.Setenv("SMTP_PORT", port)
	os.Setenv("SMTP_TLS", "none")
	return fmt.Sprintf("smtp://%s, browse http://%s, files in %s", smtpSrv.Addr(), webLn.Addr(), catcher.Dir), nil
}

func defaultEnv(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value)
	}
}

// gateway routes the seed's paths to the functions, as the Knative ingress
// routes each service's host.
func gateway(urls map[string]string) http.Handler {
	mux := http.NewServeMux()
	for path, name := range map[string]string{"/newOrder": "newOrder", "/dailySummary": "dailySummary"} {
		target, _ := url.Parse(urls[name])
		mux.Handle(path, httputil.NewSingleHostReverseProxy(target))
	}
	return mux
}

// FileDeadLetter writes dead-lettered events as JSON files into dir.
func FileDeadLetter(dir string, log *slog.Logger) func(context.Context, cloudevents.Event, string) {
	return func(_ context.Context, e cloudevents.Event, reason string) {
		log.Error("event dead-lettered", "event_id", e.ID(), "type", e.Type(), "reason", reason)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return
		}
		b, _ := json.MarshalIndent(map[string]any{"reason": reason, "event": e}, "", "  ")
		_ = os.WriteFile(filepath.Join(dir, filepath.Base(e.ID())+".json"), b, 0o644)
	}
}
