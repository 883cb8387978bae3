// Package runner is the whole main of a function binary: read the
// environment, set the function up, serve on $PORT, stop on SIGTERM.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sopaipillas/sopaipillas/functions/internal/bearer"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// Env is what every function reads besides its own configuration.
type Env struct {
	// Port is where the function listens; Knative and Cloud Run set it.
	Port int `envconfig:"PORT" default:"8080" check:"nonnegative"`
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `envconfig:"LOG_LEVEL" default:"info"`
	// StartupTimeout bounds the setup (connecting to Kafka, creating
	// topics): a function not set up in time logs why and exits non-zero,
	// so that the platform restarts it.
	StartupTimeout time.Duration `envconfig:"STARTUP_TIMEOUT" default:"30s" check:"positive"`
	// MaxConcurrentRequests bounds the requests served at once (probes
	// aside); past it a request gets 503 with Retry-After at once. 0
	// derives it from the memory limit (server.MemoryBound, requestCost
	// each): 920 under the chart's GOMEMLIMIT of 230MiB, 1000 without one.
	MaxConcurrentRequests int `envconfig:"MAX_CONCURRENT_REQUESTS" default:"0" check:"nonnegative"`
}

// requestCost is about what one request in progress holds: its goroutine's
// stack, a body of up to 64 KiB read before the handler runs, the decoded
// event and its telemetry. Rounded up from fault scenario 9, where every
// waiting client retried within a second of a Kafka stall ending.
const requestCost = 128 << 10

// defaultMaxConcurrent applies when there is no memory limit to derive the
// bound from.
const defaultMaxConcurrent = 1000

// Stopper is a Setup's io.Closer that wants to know when the process is
// told to stop (SIGTERM), before the server drains: Stop is called then,
// while requests in flight are still being served, so that a long request
// (sendMail's fan-out) can wind down and answer within the drain.
type Stopper interface{ Stop() }

// Setup builds a function from its configuration. The io.Closer releases what
// it holds (Kafka clients) after the server has drained.
type Setup[C any] func(ctx context.Context, cfg C, log *slog.Logger) (http.Handler, io.Closer, error)

// Main runs the function named name and exits.
func Main[C any](name string, setup Setup[C]) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := Run(ctx, name, setup, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Run is Main without the process: it listens on $PORT and returns when ctx
// is done.
func Run[C any](ctx context.Context, name string, setup Setup[C], logOut io.Writer) error {
	env, err := readEnv()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", env.Port))
	if err != nil {
		return fmt.Errorf("listening on port %d: %w", env.Port, err)
	}
	return serve(ctx, name, setup, ln, env, logOut)
}

// RunOn is Run on a listener the caller opened; $PORT is ignored.
func RunOn[C any](ctx context.Context, name string, setup Setup[C], ln net.Listener, logOut io.Writer) error {
	env, err := readEnv()
	if err != nil {
		ln.Close()
		return err
	}
	return serve(ctx, name, setup, ln, env, logOut)
}

func readEnv() (Env, error) {
	var env Env
	if err := Load(&env); err != nil {
		return Env{}, err
	}
	return env, nil
}

func serve[C any](ctx context.Context, name string, setup Setup[C], ln net.Listener, env Env, logOut io.Writer) error {
	defer ln.Close()
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: env.LogLevel}))).With("function", name)
	stopTelemetry, err := telemetry.Start(ctx, name, log)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer func() { // after the server drained and the closer ran
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetry.ShutdownTimeout)
		defer cancel()
		if err := stopTelemetry(tctx); err != nil {
			log.Warn("telemetry not flushed", "error", err.Error())
		}
	}()
	var cfg C
	if err := Load(&cfg); err != nil {
		return err
	}
	// Serve at once, not ready: connections are answered (503, /readyz
	// 503) while the function connects, never left waiting.
	maxConcurrent := server.MemoryBound(env.MaxConcurrentRequests, debug.SetMemoryLimit(-1), requestCost, defaultMaxConcurrent)
	srv, ready := server.Pending(server.Options{Log: log, MaxConcurrentRequests: maxConcurrent})
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	// Connections: the requests served plus as many idle or arriving.
	limited := server.LimitConnections(ln, 2*maxConcurrent, log)
	go func() { served <- server.Serve(sctx, srv, limited, log) }()

	handler, closer, err := setUp(ctx, env.StartupTimeout, setup, cfg, log)
	if err != nil {
		log.Error("startup failed", "error", err.Error(), "startup_timeout", env.StartupTimeout.String())
		stopServing()
		<-served
		return fmt.Errorf("setting up: %w", err)
	}
	defer closer.Close()
	if s, ok := closer.(Stopper); ok {
		defer context.AfterFunc(ctx, s.Stop)()
	}
	ready(telemetry.Handler(handler))
	log.Info("ready", "max_concurrent_requests", maxConcurrent)
	return <-served
}

// setUp runs setup bounded by timeout. A setup that does not return in time
// is abandoned (what it sets up later is closed) and the error says so; a
// setup that notices its context ending returns an error naming the step
// it was at, which is preferred.
func setUp[C any](ctx context.Context, timeout time.Duration, setup Setup[C], cfg C, log *slog.Logger) (http.Handler, io.Closer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		h   http.Handler
		c   io.Closer
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, c, err := setup(ctx, cfg, log)
		done <- result{h, c, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		select {
		case r = <-done:
		case <-time.After(time.Second): // its own error names the step
			go func() {
				if r := <-done; r.err == nil {
					r.c.Close()
				}
			}()
			r.err = ctx.Err()
		}
	}
	if r.err == nil && ctx.Err() != nil {
		r.c.Close()
		r.err = ctx.Err()
	}
	if r.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, nil, fmt.Errorf("not set up within STARTUP_TIMEOUT (%s): %w", timeout, r.err)
	}
	return r.h, r.c, r.err
}

// CloserFunc adapts a function to io.Closer.
type CloserFunc func() error

// Close calls f.
func (f CloserFunc) Close() error { return f() }

// MinTokenLength is the shortest bearer token a function accepts
// (SUMMARY_TOKEN, BOARD_TOKEN): 32 characters, 128 bits written in hex
// (the README's `openssl rand -hex 32` gives 64). Nothing limits how often
// a key may be tried, so a short one could be guessed.
const MinTokenLength = 32

// CheckToken refuses a token that is set but shorter than MinTokenLength,
// or that a Bearer credential cannot carry (not a token68, RFC 9110
// §11.2: letters, digits, -._~+/ and trailing =), naming the variable,
// never the value. An empty token is the caller's to judge (make dev runs
// without one).
func CheckToken(name, value string) error {
	if value == "" {
		return nil
	}
	if n := utf8.RuneCountInString(value); n < MinTokenLength {
		return fmt.Errorf("%s has %d characters, at least %d are needed so that it cannot be guessed (e.g. openssl rand -hex 32)", name, n, MinTokenLength)
	}
	if !bearer.IsToken68(value) {
		return fmt.Errorf("%s must be letters, digits and -._~+/ (a token68 that Authorization: Bearer can carry; e.g. openssl rand -hex 32)", name)
	}
	return nil
}

// Secret is a secret read from the environment (a token, a password, an
// API key) without its trailing line break: a Kubernetes Secret made with
// --from-file from a file that an editor or `openssl rand -hex 32 >`
// wrote ends in one, which is never meant as part of the key (and which
// `$(kubectl get secret … | base64 -d)` drops on the client's side).
type Secret string

// Decode is envconfig's hook: the value without trailing CR and LF.
func (s *Secret) Decode(value string) error {
	*s = Secret(strings.TrimRight(value, "\r\n"))
	return nil
}
