package sendmail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"
)

// Ledger is the record of what was sent, kept outside sendMail (in Kafka) so
// sendMail stays stateless. It turns at-least-once delivery of summary
// events — redelivered after a crash or a 5xx, sometimes twice at once, to
// several replicas — into one email per vendor per summary.
//
// # Protocol
//
// Every record concerns one (summary, vendor) pair and is one of:
//
//	claim   {claim id, lease until}  "I am about to send this email"
//	release {claim id}               "I did not send it; someone may"
//	sent / failed                    settled for good
//
// All records of one summary go to one append-only log (one Kafka partition,
// chosen by the summary key), so everyone sees them in the same order. A
// delivery of a summary:
//
//  1. reads the summary's records: vendors with sent/failed are done;
//  2. appends a claim, with a fresh claim id and a lease, for each vendor
//     not done and not held by someone else's live claim;
//  3. reads the log again, up to its end after the claims were acknowledged
//     (so past its own claims), and for each vendor finds the holder: the
//     first claim in log order, after the last settle, that is neither
//     released nor past its lease. The vendors it holds are granted to it;
//     It releases the claims it lost at once: a losing claim would otherwise
//     become the holder if the winner released, blocking everyone for a lease;
//  4. sends a granted email only while at least half the lease is left, then
//     appends sent or failed (permanent refusal), or release (transient
//     failure, so the redelivery need not wait out the lease).
//
// Two deliveries can't both hold a vendor: the log order is total, so for
// the same records both pick the same first live claim. They can disagree
// only when a claim expired between their reads, and a claim's owner stops
// starting sends at half its lease, so a takeover happens after the owner
// finished (its settle is then in the log) or gave up. What remains is the
// irreducible window: a process that dies after the server accepted an email
// but before its "sent" is acknowledged, or a settle slower than half the
// lease; after the lease, that email goes again, with the same Message-ID.
//
// A delivery that finds vendors held by another live claim answers 503: the
// source redelivers later, when the holder has settled them.
type Ledger interface {
	// Open reads summary key's records. since bounds the read: no record of
	// this summary is older (see kafkaJournal).
	Open(ctx context.Context, key string, since time.Time) (Book, error)
}

// Book is one delivery's view of one summary in the ledger. Not safe for
// concurrent Claim calls; Settle and Release may run concurrently.
type Book interface {
	// Settled returns the vendors whose email is sent or failed for good.
	Settled() map[string]Outcome
	// Claim claims vendors and returns those this delivery now holds (it
	// must send them before sendBy, then Settle or Release each), and those
	// another live claim holds. Vendors settled meanwhile are in neither.
	Claim(ctx context.Context, vendors []string) (granted, busy []string, sendBy time.Time, err error)
	// Settle records a granted vendor's outcome.
	Settle(ctx context.Context, vendor string, o Outcome) error
	// Release gives a granted vendor back unsent.
	Release(ctx context.Context, vendor string) error
}

// Record states.
const (
	stateClaim   = "claim"
	stateRelease = "release"
)

// record is one ledger entry, stored as JSON.
type record struct {
	Summary string    `json:"summary"`
	Vendor  string    `json:"vendor"`
	State   string    `json:"state"` // claim, release, sent, failed
	Claim   string    `json:"claim,omitempty"`
	Until   time.Time `json:"until,omitzero"` // a claim's lease
	At      time.Time `json:"at"`
}

// journal is the log of ledger records that one summary's records share.
type journal interface {
	// Append writes recs, all of summary key, and returns once they are
	// durable, in order.
	Append(ctx context.Context, key string, recs []record) error
	// Read calls visit for summary key's records from cursor (nil: from
	// the start, bounded by since) up to the end of the log as it is now,
	// in log order, and returns the cursor after them.
	Read(ctx context.Context, key string, since time.Time, cursor any, visit func(record)) (any, error)
}

// vendorState is what the log says of one vendor so far.
type vendorState struct {
	settled Outcome
	claims  []record // live candidates since the last settle, in log order
}

// protocolLedger implements the protocol over a journal.
type protocolLedger struct {
	j     journal
	lease time.Duration
	now   func() time.Time
	owner string
}

func newProtocolLedger(j journal, lease time.Duration, now func() time.Time) *protocolLedger {
	host, _ := os.Hostname()
	return &protocolLedger{j: j, lease: lease, now: now, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomID())}
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *protocolLedger) Open(ctx context.Context, key string, since time.Time) (Book, error) {
	b := &book{l: l, key: key, since: since, claim: l.owner + "/" + randomID(), vendors: map[string]*vendorState{}}
	if err := b.read(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

type book struct {
	l      *protocolLedger
	key    string
	since  time.Time
	claim  string // this delivery's claim id
	cursor any

	mu      sync.Mutex
	vendors map[string]*vendorState
}

func (b *book) read(ctx context.Context) error {
	cursor, err := b.l.j.Read(ctx, b.key, b.since, b.cursor, b.apply)
	if err != nil {
		return fmt.Errorf("reading the delivery ledger: %w", err)
	}
	b.cursor = cursor
	return nil
}

func (b *book) apply(r record) {
	if r.Summary != b.key {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.vendors[r.Vendor]
	if v == nil {
		v = &vendorState{}
		b.vendors[r.Vendor] = v
	}
	switch r.State {
	case string(Sent), string(Failed):
		v.settled, v.claims = Outcome(r.State), nil
	case stateClaim:
		v.claims = append(v.claims, r)
	case stateRelease:
		for i, c := range v.claims {
			if c.Claim == r.Claim {
				v.claims = append(v.claims[:i:i], v.claims[i+1:]...)
				break
			}
		}
	}
}

// holder returns the claim id holding vendor at now, "" when none does.
func (b *book) holder(vendor string, now time.Time) string {
	v := b.vendors[vendor]
	if v == nil {
		return ""
	}
	for _, c := range v.claims {
		if now.Before(c.Until) {
			return c.Claim
		}
	}
	return ""
}

func (b *book) Settled() map[string]Outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	done := map[string]Outcome{}
	for vendor, v := range b.vendors {
		if v.settled != "" {
			done[vendor] = v.settled
		}
	}
	return done
}

func (b *book) Claim(ctx context.Context, vendors []string) (granted, busy []string, sendBy time.Time, err error) {
	now := b.l.now()
	until := now.Add(b.l.lease)
	var claims []record
	b.mu.Lock()
	for _, vendor := range vendors {
		switch v := b.vendors[vendor]; {
		case v != nil && v.settled != "":
		case b.holder(vendor, now) != "":
			busy = append(busy, vendor)
		default:
			claims = append(claims, record{Summary: b.key, Vendor: vendor, State: stateClaim, Claim: b.claim, Until: until, At: now})
		}
	}
	b.mu.Unlock()
	if len(claims) == 0 {
		return nil, busy, time.Time{}, nil
	}
	if err := b.l.j.Append(ctx, b.key, claims); err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("claiming in the delivery ledger: %w", err)
	}
	if err := b.read(ctx); err != nil {
		return nil, nil, time.Time{}, err
	}
	now = b.l.now()
	var lost []record
	b.mu.Lock()
	for _, c := range claims {
		switch v := b.vendors[c.Vendor]; {
		case v != nil && v.settled != "":
		case b.holder(c.Vendor, now) == b.claim:
			granted = append(granted, c.Vendor)
		default:
			busy = append(busy, c.Vendor)
			lost = append(lost, record{Summary: b.key, Vendor: c.Vendor, State: stateRelease, Claim: b.claim, At: now})
		}
	}
	b.mu.Unlock()
	if len(lost) > 0 {
		// A losing claim would otherwise become the holder should the
		// winner release, and block everyone until its lease ends. Failing
		// to release only costs that wait.
		_ = b.l.j.Append(ctx, b.key, lost)
	}
	return granted, busy, until.Add(-b.l.lease / 2), nil
}

func (b *book) Settle(ctx context.Context, vendor string, o Outcome) error {
	return b.append(ctx, record{Summary: b.key, Vendor: vendor, State: string(o), Claim: b.claim, At: b.l.now()})
}

func (b *book) Release(ctx context.Context, vendor string) error {
	return b.append(ctx, record{Summary: b.key, Vendor: vendor, State: stateRelease, Claim: b.claim, At: b.l.now()})
}

func (b *book) append(ctx context.Context, r record) error {
	if err := b.l.j.Append(ctx, b.key, []record{r}); err != nil {
		return fmt.Errorf("writing to the delivery ledger: %w", err)
	}
	return nil
}

// memJournal is a journal in memory: the ledger of unit tests, shared by
// every Function built on it as a topic is shared by replicas.
type memJournal struct {
	mu   sync.Mutex
	recs []record
	// fail, when set, makes every call fail (the broker is unreachable).
	fail error
}

func (j *memJournal) Append(_ context.Context, _ string, recs []record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	j.recs = append(j.recs, recs...)
	return nil
}

func (j *memJournal) Read(_ context.Context, key string, _ time.Time, cursor any, visit func(record)) (any, error) {
	j.mu.Lock()
	if j.fail != nil {
		j.mu.Unlock()
		return nil, j.fail
	}
	from, _ := cursor.(int)
	recs := j.recs[from:len(j.recs):len(j.recs)]
	j.mu.Unlock()
	for _, r := range recs {
		if r.Summary == key {
			visit(r)
		}
	}
	return from + len(recs), nil
}

// NewMemoryLedger returns a ledger kept in memory: for tests, and for a
// single process that may forget on restart.
func NewMemoryLedger(lease time.Duration, now func() time.Time) Ledger {
	return newProtocolLedger(&memJournal{}, lease, now)
}
