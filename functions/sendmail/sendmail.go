// Package sendmail is the sendMail function: it receives report CloudEvents
// (as a Knative KafkaSource delivers them from the report topic) and emails
// each reader their day: a vendor report to each vendor in it (its orders,
// counted and not), a cook report to its cook, and a summary still
// delivered (from before the report topic) to each vendor with sales,
// totals only. A reader gets one email per thing it says (see Ledger).
package sendmail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/eapache/go-resiliency/retrier"
	"golang.org/x/time/rate"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/cerequest"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
	registry "github.com/sopaipillas/sopaipillas/functions/internal/vendors" // the test files use the name vendors
)

// Outcome is what became of one email.
type Outcome string

// Outcomes recorded in the ledger.
const (
	Sent   Outcome = "sent"
	Failed Outcome = "failed" // the recipient refused it for good: not retried
	// Skipped is an email not sent because its reader is not in the vendor
	// registry (Options.Registry). It settles nothing: if the address is
	// registered before the report is delivered again (a redelivery, a
	// replay), the email goes then.
	Skipped Outcome = "skipped"
)

// MaxBodyBytes bounds a delivered event: a report is far smaller than
// Kafka's default 1 MB record.
const MaxBodyBytes = 2 << 20

// DefaultLease is how long a claim on a reader lasts unless renewed
// (Options.Lease): a delivery renews it every quarter lease while it holds
// readers, so a process killed outright frees its readers this long after.
const DefaultLease = 15 * time.Second

// DefaultTimeZone is the business time zone a partial report's hour is
// shown in when Options.Location is nil: dailySummary's default
// (SUMMARY_TIMEZONE), which also defines the days.
const DefaultTimeZone = "America/Santiago"

// Options are sendMail's settings.
type Options struct {
	// Concurrency bounds the emails in flight for one report.
	Concurrency int
	// RatePerSecond bounds how fast emails go out (a provider's limit).
	RatePerSecond float64
	// Lease is how long a claim on a reader lasts unless renewed (renewed
	// every quarter of it); a delivery starts no send in the last half of
	// its lease. 0 is DefaultLease.
	Lease time.Duration
	// Retention is how long the ledger keeps its records (the ledger
	// topic's retention.ms); it bounds the days accepted (acceptedDays).
	// 0: the ledger forgets nothing.
	Retention time.Duration
	// Location is the business time zone, in which "hasta las 14:32" is
	// said; nil is DefaultTimeZone.
	Location *time.Location
	Now      func() time.Time
	// Registry, when set, returns the vendor registry in force: only its
	// vendors get summaries, and only its cooks (or vendors) cook reports.
	// Nil mails every reader of a report.
	Registry func() *registry.Registry
}

// Function is sendMail with its dependencies.
type Function struct {
	sender  mail.Sender
	report  *Report
	ledger  Ledger
	limiter *rate.Limiter
	opts    Options
	log     *slog.Logger

	// stopping is done once Stop was called.
	stopping context.Context
	stop     context.CancelFunc
}

// New returns sendMail.
func New(sender mail.Sender, report *Report, ledger Ledger, opts Options, log *slog.Logger) *Function {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation(DefaultTimeZone)
		if err != nil { // no time zone database: the hour is said in UTC
			log.Error("loading the business time zone", "time_zone", DefaultTimeZone, "error", err)
			loc = time.UTC
		}
		opts.Location = loc
	}
	burst := max(1, int(opts.RatePerSecond))
	stopping, stop := context.WithCancel(context.Background())
	return &Function{
		sender:   sender,
		report:   report,
		ledger:   ledger,
		limiter:  rate.NewLimiter(rate.Limit(opts.RatePerSecond), burst),
		opts:     opts,
		log:      log,
		stopping: stopping,
		stop:     stop,
	}
}

// Stop is called when the process is told to stop (SIGTERM): from then on
// sendMail claims no reader and starts no send; the deliveries in flight
// finish the sends already started, free every reader they still hold and
// answer 503, which the source redelivers (to another replica, or to this
// one restarted). A delivery arriving after Stop is answered 503 at once.
func (f *Function) Stop() { f.stop() }

// stopped reports whether Stop was called.
func (f *Function) stopped() bool { return f.stopping.Err() != nil }

// Handler receives CloudEvents over HTTP, in binary or structured mode, on
// any path (a KafkaSource's sink is the service's URL).
func (f *Function) Handler(context.Context) (http.Handler, error) {
	return http.HandlerFunc(f.ServeHTTP), nil
}

// ServeHTTP reads one delivered event and answers what Receive decided.
// Every error answer is application/problem+json.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, http.StatusMethodNotAllowed, "deliver CloudEvents with POST", nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	e, _, err := cerequest.Read(r)
	if err == nil && e == nil {
		err = &cerequest.Error{Field: "cloudevent", Detail: "no CloudEvent: send one in binary (Ce-* headers) or structured mode"}
	}
	var bad *cerequest.Error
	switch {
	case errors.As(err, &bad):
		f.log.Warn("rejected request: not a CloudEvent", "error", err)
		problem.Write(w, http.StatusBadRequest, "not a CloudEvent: "+bad.Detail, []events.FieldError{{Field: bad.Field, Detail: bad.Detail}})
		return
	case err != nil:
		problem.WriteBodyError(w, err, MaxBodyBytes)
		return
	}
	f.Receive(r.Context(), *e).Write(w)
}

// Result is sendMail's answer to one delivery.
type Result struct {
	// Status is the HTTP status: 200, 400 or 422 (the source dead-letters
	// the event), 503 (it redelivers).
	Status int
	// Detail and Fields describe an error (problem+json).
	Detail string
	Fields []events.FieldError
}

// Write answers r: 200 with no body, an error as problem+json.
func (r Result) Write(w http.ResponseWriter) {
	switch {
	case r.Status/100 == 2:
		w.WriteHeader(r.Status)
	case r.Status == http.StatusServiceUnavailable:
		problem.WriteUnavailable(w, 5*time.Second, r.Detail)
	default:
		problem.Write(w, r.Status, r.Detail, r.Fields)
	}
}

// rejected is the answer to an event that will never be mailed: 400 when
// it is not for sendMail or not well-formed, 422 when a report's fields
// break its schema (as problem.WriteInput answers them).
func rejected(err error) Result {
	var notForUs *errNotForUs
	switch {
	case errors.As(err, &notForUs):
		return Result{Status: http.StatusBadRequest, Detail: "not a report sendMail takes: " + err.Error(), Fields: []events.FieldError{notForUs.FieldError}}
	case events.IsValidation(err):
		return Result{Status: http.StatusUnprocessableEntity, Detail: err.Error(), Fields: events.Fields(err)}
	}
	return Result{Status: http.StatusBadRequest, Detail: err.Error(), Fields: events.Fields(err)}
}

// Receive emails one report: decode, validate, skip what the ledger says
// is done, send the rest, answer. The answer tells the source whether to
// deliver again: 2xx when every email is settled, 503 when some email may
// still succeed (or another delivery is sending to that reader right now),
// 4xx for an event that never will (the source dead-letters it).
func (f *Function) Receive(ctx context.Context, e cloudevents.Event) Result {
	telemetry.LinkEvent(ctx, e)
	log := telemetry.Logger(ctx, f.log).With("event_id", e.ID(), "type", e.Type(), "source", e.Source())
	rep, err := decodeReport(e, f.opts.Location)
	if err != nil {
		res := rejected(err)
		log.Warn("rejected event", "status", res.Status, "error", err)
		return res
	}
	log = log.With("kind", rep.kind, "fecha", rep.day.String(), "report_status", rep.meta.Status)
	if err := f.checkDay(rep.day); err != nil {
		res := rejected(err)
		log.Warn("rejected report: a day the ledger cannot vouch for", "status", res.Status, "error", err)
		return res
	}
	if f.stopped() {
		telemetry.EmailsRetried(ctx, backendOf(f.sender), "stopping", len(rep.letters))
		log.Info("answering 503: stopping")
		return Result{Status: http.StatusServiceUnavailable, Detail: "sendMail is stopping; retry"}
	}
	book, err := f.ledger.Open(ctx, rep.book())
	if err != nil {
		telemetry.KafkaError(ctx, "ledger", "unavailable")
		telemetry.EmailsRetried(ctx, backendOf(f.sender), "ledger_unavailable", len(rep.letters))
		log.Warn("answering 503: delivery ledger unavailable", "recipients", recipients(rep.letters), "error", err)
		return Result{Status: http.StatusServiceUnavailable, Detail: "delivery ledger unavailable; retry"}
	}
	r := f.deliver(ctx, log, book, rep)
	telemetry.LedgerConflicts(ctx, len(r.busy))
	log.Info("report emailed", "readers", len(rep.letters), "already_done", r.done, "superseded", r.superseded,
		"sent", r.sent, "failed", r.failed, "skipped", r.skipped, "to_retry", len(r.retry), "busy", len(r.busy))
	if len(r.retry) > 0 || len(r.busy) > 0 {
		log.Warn("answering 503: emails not settled yet", "to_retry", recipients(r.retry), "busy", recipients(r.busy), "stopping", r.stopped)
		detail := fmt.Sprintf("%d of %d emails not settled yet (%d being sent by another delivery)", len(r.retry)+len(r.busy), len(rep.letters), len(r.busy))
		if r.stopped {
			detail = "sendMail is stopping: " + detail + "; retry"
		}
		return Result{Status: http.StatusServiceUnavailable, Detail: detail}
	}
	return Result{Status: http.StatusOK}
}

// tally counts what one delivery did.
type tally struct {
	done, superseded, sent, failed, skipped int
	retry, busy                             []letter
	stopped                                 bool // Stop was called during the delivery
}

// deliver claims and sends the emails not done yet, in batches, and frees
// every reader it still holds when it returns. Once Stop is called it
// claims no more.
func (f *Function) deliver(ctx context.Context, log *slog.Logger, book Book, rep report) (r tally) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := book.Close(cctx); err != nil {
			// The readers are free once the lease runs out.
			log.Warn("delivery ledger: claim not ended", "error", err)
		}
		r.stopped = f.stopped()
	}()
	var pending, unknown, unrecorded []letter
	registered := f.registered(rep.kind)
	rep = rep.named(f.names())
	for _, l := range rep.letters {
		switch o := book.Done(l.id); {
		case o == Superseded:
			r.superseded++
		case o == Sent || o == Failed:
			r.done++
		case !registered(l.id.To):
			unknown = append(unknown, l)
			if o != Skipped {
				unrecorded = append(unrecorded, l)
			}
		default:
			pending = append(pending, l)
		}
	}
	if len(unknown) > 0 {
		log.Warn("readers not in the vendor registry: not mailed", "skipped", recipients(unknown))
		r.skipped = len(unknown)
		if err := book.Skip(ctx, emailIDs(unrecorded)); err != nil {
			// Not recorded yet: answered 503, so a redelivery records it.
			log.Warn("delivery ledger unavailable", "error", err)
			r.retry = append(r.retry, unrecorded...)
			r.skipped -= len(unrecorded)
		}
	}
	byID := map[EmailID]letter{}
	for len(pending) > 0 {
		if f.stopped() {
			telemetry.EmailsRetried(ctx, backendOf(f.sender), "stopping", len(pending))
			r.retry = append(r.retry, pending...)
			return r
		}
		batch := pending[:min(len(pending), f.batchSize())]
		pending = pending[len(batch):]
		ids := make([]EmailID, len(batch))
		for i, l := range batch {
			ids[i] = l.id
			byID[l.id] = l
		}
		granted, busy, err := book.Claim(ctx, ids)
		if err != nil {
			telemetry.KafkaError(ctx, "ledger", "unavailable")
			telemetry.EmailsRetried(ctx, backendOf(f.sender), "ledger_unavailable", len(batch)+len(pending))
			log.Warn("delivery ledger unavailable", "error", err)
			r.retry = append(append(r.retry, batch...), pending...)
			return r
		}
		for _, id := range busy {
			r.busy = append(r.busy, byID[id])
		}
		r.done += len(batch) - len(granted) - len(busy)
		letters := make([]letter, len(granted))
		for i, id := range granted {
			letters[i] = byID[id]
		}
		f.sendAll(ctx, log, book, rep, letters, &r)
	}
	return r
}

// names returns the display name of an address in the vendor registry in
// force, or "" (no registry, or no name).
func (f *Function) names() func(email string) string {
	if f.opts.Registry == nil {
		return func(string) string { return "" }
	}
	if reg := f.opts.Registry(); reg != nil {
		return reg.Name
	}
	return func(string) string { return "" }
}

// registered returns whether an address may be mailed a report of kind:
// without a registry anyone; with one, a summary only to a registered vendor
// and a cook report to a cook a vendor lists, or to a registered vendor
// (an address the business knows either way). One registry serves the
// whole delivery, even if it is reloaded meanwhile.
func (f *Function) registered(kind string) func(to string) bool {
	if f.opts.Registry == nil {
		return func(string) bool { return true }
	}
	reg := f.opts.Registry()
	if kind == kindVendor {
		return reg.IsVendor
	}
	return func(to string) bool { return reg.IsCook(to) || reg.IsVendor(to) }
}

func emailIDs(ls []letter) []EmailID {
	out := make([]EmailID, len(ls))
	for i, l := range ls {
		out[i] = l.id
	}
	return out
}

// batchSize is how many emails one claim covers: what the rate limit lets
// out in a quarter of the lease, so that few readers wait on a delivery
// that is killed (for a lease) or stopped.
func (f *Function) batchSize() int {
	n := int(f.opts.RatePerSecond * f.opts.Lease.Seconds() / 4)
	return min(max(n, f.opts.Concurrency, 1), 500)
}

// sendAll sends the granted emails with bounded concurrency and rate, and
// settles each sent one. After Stop it starts no send: the sends in
// progress finish and the rest are left to the redelivery.
func (f *Function) sendAll(ctx context.Context, log *slog.Logger, book Book, rep report, letters []letter, r *tally) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, max(1, f.opts.Concurrency))
	)
	// Waits for the rate limit end when the process stops.
	wait, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.stopping, cancel)()
	for i, l := range letters {
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-wait.Done():
		}
		if wait.Err() != nil || f.stopped() {
			if acquired {
				<-sem
			}
			telemetry.EmailsRetried(ctx, backendOf(f.sender), "stopping", len(letters)-i)
			mu.Lock()
			r.retry = append(r.retry, letters[i:]...)
			mu.Unlock()
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			o := f.sendOne(ctx, wait, log, book, rep, l)
			mu.Lock()
			defer mu.Unlock()
			switch o {
			case Sent:
				r.sent++
			case Failed:
				r.failed++
			default:
				r.retry = append(r.retry, l)
			}
		})
	}
	wg.Wait()
}

// sendOne returns Sent or Failed once the outcome is recorded, "" when the
// email should be tried again. wait ends the wait for the rate limit (the
// request ended, or the process is stopping); the send itself, once
// started, runs to its end under ctx.
func (f *Function) sendOne(ctx, wait context.Context, log *slog.Logger, book Book, rep report, l letter) Outcome {
	ctx, em := telemetry.SendingEmail(ctx, backendOf(f.sender), rep.kind) // the span "send email" and its metrics
	defer em.End()
	log = telemetry.Logger(ctx, log)
	msg, err := f.report.Render(rep.kind, rep.book(), l, f.opts.Now())
	if err != nil {
		em.Retry("render")
		log.Error("rendering email", "error", err)
		f.release(ctx, log, book, l.id)
		return ""
	}
	if err := f.limiter.Wait(wait); err != nil || f.stopped() {
		em.Retry("stopping") // or the request ended; the claim's end frees the reader
		return ""
	}
	if !book.MaySend(l.id) {
		// The lease is too close to running out (renewals failed) for a
		// send to be surely settled before someone else may take over.
		em.Retry("lease")
		return ""
	}
	outcome := Sent
	em.Sending()
	if err := f.sender.Send(ctx, msg); err != nil {
		log := log.With("message_id", msg.MessageID, "recipient", maskAddress(l.id.To), "error", err)
		switch failureOf(err) {
		case recipientRefused:
			log.Warn("email refused for good by the recipient's server")
			em.Failed("recipient_refused")
			outcome = Failed
		case configuration:
			log.Error("email not sent: mail configuration or provider error, the same for every email; will retry")
			em.Retry("configuration")
			f.release(ctx, log, book, l.id)
			return ""
		default:
			log.Warn("email not sent, will retry")
			em.Retry("transient")
			f.release(ctx, log, book, l.id)
			return ""
		}
	}
	em.Sent() // unless Failed above
	// The email is out (or refused for good): the settle must not be lost
	// to a cancelled request, or a redelivery after the lease sends again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Three tries, 200 ms and 400 ms apart.
	r := retrier.New([]time.Duration{200 * time.Millisecond, 400 * time.Millisecond}, nil)
	werr := retry.Run(sctx, r, func(ctx context.Context, _ int) error { return book.Settle(ctx, l.id, outcome) })
	if werr == nil {
		return outcome
	}
	// Not recorded: after the lease a redelivery may send it again, with
	// the same Message-ID so the mailbox can drop the copy.
	telemetry.KafkaError(ctx, "ledger", "settle_failed")
	log.Error("ledger write failed after sending", "message_id", msg.MessageID, "error", werr)
	return outcome
}

// release gives the reader back so a redelivery need not wait out the
// lease. A failed release only delays that redelivery.
func (f *Function) release(ctx context.Context, log *slog.Logger, book Book, id EmailID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := book.Release(rctx, id); err != nil {
		log.Warn("ledger release failed", "error", err)
	}
}

// failure is whose fault a failed send is.
type failure int

const (
	transient        failure = iota // retry: the next delivery may succeed
	recipientRefused                // this recipient refused it for good: record failed
	configuration                   // ours or the provider's, for every email: retry, and tell an operator
)

// failureOf classifies a send error (see mail.Sender). Only a refusal of
// the recipient is permanent; everything else, a configuration or provider
// error included, is retried.
func failureOf(err error) failure {
	switch {
	case mail.IsConfigError(err):
		return configuration
	case mail.IsPermanent(err):
		return recipientRefused
	}
	return transient
}

// recipients lists the letters' recipients for a log line, masked (logs
// carry no full addresses) and at most 20 of them.
func recipients(ls []letter) []string {
	out := make([]string, 0, min(len(ls), 21))
	for i, l := range ls {
		if i == 20 {
			out = append(out, fmt.Sprintf("... and %d more", len(ls)-20))
			break
		}
		out = append(out, maskAddress(l.id.To))
	}
	return out
}

// maskAddress keeps an address recognisable to an operator who knows it
// but unreadable to one who does not: a***@example.com.
func maskAddress(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 1 {
		return "***"
	}
	return a[:1] + "***" + a[at:]
}
