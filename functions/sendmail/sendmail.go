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

// Ledger remembers, per summary, which vendors' emails are done. It is what
// turns at-least-once delivery of summary events into one email per vendor.
type Ledger interface {
	// Done returns the vendors whose email for summary key is settled.
	Done(ctx context.Context, key string) (map[string]Outcome, error)
	// Record settles one vendor's email for summary key.
	Record(ctx context.Context, key, vendor string, outcome Outcome) error
}

// Options are sendMail's settings.
type Options struct {
	// Concurrency bounds the emails in flight for one summary.
	Concurrency int
	// RatePerSecond bounds how fast emails go out (a provider's limit).
	RatePerSecond float64
	Now           func() time.Time
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

// Receive emails one summary: decode, validate, skip what is done, send the
// rest, answer. The answer tells the source whether to deliver again: 2xx
// when every vendor is settled, 503 when some email may still succeed, 400
// for an event that never will (the source dead-letters it).
func (f *Function) Receive(ctx context.Context, e cloudevents.Event) protocol.Result {
	summary, err := events.SummaryFromEvent(e)
	if err != nil {
		f.log.Warn("rejected event", "event_id", e.ID(), "type", e.Type(), "error", err)
		return cehttp.NewResult(http.StatusBadRequest, "invalid summary event: %v", err)
	}
	key := e.Source() + "#" + e.ID()
	done, err := f.ledger.Done(ctx, key)
	if err != nil {
		f.log.Warn("ledger unavailable", "event_id", e.ID(), "error", err)
		return cehttp.NewResult(http.StatusServiceUnavailable, "delivery ledger unavailable: %v", err)
	}
	var pending []string
	for _, v := range summary.Vendors() {
		if _, ok := done[v]; !ok {
			pending = append(pending, v)
		}
	}
	sent, failed, retry := f.sendAll(ctx, key, e.ID(), summary, pending)
	f.log.Info("summary emailed", "event_id", e.ID(), "fecha", summary.Fecha, "vendors", len(summary.Ventas),
		"already_done", len(summary.Ventas)-len(pending), "sent", sent, "failed", failed, "to_retry", retry)
	if retry > 0 {
		return cehttp.NewResult(http.StatusServiceUnavailable, "%d of %d emails not sent yet", retry, len(pending))
	}
	return cehttp.NewResult(http.StatusOK, "")
}

// sendAll sends the pending vendors' emails with bounded concurrency and
// rate, and records each settled one.
func (f *Function) sendAll(ctx context.Context, key, eventID string, s events.Summary, vendors []string) (sent, failed, retry int) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(1, f.opts.Concurrency))
		tell = func(o *int) { mu.Lock(); *o++; mu.Unlock() }
	)
	for _, vendor := range vendors {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			switch f.sendOne(ctx, key, eventID, s, vendor) {
			case Sent:
				tell(&sent)
			case Failed:
				tell(&failed)
			default:
				tell(&retry)
			}
		}()
	}
	wg.Wait()
	return sent, failed, retry
}

// sendOne returns Sent or Failed once the outcome is recorded, "" when the
// email should be tried again.
func (f *Function) sendOne(ctx context.Context, key, eventID string, s events.Summary, vendor string) Outcome {
	if err := f.limiter.Wait(ctx); err != nil {
		return ""
	}
	msg, err := f.report.Render(eventID, s, vendor, f.opts.Now())
	if err != nil {
		f.log.Error("rendering email", "event_id", eventID, "error", err)
		return ""
	}
	outcome := Sent
	if err := f.sender.Send(ctx, msg); err != nil {
		if !mail.IsPermanent(err) {
			f.log.Warn("email not sent, will retry", "event_id", eventID, "message_id", msg.MessageID, "error", err)
			return ""
		}
		f.log.Warn("email refused for good", "event_id", eventID, "message_id", msg.MessageID, "error", err)
		outcome = Failed
	}
	if err := f.ledger.Record(ctx, key, vendor, outcome); err != nil {
		// The email went out but is not recorded: a redelivery may send it
		// again. Rare, and the Message-ID lets the mailbox drop the copy.
		f.log.Warn("ledger write failed", "event_id", eventID, "message_id", msg.MessageID, "error", err)
	}
	return outcome
}
