// Package dailysummary is the dailySummary function: POST /dailySummary
// reads one calendar day of orders from the "order" topic, counts each order
// once, and publishes the day's summary onto the "summary" topic and its
// cook and vendor reports onto the "report" topic.
package dailysummary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/bearer"
	"github.com/sopaipillas/sopaipillas/functions/internal/cerequest"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// MaxBodyBytes is the largest request body accepted (413 above it).
const MaxBodyBytes = 4 << 10

// Generated is the message of a 200 answer.
const Generated = "Resumen generado correctamente"

// Response is the body of a 200 answer.
type Response struct {
	Response string         `json:"response"`
	Summary  events.Summary `json:"summary"`
	EventID  string         `json:"event_id"`
	// ReportStatus is "partial" for a day not over yet, "final" after;
	// CountedUntil the instant the counts go up to (events.ReportMeta).
	ReportStatus string    `json:"report_status"`
	CountedUntil time.Time `json:"counted_until"`
	// CookReports is the same day by cook; each cook's report is published
	// as an event of its own, CookReportEventIDs in order of cook.
	CookReports        events.CookDay `json:"cook_reports"`
	CookReportEventIDs []string       `json:"cook_report_event_ids"`
	// VendorReportEventIDs are the vendor reports' events (the day's
	// vendors sorted by address, split by size), in order.
	VendorReportEventIDs []string `json:"vendor_report_event_ids"`
	// OrdersRead counts the day's order records, retries included.
	OrdersRead int `json:"orders_read"`
	// SkippedRecords counts the day's records that are not orders, and
	// SkippedByReason says why (SkipNotAnOrder, ...).
	SkippedRecords  int            `json:"skipped_records"`
	SkippedByReason map[string]int `json:"skipped_records_by_reason"`
	Conflicts       []Conflict     `json:"conflicts"`
	ConflictsTotal  int            `json:"conflicts_total"`
}

// The day read's types (package dayread), as dailySummary's API names them.
type (
	OrderLog = dayread.OrderLog
	Expect   = dayread.Expect
	Record   = dayread.Record
	Result   = dayread.Result
	Conflict = dayread.Conflict
	KafkaLog = dayread.KafkaLog
)

// Reasons a record of the order topic is skipped (dayread).
const (
	SkipNotAnOrder        = dayread.SkipNotAnOrder
	SkipInvalidCloudEvent = dayread.SkipInvalidCloudEvent
	SkipOtherEventType    = dayread.SkipOtherEventType
	SkipInvalidOrder      = dayread.SkipInvalidOrder
)

// Publisher writes an event to a topic and returns once it is
// acknowledged.
type Publisher interface {
	Publish(ctx context.Context, topic string, event cloudevents.Event) error
}

// Options are dailySummary's settings.
type Options struct {
	SummaryTopic string
	// ReportTopic carries the cook and vendor reports.
	ReportTopic string
	Location    *time.Location
	// Retention is how long the order topic keeps records: older days
	// cannot be summarized exactly and are refused.
	Retention time.Duration
	Timeout   time.Duration
	// Token, when set, must come as "Authorization: Bearer <token>" on
	// direct calls. Scheduled pings need none: they only close yesterday.
	Token string
	Now   func() time.Time
}

// Function is dailySummary with its dependencies.
type Function struct {
	days      *dayread.Counter
	publisher Publisher
	opts      Options
	logger    *slog.Logger
}

// New returns dailySummary.
func New(log OrderLog, publisher Publisher, opts Options, logger *slog.Logger) *Function {
	return &Function{days: dayread.New(log, opts.Location), publisher: publisher, opts: opts, logger: logger}
}

// Handler routes POST /dailySummary, and POST / for a Knative route or a
// PingSource sink (api/openapi.yaml). Other methods are 405, other paths
// 404, both as problem+json.
func (f *Function) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/dailySummary", problem.Only(f, http.MethodPost))
	mux.Handle("/{$}", problem.Only(f, http.MethodPost))
	mux.HandleFunc("/", problem.NotFound)
	return mux
}

// ServeHTTP summarizes one day: decode the trigger, validate the day, read
// and count, publish, answer.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	began := time.Now() // for sopaipillas.summary.duration
	now := f.opts.Now()
	day, err := f.requestedDay(r, now)
	if err != nil {
		f.reject(w, err)
		return
	}
	if err := f.checkDay(day, now); err != nil {
		problem.WriteInput(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.opts.Timeout)
	defer cancel()
	res, err := f.Summarize(ctx, day)
	if err != nil {
		telemetry.SummaryFailed(ctx, "read", time.Since(began))
		f.logger.WarnContext(ctx, "summary failed", "fecha", day.String(), "error", err)
		problem.WriteUnavailable(w, 5*time.Second, "the orders of "+day.String()+" could not all be read; retry")
		return
	}
	start, end := day.Bounds(f.opts.Location)
	meta := events.NewReportMeta(start, end, now)
	event, cookIDs, vendorIDs, err := f.publish(ctx, res, meta)
	if err != nil {
		telemetry.SummaryFailed(ctx, "publish", time.Since(began))
		f.logger.WarnContext(ctx, "summary not published", "fecha", day.String(), "error", err)
		problem.WriteUnavailable(w, 5*time.Second, "the summary was not published; retry")
		return
	}
	telemetry.SummaryPublished(ctx, meta.Status, time.Since(began), res.OrdersRead, res.SkippedByReason, res.ConflictsTotal)
	f.logger.InfoContext(ctx, "summary published", "event_id", event.ID(), "cook_reports", len(cookIDs), "vendor_reports", len(vendorIDs), "fecha", day.String(),
		"status", meta.Status, "vendors", len(res.Summary.Ventas), "cooks", len(res.Cooks.Cocineros),
		"orders_read", res.OrdersRead, "skipped", res.SkippedRecords, "conflicts", res.ConflictsTotal)
	if res.SkippedRecords > 0 {
		// A migration or a foreign producer losing orders shows here.
		f.logger.WarnContext(ctx, "records of the day skipped", "fecha", day.String(), "skipped", res.SkippedRecords, "by_reason", res.SkippedByReason)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Response{
		Response: Generated, Summary: res.Summary, EventID: event.ID(),
		ReportStatus: meta.Status, CountedUntil: meta.CountedUntil,
		CookReports: res.Cooks, CookReportEventIDs: cookIDs, VendorReportEventIDs: vendorIDs, OrdersRead: res.OrdersRead,
		SkippedRecords: res.SkippedRecords, SkippedByReason: res.SkippedByReason, Conflicts: res.Conflicts, ConflictsTotal: res.ConflictsTotal,
	})
}

// publish publishes the day's summary onto the summary topic, then each
// cook's report and the vendor reports onto the report topic, and returns
// once the broker acknowledged them all. Every id comes from the content:
// a retry after a failure publishes the same events again, which sendMail
// recognises. The vendor reports are built, encoded and published part by
// part (events.SplitVendors), at most maxReportsInFlight at once, so that
// a busy day's report is never held whole.
func (f *Function) publish(ctx context.Context, res Result, meta events.ReportMeta) (cloudevents.Event, []string, []string, error) {
	summary, err := events.NewSummaryEvent(res.Summary, meta)
	if err != nil {
		return summary, nil, nil, err
	}
	reports := res.Cooks.Reports()
	cooks := make([]cloudevents.Event, len(reports))
	cookIDs := make([]string, len(reports))
	for i, r := range reports {
		if cooks[i], err = events.NewCookReportEvent(r, meta); err != nil {
			return summary, nil, nil, err
		}
		cookIDs[i] = cooks[i].ID()
	}
	if err := f.publisher.Publish(ctx, f.opts.SummaryTopic, summary); err != nil {
		return summary, nil, nil, fmt.Errorf("summary: %w", err)
	}
	// Concurrently: the publisher batches them, and each waits for its ack.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxReportsInFlight)
	for _, e := range cooks {
		g.Go(func() error { return f.publisher.Publish(gctx, f.opts.ReportTopic, e) })
	}
	// Each part is encoded and checked in its own goroutine too: on a
	// busy day that is most of publish's CPU, and the read's cores are
	// free by then. Each goroutine writes its part's id in its own slot.
	var ids []*string
	err = events.SplitVendors(res.Vendors.Fecha, res.Vendors.Vendors(), res.Vendors.Entry, events.MaxVendorReportEventBytes, func(p events.VendorReport) error {
		id := new(string)
		ids = append(ids, id)
		g.Go(func() error {
			e, err := events.NewVendorReportEvent(p, meta)
			if err != nil {
				return err
			}
			*id = e.ID()
			return f.publisher.Publish(gctx, f.opts.ReportTopic, e)
		})
		return gctx.Err()
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return summary, nil, nil, fmt.Errorf("report: %w", err)
	}
	vendorIDs := make([]string, len(ids)) // [] in the answer for a day without vendors
	for i, id := range ids {
		vendorIDs[i] = *id
	}
	return summary, cookIDs, vendorIDs, nil
}

// maxReportsInFlight bounds the report events built and not yet
// acknowledged: a vendor report event is up to 256 KiB of data.
const maxReportsInFlight = 16

// Summarize reads and counts the orders of day (dayread.Counter): it
// publishes nothing.
func (f *Function) Summarize(ctx context.Context, day events.Date) (Result, error) {
	return f.days.Summarize(ctx, day)
}

// errUnauthorized is a direct call without the configured token.
var errUnauthorized = errors.New("unauthorized")

// requestedDay decodes the trigger. A PingSource event without a day closes
// yesterday; a direct call without one summarizes today so far.
func (f *Function) requestedDay(r *http.Request, now time.Time) (events.Date, error) {
	today := events.DateOf(now, f.opts.Location)
	var body []byte
	event, _, err := cerequest.Read(r)
	var bad *cerequest.Error
	switch {
	case errors.As(err, &bad):
		return events.Date{}, &events.SyntaxError{FieldError: events.FieldError{Field: bad.Field, Detail: bad.Detail}}
	case err != nil:
		return events.Date{}, err
	case event != nil:
		if event.Type() != events.TypePing {
			return events.Date{}, &events.ValidationError{Fields: []events.FieldError{{Field: "type", Detail: "a CloudEvent trigger must have type " + events.TypePing}}}
		}
		day, ok, err := events.DecodeSummaryRequest(event.Data())
		switch {
		case err != nil:
			return day, err
		case ok && !f.authorized(r):
			// Only the bare schedule goes without the token: a trigger
			// that names its day is a direct call in disguise.
			return events.Date{}, errUnauthorized
		case ok:
			return day, nil
		}
		return today.AddDays(-1), nil
	}
	if !f.authorized(r) {
		return events.Date{}, errUnauthorized
	}
	body, err = io.ReadAll(r.Body)
	if err != nil {
		return events.Date{}, err
	}
	day, ok, err := events.DecodeSummaryRequest(body)
	if err != nil || ok {
		return day, err
	}
	return today, nil
}

func (f *Function) authorized(r *http.Request) bool {
	if f.opts.Token == "" {
		return true
	}
	token, err := bearer.Token(r.Header)
	return err == nil && bearer.Equal(token, f.opts.Token)
}

// checkDay refuses days that cannot be summarized exactly: in the future, or
// starting before the oldest record the topic still keeps.
func (f *Function) checkDay(day events.Date, now time.Time) error {
	start, _ := day.Bounds(f.opts.Location)
	today := events.DateOf(now, f.opts.Location)
	switch {
	case today.Before(day):
		return &events.ValidationError{Fields: []events.FieldError{{Field: events.FieldFecha, Detail: day.String() + " is in the future (today is " + today.String() + ")"}}}
	case start.Before(now.Add(-f.opts.Retention)):
		oldest := events.DateOf(now.Add(-f.opts.Retention), f.opts.Location).AddDays(1)
		return &events.ValidationError{Fields: []events.FieldError{{Field: events.FieldFecha, Detail: day.String() + " is outside the order topic's retention; the oldest day that can be summarized is " + oldest.String()}}}
	}
	return nil
}

func (f *Function) reject(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="dailySummary"`)
		problem.Write(w, http.StatusUnauthorized, "this endpoint needs Authorization: Bearer <SUMMARY_TOKEN>", []events.FieldError{{Field: "Authorization", Detail: "missing or wrong token"}})
	case errors.As(err, &tooBig):
		problem.WriteBodyError(w, err, MaxBodyBytes)
	case !problem.WriteInput(w, err):
		problem.Write(w, http.StatusBadRequest, err.Error(), nil)
	}
}
