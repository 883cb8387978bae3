package sendmail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// Ledger is the record of what was sent, kept outside sendMail (in Kafka) so
// sendMail stays stateless. It turns at-least-once delivery of report
// events — redelivered after a crash or a 5xx, sometimes twice at once, to
// several replicas, replayed from the dead-letter broker, re-published —
// into one email per reader per thing the email says.
//
// # What an email is
//
// An email is identified by what it says to its reader, not by the event
// that carried it (EmailID): the reader's kind (vendor or cook), address and
// day, the report's status (partial or final) and a hash of exactly the
// numbers that reader's email shows. A reader gets a new email for a day only
// when that changes: their numbers, or partial → final. An identical report
// re-published, redelivered or replayed, or a report in which only other
// readers' numbers changed, mails nobody again. The hour of a partial report
// is not part of it: a later partial with the same numbers says nothing new.
//
// A report never goes back in time: once a reader's final email of a day is
// settled (sent, or refused for good), no partial of that day goes to them,
// and a partial counted up to an earlier instant than one already settled
// does not either (a replay, a late redelivery). A final with changed numbers
// (a day counted again) is a new email.
//
// # Protocol
//
// The records of one kind of reader for one day (a book: "vendor/2021-11-13")
// go to one append-only log (one Kafka partition, chosen by the book), so
// everyone sees them in the same order. A delivery reads its book from the
// oldest record the log keeps: no read depends on record timestamps, so a
// clock behind or ahead, on a broker or a replica, hides no record, and a
// book is found for any day sendMail accepts (acceptedDays). A record is
// one of:
//
//	claim   {claim, lease until}  "I am about to send this reader an email"
//	renew   {claim, lease until}  "I am alive": extends every hold of claim
//	end     {claim}               "I am done": ends every hold of claim
//	release {claim}               "I did not send it; someone may"
//	sent / failed {claim}         this email is settled for good
//	skipped                       not sent: the reader is not in the vendor
//	                              registry (no claim; settles nothing)
//
// A claim id is one delivery's: its lease is the latest until of its claim
// and renew records, each counted only if written (its "at") before the
// lease it extends had run out, so a lapsed delivery cannot come back to
// life. Who holds a reader is decided by the log alone, record by record:
// a claim takes the reader when nobody holds it, or when it was written at
// or after the holder's lease ran out (the holder's lease as the log says
// at that point); a release, a settle or an end by the holder frees it.
// Every reader of the log thus agrees on the holder; whether the holder is
// still alive is then judged by the reader's clock against its lease.
//
// A claim holds the reader, not only the email: one email at a time goes to
// a reader for a day, so a partial and the final delivered at once cannot
// cross (the partial is then found superseded). A delivery of a report:
//
//  1. reads the book: emails sent, failed or superseded are done;
//  2. appends a claim, with its claim id and a short lease, for each reader
//     whose email is not done and who is not held by a live claim;
//  3. reads the log again, up to its end after the claims were acknowledged
//     (so past its own claims), and keeps the readers it holds whose email
//     is still not done; a claim that lost holds nothing and needs no
//     release;
//  4. renews its lease every quarter lease while it holds readers, reading
//     the log after each renewal;
//  5. sends a granted email only while it still holds the reader and at
//     least half its lease is left (MaySend), then appends sent or failed
//     (the recipient refused for good), or release (anything else, so a
//     concurrent delivery need not wait);
//  6. ends its claim (Close), freeing every reader it still holds: when it
//     is done, when its process is stopping, or when it failed.
//
// A delivery killed outright stops renewing: its readers are free once its
// lease runs out, seconds later. Two deliveries can't both hold a reader:
// the holder is a function of the log. A takeover happens only after the
// holder's lease ran out by the taker's clock, and the holder starts no
// send in the last half of its lease, so sendMail replicas' clocks may
// disagree by up to a quarter lease. What remains is the irreducible
// window: a process that dies after the server accepted an email but
// before its "sent" is acknowledged, or a holder cut off from Kafka for
// longer than half a lease in the middle of a send; after the lease, that
// email goes again, with the same Message-ID.
//
// A delivery that finds readers held by another live claim answers 503: the
// source redelivers later, when the holder has settled them.
type Ledger interface {
	// Open reads book's records from the oldest the ledger keeps.
	Open(ctx context.Context, book string) (Book, error)
}

// EmailID identifies one email of a book by what it says.
type EmailID struct {
	// To is the reader's canonical (lower-case) address.
	To string
	// Key is the report's status and a hash of the numbers the email shows.
	Key string
	// Final is whether the report is the day's final one.
	Final bool
	// Upto is the instant the report's counts go up to.
	Upto time.Time
}

// Superseded is what Done says of a partial email a reader no longer needs:
// the final of the day, or a later partial, is settled for them.
const Superseded Outcome = "superseded"

// ErrClosed is Claim's error after Close.
var ErrClosed = errors.New("the delivery's claim is closed")

// Book is one delivery's view of one book in the ledger. Not safe for
// concurrent Claim calls; the other methods may run concurrently.
type Book interface {
	// Done says whether email is settled (Sent or Failed) or Superseded, or
	// "" when it is still to be sent.
	Done(email EmailID) Outcome
	// Claim claims the readers of emails (one email per reader) and returns
	// the emails this delivery now holds (each to be sent while MaySend
	// says so, then Settled or Released), and those whose reader another
	// live claim holds. Emails done meanwhile are in neither. Once Claim
	// has been called, the book renews its lease until Close.
	Claim(ctx context.Context, emails []EmailID) (granted, busy []EmailID, err error)
	// MaySend says whether a send of a granted email may start now: this
	// delivery still holds its reader, with at least half a lease left.
	MaySend(email EmailID) bool
	// Settle records a granted email's outcome.
	Settle(ctx context.Context, email EmailID, o Outcome) error
	// Release gives a granted email's reader back, the email unsent.
	Release(ctx context.Context, email EmailID) error
	// Skip records emails not sent because their readers are not in the
	// vendor registry. It needs no claim and settles nothing: Done then
	// says Skipped, until the email is sent.
	Skip(ctx context.Context, emails []EmailID) error
	// Close stops the renewals and frees every reader this delivery still
	// holds (one end record). A failed Close costs the readers' wait for
	// the lease to run out.
	Close(ctx context.Context) error
}

// Record states.
const (
	stateClaim   = "claim"
	stateRelease = "release"
	stateRenew   = "renew"
	stateEnd     = "end"
)

// record is one ledger entry, stored as JSON. A renew or end record has no
// reader (To and Email empty).
type record struct {
	Book  string    `json:"book"`
	To    string    `json:"to,omitempty"`
	Email string    `json:"email,omitempty"` // the EmailID's Key
	State string    `json:"state"`           // claim, renew, end, release, sent, failed, skipped
	Claim string    `json:"claim,omitempty"`
	Final bool      `json:"final,omitempty"`
	Upto  time.Time `json:"upto,omitzero"`  // the report's counts go up to
	Until time.Time `json:"until,omitzero"` // a claim's or renewal's lease
	At    time.Time `json:"at"`             // the writer's clock
}

// journal is the log of ledger records that one book's records share.
type journal interface {
	// Append writes recs, all of book, and returns once they are durable, in
	// order.
	Append(ctx context.Context, book string, recs []record) error
	// Read calls visit for book's records from cursor (nil: from the oldest
	// record kept) up to the end of the log as it is now, in log order, and
	// returns the cursor after them.
	Read(ctx context.Context, book string, cursor any, visit func(record)) (any, error)
}

// readerState is what the log says of one reader so far.
type readerState struct {
	settled map[string]Outcome // by email key
	skipped map[string]bool    // by email key: recorded Skipped
	final   bool               // a final email is settled
	upto    time.Time          // the latest Upto of a settled partial
	holder  string             // the claim id holding the reader, "" when none
}

// protocolLedger implements the protocol over a journal.
type protocolLedger struct {
	j     journal
	lease time.Duration
	now   func() time.Time
	owner string
}

func newProtocolLedger(j journal, lease time.Duration, now func() time.Time) *protocolLedger {
	if lease <= 0 {
		lease = DefaultLease
	}
	host, _ := os.Hostname()
	return &protocolLedger{j: j, lease: lease, now: now, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomID())}
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *protocolLedger) Open(ctx context.Context, key string) (Book, error) {
	b := &book{l: l, key: key, claim: l.owner + "/" + randomID(), readers: map[string]*readerState{}, leases: map[string]time.Time{},
		stop: make(chan struct{}), renewed: make(chan struct{})}
	if err := b.read(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

type book struct {
	l     *protocolLedger
	key   string
	claim string // this delivery's claim id

	readMu sync.Mutex // one read at a time: the cursor
	cursor any

	mu      sync.Mutex
	readers map[string]*readerState
	leases  map[string]time.Time // claim id: its lease, as the log says
	renewing,
	closed bool
	stop    chan struct{} // closed by Close: stop renewing
	renewed chan struct{} // closed when the renewals stopped
}

func (b *book) read(ctx context.Context) error {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	cursor, err := b.l.j.Read(ctx, b.key, b.cursor, b.apply)
	if err != nil {
		return fmt.Errorf("reading the delivery ledger: %w", err)
	}
	b.cursor = cursor
	return nil
}

func (b *book) apply(r record) {
	if r.Book != b.key {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch r.State {
	case stateRenew:
		if until, ok := b.leases[r.Claim]; ok && r.At.Before(until) && r.Until.After(until) {
			b.leases[r.Claim] = r.Until
		}
		return
	case stateEnd:
		if _, ok := b.leases[r.Claim]; ok {
			// Over for every clock: the zero time is before any instant.
			b.leases[r.Claim] = time.Time{}
		}
		return
	}
	v := b.readers[r.To]
	if v == nil {
		v = &readerState{settled: map[string]Outcome{}, skipped: map[string]bool{}}
		b.readers[r.To] = v
	}
	switch r.State {
	case string(Sent), string(Failed):
		v.settled[r.Email] = Outcome(r.State)
		if r.Final {
			v.final = true
		} else if r.Upto.After(v.upto) {
			v.upto = r.Upto
		}
		v.free(r.Claim)
	case stateClaim:
		until, ok := b.leases[r.Claim]
		switch {
		case !ok || r.Until.After(until) && r.At.Before(until):
			b.leases[r.Claim] = r.Until
		case !r.At.Before(until): // written after its own lease ran out
			return
		}
		if v.holder == "" || !r.At.Before(b.leases[v.holder]) {
			v.holder = r.Claim
		}
	case stateRelease:
		v.free(r.Claim)
	case string(Skipped):
		v.skipped[r.Email] = true
	}
}

// free ends claim's hold on the reader: only its own, so that a late settle
// of an expired holder cannot end its successor's hold.
func (v *readerState) free(claim string) {
	if v.holder == claim {
		v.holder = ""
	}
}

// holder returns the claim id holding reader at now, "" when none does.
func (b *book) holder(reader string, now time.Time) string {
	v := b.readers[reader]
	if v == nil || v.holder == "" || !now.Before(b.leases[v.holder]) {
		return ""
	}
	return v.holder
}

// done is Done with b.mu held.
func (b *book) done(e EmailID) Outcome {
	v := b.readers[e.To]
	switch {
	case v == nil:
		return ""
	case v.settled[e.Key] != "":
		return v.settled[e.Key]
	case !e.Final && (v.final || v.upto.After(e.Upto)):
		return Superseded
	case v.skipped[e.Key]:
		return Skipped
	}
	return ""
}

// finished says e needs no sending: settled or superseded. (A skipped
// email is sent once its reader is registered.)
func (b *book) finished(e EmailID) bool {
	o := b.done(e)
	return o != "" && o != Skipped
}

func (b *book) Done(e EmailID) Outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done(e)
}

func (b *book) Claim(ctx context.Context, emails []EmailID) (granted, busy []EmailID, err error) {
	now := b.l.now()
	var claims []record
	var claimed []EmailID
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, nil, ErrClosed
	}
	for _, e := range emails {
		switch {
		case b.finished(e):
		case b.holder(e.To, now) != "":
			busy = append(busy, e)
		default:
			claims = append(claims, b.record(e, stateClaim, now))
			claims[len(claims)-1].Until = now.Add(b.l.lease)
			claimed = append(claimed, e)
		}
	}
	if len(claims) > 0 && !b.renewing {
		b.renewing = true
		go b.renew()
	}
	b.mu.Unlock()
	if len(claims) == 0 {
		return nil, busy, nil
	}
	if err := b.l.j.Append(ctx, b.key, claims); err != nil {
		return nil, nil, fmt.Errorf("claiming in the delivery ledger: %w", err)
	}
	// The claims are in the log; if they are not read back this delivery
	// will not use them, and its Close frees the readers.
	if err := b.read(ctx); err != nil {
		return nil, nil, err
	}
	now = b.l.now()
	var release []record
	b.mu.Lock()
	for _, e := range claimed {
		switch {
		case b.holder(e.To, now) != b.claim:
			busy = append(busy, e) // lost: the claim holds nothing
		case !b.finished(e):
			granted = append(granted, e)
		default:
			// Settled by the previous holder meanwhile: give the reader
			// back at once.
			release = append(release, b.record(e, stateRelease, now))
		}
	}
	b.mu.Unlock()
	if len(release) > 0 {
		// Failing to release only costs the wait for Close.
		_ = b.l.j.Append(ctx, b.key, release)
	}
	return granted, busy, nil
}

// renew extends this delivery's lease every quarter lease until Close, and
// reads the log after each renewal, so that MaySend sees both the new
// lease and any takeover.
func (b *book) renew() {
	defer close(b.renewed)
	every := b.l.lease / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if err := b.renewOnce(ctx); err != nil {
			// The next tick tries again; past half the lease MaySend says
			// no, and the readers are free once it runs out.
			telemetry.KafkaError(ctx, "ledger", "renew_failed")
		}
		cancel()
	}
}

// renewOnce appends one renewal and reads the log after it.
func (b *book) renewOnce(ctx context.Context) error {
	now := b.l.now()
	r := record{Book: b.key, State: stateRenew, Claim: b.claim, Until: now.Add(b.l.lease), At: now}
	if err := b.l.j.Append(ctx, b.key, []record{r}); err != nil {
		return fmt.Errorf("renewing in the delivery ledger: %w", err)
	}
	return b.read(ctx)
}

func (b *book) MaySend(e EmailID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.l.now()
	return !b.closed && b.holder(e.To, now) == b.claim && now.Before(b.leases[b.claim].Add(-b.l.lease/2))
}

func (b *book) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	renewing := b.renewing
	close(b.stop)
	b.mu.Unlock()
	if !renewing { // nothing claimed: nothing to free
		return nil
	}
	<-b.renewed
	now := b.l.now()
	if err := b.l.j.Append(ctx, b.key, []record{{Book: b.key, State: stateEnd, Claim: b.claim, At: now}}); err != nil {
		return fmt.Errorf("ending the claim in the delivery ledger: %w", err)
	}
	return nil
}

func (b *book) record(e EmailID, state string, at time.Time) record {
	return record{Book: b.key, To: e.To, Email: e.Key, State: state, Claim: b.claim, Final: e.Final, Upto: e.Upto, At: at}
}

func (b *book) Settle(ctx context.Context, e EmailID, o Outcome) error {
	return b.append(ctx, b.record(e, string(o), b.l.now()))
}

func (b *book) Release(ctx context.Context, e EmailID) error {
	return b.append(ctx, b.record(e, stateRelease, b.l.now()))
}

func (b *book) Skip(ctx context.Context, emails []EmailID) error {
	if len(emails) == 0 {
		return nil
	}
	now := b.l.now()
	recs := make([]record, len(emails))
	for i, e := range emails {
		recs[i] = b.record(e, string(Skipped), now)
	}
	if err := b.l.j.Append(ctx, b.key, recs); err != nil {
		return fmt.Errorf("writing to the delivery ledger: %w", err)
	}
	return nil
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

func (j *memJournal) Read(_ context.Context, key string, cursor any, visit func(record)) (any, error) {
	j.mu.Lock()
	if j.fail != nil {
		j.mu.Unlock()
		return nil, j.fail
	}
	from, _ := cursor.(int)
	recs := j.recs[from:len(j.recs):len(j.recs)]
	j.mu.Unlock()
	for _, r := range recs {
		if r.Book == key {
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
