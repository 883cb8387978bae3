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
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
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
}

// New returns newOrder publishing to topic; a write not acknowledged within
// timeout answers 503.
func New(publisher Publisher, topic string, timeout time.Duration, now func() time.Time, log *slog.Logger) *Function {
	return &Function{publisher: publisher, topic: topic, timeout: timeout, now: now, log: log}
}

// Handler routes POST /newOrder, and POST / for a Knative route whose host
// already names the function.
func (f *Function) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /newOrder", f.ServeHTTP)
	mux.HandleFunc("POST /{$}", f.ServeHTTP)
	return mux
}

// ServeHTTP takes one order: decode, validate, publish, answer.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, status, err := readOrderBody(r)
	if err != nil {
		f.rejectBody(w, status, err)
		return
	}
	order, err := events.DecodeOrder(data)
	if err != nil {
		problem.WriteInput(w, err)
		return
	}
	event, err := events.NewOrderEvent(order, f.now())
	if err != nil {
		f.log.Error("building order event", "error", err)
		problem.Write(w, http.StatusInternalServerError, "could not build the order event", nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	if err := f.publisher.Publish(ctx, f.topic, event); err != nil {
		f.notAcknowledged(event.ID(), err)
		problem.WriteUnavailable(w, time.Second, "the order was not stored; retry the same request")
		return
	}
	f.log.Info("order accepted", "event_id", event.ID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(Response{Response: Accepted, Order: event.Data(), EventID: event.ID()})
}

func (f *Function) rejectBody(w http.ResponseWriter, status int, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem.WriteBodyError(w, err, MaxBodyBytes)
		return
	}
	problem.Write(w, status, err.Error(), []events.FieldError{{Field: fieldOf(status), Detail: err.Error()}})
}

func fieldOf(status int) string {
	if status == http.StatusUnsupportedMediaType {
		return "Content-Type"
	}
	return "cloudevent"
}

// readOrderBody returns the order JSON of a request: the body itself for
// application/json, the event's data for a CloudEvent in binary or
// structured mode. The status goes with the error.
func readOrderBody(r *http.Request) ([]byte, int, error) {
	msg := cehttp.NewMessageFromHttpRequest(r)
	if encoding := msg.ReadEncoding(); encoding != binding.EncodingUnknown {
		event, err := binding.ToEvent(r.Context(), msg)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, http.StatusRequestEntityTooLarge, tooBig
			}
			return nil, http.StatusBadRequest, errors.New("invalid CloudEvent: " + err.Error())
		}
		// binding.ToEvent does not check the required attributes.
		if err := event.Validate(); err != nil {
			return nil, http.StatusBadRequest, errors.New("invalid CloudEvent: " + err.Error())
		}
		// In the JSON event format an absent datacontenttype means JSON.
		structuredJSON := encoding == binding.EncodingStructured && event.DataContentType() == ""
		if !structuredJSON && !isJSON(event.DataContentType()) {
			return nil, http.StatusUnsupportedMediaType, errors.New("the CloudEvent's datacontenttype must be application/json")
		}
		return event.Data(), 0, nil
	}
	if r.Header.Get("Ce-Specversion") != "" {
		// A CloudEvent of a version the SDK does not know must not pass as
		// plain JSON.
		return nil, http.StatusBadRequest, errors.New("invalid CloudEvent: unsupported specversion " + r.Header.Get("Ce-Specversion"))
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, http.StatusUnsupportedMediaType, errors.New("Content-Type must be application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return body, 0, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
