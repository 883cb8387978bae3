package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// order is one order the load client sends. Its body is a function of its
// id, so a retry sends exactly the same order and the expected summary can
// be computed from the ids alone.
type order struct {
	ID     int64
	Vendor string
	N      int64
}

// orderFor is order id's deterministic body among vendors vendors.
func orderFor(id int64, vendors int) order {
	return order{ID: id, Vendor: vendorAddress(int(id % int64(vendors))), N: 1 + id%7}
}

func vendorAddress(i int) string { return fmt.Sprintf("vendedor%03d@feria.example", i) }

func (o order) body() []byte {
	b, _ := json.Marshal(map[string]any{
		"order_id": o.ID, "email_vendedor": o.Vendor, "email_cocinero": "cocina@feria.example", "numero_sopaipillas": o.N,
	})
	return b
}

// loadConfig is one run of the load client.
type loadConfig struct {
	URL         string // newOrder's POST /newOrder
	FirstID     int64
	Count       int
	Vendors     int
	Concurrency int
	// Deadline bounds the whole run: an order not acknowledged by then is
	// given up (and reported).
	Deadline time.Duration
	// RequestTimeout bounds one attempt (default 15s, past PUBLISH_TIMEOUT).
	RequestTimeout time.Duration
}

// loadResult is what the load client saw.
type loadResult struct {
	Sent     int // distinct orders sent
	Attempts int
	Acked    []int64 // ids answered 2xx
	GivenUp  []int64 // ids never answered 2xx before the deadline
	// Rejected are ids answered 4xx: a client would not retry them, and
	// for these well-formed orders it is a bug.
	Rejected []int64
	Errors   map[string]int // failed attempts by cause
	Start    time.Time
	End      time.Time
	// LongestOutage is the longest time between two 2xx answers during
	// which some attempt failed.
	LongestOutage time.Duration
	OutageFrom    time.Time
	// LongestStall is the longest time between two 2xx answers, failures
	// or not: requests that hang count too. SlowestAck is the longest
	// single request that got a 2xx.
	LongestStall time.Duration
	SlowestAck   time.Duration
	// SlowestAnswer is the longest any attempt waited for an HTTP answer,
	// whatever its status.
	SlowestAnswer time.Duration
}

// load is a running load client. Acked can be polled while it runs to time
// a fault.
type load struct {
	cfg      loadConfig
	client   *http.Client
	acked    atomic.Int64
	failed   atomic.Int64
	finished atomic.Bool
}

func newLoad(cfg loadConfig) *load {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 15 * time.Second
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        cfg.Concurrency * 2,
		MaxIdleConnsPerHost: cfg.Concurrency * 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &load{cfg: cfg, client: &http.Client{Transport: transport, Timeout: cfg.RequestTimeout}}
}

// Acked is how many orders were acknowledged so far.
func (l *load) Acked() int64 { return l.acked.Load() }

// FailedAttempts is how many attempts failed so far.
func (l *load) FailedAttempts() int64 { return l.failed.Load() }

// attempt is one request's outcome, for the unavailability figure.
type attempt struct {
	at   time.Time // when the answer (or error) came
	took time.Duration
	ok   bool
}

// worker state, merged at the end.
type workerResult struct {
	attempts []attempt
	acked    []int64
	givenUp  []int64
	rejected []int64
	errors   map[string]int
}

// Run sends every order, retrying each until 2xx, a 4xx, or the deadline.
func (l *load) Run(ctx context.Context) loadResult {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Deadline)
	defer cancel()
	res := loadResult{Sent: l.cfg.Count, Errors: map[string]int{}, Start: time.Now()}
	ids := make(chan int64, l.cfg.Concurrency)
	go func() {
		defer close(ids)
		for i := range l.cfg.Count {
			ids <- l.cfg.FirstID + int64(i)
		}
	}()
	results := make([]workerResult, l.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = l.work(ctx, ids)
		}()
	}
	wg.Wait()
	l.finished.Store(true)
	res.End = time.Now()
	var all []attempt
	for _, r := range results {
		all = append(all, r.attempts...)
		res.Acked = append(res.Acked, r.acked...)
		res.GivenUp = append(res.GivenUp, r.givenUp...)
		res.Rejected = append(res.Rejected, r.rejected...)
		for k, v := range r.errors {
			res.Errors[k] += v
		}
	}
	res.Attempts = len(all)
	for _, a := range all {
		res.SlowestAnswer = max(res.SlowestAnswer, a.took)
	}
	res.LongestOutage, res.OutageFrom = longestOutage(all, res.Start)
	res.LongestStall, res.SlowestAck = longestStall(all, res.Start)
	slices.Sort(res.Acked)
	return res
}

func (l *load) work(ctx context.Context, ids <-chan int64) workerResult {
	r := workerResult{errors: map[string]int{}}
	for id := range ids {
		o := orderFor(id, l.cfg.Vendors)
		body := o.body()
		backoff := 50 * time.Millisecond
		for {
			if ctx.Err() != nil {
				r.givenUp = append(r.givenUp, id)
				break
			}
			sent := time.Now()
			status, err := l.post(ctx, body)
			now := time.Now()
			if err == nil && status/100 == 2 {
				r.attempts = append(r.attempts, attempt{at: now, took: now.Sub(sent), ok: true})
				r.acked = append(r.acked, id)
				l.acked.Add(1)
				break
			}
			if ctx.Err() != nil { // our own deadline, not the server's doing
				r.givenUp = append(r.givenUp, id)
				break
			}
			r.attempts = append(r.attempts, attempt{at: now, took: now.Sub(sent), ok: false})
			l.failed.Add(1)
			r.errors[cause(status, err)]++
			if err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
				r.rejected = append(r.rejected, id)
				break
			}
			// Jittered exponential backoff, as a careful client would.
			sleep := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-ctx.Done():
			case <-time.After(sleep):
			}
			backoff = min(2*backoff, time.Second)
		}
	}
	return r
}

func (l *load) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// cause names a failed attempt for the error histogram.
func cause(status int, err error) string {
	if err == nil {
		return fmt.Sprintf("HTTP %d", status)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection error"
}

// longestOutage is the longest gap between consecutive 2xx answers (or the
// start) that contains a failed attempt; failures after the last 2xx count
// up to the last of them.
func longestOutage(all []attempt, start time.Time) (time.Duration, time.Time) {
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	var (
		longest   time.Duration
		from      time.Time
		lastOK    = start
		hadFailed bool
	)
	for _, a := range all {
		if !a.ok {
			hadFailed = true
			continue
		}
		if hadFailed && a.at.Sub(lastOK) > longest {
			longest, from = a.at.Sub(lastOK), lastOK
		}
		lastOK, hadFailed = a.at, false
	}
	if hadFailed && len(all) > 0 && all[len(all)-1].at.Sub(lastOK) > longest {
		longest, from = all[len(all)-1].at.Sub(lastOK), lastOK
	}
	return longest, from
}

// longestStall is the longest gap between 2xx answers (all is sorted), and
// the slowest 2xx.
func longestStall(all []attempt, start time.Time) (gap, slowest time.Duration) {
	lastOK := start
	for _, a := range all {
		if a.ok {
			gap = max(gap, a.at.Sub(lastOK))
			slowest = max(slowest, a.took)
			lastOK = a.at
		}
	}
	return gap, slowest
}

// errorSummary renders the error histogram compactly.
func errorSummary(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s×%d", k, errs[k])
	}
	return b.String()
}
