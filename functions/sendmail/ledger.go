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
// everyone sees them in the same order. Every record concerns one reader and
// one email of theirs, and is one of:
//
//	claim   {claim id, lease until}  "I am about to send this reader an email"
//	release {claim id}               "I did not send it; someone may"
//	sent / failed {claim id}         this email is settled for good
//	skipped                          not sent: the reader is not in the vendor
//	                                 registry (no claim; settles nothing)
//
// A claim holds the reader, not only the email: one email at a time goes to
// a reader for a day, so a partial and the final delivered at once cannot
// cross (the partial is then found superseded). A delivery of a report:
//
//  1. reads the book: emails sent, failed or superseded are done;
//  2. appends a claim, with a fresh claim id and a lease, for each reader
//     whose email is not done and who is not held by someone else's live
//     claim;
//  3. reads the log again, up to its end after the claims were acknowledged
//     (so past its own claims), and for each reader finds the holder: the
//     first claim in log order that is neither released, settled nor past
//     its lease. It keeps the readers it holds whose email is still not done
//     and releases the other claims at once: a losing claim would otherwise
//     become the holder if the winner released, blocking the reader for a
//     lease;
//  4. sends a granted email only while at least half the lease is left, then
//     appends sent or failed (the recipient refused for good), or release
//     (anything else, so the redelivery need not wait out the lease).
//
// Two deliveries can't both hold a reader: the log order is total, so for
// the same records both pick the same first live claim. They can disagree
// only when a claim expired between their reads, and a claim's owner stops
// starting sends at half its lease, so a takeover happens after the owner
// finished (its settle is then in the log) or gave up. What remains is the
// irreducible window: a process that dies after the server accepted an email
// but before its "sent" is acknowledged, or a settle slower than half the
// lease; after the lease, that email goes again, with the same Message-ID.
//
// A delivery that finds readers held by another live claim answers 503: the
// source redelivers later, when the holder has settled them.
type Ledger interface {
	// Open reads book's records. since bounds the read: no record of this
	// book is older (see kafkaJournal).
	Open(ctx context.Context, book string, since time.Time) (Book, error)
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

// Book is one delivery's view of one book in the ledger. Not safe for
// concurrent Claim calls; Settle and Release may run concurrently.
type Book interface {
	// Done says whether email is settled (Sent or Failed) or Superseded, or
	// "" when it is still to be sent.
	Done(email EmailID) Outcome
	// Claim claims the readers of emails (one email per reader) and returns
	// the emails this delivery now holds (it must send them before sendBy,
	// then Settle or Release each), and those whose reader another live
	// claim holds. Emails done meanwhile are in neither.
	Claim(ctx context.Context, emails []EmailID) (granted, busy []EmailID, sendBy time.Time, err error)
	// Settle records a granted email's outcome.
	Settle(ctx context.Context, email EmailID, o Outcome) error
	// Release gives a granted email's reader back, the email unsent.
	Release(ctx context.Context, email EmailID) error
	// Skip records emails not sent because their readers are not in the
	// vendor registry. It needs no claim and settles nothing: Done then
	// says Skipped, until the email is sent.
	Skip(ctx context.Context, emails []EmailID) error
}

// Record states.
const (
	stateClaim   = "claim"
	stateRelease = "release"
)

// record is one ledger entry, stored as JSON.
type record struct {
	Book  string    `json:"book"`
	To    string    `json:"to"`
	Email string    `json:"email"` // the EmailID's Key
	State string    `json:"state"` // claim, release, sent, failed, skipped
	Claim string    `json:"claim"`
	Final bool      `json:"final,omitempty"`
	Upto  time.Time `json:"upto,omitzero"`  // the report's counts go up to
	Until time.Time `json:"until,omitzero"` // a claim's lease
	At    time.Time `json:"at"`
}

// journal is the log of ledger records that one book's records share.
type journal interface {
	// Append writes recs, all of book, and returns once they are durable, in
	// order.
	Append(ctx context.Context, book string, recs []record) error
	// Read calls visit for book's records from cursor (nil: from the start,
	// bounded by since) up to the end of the log as it is now, in log order,
	// and returns the cursor after them.
	Read(ctx context.Context, book string, since time.Time, cursor any, visit func(record)) (any, error)
}

// readerState is what the log says of one reader so far.
type readerState struct {
	settled map[string]Outcome // by email key
	skipped map[string]bool    // by email key: recorded Skipped
	final   bool               // a final email is settled
	upto    time.Time          // the latest Upto of a settled partial
	claims  []record           // live candidates, in log order
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
	b := &book{l: l, key: key, since: since, claim: l.owner + "/" + randomID(), readers: map[string]*readerState{}}
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
	readers map[string]*readerState
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
	if r.Book != b.key {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
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
		v.drop(r.Claim)
	case stateClaim:
		v.claims = append(v.claims, r)
	case stateRelease:
		v.drop(r.Claim)
	case string(Skipped):
		v.skipped[r.Email] = true
	}
}

// drop ends claim id's hold: only its own, so that a late settle of an
// expired holder cannot end its successor's claim.
func (v *readerState) drop(claim string) {
	for i, c := range v.claims {
		if c.Claim == claim {
			v.claims = append(v.claims[:i:i], v.claims[i+1:]...)
			return
		}
	}
}

// holder returns the claim id holding reader at now, "" when none does.
func (b *book) holder(reader string, now time.Time) string {
	v := b.readers[reader]
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

func (b *book) Claim(ctx context.Context, emails []EmailID) (granted, busy []EmailID, sendBy time.Time, err error) {
	now := b.l.now()
	until := now.Add(b.l.lease)
	var claims []record
	var claimed []EmailID
	b.mu.Lock()
	for _, e := range emails {
		switch {
		case b.finished(e):
		case b.holder(e.To, now) != "":
			busy = append(busy, e)
		default:
			claims = append(claims, b.record(e, stateClaim, now))
			claims[len(claims)-1].Until = until
			claimed = append(claimed, e)
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
		// The claims are in the log but this delivery will not use them:
		// give the readers back, or they stay blocked for a lease (a
		// cancelled request, a process stopped mid-delivery). Best effort.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		release := make([]record, len(claimed))
		for i, e := range claimed {
			release[i] = b.record(e, stateRelease, b.l.now())
		}
		_ = b.l.j.Append(rctx, b.key, release)
		return nil, nil, time.Time{}, err
	}
	now = b.l.now()
	var release []record
	b.mu.Lock()
	for _, e := range claimed {
		switch {
		case b.holder(e.To, now) != b.claim:
			busy = append(busy, e)
		case !b.finished(e):
			granted = append(granted, e)
			continue
		}
		// Lost, or settled by the previous holder meanwhile: give the
		// reader back at once.
		release = append(release, b.record(e, stateRelease, now))
	}
	b.mu.Unlock()
	if len(release) > 0 {
		// A claim left behind would block the reader until its lease ends.
		// Failing to release only costs that wait.
		_ = b.l.j.Append(ctx, b.key, release)
	}
	return granted, busy, until.Add(-b.l.lease / 2), nil
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
