package neworder

import (
	"context"
	"errors"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// notAcknowledged logs an order that got 503: each one when Kafka did not
// acknowledge it in time, at most one a second when it was shed
// (kafka.ErrOverloaded: MAX_PENDING_PUBLISHES orders already wait).
func (f *Function) notAcknowledged(ctx context.Context, eventID string, err error) {
	telemetry.OrderNotAcknowledged(ctx, notAcknowledgedReason(err))
	if !errors.Is(err, kafka.ErrOverloaded) {
		f.log.WarnContext(ctx, "order not acknowledged", "event_id", eventID, "error", err)
		return
	}
	// During a stall newOrder sheds thousands of requests a second; one
	// line a second says so without the log costing what shedding saves.
	f.logShed.Do(func() {
		f.log.WarnContext(ctx, "shedding orders: too many wait for Kafka's acknowledgement", "event_id", eventID)
	})
}
