// Package neworder is the newOrder function: POST /newOrder validates an
// order and publishes it as a CloudEvent onto the "order" topic, answering
// 201 only once Kafka acknowledged the write.
package neworder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"golang.org/x/time/rate"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// MaxBodyBytes is the largest request body accepted (413 above it). An order
// is about 150 bytes; the margin is for extra fields.
const MaxBodyBytes = 64 << 10

// Response is the body of a 201 answer.
type Response struct {
	Response string `json:"response"`
	// Order is the order as published: the event's data.
	Order   json.RawMessage `json:"order"`
	EventID string          `json:"event_id"`
}

// Accepted is the message of a 201 answer, as the seed's clients expect.
const Accepted = "Orden generada correctamente"

// Publisher writes an event to a topic and returns once it is acknowledged.
type Publisher interface {
	Publish(ctx context.Context, topic string, event cloudevents.Event) error
}

// Function is newOrder with its dependencies.
type Function struct {
	publisher Publisher
	topic     string
	timeout   time.Duration
	now       func() time.Time
	log       *slog.Logger
	authz     Authorizer // nil: open to anyone (auth.go)
	logShed   *rate.Sometimes
}

// New returns newOrder publishing to topic; a write not acknowledged within
// timeout answers 503.
func New(publisher Publisher, topic string, timeout time.Duration, now func() time.Time, log *slog.Logger) *Function {
	return &Function{publisher: publisher, topic: topic, timeout: timeout, now: now, log: log, logShed: &rate.Sometimes{Interval: time.Second}}
}

// Handler routes POST /newOrder, and POST / for a Knative route whose host
// already names the function (api/openapi.yaml). Other methods are 405,
// other paths 404, both as problem+json.
func (f *Function) Handler() http.Handler {
	mux := http.NewServeMux()
	h := counted(f) // telemetry.go
	mux.Handle("/newOrder", problem.Only(h, http.MethodPost))
	mux.Handle("/{$}", problem.Only(h, http.MethodPost))
	mux.HandleFunc("/", problem.NotFound)
	return mux
}

// ServeHTTP takes one order: decode, validate, publish, answer.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller, ok := f.admit(w, r)
	if !ok {
		return
	}
	w, done := settling(w, caller) // only an order placed spends the key's budget
	defer done()
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	_, validate := telemetry.StartSpan(r.Context(), "validate order")
	defer validate.End() // when refused; a second End does nothing
	data, err := readOrderBody(r)
	if err != nil {
		f.rejectBody(w, err)
		return
	}
	order, err := events.DecodeOrder(data)
	if err != nil {
		problem.WriteInput(w, err)
		return
	}
	if !f.authorize(w, caller, order) {
		return
	}
	event, err := events.NewOrderEvent(order, f.now())
	if err != nil {
		f.log.ErrorContext(r.Context(), "building order event", "error", err)
		problem.Write(w, http.StatusInternalServerError, "could not build the order event", nil)
		return
	}
	validate.End()
	ctx, cancel := context.WithTimeout(r.Context(), kafkaWait(f.timeout))
	defer cancel()
	if err := f.publisher.Publish(ctx, f.topic, event); err != nil {
		f.notAcknowledged(ctx, event.ID(), err)
		problem.WriteUnavailable(w, time.Second, "the order was not stored; retry the same request")
		return
	}
	f.log.InfoContext(ctx, "order accepted", "event_id", event.ID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(Response{Response: Accepted, Order: event.Data(), EventID: event.ID()})
}

func (f *Function) rejectBody(w http.ResponseWriter, err error) {
	var (
		tooBig *http.MaxBytesError
		in     *inputError
	)
	switch {
	case errors.As(err, &tooBig):
		problem.WriteBodyError(w, err, MaxBodyBytes)
	case errors.As(err, &in):
		problem.Write(w, in.status, in.Error(), []events.FieldError{{Field: in.field, Detail: in.Error()}})
	default:
		problem.WriteBodyError(w, err, MaxBodyBytes)
	}
}

// inputError is a request newOrder refuses before decoding the order: the
// status, and the field the problem names.
type inputError struct {
	status int
	field  string
	err    error
}

func (e *inputError) Error() string { return e.err.Error() }

func badEvent(field, detail string) *inputError {
	return &inputError{status: http.StatusBadRequest, field: field, err: errors.New(detail)}
}

func unsupported(detail string) *inputError {
	return &inputError{status: http.StatusUnsupportedMediaType, field: "Content-Type", err: errors.New(detail)}
}

// readOrderBody returns the order JSON of a request: the body itself for
// application/json, the data of an order CloudEvent (events.TypeOrderCreated)
// in binary or structured mode. A binary-mode event without a content type
// whose data is JSON is taken as JSON, as its structured-mode twin is.
func readOrderBody(r *http.Request) ([]byte, error) {
	msg := cehttp.NewMessageFromHttpRequest(r)
	if encoding := msg.ReadEncoding(); encoding != binding.EncodingUnknown {
		event, err := binding.ToEvent(r.Context(), msg)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, tooBig
			}
			return nil, badEvent("cloudevent", "invalid CloudEvent: "+err.Error())
		}
		// binding.ToEvent does not check the required attributes.
		if err := event.Validate(); err != nil {
			return nil, badEvent("cloudevent", "invalid CloudEvent: "+err.Error())
		}
		if name, ok := ceHeader(r.Header); ok && encoding == binding.EncodingStructured {
			// Two sets of attributes could name two different events.
			return nil, badEvent("cloudevent", "invalid CloudEvent: "+name+" beside a structured-mode event: send the attributes once, as Ce-* headers (binary mode) or in the body")
		}
		if event.Type() != events.TypeOrderCreated {
			return nil, badEvent("type", "a CloudEvent must have type "+events.TypeOrderCreated+", not "+strconv.Quote(event.Type()))
		}
		// In the JSON event format an absent datacontenttype means JSON;
		// in binary mode, data that parses as JSON is JSON.
		untyped := event.DataContentType() == "" && (encoding == binding.EncodingStructured || json.Valid(event.Data()))
		if !untyped && !isJSON(event.DataContentType()) {
			return nil, unsupported("the CloudEvent's datacontenttype must be application/json")
		}
		return event.Data(), nil
	}
	if v := r.Header.Get("Ce-Specversion"); v != "" {
		// A CloudEvent of a version the SDK does not know must not pass as
		// plain JSON.
		return nil, badEvent("cloudevent", "invalid CloudEvent: unsupported specversion "+v)
	}
	if name, ok := ceHeader(r.Header); ok {
		// Nor may attributes without a specversion: Ce-Type of another
		// type would otherwise slip through as a plain order.
		return nil, badEvent("cloudevent", "invalid CloudEvent: "+name+" without Ce-Specversion")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, unsupported("Content-Type must be application/json")
	}
	return io.ReadAll(r.Body)
}

// ceHeader returns the name of a CloudEvents attribute header, if any.
func ceHeader(h http.Header) (string, bool) {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "ce-") {
			return name, true
		}
	}
	return "", false
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// kafkaWait is how long an order waits for Kafka's acknowledgement within
// PUBLISH_TIMEOUT, the bound on the whole answer (README "When Kafka
// stalls"): a tenth of it, at most 500 ms, is kept for what comes before
// and after the wait (reading and decoding the request, writing the 503)
// on a busy machine. Fault scenario 9 once saw a 503 6.08 s after the
// request was sent with the whole 5 s spent waiting.
func kafkaWait(publishTimeout time.Duration) time.Duration {
	return publishTimeout - min(publishTimeout/10, 500*time.Millisecond)
}
