package neworder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// brokerSwitch is a publisher whose next answers the test sets: nil
// acknowledges, an error refuses; gate, when set, holds every publish until
// it is closed or the request ends.
type brokerSwitch struct {
	mu      sync.Mutex
	err     error
	gate    chan struct{}
	waiting int // publishes held at the gate
	placed  int
}

func (b *brokerSwitch) set(err error) { b.mu.Lock(); b.err = err; b.mu.Unlock() }

func (b *brokerSwitch) Publish(ctx context.Context, _ string, _ cloudevents.Event) error {
	b.mu.Lock()
	gate := b.gate
	b.waiting++
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting--
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if b.err != nil {
		return b.err
	}
	b.placed++
	return nil
}

func (b *brokerSwitch) count() (waiting, placed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting, b.placed
}

// budgetHandler is newOrder with reg's keys, perSecond and burst per key,
// the rate limit on clk.
func budgetHandler(reg *vendors.Registry, pub Publisher, perSecond float64, burst int, clk *clock) http.Handler {
	log := slog.New(slog.DiscardHandler)
	f := New(pub, testTopic, time.Minute, func() time.Time { return acceptedAt }, log)
	f.SetAuthorizer(NewVendorAuth(func() *vendors.Registry { return reg }, vendors.NewLimiter(perSecond, burst), clk.Now, log))
	return f.Handler()
}

// refusal is a kind of request newOrder refuses after the key is admitted,
// or the order placed.
type refusal struct {
	name   string // what is wrong
	status int    // the answer
	broker error  // what the broker answers
	retry  string // Retry-After of the answer
	req    func(k testKeys) *http.Request
}

func orderRequest(key, contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/newOrder", strings.NewReader(string(body)))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", contentType)
	return r
}

func refusals() []refusal {
	valid := func(k testKeys) *http.Request { return orderRequest(k.seed, "application/json", []byte(seedOrder)) }
	return []refusal{
		{name: "placed", status: 201, req: valid},
		{name: "invalid order (numero_sopaipillas: 0)", status: 422, req: func(k testKeys) *http.Request {
			return orderRequest(k.seed, "application/json", []byte(strings.Replace(seedOrder, `"numero_sopaipillas": 15`, `"numero_sopaipillas": 0`, 1)))
		}},
		{name: "order for another vendor", status: 403, req: func(k testKeys) *http.Request {
			return orderRequest(k.seed, "application/json", orderFor(otherVendor))
		}},
		{name: "not JSON", status: 400, req: func(k testKeys) *http.Request { return orderRequest(k.seed, "application/json", []byte("{")) }},
		{name: "body too large", status: 413, req: func(k testKeys) *http.Request {
			return orderRequest(k.seed, "application/json", []byte(strings.Repeat(" ", MaxBodyBytes+1)))
		}},
		{name: "not application/json", status: 415, req: func(k testKeys) *http.Request { return orderRequest(k.seed, "text/plain", []byte(seedOrder)) }},
		{name: "broker refuses", status: 503, retry: "1", broker: errors.New("kafka: NOT_ENOUGH_REPLICAS"), req: valid},
		{name: "shed while the broker stalls", status: 503, retry: "1", broker: kafka.ErrOverloaded, req: valid},
	}
}

// TestRefusalsSpendNoBudget: with a burst of 5 and no time passing, any
// number of refusals of one kind leave the key its 5 orders; the sixth
// order is 429. Before, five 422s, 403s or 503s spent the burst.
func TestRefusalsSpendNoBudget(t *testing.T) {
	k := newKeys(t)
	reg := registryOf(t, k)
	for _, tt := range refusals()[1:] {
		t.Run(tt.name, func(t *testing.T) {
			pub := &brokerSwitch{}
			h := budgetHandler(reg, pub, 2, 5, &clock{t: acceptedAt})
			var got []int
			send := func(r *http.Request) string {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				got = append(got, w.Code)
				return w.Header().Get("Retry-After")
			}
			pub.set(tt.broker)
			for range 8 {
				send(tt.req(k))
			}
			pub.set(nil)
			for range 5 {
				send(refusals()[0].req(k))
			}
			retry := send(refusals()[0].req(k))
			want := []int{tt.status, tt.status, tt.status, tt.status, tt.status, tt.status, tt.status, tt.status, 201, 201, 201, 201, 201, 429}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("statuses (-want, +got):\n%s", diff)
			}
			if retry != "1" {
				t.Errorf("Retry-After %q after 5 orders at 2 a second, want 1", retry)
			}
		})
	}
}

// TestBudgetHeldInFlight: orders waiting for the broker hold their tokens,
// so concurrent requests never pass the burst together; those the broker
// then refuses give them back.
func TestBudgetHeldInFlight(t *testing.T) {
	k := newKeys(t)
	reg := registryOf(t, k)
	const burst = 3
	pub := &brokerSwitch{gate: make(chan struct{})}
	h := budgetHandler(reg, pub, 2, burst, &clock{t: acceptedAt})
	send := func() (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, refusals()[0].req(k))
		return w.Code, w.Header().Get("Retry-After")
	}
	statuses := make(chan int, burst)
	for range burst {
		go func() { s, _ := send(); statuses <- s }()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if waiting, _ := pub.count(); waiting == burst {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orders never reached the broker")
		}
		time.Sleep(time.Millisecond)
	}
	// All three held: one more waits for 1 token + 3 held - 3 = 1 token.
	if s, retry := send(); s != 429 || retry != "1" {
		t.Errorf("a fourth order while three wait: %d Retry-After %q, want 429 1", s, retry)
	}
	pub.set(errors.New("kafka: broker stalled"))
	close(pub.gate)
	for range burst {
		if s := <-statuses; s != 503 {
			t.Errorf("a held order: %d, want 503", s)
		}
	}
	pub.mu.Lock()
	pub.gate, pub.err = nil, nil
	pub.mu.Unlock()
	var got []int
	for range burst + 1 {
		s, _ := send()
		got = append(got, s)
	}
	if diff := cmp.Diff([]int{201, 201, 201, 429}, got); diff != "" {
		t.Errorf("after three 503s (-want, +got):\n%s", diff)
	}
}

// TestBudgetConcurrentBurst: many orders of one key at once, none of them
// refused by the broker: exactly the burst is placed.
func TestBudgetConcurrentBurst(t *testing.T) {
	k := newKeys(t)
	reg := registryOf(t, k)
	pub := &brokerSwitch{}
	h := budgetHandler(reg, pub, 2, 5, &clock{t: acceptedAt})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	for range 40 {
		wg.Go(func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, refusals()[0].req(k))
			mu.Lock()
			got[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[int]int{201: 5, 429: 35}, got); diff != "" {
		t.Errorf("answers by status (-want, +got):\n%s", diff)
	}
	if _, placed := pub.count(); placed != 5 {
		t.Errorf("%d orders placed, want 5", placed)
	}
}

// budgetOracle is a token bucket by brute force over the orders placed:
// an order at t fits iff, for every placed order p (and t itself), the
// orders from p to t are at most burst + rate × (t − p). It shares no code
// with the limiter.
type budgetOracle struct {
	rate   float64 // tokens a second
	burst  int
	placed []float64 // seconds
}

// admit says whether an order at t fits, and if not the Retry-After: the
// least wait after which it would.
func (o *budgetOracle) admit(t float64) (bool, string) {
	wait := 0.0
	for i, p := range o.placed {
		n := float64(len(o.placed) - i + 1)
		wait = max(wait, (n-float64(o.burst))/o.rate-(t-p))
	}
	if float64(o.burst) < 1 {
		wait = math.Inf(1)
	}
	if wait <= 0 {
		return true, ""
	}
	return false, strconv.Itoa(max(1, int(math.Ceil(wait))))
}

// TestBudgetAgainstOracle sends generated sequences of orders and refusals
// of every kind at generated times and compares each answer and
// Retry-After with the oracle, which counts only the orders placed.
func TestBudgetAgainstOracle(t *testing.T) {
	k := newKeys(t)
	reg := registryOf(t, k)
	kinds := refusals()
	// Steps of 1/8 s at 2 a second keep every token count exact in binary.
	steps := []time.Duration{0, 0, 0, 125 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond}
	const rate = 2
	rng := rand.New(rand.NewPCG(23, 3))
	for seq := range 300 {
		burst := 1 + rng.IntN(5)
		clk := &clock{t: acceptedAt}
		pub := &brokerSwitch{}
		h := budgetHandler(reg, pub, rate, burst, clk)
		oracle := &budgetOracle{rate: rate, burst: burst}
		var trace []string
		for range 40 {
			clk.Add(steps[rng.IntN(len(steps))])
			kind := kinds[rng.IntN(len(kinds))]
			if rng.IntN(3) == 0 {
				kind = kinds[0] // more orders placed than refused
			}
			at := clk.Now().Sub(acceptedAt).Seconds()
			ok, retry := oracle.admit(at)
			want := fmt.Sprintf("%d %s", 429, retry)
			if ok {
				want = fmt.Sprintf("%d %s", kind.status, kind.retry)
				if kind.status == 201 {
					oracle.placed = append(oracle.placed, at)
				}
			}
			pub.set(kind.broker)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, kind.req(k))
			got := fmt.Sprintf("%d %s", w.Code, w.Header().Get("Retry-After"))
			trace = append(trace, fmt.Sprintf("t=%gs %s: %s", at, kind.name, got))
			if got != want {
				t.Fatalf("sequence %d (burst %d, %g a second): got %q, want %q; the sequence:\n%s", seq, burst, float64(rate), got, want, strings.Join(trace, "\n"))
			}
		}
	}
}
