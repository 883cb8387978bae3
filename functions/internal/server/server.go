// Package server runs a function's HTTP server the way Knative and Cloud Run
// expect: on $PORT, with timeouts, health endpoints, and a graceful stop on
// SIGTERM.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// Timeouts of every function's server. WriteTimeout bounds a whole answer,
// including a summary of a busy day, so it is generous. ReadTimeout bounds
// reading a request, headers and body: a body still arriving after it gets
// 408 (BodyTimeout).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = BodyTimeout
	writeTimeout      = 5 * time.Minute
	idleTimeout       = 90 * time.Second
	shutdownTimeout   = 20 * time.Second
)

// BodyTimeout is how long a client has to send a whole request, from its
// first byte: a body not all received by then is answered 408, which a
// client may retry. An order is 150 bytes; 10 s is a very slow client.
const BodyTimeout = 10 * time.Second

// maxBuffered is how much of a body is read before the handler runs:
// newOrder's limit (dailySummary's is 4 KiB); a larger body (a summary of
// many vendors to sendMail) streams on. It bounds what each admitted
// request holds before its handler checks the size.
const maxBuffered = 64 << 10

// New returns a server for handler with the project's timeouts, and
// /healthz (liveness) and /readyz (readiness) answering 204.
func New(handler http.Handler) *http.Server {
	srv, ready := Pending(Options{})
	ready(handler)
	return srv
}

// Options are what Pending needs besides the handler.
type Options struct {
	// Log (may be nil) gets the slow bodies and the shed requests.
	Log *slog.Logger
	// MaxConcurrentRequests bounds the requests being served at once
	// (probes aside); past it a request is answered 503 with Retry-After
	// at once, before its body is read. 0: no bound. See MemoryBound.
	MaxConcurrentRequests int
}

// Pending returns a server that is up but not ready: /healthz answers 204,
// /readyz and every other request 503 with Retry-After, until ready is
// called with the function's handler. A function that is still connecting
// to Kafka thus answers at once instead of holding connections it cannot
// serve.
func Pending(opts Options) (srv *http.Server, ready func(http.Handler)) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var current atomic.Pointer[http.Handler]
	mux := http.NewServeMux()
	// Probes are GET (and HEAD); any other method is 405 with Allow and a
	// problem body, as on every other path (api/openapi.yaml).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if current.Load() == nil {
			problem.WriteUnavailable(w, time.Second, "starting")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, probe := range []string{"/healthz", "/readyz"} {
		mux.Handle(probe, problem.Only(http.NotFoundHandler(), http.MethodGet, http.MethodHead))
	}
	mux.Handle("/", limit(log, opts.MaxConcurrentRequests, readBody(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := current.Load()
		if h == nil {
			problem.WriteUnavailable(w, time.Second, "starting; retry")
			return
		}
		(*h).ServeHTTP(w, r)
	}))))
	srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	return srv, func(h http.Handler) { current.Store(&h) }
}

// limit answers 503 with Retry-After at once, without reading the body, to
// a request that finds n others being served (n 0: no bound). It is the
// outermost layer, before telemetry and the body, so that a shed request
// costs next to nothing: after a Kafka stall every client that waited
// retries at once (fault scenario 9 saw 5,700 requests in flight and
// 240 MiB within a second of the thaw without it). A shed is logged at
// most once a second.
func limit(log *slog.Logger, n int, next http.Handler) http.Handler {
	if n <= 0 {
		return next
	}
	slots := make(chan struct{}, n)
	logShed := &rate.Sometimes{Interval: time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		default:
			logShed.Do(func() {
				log.Warn("shedding requests: too many in progress", "max_concurrent_requests", n)
			})
			// A body left unread would be read and discarded by net/http
			// before this answer goes out (up to 256 KiB, up to
			// BodyTimeout for a slow one): close the connection instead.
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			problem.WriteUnavailable(w, time.Second, "too many requests in progress; retry the same request")
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}

// MemoryBound is a bound on things held in memory at once, each costing
// about each bytes: configured if set, else half of memoryLimit (the Go
// memory limit, GOMEMLIMIT, which the chart sets to 90% of limits.memory:
// pass debug.SetMemoryLimit(-1)) divided by each, at least 16, so that a
// burst never takes the process past its limit; fallback when there is no
// memory limit.
func MemoryBound(configured int, memoryLimit, each int64, fallback int) int {
	if configured > 0 {
		return configured
	}
	if memoryLimit <= 0 || memoryLimit == math.MaxInt64 {
		return fallback
	}
	return max(16, int(memoryLimit/2/each))
}

// readBody reads the request body before next runs, so that a client too
// slow to send it (ReadTimeout) gets 408, which it may retry, and never a
// 400 that blames the payload or an error naming socket addresses.
func readBody(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBuffered+1))
		if err != nil {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			log.Warn("request body not received", "path", r.URL.Path, "bytes_received", len(body), "timeout", timeout)
			w.Header().Set("Connection", "close")
			if timeout {
				problem.Write(w, http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s; retry the same request", BodyTimeout), nil)
				return
			}
			problem.Write(w, http.StatusBadRequest, "the request body could not be read", nil)
			return
		}
		if len(body) > maxBuffered {
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// Serve serves srv on ln until ctx is done, then drains in-flight requests.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
