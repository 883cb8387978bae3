// Package sendmail is the sendMail function: it receives summary CloudEvents
// (as a Knative KafkaSource delivers them) and emails each vendor with sales
// their numbers for the day, exactly once per summary.
package sendmail

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"golang.org/x/time/rate"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
)

// Outcome is what became of one vendor's email.
type Outcome string

// Outcomes recorded in the ledger.
const (
	Sent   Outcome = "sent"
	Failed Outcome = "failed" // permanently: not retried
)

// Options are sendMail's settings.
type Options struct {
	// Concurrency bounds the emails in flight for one summary.
	Concurrency int
	// RatePerSecond bounds how fast emails go out (a provider's limit).
	RatePerSecond float64
	// Lease is how long a claim on an email lasts; a sender starts no send
	// after half of it.
	Lease time.Duration
	Now   func() time.Time
}

// Function is sendMail with its dependencies.
type Function struct {
	sender  mail.Sender
	report  *Report
	ledger  Ledger
	limiter *rate.Limiter
	opts    Options
	log     *slog.Logger
}

// New returns sendMail.
func New(sender mail.Sender, report *Report, ledger Ledger, opts Options, log *slog.Logger) *Function {
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	burst := max(1, int(opts.RatePerSecond))
	return &Function{
		sender:  sender,
		report:  report,
		ledger:  ledger,
		limiter: rate.NewLimiter(rate.Limit(opts.RatePerSecond), burst),
		opts:    opts,
		log:     log,
	}
}

// Handler receives CloudEvents over HTTP, in binary or structured mode.
func (f *Function) Handler(ctx context.Context) (http.Handler, error) {
	p, err := cloudevents.NewHTTP()
	if err != nil {
		return nil, err
	}
	return cloudevents.NewHTTPReceiveHandler(ctx, p, f.Receive)
}

// Receive emails one summary: decode, validate, skip what the ledger says
// is done, send the rest, answer. The answer tells the source whether to
// deliver again: 2xx when every vendor is settled, 503 when some email may
// still succeed (or another delivery is sending it right now), 400 for an
// event that never will (the source dead-letters it).
func (f *Function) Receive(ctx context.Context, e cloudevents.Event) protocol.Result {
	summary, err := events.SummaryFromEvent(e)
	if err != nil {
		f.log.Warn("rejected event", "event_id", e.ID(), "type", e.Type(), "source", e.Source(), "error", err)
		return cehttp.NewResult(http.StatusBadRequest, "invalid summary event: %v", err)
	}
	day, _ := events.ParseDate(summary.Fecha) // validated
	// No delivery of a summary happens before its day (in any time zone).
	since, _ := day.AddDays(-1).Bounds(time.UTC)
	book, err := f.ledger.Open(ctx, e.Source()+"#"+e.ID(), since)
	if err != nil {
		f.log.Warn("ledger unavailable", "event_id", e.ID(), "type", e.Type(), "source", e.Source(), "error", err)
		return cehttp.NewResult(http.StatusServiceUnavailable, "delivery ledger unavailable: %v", err)
	}
	r := f.deliver(ctx, book, e.ID(), summary)
	f.log.Info("summary emailed", "event_id", e.ID(), "type", e.Type(), "source", e.Source(), "fecha", summary.Fecha,
		"vendors", len(summary.Ventas), "already_done", r.done, "sent", r.sent, "failed", r.failed, "to_retry", r.retry, "busy", r.busy)
	if r.retry > 0 || r.busy > 0 {
		return cehttp.NewResult(http.StatusServiceUnavailable, "%d of %d emails not settled yet (%d being sent by another delivery)",
			r.retry+r.busy, len(summary.Ventas), r.busy)
	}
	return cehttp.NewResult(http.StatusOK, "")
}

// tally counts what one delivery did.
type tally struct{ done, sent, failed, retry, busy int }

// deliver claims and sends the vendors not settled yet, in batches small
// enough to go out well within a claim's lease.
func (f *Function) deliver(ctx context.Context, book Book, eventID string, s events.Summary) tally {
	var r tally
	settled := book.Settled()
	var pending []string
	for _, v := range s.Vendors() {
		if _, ok := settled[v]; ok {
			r.done++
		} else {
			pending = append(pending, v)
		}
	}
	for len(pending) > 0 {
		batch := pending[:min(len(pending), f.batchSize())]
		pending = pending[len(batch):]
		granted, busy, sendBy, err := book.Claim(ctx, batch)
		if err != nil {
			f.log.Warn("ledger unavailable", "event_id", eventID, "error", err)
			r.retry += len(batch) + len(pending)
			return r
		}
		r.busy += len(busy)
		r.done += len(batch) - len(granted) - len(busy)
		f.sendAll(ctx, book, eventID, s, granted, sendBy, &r)
	}
	return r
}

// batchSize is how many vendors one claim covers: what the rate limit lets
// out in a quarter of the lease, so the batch is sent before the owner's
// half-lease cutoff even when the limiter is saturated.
func (f *Function) batchSize() int {
	n := int(f.opts.RatePerSecond * f.opts.Lease.Seconds() / 4)
	return min(max(n, f.opts.Concurrency, 1), 500)
}

// sendAll sends the granted vendors' emails with bounded concurrency and
// rate, and settles or releases each.
func (f *Function) sendAll(ctx context.Context, book Book, eventID string, s events.Summary, vendors []string, sendBy time.Time, r *tally) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, max(1, f.opts.Concurrency))
	)
	for _, vendor := range vendors {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := f.sendOne(ctx, book, eventID, s, vendor, sendBy)
			mu.Lock()
			defer mu.Unlock()
			switch o {
			case Sent:
				r.sent++
			case Failed:
				r.failed++
			default:
				r.retry++
			}
		})
	}
	wg.Wait()
}

// sendOne returns Sent or Failed once the outcome is recorded, "" when the
// email should be tried again (it is then released in the ledger).
func (f *Function) sendOne(ctx context.Context, book Book, eventID string, s events.Summary, vendor string, sendBy time.Time) Outcome {
	msg, err := f.report.Render(eventID, s, vendor, f.opts.Now())
	if err != nil {
		f.log.Error("rendering email", "event_id", eventID, "error", err)
		f.release(ctx, book, eventID, vendor)
		return ""
	}
	if err := f.limiter.Wait(ctx); err != nil || !f.opts.Now().Before(sendBy) {
		// Past sendBy the claim is too close to expiring for a send to be
		// surely settled before someone else may take it over.
		f.release(ctx, book, eventID, vendor)
		return ""
	}
	outcome := Sent
	if err := f.sender.Send(ctx, msg); err != nil {
		if !mail.IsPermanent(err) {
			f.log.Warn("email not sent, will retry", "event_id", eventID, "message_id", msg.MessageID, "error", err)
			f.release(ctx, book, eventID, vendor)
			return ""
		}
		f.log.Warn("email refused for good", "event_id", eventID, "message_id", msg.MessageID, "error", err)
		outcome = Failed
	}
	// The email is out (or refused for good): the settle must not be lost
	// to a cancelled request, or a redelivery after the lease sends again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var werr error
	for attempt := range 3 {
		if werr = book.Settle(sctx, vendor, outcome); werr == nil {
			return outcome
		}
		select {
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		case <-sctx.Done():
		}
	}
	// Not recorded: after the lease a redelivery may send it again, with
	// the same Message-ID so the mailbox can drop the copy.
	f.log.Error("ledger write failed after sending", "event_id", eventID, "message_id", msg.MessageID, "error", werr)
	return outcome
}

// release gives vendor back so a redelivery need not wait out the lease. A
// failed release only delays that redelivery.
func (f *Function) release(ctx context.Context, book Book, eventID, vendor string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := book.Release(rctx, vendor); err != nil {
		f.log.Warn("ledger release failed", "event_id", eventID, "error", err)
	}
}
