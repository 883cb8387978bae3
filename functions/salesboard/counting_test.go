package salesboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// heldTopic is a fakeTopic whose whole counts say they read 40 of 100
// records, then wait for release; the first fails tries fail.
type heldTopic struct {
	*fakeTopic
	release chan struct{}
	started chan struct{} // gets a value as each try begins

	mu    sync.Mutex
	fails int
	tries int
	// progress is the last try's.
	progress *dayread.Progress
}

func newHeldTopic(fails int) *heldTopic {
	return &heldTopic{fakeTopic: newFakeTopic(), release: make(chan struct{}), started: make(chan struct{}, 16), fails: fails}
}

func (h *heldTopic) Summarize(ctx context.Context, day events.Date) (dayread.Result, error) {
	if p := dayread.ProgressFrom(ctx); p != nil {
		p.Add(40, 100)
	}
	h.mu.Lock()
	h.progress = dayread.ProgressFrom(ctx)
	h.tries++
	fail := h.tries <= h.fails
	h.mu.Unlock()
	h.started <- struct{}{}
	if fail {
		return dayread.Result{}, errors.New("broker gone halfway")
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return dayread.Result{}, ctx.Err()
	}
	return h.fakeTopic.Summarize(ctx, day)
}

// read adds n records read to the running count's progress.
func (h *heldTopic) read(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress.Add(n, 0)
}

func (h *heldTopic) triesSoFar() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries
}

func newHeldBoard(t *testing.T, topic Summarizer, ends Ends) *Board {
	t.Helper()
	b := New(topic, ends, Options{Location: santiago, Retention: 72 * time.Hour, Timeout: 5 * time.Second,
		Wait: time.Millisecond, Backoff: time.Millisecond, Now: func() time.Time { return noon }}, slog.New(slog.DiscardHandler))
	t.Cleanup(b.Close)
	return b
}

// sseEvent is one event of a stream: its name and raw data.
type sseEvent struct{ name, data string }

// readEvents returns a function that reads the next event of r ("" for
// the retry: block).
func readEvents(t *testing.T, r io.Reader) func() sseEvent {
	br := bufio.NewReader(r)
	return func() sseEvent {
		t.Helper()
		var e sseEvent
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && (e.name != "" || e.data != ""):
				return e
			case strings.HasPrefix(line, "retry: "):
				e.data = line
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}
}

// TestCountingInBackground: while a day is counted whole, the board
// answers at once: the API 503 problem+json with Retry-After: 5 saying the
// day is being counted and how far, the stream "contando" with the records
// read and left, the page the count's state; once counted, the API
// answers the numbers an unheld board answers, and the stream the "dia".
func TestCountingInBackground(t *testing.T) {
	topic := newHeldTopic(0)
	today := noon
	day := events.DateOf(today, santiago)
	topic.sell(day, "ana@feria.cl", 5)
	topic.sell(day, "beto@feria.cl", 3)
	b := newHeldBoard(t, topic, topic)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()

	// The first request starts the count; the next finds it reading.
	if res, _ := get(t, srv.URL+"/api/days/13-11-2021"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first request: status %d, want 503 while counting", res.StatusCode)
	}
	<-topic.started
	res, body := get(t, srv.URL+"/api/days/13-11-2021")
	var p problem.Details
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	wantProblem := problem.Details{Type: "about:blank", Title: "Service Unavailable", Status: 503,
		Detail: "the orders of 13/11/2021 are being counted (40 records of the order topic read, 60 to read); retry"}
	if diff := cmp.Diff(wantProblem, p); diff != "" {
		t.Errorf("problem while counting (-want, +got):\n%s", diff)
	}
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "5" || res.Header.Get("Content-Type") != problem.ContentType {
		t.Errorf("status %d, Retry-After %q, Content-Type %q; want 503, 5, %s", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), problem.ContentType)
	}

	_, page := get(t, srv.URL+"/")
	if want := `<span id="estado" data-contando>Contando las ventas de hoy… 40 de 100 registros</span>`; !strings.Contains(string(page), want) {
		t.Errorf("page lacks %q", want)
	}

	stream, err := http.Get(srv.URL + "/events?fecha=13-11-2021")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	next := readEvents(t, stream.Body)
	if e := next(); e.name != "" {
		t.Fatalf("first the retry, got %+v", e)
	}
	e := next()
	var c countingEvent
	if err := json.Unmarshal([]byte(e.data), &c); err != nil || e.name != "contando" {
		t.Fatalf("then %+v (%v), want contando", e, err)
	}
	wantCounting := countingEvent{Detail: "contando las ventas de hoy desde el registro de órdenes", Leidos: 40, PorLeer: 60}
	if diff := cmp.Diff(wantCounting, c); diff != "" {
		t.Errorf("contando (-want, +got):\n%s", diff)
	}

	close(topic.release)
	for e = next(); e.name == "contando"; e = next() {
	}
	var v View
	if err := json.Unmarshal([]byte(e.data), &v); err != nil || e.name != "dia" {
		t.Fatalf("after the count %+v (%v), want dia", e, err)
	}
	// What an unheld board counts of the same topic.
	plain, err := newTestBoard(t, topic.fakeTopic, "").Get(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain.Totales, v.Totales); diff != "" || v.Totales.NSopaipillas != 8 {
		t.Errorf("dia totals (-unheld, +got):\n%s", diff)
	}
	res, body = get(t, srv.URL+"/api/days/13-11-2021")
	var got View
	if err := json.Unmarshal(body, &got); err != nil || res.StatusCode != 200 {
		t.Fatalf("after the count: status %d, %s", res.StatusCode, body)
	}
	if diff := cmp.Diff(plain.Summary, got.Summary); diff != "" {
		t.Errorf("summary after the count (-unheld, +got):\n%s", diff)
	}
	if n := topic.triesSoFar(); n != 1 {
		t.Errorf("%d whole counts, want 1: every request waits for the one running", n)
	}
}

// TestFailedCountIsTriedAgain: a whole count that fails is tried again,
// with backoff, until it succeeds; meanwhile the day answers the failure,
// then the numbers reach its watchers.
func TestFailedCountIsTriedAgain(t *testing.T) {
	topic := newHeldTopic(2)
	close(topic.release)
	day := events.DateOf(noon, santiago)
	topic.sell(day, "ana@feria.cl", 5)
	b := New(topic, topic, Options{Location: santiago, Retention: 72 * time.Hour, Timeout: 5 * time.Second,
		Wait: time.Hour, Backoff: time.Millisecond, Now: func() time.Time { return noon }}, slog.New(slog.DiscardHandler))
	defer b.Close()
	updates, stop := b.Watch(day)
	defer stop()
	// The tries race the request: it gets the failure of one, or the
	// numbers.
	v, err := b.Get(context.Background(), day)
	if err != nil {
		if !strings.Contains(err.Error(), "broker gone halfway") {
			t.Fatalf("Get = %v, want the failure of a try", err)
		}
		v = <-updates
	}
	if v.Totales.NSopaipillas != 5 || v.Totales.NOrdenes != 1 {
		t.Errorf("totals %+v, want 5 sopaipillas in 1 order", v.Totales)
	}
	if n := topic.triesSoFar(); n != 3 {
		t.Errorf("%d tries, want 3: two failed, then the count", n)
	}
}

// TestCloseEndsCounts: Close ends a whole count held back, and a request
// after it is answered, not left waiting.
func TestCloseEndsCounts(t *testing.T) {
	topic := newHeldTopic(0)
	b := newHeldBoard(t, topic, topic)
	day := events.DateOf(noon, santiago)
	var counting *CountingError
	if _, err := b.Get(context.Background(), day); !errors.As(err, &counting) {
		t.Fatalf("Get = %v, want a CountingError", err)
	}
	<-topic.started
	b.Close()
	if _, err := b.Get(context.Background(), day); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Get after Close = %v, want the board closed", err)
	}
}

// emptyLog is an order topic of one partition with no records, read from
// any offset.
type emptyLog struct{}

func (emptyLog) Scan(context.Context, time.Time, time.Time, func(int32, dayread.Expect) func(dayread.Record)) error {
	return nil
}

func (emptyLog) ScanFrom(context.Context, time.Time, time.Time, []int64, []int64, func(int32, dayread.Expect) func(dayread.Record)) ([]int64, error) {
	return []int64{0}, nil
}

// followedTopic is a heldTopic that also follows today live: its first
// count of today waits for followRelease.
type followedTopic struct {
	*heldTopic
	followRelease chan struct{}
	followStarted chan struct{}
}

func (f *followedTopic) Follow(ctx context.Context, day events.Date) (*dayread.Live, error) {
	f.followStarted <- struct{}{}
	select {
	case <-f.followRelease:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return dayread.New(emptyLog{}, santiago).Follow(ctx, day)
}

func (f *followedTopic) Ends(context.Context) ([]int64, error) { return []int64{0}, nil }

// TestPastDayQueuedBehindTodayCountedOnce: a past day asked for while
// today's first whole count runs waits its turn and is counted once, then
// answered: a count queued behind today's must not be taken for stale
// when today's ends (newcomer pass, stop 30: yesterday was counted twice
// and the API answered 503 while the stream had its numbers).
func TestPastDayQueuedBehindTodayCountedOnce(t *testing.T) {
	topic := &followedTopic{heldTopic: newHeldTopic(0), followRelease: make(chan struct{}), followStarted: make(chan struct{}, 4)}
	close(topic.release) // past days are counted at once, when their turn comes
	today := events.DateOf(noon, santiago)
	yesterday := today.AddDays(-1)
	topic.sell(yesterday, "ana@feria.cl", 7)
	b := newHeldBoard(t, topic, topic)

	var counting *CountingError
	if _, err := b.Get(context.Background(), today); !errors.As(err, &counting) {
		t.Fatalf("Get(today) = %v, want counting", err)
	}
	<-topic.followStarted
	if _, err := b.Get(context.Background(), yesterday); !errors.As(err, &counting) {
		t.Fatalf("Get(yesterday) = %v, want counting, queued behind today", err)
	}
	if n := topic.triesSoFar(); n != 0 {
		t.Fatalf("yesterday counted %d times while today's count held the turn", n)
	}
	updates, stop := b.Watch(yesterday)
	defer stop()
	close(topic.followRelease)
	v := <-updates
	if v.Totales.NSopaipillas != 7 {
		t.Fatalf("yesterday's totals %+v, want 7 sopaipillas", v.Totales)
	}
	got, err := b.Get(context.Background(), yesterday)
	if err != nil || got.Totales.NSopaipillas != 7 {
		t.Fatalf("Get(yesterday) after its count = %+v, %v; want its 7 sopaipillas", got.Totales, err)
	}
	if n := topic.triesSoFar(); n != 1 {
		t.Errorf("yesterday counted %d times, want once", n)
	}
}

// TestStreamSaysKafkaUnreadable: an open stream says "problema" as soon as
// Run finds the order topic unreadable, keeps saying nothing else while it
// is, and sends the day again, unchanged numbers included, once it can be
// read (newcomer pass, stop 30: a stream sent only heartbeats for 75 s
// while the API answered 503).
func TestStreamSaysKafkaUnreadable(t *testing.T) {
	topic := newFakeTopic()
	day := events.DateOf(noon, santiago)
	topic.sell(day, "ana@feria.cl", 5)
	b := New(topic, topic, Options{Location: santiago, Retention: 72 * time.Hour, Timeout: time.Second,
		Poll: 5 * time.Millisecond, Now: func() time.Time { return noon }}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	stream, err := http.Get(srv.URL + "/events?fecha=13-11-2021")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	next := readEvents(t, stream.Body)
	next() // retry
	dia := func() View {
		t.Helper()
		e := next()
		var v View
		if err := json.Unmarshal([]byte(e.data), &v); err != nil || e.name != "dia" {
			t.Fatalf("%+v (%v), want dia", e, err)
		}
		return v
	}
	if v := dia(); v.Totales.NSopaipillas != 5 {
		t.Fatalf("first dia %+v, want 5 sopaipillas", v.Totales)
	}

	topic.mu.Lock()
	topic.fail = errors.New("broker paused")
	topic.mu.Unlock()
	if e := next(); e.name != "problema" || !strings.Contains(e.data, "no se pudieron leer las ventas") {
		t.Fatalf("while Kafka cannot be read: %+v, want problema", e)
	}
	topic.mu.Lock()
	topic.fail = nil
	topic.mu.Unlock()
	if v := dia(); v.Totales.NSopaipillas != 5 {
		t.Errorf("dia once readable again %+v, want the same 5 sopaipillas", v.Totales)
	}
}
