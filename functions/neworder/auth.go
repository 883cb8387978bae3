package neworder

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/bearer"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// AuthConfig is newOrder's vendor registry and per-key rate limit.
type AuthConfig struct {
	vendors.Config
	// RatePerKey is how many orders a second one key may place, on
	// average; 0 is no limit. BurstPerKey is how many at once (a vendor's
	// app sending the orders it queued while offline).
	RatePerKey  float64 `envconfig:"ORDER_RATE_PER_KEY" default:"2"`
	BurstPerKey int     `envconfig:"ORDER_BURST_PER_KEY" default:"30" check:"nonnegative"`
}

// Caller is who an admitted request comes from.
type Caller struct {
	// Vendor is the canonical address of the vendor whose key it carries.
	Vendor string
	// KeyID names the key in logs (vendors.Grant.KeyID).
	KeyID string
	// settle ends the request's hold on the key's rate budget: placed
	// spends it, a refusal gives it back (budget.go). Nil: none held.
	settle func(placed bool)
}

// Authorizer decides who may place an order. newOrder calls Admit before it
// reads the body and Authorize once the order is decoded; each answers w
// itself and returns false when the request goes no further.
type Authorizer interface {
	// Admit authenticates the caller of r (401, 429) and returns who it is.
	Admit(w http.ResponseWriter, r *http.Request) (Caller, bool)
	// Authorize checks that caller may place order (403).
	Authorize(w http.ResponseWriter, caller Caller, order events.Order) bool
}

// SetAuthorizer makes newOrder ask a before taking an order; nil leaves it
// open to anyone (without a registry).
func (f *Function) SetAuthorizer(a Authorizer) { f.authz = a }

func (f *Function) admit(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	if f.authz == nil {
		return Caller{}, true
	}
	return f.authz.Admit(w, r)
}

func (f *Function) authorize(w http.ResponseWriter, caller Caller, order events.Order) bool {
	return f.authz == nil || f.authz.Authorize(w, caller, order)
}

// openAuth returns the Authorizer cfg configures and what stops it: none
// without VENDORS_FILE, which leaves newOrder open and says so.
func openAuth(cfg AuthConfig, log *slog.Logger) (Authorizer, io.Closer, error) {
	w, err := vendors.Open(cfg.Config, log)
	if err != nil {
		return nil, nil, err
	}
	if w == nil {
		log.Warn("newOrder is open: VENDORS_FILE is not set, so anyone can place orders for any vendor address")
		return nil, runner.CloserFunc(func() error { return nil }), nil
	}
	return NewVendorAuth(w.Registry, vendors.NewLimiter(cfg.RatePerKey, cfg.BurstPerKey), time.Now, log), w, nil
}

// VendorAuth admits a vendor's API key ("Authorization: Bearer <key>"),
// rate-limits each key, and lets a key place orders only for its own vendor.
// No key, nor any part of one, is ever logged or answered; a key is named in
// logs by its key id (vendors.Grant.KeyID), a prefix of its hash.
type VendorAuth struct {
	registry func() *vendors.Registry
	limiter  *vendors.Limiter // nil: no limit
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex
	seen *vendors.Registry // the registry the limiter was last pruned for
}

// NewVendorAuth returns the Authorizer of the registry registry returns (it
// may change between calls: a reload).
func NewVendorAuth(registry func() *vendors.Registry, limiter *vendors.Limiter, now func() time.Time, log *slog.Logger) *VendorAuth {
	return &VendorAuth{registry: registry, limiter: limiter, now: now, log: log}
}

// realm names newOrder in WWW-Authenticate (RFC 6750).
const realm = `Bearer realm="newOrder"`

// Admit answers 401 to a request without a registered key and 429 to a
// key past its rate. A request carrying several Authorization headers is
// refused rather than guessed at.
func (a *VendorAuth) Admit(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	reg := a.registry()
	a.pruneFor(reg)
	key, err := bearer.Token(r.Header)
	if err != nil && !errors.Is(err, bearer.ErrMalformed) {
		detail := "missing, or not a Bearer token"
		if errors.Is(err, bearer.ErrRepeated) {
			// Two fields are refused rather than guessed at (RFC 9110 §5.3:
			// Authorization is not a list); say so, or the caller looks for a
			// key that is there.
			detail = "sent more than once: send one Authorization field"
		}
		a.log.Info("order refused: no API key", "status", http.StatusUnauthorized, "reason", detail)
		w.Header().Set("WWW-Authenticate", realm)
		problem.Write(w, http.StatusUnauthorized, "newOrder needs your API key: Authorization: Bearer <key>",
			[]events.FieldError{{Field: "Authorization", Detail: detail}})
		return Caller{}, false
	}
	grant, ok := reg.Authenticate(key)
	if err != nil || !ok {
		a.log.Info("order refused: unknown API key", "status", http.StatusUnauthorized)
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
		problem.Write(w, http.StatusUnauthorized, "the API key is not a key of a registered vendor",
			[]events.FieldError{{Field: "Authorization", Detail: "unknown or revoked key"}})
		return Caller{}, false
	}
	hold, ok, wait := a.limiter.Reserve(grant.Key, a.now())
	if !ok {
		secs := vendors.RetryAfter(wait)
		a.log.Info("order refused: key over its rate limit", "status", http.StatusTooManyRequests, "key_id", grant.KeyID(), "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		problem.Write(w, http.StatusTooManyRequests, "too many orders with this key; retry after "+strconv.Itoa(secs)+" s", nil)
		return Caller{}, false
	}
	settle := func(placed bool) { hold.Settle(placed, a.now()) }
	return Caller{Vendor: grant.Vendor, KeyID: grant.KeyID(), settle: settle}, true
}

// Authorize answers 403 when the order is for another vendor than the
// key's: a key places orders only for its own vendor.
func (a *VendorAuth) Authorize(w http.ResponseWriter, caller Caller, order events.Order) bool {
	if events.CanonicalEmail(order.EmailVendedor) == caller.Vendor {
		return true
	}
	a.log.Warn("order refused: a vendor's key used for another vendor", "status", http.StatusForbidden, "key_id", caller.KeyID)
	problem.Write(w, http.StatusForbidden, "this API key places orders only for its own vendor",
		[]events.FieldError{{Field: events.FieldEmailVendedor, Detail: "is not the vendor of this API key"}})
	return false
}

// pruneFor drops the rate buckets of keys a reload removed.
func (a *VendorAuth) pruneFor(reg *vendors.Registry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen != reg {
		a.seen = reg
		a.limiter.Forget(reg.HasKey)
	}
}
