package vendors

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter bounds the orders each key places: a token bucket per key, of
// perSecond tokens a second and burst tokens deep. Only a request that
// succeeds spends a token; one refused for any reason spends none (README,
// "429"). A request holds a token from Reserve until Settle, so requests in
// progress at once never pass the limit together. Buckets exist only for
// keys that authenticated, so unknown keys cannot grow it; buckets of keys
// no longer in the registry are dropped by Forget.
type Limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[[sha256.Size]byte]*bucket
}

// bucket is one key's tokens and the requests holding one of them.
type bucket struct {
	tokens *rate.Limiter
	held   int
}

// NewLimiter returns a per-key limit; perSecond <= 0 is no limit (nil).
func NewLimiter(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(1, burst), buckets: map[[sha256.Size]byte]*bucket{}}
}

// Reservation is a token of a key held by a request in progress. The nil
// Reservation holds nothing.
type Reservation struct {
	l       *Limiter
	b       *bucket
	settled bool // guarded by l.mu
}

// Reserve holds one of key's tokens at now for a request whose outcome is
// not known yet. When every token is spent or held it returns false and
// how long until one more is free if every request in progress succeeds.
func (l *Limiter) Reserve(key [sha256.Size]byte, now time.Time) (*Reservation, bool, time.Duration) {
	if l == nil {
		return nil, true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	if short := float64(b.held+1) - b.tokens.TokensAt(now); short > 0 {
		return nil, false, time.Duration(short / float64(l.limit) * float64(time.Second))
	}
	b.held++
	return &Reservation{l: l, b: b}, true, 0
}

// Settle ends r's hold at now: placed spends the token, otherwise it is
// given back whole. Only the first call counts.
//
// x/time/rate's own Reservation cannot do this: CancelAt restores nothing
// once the reservation's time has passed, which for a token taken at once
// is any later instant.
func (r *Reservation) Settle(placed bool, now time.Time) {
	if r == nil {
		return
	}
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.settled {
		return
	}
	r.settled = true
	r.b.held--
	if placed {
		// Never refused: the held token is there (n <= burst).
		r.b.tokens.ReserveN(now, 1)
	}
}

// Forget drops the buckets of keys keep says are gone.
func (l *Limiter) Forget(keep func([sha256.Size]byte) bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.buckets {
		if !keep(k) {
			delete(l.buckets, k)
		}
	}
}

// RetryAfter is d in whole seconds for a Retry-After header, at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
