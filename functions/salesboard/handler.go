package salesboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/bearer"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// contentSecurityPolicy lets the page load nothing but its own files: no
// script, style or font from another site, no inline script.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler is salesBoard's HTTP handler. Close ends the event streams it
// serves.
type Handler struct {
	board *Board
	mux   *http.ServeMux
	names Names // nil: no names, addresses only

	closeOnce sync.Once
	closing   chan struct{}
	// hooked records the servers whose shutdown ends the streams.
	hooked sync.Map
}

// Handler returns the board's routes (README, "The sales board"):
//
//	GET /                      the page (or the form for the key)
//	POST /login, POST /logout  the owner's key, kept in a cookie (same origin only)
//	GET /events?fecha=dd-mm-aaaa  Server-Sent Events: the day, each time it changes
//	GET /api/days/{dd-mm-aaaa}    the day as JSON
//	GET /api/days/{dd-mm-aaaa}.csv  the day as CSV, for a spreadsheet (csv.go)
//	GET /static/...            the page's own scripts and styles
//
// Other methods are 405 with Allow, other paths 404, both problem+json.
func (b *Board) Handler() *Handler {
	h := &Handler{board: b, mux: http.NewServeMux(), closing: make(chan struct{})}
	get := func(f http.HandlerFunc) http.Handler { return problem.Only(f, http.MethodGet, http.MethodHead) }
	h.mux.Handle("/{$}", get(h.page))
	h.mux.Handle("/login", problem.Only(sameOrigin(h.login), http.MethodPost))
	h.mux.Handle("/logout", problem.Only(sameOrigin(h.logout), http.MethodPost))
	h.mux.Handle("/events", problem.Only(h.owner(h.events), http.MethodGet))
	h.mux.Handle("/api/days/{fecha}", problem.Only(h.owner(h.day), http.MethodGet))
	h.mux.Handle("/static/", get(staticFiles().ServeHTTP))
	h.mux.HandleFunc("/", problem.NotFound)
	return h
}

// WithNames makes the board show each vendor's name (a registry's, see
// RegistryNames) beside the address; call it before serving.
func (h *Handler) WithNames(names Names) *Handler {
	h.names = names
	return h
}

// ServeHTTP serves the board with its security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// Close ends every event stream; the browsers reconnect (to another
// replica, or to this one started again).
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closing) })
}

// owner passes only the owner's requests (auth.go).
func (h *Handler) owner(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, h.board.opts.Token) {
			field := events.FieldError{Field: cookieName, Detail: "missing or wrong key"}
			if _, err := bearer.Token(r.Header); errors.Is(err, bearer.ErrRepeated) {
				// As newOrder says it: the key may well be there, twice.
				field = events.FieldError{Field: "Authorization", Detail: "sent more than once: send one Authorization field"}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="salesBoard"`)
			problem.Write(w, http.StatusUnauthorized, "this board is the owner's: enter BOARD_TOKEN on the page, or send Authorization: Bearer <BOARD_TOKEN>",
				[]events.FieldError{field})
			return
		}
		next(w, r)
	}
}

// queryDay is dayParam of the query's fecha, which is given at most once:
// a repeated fecha is refused rather than one of them guessed at, as
// repeated JSON members and headers are.
func (h *Handler) queryDay(r *http.Request) (events.Date, error) {
	if v := r.URL.Query()["fecha"]; len(v) > 1 {
		return events.Date{}, &events.ValidationError{Fields: []events.FieldError{{Field: "fecha", Detail: "is given more than once: give one day"}}}
	}
	return h.dayParam("fecha", r.URL.Query().Get("fecha"))
}

// dayParam parses a day of the board's URLs (events.ParseURLDate:
// dd-mm-aaaa, or dd/mm/aaaa) and checks it is offered. "" is today.
func (h *Handler) dayParam(field, s string) (events.Date, error) {
	if s == "" {
		return h.board.Today(), nil
	}
	day, err := events.ParseURLDate(s)
	if err != nil {
		return day, &events.ValidationError{Fields: []events.FieldError{{Field: field, Detail: err.Error()}}}
	}
	if !h.board.Offered(day) {
		days := h.board.Days()
		return day, &events.ValidationError{Fields: []events.FieldError{{Field: field,
			Detail: fmt.Sprintf("%s is not a day the order topic keeps whole: from %s to %s", day.URL(), days[len(days)-1].URL(), days[0].URL())}}}
	}
	return day, nil
}

// day answers GET /api/days/{fecha}: the day as of the request, as JSON,
// or as CSV for a fecha ending in ".csv" (ServeMux wildcards are whole
// segments, so both are this route).
func (h *Handler) day(w http.ResponseWriter, r *http.Request) {
	fecha, asCSV := strings.CutSuffix(r.PathValue("fecha"), ".csv")
	day, err := h.dayParam("fecha", fecha)
	if err != nil {
		problem.WriteInput(w, err)
		return
	}
	view, err := h.board.Get(r.Context(), day)
	var counting *CountingError
	switch {
	case errors.As(err, &counting):
		problem.WriteUnavailable(w, CountingRetry, counting.Error())
		return
	case err != nil:
		h.board.log.Warn("count failed", "fecha", day.String(), "error", err)
		problem.WriteUnavailable(w, 2*time.Second, "the orders of "+day.String()+" could not all be read; retry")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if asCSV {
		writeCSV(w, day, h.named(view))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = problem.Encode(w, h.named(view))
}

// CountingRetry is the Retry-After of a day being counted whole: a whole
// count of a full topic takes minutes, a client need not ask every second.
const CountingRetry = 5 * time.Second

// Event streams: the browser reconnects retryMs after a stream ends, and
// a stream ends after streamLifetime, below every server's and proxy's
// WriteTimeout (5 min here and in make dev's gateway; Knative's
// timeoutSeconds), so that it is never cut in the middle of an event.
const (
	retryMs        = 2000
	streamLifetime = 4 * time.Minute
	heartbeat      = 20 * time.Second
	// progressEvery is how often a day being counted whole says how far
	// the count has got.
	progressEvery = time.Second
)

// countingEvent is the data of an event "contando": how far the whole
// count of the day has got, in records of the order topic.
type countingEvent struct {
	Detail  string `json:"detail"`
	Leidos  int64  `json:"leidos"`
	PorLeer int64  `json:"por_leer"`
}

// countingText says, in Spanish, that day is being counted.
func countingText(day, today events.Date) string {
	if day == today {
		return "contando las ventas de hoy desde el registro de órdenes"
	}
	return "contando las ventas del " + day.String() + " desde el registro de órdenes"
}

func (h *Handler) writeCounting(w http.ResponseWriter, c *CountingError) error {
	return writeEvent(w, "contando", countingEvent{Detail: countingText(c.Day, h.board.Today()), Leidos: c.Leidos, PorLeer: c.PorLeer})
}

// events streams the day: "retry", then the day at once (so a browser
// that reconnects, after a restart of the function, has the numbers at
// once), then the day each time it changes. A day being counted whole is
// an event "contando" every progressEvery until its "dia"; a day that
// cannot be counted yet is an event "problema"; the numbers follow once it
// can.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	day, err := h.queryDay(r)
	if err != nil {
		problem.WriteInput(w, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		problem.Write(w, http.StatusInternalServerError, "streaming is not supported here", nil)
		return
	}
	h.endOnShutdown(r)
	updates, stop := h.board.Watch(day)
	defer stop()

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", retryMs); err != nil {
		return
	}
	flusher.Flush()

	// last is the day as last sent: the view Get returns may also be
	// waiting in updates, and is not sent twice.
	var last []byte
	// progress ticks while the day is counted whole; failing is a
	// "problema" sent last, not repeated.
	var progress <-chan time.Time
	var failing bool
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	problema := func() error {
		failing = true
		return writeEvent(w, "problema", map[string]string{"detail": "no se pudieron leer las ventas; reintentando"})
	}
	// show sends the day as it stands: its numbers, how far its count has
	// got, or that it cannot be counted.
	show := func() error {
		view, err := h.board.Get(r.Context(), day)
		var counting *CountingError
		switch {
		case r.Context().Err() != nil:
			return r.Context().Err()
		case errors.As(err, &counting):
			progress, failing = tick.C, false
			return h.writeCounting(w, counting)
		case err != nil:
			h.board.log.Warn("count failed", "fecha", day.String(), "error", err)
			// A failed whole count is tried again: say how it goes meanwhile.
			if _, _, ok := h.board.Counting(day); ok {
				progress = tick.C
			}
			return problema()
		}
		progress, failing = nil, false
		last, err = writeDay(w, h.named(view), nil)
		return err
	}
	// health changes when Run finds the order topic readable or not: a
	// stream says so at once, not only its next request.
	unreadable, health := h.board.Unreadable()
	if unreadable != nil {
		err = problema()
	} else {
		err = show()
	}
	if err != nil {
		return
	}
	flusher.Flush()

	end := time.NewTimer(streamLifetime)
	defer end.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		case <-end.C:
			return
		case <-beat.C:
			_, err = fmt.Fprint(w, ": latido\n\n")
		case <-health:
			unreadable, health = h.board.Unreadable()
			switch {
			case unreadable != nil && !failing:
				err = problema()
			case unreadable == nil && failing:
				err = show() // the numbers again, even if unchanged
			}
		case <-progress:
			if unreadable != nil {
				break // "problema" stands until Kafka answers again
			}
			switch c, failure, ok := h.board.Counting(day); {
			case failure != nil && !failing:
				err = problema()
			case c != nil && ok:
				failing = false
				err = h.writeCounting(w, c)
			}
		case view := <-updates:
			progress, failing = nil, false // counted: "contando" no more
			last, err = writeDay(w, h.named(view), last)
		}
		if err != nil {
			return
		}
		flusher.Flush()
	}
}

// writeDay writes view as an event "dia" unless it is last, and returns
// what it wrote.
func writeDay(w http.ResponseWriter, view namedDay, last []byte) ([]byte, error) {
	b, err := problem.Marshal(view)
	if err != nil || bytes.Equal(b, last) {
		return last, err
	}
	_, err = fmt.Fprintf(w, "event: dia\ndata: %s\n\n", b)
	return b, err
}

func writeEvent(w http.ResponseWriter, name string, data any) error {
	b, err := problem.Marshal(data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}

// endOnShutdown makes the shutdown of the server serving r end the
// streams at once: http.Server.Shutdown waits for every request, and a
// stream would hold it until its lifetime ends.
func (h *Handler) endOnShutdown(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	if _, loaded := h.hooked.LoadOrStore(srv, struct{}{}); !loaded {
		srv.RegisterOnShutdown(h.Close)
	}
}

// errNoView is a page rendered before the day could be counted.
var errNoView = errors.New("no view")

// viewForPage counts the day for the page, briefly: the page shows
// placeholders otherwise, and its event stream brings the numbers.
func (h *Handler) viewForPage(ctx context.Context, day events.Date) (View, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := h.board.Get(ctx, day)
	if err != nil {
		return View{}, fmt.Errorf("%w: %w", errNoView, err)
	}
	return v, nil
}
