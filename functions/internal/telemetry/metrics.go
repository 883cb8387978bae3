package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The instruments, one per metric of the README's table. Names follow the
// OpenTelemetry semantic conventions where one exists (messaging.client.*,
// and http.server.* from otelhttp); the rest are sopaipillas.*, with the
// unit in the metadata: s for durations, {order}, {email}... for counts.
var (
	meter = otel.Meter(Scope)

	ordersAccepted        = counter("sopaipillas.orders.accepted", "{order}", "Orders newOrder answered 201: Kafka acknowledged them. A client's retry of the same order counts again.")
	ordersRefused         = counter("sopaipillas.orders.refused", "{order}", "Requests to newOrder refused as bad input (4xx), by reason.")
	ordersNotAcknowledged = counter("sopaipillas.orders.not_acknowledged", "{order}", "Orders newOrder answered 503 or 500 (not stored; the client retries), by reason.")

	summariesPublished = counter("sopaipillas.summaries.published", "{summary}", "Summaries dailySummary published, with their cook reports, by report status (partial or final).")
	summariesFailed    = counter("sopaipillas.summaries.failed", "{summary}", "Summaries that failed (503), by reason: read (the day could not all be read) or publish.")
	summaryDuration    = histogram("sopaipillas.summary.duration", "s", "Time to read a day, count it and publish its reports, by outcome (published or failed).")
	summaryOrdersRead  = counter("sopaipillas.summary.orders.read", "{record}", "Order records of the summarized days, retries and conflicting copies included.")
	summarySkipped     = counter("sopaipillas.summary.records.skipped", "{record}", "Records of the summarized days that are not orders, by reason (not_an_order, invalid_order, ...).")
	summaryConflicts   = counter("sopaipillas.summary.conflicts", "{order}", "Order ids sent again with different content in the summarized days: only the first counts.")

	emailsSent      = counter("sopaipillas.emails.sent", "{email}", "Emails sendMail handed to the mail backend, by backend and reader kind (vendor or cook).")
	emailsFailed    = counter("sopaipillas.emails.failed", "{email}", "Emails refused for good by the recipient's server (never retried), by backend and reason.")
	emailsRetried   = counter("sopaipillas.emails.retried", "{email}", "Emails not sent this delivery and left to the redelivery, by backend and reason.")
	emailDuration   = histogram("sopaipillas.email.send.duration", "s", "Time the mail backend took for one email, by backend and outcome.")
	ledgerConflicts = counter("sopaipillas.mail.ledger.conflicts", "{email}", "Emails whose reader another delivery's live claim held in the ledger (the delivery answers 503 and comes again).")

	kafkaErrors = counter("sopaipillas.kafka.client.errors", "{error}", "Failed Kafka operations, by operation (send, read, ledger) and error.type.")

	// Semantic conventions, messaging: the publish latency and count.
	publishDuration = histogram("messaging.client.operation.duration", "s", "Duration of messaging operation initiated by a producer or consumer client.")
	publishSent     = counter("messaging.client.sent.messages", "{message}", "Number of messages producer attempted to send to the broker.")
)

func counter(name, unit, desc string) metric.Int64Counter {
	c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		panic(err) // a bad name: a programming error, caught by any test
	}
	return c
}

func histogram(name, unit, desc string) metric.Float64Histogram {
	h, err := meter.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc),
		// Seconds, from a fast Kafka ack to a slow summary of a big day.
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
	if err != nil {
		panic(err)
	}
	return h
}

func attrs(kv ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kv...))
}

// OrderAnswered counts newOrder's answer to one request by its status:
// 201 accepted, 4xx refused (by reason), 500 not acknowledged. 503 is
// counted where the reason is known (OrderNotAcknowledged).
func OrderAnswered(ctx context.Context, status int) {
	switch {
	case status == http.StatusCreated:
		ordersAccepted.Add(ctx, 1)
	case status/100 == 4:
		ordersRefused.Add(ctx, 1, attrs(attribute.String("reason", refusal(status))))
	case status == http.StatusServiceUnavailable:
	case status/100 == 5:
		ordersNotAcknowledged.Add(ctx, 1, attrs(attribute.String("reason", "internal_error")))
	}
}

// refusal names a 4xx answer of newOrder.
func refusal(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "malformed" // not JSON, or an invalid CloudEvent
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusRequestTimeout:
		return "body_timeout"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		return "invalid" // a field missing or out of range
	}
	return "status_" + strconv.Itoa(status)
}

// OrderNotAcknowledged counts an order answered 503 because Kafka did not
// acknowledge it: reason is overloaded (shed at once), timeout or
// kafka_error.
func OrderNotAcknowledged(ctx context.Context, reason string) {
	ordersNotAcknowledged.Add(ctx, 1, attrs(attribute.String("reason", reason)))
}

// SummaryPublished records a summary published after d: its status, the
// order records read, the records skipped by reason and the conflicts.
func SummaryPublished(ctx context.Context, status string, d time.Duration, ordersRead int, skipped map[string]int, conflicts int) {
	summariesPublished.Add(ctx, 1, attrs(attribute.String("report.status", status)))
	summaryDuration.Record(ctx, d.Seconds(), attrs(attribute.String("outcome", "published")))
	summaryOrdersRead.Add(ctx, int64(ordersRead))
	for reason, n := range skipped {
		summarySkipped.Add(ctx, int64(n), attrs(attribute.String("reason", reason)))
	}
	summaryConflicts.Add(ctx, int64(conflicts))
}

// SummaryFailed records a summary that failed after d: reason is read or
// publish.
func SummaryFailed(ctx context.Context, reason string, d time.Duration) {
	summariesFailed.Add(ctx, 1, attrs(attribute.String("reason", reason)))
	summaryDuration.Record(ctx, d.Seconds(), attrs(attribute.String("outcome", "failed")))
}

// LedgerConflicts counts emails another delivery held.
func LedgerConflicts(ctx context.Context, n int) {
	if n > 0 {
		ledgerConflicts.Add(ctx, int64(n))
	}
}

// KafkaError counts a failed Kafka operation (send, read, ledger).
func KafkaError(ctx context.Context, operation, errorType string) {
	kafkaErrors.Add(ctx, 1, attrs(attribute.String("operation", operation), attribute.String("error.type", errorType)))
}

// EmailsRetried counts n emails left to the redelivery without a send
// being tried (the ledger could not be read or claimed), by reason.
func EmailsRetried(ctx context.Context, backend, reason string, n int) {
	if n > 0 {
		emailsRetried.Add(ctx, int64(n), attrs(attribute.String("backend", backend), attribute.String("reason", reason)))
	}
}
