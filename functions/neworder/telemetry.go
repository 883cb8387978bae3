package neworder

import (
	"context"
	"errors"
	"net/http"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// counted counts each answer of h as an order accepted, refused (4xx, by
// reason) or not acknowledged (README, "Telemetry").
func counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		telemetry.OrderAnswered(r.Context(), sw.status)
	})
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// notAcknowledgedReason names why Kafka did not acknowledge an order.
func notAcknowledgedReason(err error) string {
	switch {
	case errors.Is(err, kafka.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "kafka_error"
}
