package vendors

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter bounds the requests of each key: a token bucket per key, of
// perSecond tokens a second and burst tokens deep. Buckets exist only for
// keys that authenticated, so unknown keys cannot grow it; buckets of keys
// no longer in the registry are dropped by Forget.
type Limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[[sha256.Size]byte]*rate.Limiter
}

// NewLimiter returns a per-key limit; perSecond <= 0 is no limit (nil).
func NewLimiter(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: max(1, burst), buckets: map[[sha256.Size]byte]*rate.Limiter{}}
}

// Allow takes a token of key's bucket at now. When there is none it
// returns false and how long until there is one.
func (l *Limiter) Allow(key [sha256.Size]byte, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
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
