package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// openLoad sends new orders at a steady rate, as independent clients do,
// each retrying its own order (jittered backoff, 50 ms doubling to 1 s, and
// never sooner than an answer's Retry-After, as the API asks) until a 2xx
// or a 4xx other than 408/429. Unlike load, whose fixed number
// of clients waits with the server, the number of clients waiting here
// grows during a stall: that is what takes a newOrder that holds every
// request past its memory limit.
type openLoad struct {
	url     string
	firstID int64
	vendors int
	rate    int // new orders a second
	client  *http.Client
	timeout time.Duration

	next    atomic.Int64
	stopNew chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	attempts []attempt
	answers  []time.Duration // time to each HTTP answer, any status
	noAnswer int             // attempts that got no answer within timeout
	failed   []failedAttempt // the first few of them, taken apart
	slowest  slowAnswer      // the longest answer, taken apart
	// slowestServer is the longest time from a request written to the first
	// byte of its answer: how long newOrder took, without the client's own
	// time to get a connection and to write and read.
	slowestServer slowAnswer
	res           loadResult
}

// failedAttempt is an attempt that got no HTTP answer: when it was sent,
// how long it took, whether it went on a kept connection, and the error.
type failedAttempt struct {
	sent   time.Time
	took   time.Duration
	reused bool
	err    string
}

// maxFailedKept bounds the failed attempts kept for the report.
const maxFailedKept = 5

// slowAnswer is where the time of one answer went: sent is when the
// request was started, conn how long it waited for a connection (a dial or
// an idle one), server how long from the request written to the first byte
// of the answer.
type slowAnswer struct {
	sent               time.Time
	took, conn, server time.Duration
	status             int
}

func newOpenLoad(url string, firstID int64, vendors, rate int) *openLoad {
	transport := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		// Connections are kept for the next retry, as a client's own (or the
		// platform's proxy in front of the function) would be, rather than
		// dialled anew for most attempts.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     30 * time.Second,
	}
	timeout := 15 * time.Second
	return &openLoad{
		url: url, firstID: firstID, vendors: vendors, rate: rate, timeout: timeout,
		client:  &http.Client{Transport: transport, Timeout: timeout},
		stopNew: make(chan struct{}),
		res:     loadResult{Errors: map[string]int{}},
	}
}

// start sends new orders until stop; each order runs until acknowledged,
// refused, or ctx ends (given up).
func (l *openLoad) start(ctx context.Context) {
	l.res.Start = time.Now()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		perTick := max(1, l.rate/20)
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.stopNew:
				return
			case <-tick.C:
			}
			for range perTick {
				id := l.firstID + l.next.Add(1) - 1
				l.wg.Add(1)
				go func() { defer l.wg.Done(); l.order(ctx, id) }()
			}
		}
	}()
}

func (l *openLoad) order(ctx context.Context, id int64) {
	body := orderFor(id, l.vendors).body()
	backoff := 50 * time.Millisecond
	for {
		if ctx.Err() != nil {
			l.record(func(r *loadResult) { r.GivenUp = append(r.GivenUp, id) })
			return
		}
		sent := time.Now()
		// The trace's callbacks run on the transport's goroutines, and
		// WroteRequest may come after the answer (a server may answer
		// before it has read the whole request, as newOrder's refusal of a
		// connection past its bound does) or never.
		var (
			traceMu                   sync.Mutex
			gotConn, wrote, firstByte time.Time
			reused                    bool
		)
		at := func(t *time.Time) func() {
			return func() { traceMu.Lock(); *t = time.Now(); traceMu.Unlock() }
		}
		trace := &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) {
				at(&gotConn)()
				traceMu.Lock()
				reused = i.Reused
				traceMu.Unlock()
			},
			WroteRequest:         func(httptrace.WroteRequestInfo) { at(&wrote)() },
			GotFirstResponseByte: at(&firstByte),
		}
		status, retryAfter, err := l.post(httptrace.WithClientTrace(ctx, trace), body)
		now := time.Now()
		traceMu.Lock()
		// From the request written to the answer; from the connection
		// when the answer came first.
		requestDone := wrote
		if requestDone.IsZero() || requestDone.After(firstByte) {
			requestDone = gotConn
		}
		if requestDone.IsZero() {
			requestDone = sent
		}
		server, conn := firstByte.Sub(requestDone), gotConn.Sub(sent)
		wasReused := reused
		traceMu.Unlock()
		if ctx.Err() != nil && err != nil {
			l.record(func(r *loadResult) { r.GivenUp = append(r.GivenUp, id) })
			return
		}
		ok := err == nil && status/100 == 2
		l.mu.Lock()
		l.attempts = append(l.attempts, attempt{at: now, took: now.Sub(sent), ok: ok})
		if err == nil {
			l.answers = append(l.answers, now.Sub(sent))
			a := slowAnswer{sent: sent, took: now.Sub(sent), conn: conn, server: server, status: status}
			if a.took > l.slowest.took {
				l.slowest = a
			}
			if a.server > l.slowestServer.server {
				l.slowestServer = a
			}
		} else {
			l.noAnswer++
			if len(l.failed) < maxFailedKept {
				l.failed = append(l.failed, failedAttempt{sent: sent, took: now.Sub(sent), reused: wasReused, err: err.Error()})
			}
		}
		if ok {
			l.res.Acked = append(l.res.Acked, id)
		} else {
			l.res.Errors[cause(status, err)]++
		}
		l.mu.Unlock()
		if ok {
			return
		}
		if err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
			l.record(func(r *loadResult) { r.Rejected = append(r.Rejected, id) })
			return
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		if retryAfter > 0 {
			sleep = retryAfter + rand.N(backoff/2+1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// post sends one order and returns the status and the answer's
// Retry-After (0 if none).
func (l *openLoad) post(ctx context.Context, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var retryAfter time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		retryAfter = time.Duration(n) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

func (l *openLoad) record(f func(*loadResult)) {
	l.mu.Lock()
	f(&l.res)
	l.mu.Unlock()
}

// firstOKAfter is when the first 2xx after t came (zero if none yet).
func (l *openLoad) firstOKAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, a := range l.attempts {
		if a.ok && a.at.After(t) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first
}

// waitOKAfter waits up to d for a 2xx answered after t and returns how long
// after t it came (or d when none came).
func (l *openLoad) waitOKAfter(ctx context.Context, t time.Time, d time.Duration) time.Duration {
	for time.Since(t) < d && ctx.Err() == nil {
		if f := l.firstOKAfter(t); !f.IsZero() {
			return f.Sub(t)
		}
		_ = sleep(ctx, 20*time.Millisecond)
	}
	if f := l.firstOKAfter(t); !f.IsZero() {
		return f.Sub(t)
	}
	return d
}

// finish stops new orders, waits (at most ctx) for the ones under way, and
// returns what the clients saw, like load.Run.
func (l *openLoad) finish(ctx context.Context, drain time.Duration) (loadResult, time.Duration, int) {
	close(l.stopNew)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	res := l.res
	res.End = time.Now()
	res.Sent = int(l.next.Load())
	res.Attempts = len(l.attempts)
	all := slices.Clone(l.attempts)
	res.LongestOutage, res.OutageFrom = longestOutage(all, res.Start)
	res.LongestStall, res.SlowestAck = longestStall(all, res.Start)
	res.Acked = slices.Clone(res.Acked)
	slices.Sort(res.Acked)
	res.GivenUp = slices.Clone(res.GivenUp)
	var slowest time.Duration
	for _, d := range l.answers {
		slowest = max(slowest, d)
	}
	res.SlowestAnswer = slowest
	return res, slowest, l.noAnswer
}
