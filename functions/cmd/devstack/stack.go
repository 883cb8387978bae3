package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
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

	"github.com/kelseyhightower/envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// The deployed KafkaSource's delivery (k8s/app/kafkasource.yaml): retry 10,
// backoffPolicy exponential, backoffDelay PT1S.
const (
	sourceRetry   = 10
	sourceBackoff = time.Second
)

// Main reads the options and runs the stack until ctx is done. Logs go to
// logOut as JSON at LOG_LEVEL, as a function binary writes them; what the
// stack is doing and where everything is goes to out, for a person.
func Main(ctx context.Context, logOut, out io.Writer) error {
	var opts devstack.Options
	if err := envconfig.Process("", &opts); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: opts.LogLevel})))
	// One process: the three functions share one service name
	// (OTEL_SERVICE_NAME overrides it); their spans tell them apart.
	stopTelemetry, err := telemetry.Start(ctx, "sopaipillas-dev", log)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetry.ShutdownTimeout)
		defer cancel()
		_ = stopTelemetry(tctx)
	}()
	return Run(ctx, opts, log, out)
}

// progress tells a person what the stack is doing, with timings.
type progress struct {
	out   io.Writer
	start time.Time
}

func (p progress) say(format string, args ...any) { fmt.Fprintf(p.out, format+"\n", args...) }

// step runs fn between a line saying what starts and one saying how long it
// took, so a slow step (replaying a big Kafka log, creating topics) shows.
func (p progress) step(what, doing string, fn func() error) error {
	p.say("  %-13s %s", what, doing)
	t := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.say("  %-13s ready in %s", what, time.Since(t).Round(time.Millisecond))
	return nil
}

// Run starts everything and blocks until ctx is done, then stops
// everything and returns nil. The data directory is locked while it runs.
func Run(ctx context.Context, opts devstack.Options, log *slog.Logger, out io.Writer) error {
	p := progress{out: out, start: time.Now()}
	lock, err := devstack.LockDir(opts.Dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	dir, _ := filepath.Abs(opts.Dir)
	p.say("sopaipillas dev stack: data in %s (locked by PID %d)", dir, os.Getpid())

	var env struct {
		// ReportTopic is dailySummary's, where sendMail's reports are.
		ReportTopic string `envconfig:"REPORT_TOPIC" default:"report"`
		TimeZone    string `envconfig:"SUMMARY_TIMEZONE" default:"America/Santiago"`
	}
	if err := envconfig.Process("", &env); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	loc, err := time.LoadLocation(env.TimeZone)
	if err != nil {
		return fmt.Errorf("SUMMARY_TIMEZONE: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		once    sync.Once
		first   error
		closers []func()
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
	// Everything that talks to Kafka or SMTP stops before they do.
	defer func() {
		cancel()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	var kafkaDesc, mailDesc, mailView string
	if os.Getenv("KAFKA_BROKERS") != "" {
		kafkaDesc = os.Getenv("KAFKA_BROKERS") + " (KAFKA_BROKERS)"
	} else if err := p.step("Kafka", "starting the embedded broker (kfake), loading "+filepath.Join(opts.Dir, "kafka"), func() error {
		cluster, err := startKafka(opts)
		if err != nil {
			return err
		}
		closers = append(closers, cluster.Close)
		addrs := strings.Join(cluster.ListenAddrs(), ",")
		os.Setenv("KAFKA_BROKERS", addrs)
		kafkaDesc = addrs + " (embedded; data in " + filepath.Join(opts.Dir, "kafka") + ")"
		return nil
	}); err != nil {
		return err
	}
	var brokers kafka.Brokers
	if err := brokers.Decode(os.Getenv("KAFKA_BROKERS")); err != nil {
		return err
	}
	if os.Getenv("SMTP_HOST") != "" {
		mailDesc = os.Getenv("SMTP_HOST") + " (SMTP_HOST)"
	} else if err := p.step("mail catcher", "starting", func() error {
		var closeMail func()
		mailDesc, mailView, closeMail, err = startMail(ctx, opts, loc, log, goRun)
		if closeMail != nil {
			closers = append(closers, closeMail)
		}
		return err
	}); err != nil {
		return err
	}
	defaultEnv("MAIL_FROM", "reportes@sopaipillas.local")
	os.Setenv("VENDORS_FILE", opts.VendorsFile)

	timeout, err := startupTimeout()
	if err != nil {
		return err
	}
	// What each function waits for while it starts, and for how long.
	waits := fmt.Sprintf("(Kafka at %s, up to STARTUP_TIMEOUT %s)", strings.Join(brokers, ","), timeout)
	urls := map[string]string{"mail": mailView}
	for _, fn := range []struct {
		name, doing string
		port        int
		setting     string // the variable that sets port
		setup       func(context.Context, *slog.Logger) (http.Handler, io.Closer, error)
	}{
		{"newOrder", "connecting, creating topic order if missing", opts.NewOrderPort, "DEV_NEWORDER_PORT", setupFrom(neworder.Setup)},
		{"dailySummary", "connecting, creating topics order, summary and report if missing", opts.DailySummaryPort, "DEV_DAILYSUMMARY_PORT", setupFrom(dailysummary.Setup)},
		{"sendMail", "connecting, creating its ledger topic if missing", opts.SendMailPort, "DEV_SENDMAIL_PORT", setupFrom(sendmail.Setup)},
		{"salesBoard", "connecting (today is counted in the background)", opts.SalesBoardPort, "DEV_SALESBOARD_PORT", setupFrom(salesboard.Setup)},
	} {
		flog := log.With("function", fn.name)
		if err := p.step(fn.name, fn.doing+" "+waits, func() error {
			handler, closer, err := fn.setup(ctx, flog)
			if err != nil {
				return err
			}
			ln, err := listen(opts.Host, fn.port, fn.setting)
			if err != nil {
				closer.Close()
				return err
			}
			urls[fn.name] = "http://" + ln.Addr().String()
			goRun(fn.name, func() error {
				defer closer.Close()
				return server.Serve(ctx, server.New(telemetry.Handler(handler)), ln, flog)
			})
			return nil
		}); err != nil {
			return err
		}
	}

	gw, err := listen(opts.Host, opts.GatewayPort, "DEV_GATEWAY_PORT")
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	goRun("gateway", func() error {
		return server.Serve(ctx, server.New(gateway(urls)), gw, log.With("component", "gateway"))
	})

	deadDir := filepath.Join(opts.Dir, "dead-letter")
	source := &devstack.KafkaSource{
		Brokers: brokers, Topic: env.ReportTopic, Group: "sopaipillas-sendmail", Sink: urls["sendMail"],
		Retry: sourceRetry, Backoff: sourceBackoff, Log: log.With("component", "kafkasource"),
		DeadLetter: devstack.FileDeadLetter(deadDir, log.With("component", "kafkasource")),
	}
	// The sources stop first, and their delivery in flight completes, as a
	// Knative pod drains its requests: a Ctrl-C in the middle of a
	// summary's emails leaves no claim in sendMail's ledger to wait out.
	srcCtx, stopSources := context.WithCancel(ctx)
	var sources sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{"kafkasource": source.Run, "pingsource": (&devstack.PingSource{
		Schedule: opts.Schedule, Location: loc, Sink: urls["dailySummary"], Log: log.With("component", "pingsource"),
	}).Run} {
		sources.Add(1)
		goRun(name, func() error { defer sources.Done(); return run(srcCtx) })
	}

	base := "http://" + gw.Addr().String()
	p.say(`
sopaipillas is running (started in %s). Ctrl-C stops everything.

  gateway        %s/newOrder   %s/dailySummary
  start page     %s/   (the board, the emails sent)
  sales board    %s/tablero
  newOrder       %s
  dailySummary   %s
  sendMail       %s
  salesBoard     %s
  Kafka          %s
  mail           %s
  PingSource     %q in %s -> dailySummary
  KafkaSource    %s -> sendMail, %d retries from %s doubling; dead letters in %s
  logs           JSON on stdout, LOG_LEVEL=%s

Try:
%s`, time.Since(p.start).Round(time.Millisecond), base, base, base, base, urls["newOrder"], urls["dailySummary"], urls["sendMail"],
		urls["salesBoard"], kafkaDesc, mailDesc, opts.Schedule, loc, env.ReportTopic, sourceRetry, sourceBackoff, deadDir,
		strings.ToLower(opts.LogLevel.String()), tryCurls(base, opts.VendorsFile, os.Getenv("SUMMARY_TOKEN") != ""))

	<-ctx.Done()
	p.say("stopping...")
	stopSources()
	sources.Wait()
	cancel()
	wg.Wait()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	closers = nil
	if first != nil {
		return first
	}
	p.say("stopped; data kept in %s", dir)
	return nil
}

// setupFrom reads a function's configuration from the environment, as its
// binary would, and sets it up within STARTUP_TIMEOUT (runner.Env), as its
// binary does: a broker that cannot be reached ends the start with the
// reason instead of a wait without end.
func setupFrom[C any](setup runner.Setup[C]) func(context.Context, *slog.Logger) (http.Handler, io.Closer, error) {
	return func(ctx context.Context, log *slog.Logger) (http.Handler, io.Closer, error) {
		var cfg C
		if err := envconfig.Process("", &cfg); err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
		timeout, err := startupTimeout()
		if err != nil {
			return nil, nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		h, c, err := setup(sctx, cfg, log)
		if err == nil && sctx.Err() != nil { // set up just as the time ran out
			c.Close()
			err = sctx.Err()
		}
		if err != nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("gave up: not set up within STARTUP_TIMEOUT (%s): %w", timeout, err)
		}
		return h, c, err
	}
}

// startupTimeout is STARTUP_TIMEOUT as every function binary reads it.
func startupTimeout() (time.Duration, error) {
	var env runner.Env
	if err := envconfig.Process("", &env); err != nil {
		return 0, fmt.Errorf("configuration: %w", err)
	}
	return env.StartupTimeout, nil
}

// startKafka starts the in-process broker. Its data persists in the dev
// directory across restarts: kfake writes each batch straight to its
// segment file (no user-space buffer) before it answers the producer,
// frames its logs with CRCs and truncates a torn tail on load, and replaces
// its state files by write, fsync and rename, so a kill -9 of the stack
// loses nothing it acknowledged.
func startKafka(opts devstack.Options) (*kfake.Cluster, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(opts.KafkaPort), kfake.DataDir(filepath.Join(opts.Dir, "kafka")))
	if err != nil {
		return nil, fmt.Errorf("embedded Kafka: %w", portError(opts.KafkaPort, "DEV_KAFKA_PORT", err))
	}
	return cluster, nil
}

// startMail starts the mail catcher: SMTP, and the web view of every email
// in the data directory.
func startMail(ctx context.Context, opts devstack.Options, loc *time.Location, log *slog.Logger, goRun func(string, func() error)) (desc, view string, closeMail func(), err error) {
	catcher := &devstack.Catcher{Dir: filepath.Join(opts.Dir, "mail"), Location: loc, Log: log.With("component", "mailcatcher")}
	smtpSrv, err := catcher.Start(net.JoinHostPort(opts.Host, fmt.Sprint(opts.SMTPPort)))
	if err != nil {
		return "", "", nil, portError(opts.SMTPPort, "DEV_SMTP_PORT", err)
	}
	closeSMTP := func() { smtpSrv.Close() }
	webLn, err := listen(opts.Host, opts.MailWebPort, "DEV_MAIL_WEB_PORT")
	if err != nil {
		return "", "", closeSMTP, fmt.Errorf("mail catcher web: %w", err)
	}
	goRun("mailcatcher-web", func() error {
		return server.Serve(ctx, server.New(catcher.WebHandler()), webLn, log.With("component", "mailcatcher-web"))
	})
	os.Setenv("SMTP_HOST", smtpSrv.Host())
	os.Setenv("SMTP_PORT", fmt.Sprint(smtpSrv.Port()))
	os.Setenv("SMTP_TLS", "none")
	view = "http://" + webLn.Addr().String()
	return fmt.Sprintf("smtp://%s; browse %s (files in %s)", smtpSrv.Addr(), view, catcher.Dir), view, closeSMTP, nil
}

func defaultEnv(key, value string) {
	if os.Getenv(key) == "" {
		os.Setenv(key, value)
	}
}

// tryCurls are the banner's examples, matching the mode the stack runs in:
// with a vendor registry (DEV_VENDORS_FILE) newOrder wants a vendor's key,
// and with SUMMARY_TOKEN dailySummary wants that; a placeholder stands for
// each, never the key.
func tryCurls(base, vendorsFile string, summaryToken bool) string {
	var b strings.Builder
	if vendorsFile != "" {
		fmt.Fprintf(&b, "  # the vendor registry %s is on: newOrder wants the key vendorctl printed for vendor_tarea2@yopmail.com\n", vendorsFile)
	}
	fmt.Fprintf(&b, "  curl -X POST %s/newOrder -H 'Content-Type: application/json' \\\n", base)
	if vendorsFile != "" {
		b.WriteString("    -H 'Authorization: Bearer <vendor_tarea2 key>' \\\n")
	}
	b.WriteString(`    -d '{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}'` + "\n")
	if summaryToken {
		fmt.Fprintf(&b, "  curl -X POST %s/dailySummary -H 'Authorization: Bearer <SUMMARY_TOKEN>'\n", base)
	} else {
		fmt.Fprintf(&b, "  curl -X POST %s/dailySummary\n", base)
	}
	return b.String()
}

// gateway routes the seed's paths to the functions, as the Knative ingress
// routes each service's host; GET / is a page pointing to them.
func gateway(urls map[string]string) http.Handler {
	mux := http.NewServeMux()
	for path, name := range map[string]string{"/newOrder": "newOrder", "/dailySummary": "dailySummary"} {
		target, _ := url.Parse(urls[name])
		mux.Handle(path, httputil.NewSingleHostReverseProxy(target))
	}
	// The sales board under /tablero/ (its page's URLs are relative);
	// ServeMux redirects /tablero there, keeping the query (?fecha=).
	board, _ := url.Parse(urls["salesBoard"])
	mux.Handle("/tablero/", http.StripPrefix("/tablero", httputil.NewSingleHostReverseProxy(board)))
	mux.Handle("/{$}", problem.Only(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = homePage.Execute(w, urls["mail"])
	}), http.MethodGet, http.MethodHead))
	// Any other path: the same problem+json 404 the functions answer.
	mux.HandleFunc("/", problem.NotFound)
	return mux
}

// homePage is the gateway's GET /: where to look, for a person who opened
// the gateway's address. Its data is the mail view's URL ("" when mail goes
// to an SMTP_HOST of one's own).
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="es">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>sopaipillas (make dev)</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5">
<h1>sopaipillas, en tu computador</h1>
<ul>
<li><a href="tablero/">El tablero de ventas</a>: las ventas del día, en vivo.</li>
{{if .}}<li><a href="{{.}}">Los correos enviados</a>: lo que reciben vendedores y cocineros (nada sale a internet).</li>
{{else}}<li>Los correos van al SMTP_HOST configurado.</li>
{{end}}<li>API: <code>POST /newOrder</code>, <code>POST /dailySummary</code> (api/openapi.yaml).</li>
</ul>
</body>
</html>
`))
