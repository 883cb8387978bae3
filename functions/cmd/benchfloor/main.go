// Command floor is the bench's HTTP floor: newOrder's own handler (decode,
// validate, build the CloudEvent, answer the same 201) behind the same
// runner, telemetry middleware and server, with a publisher that returns at
// once instead of writing to Kafka. What newOrder costs beyond it is the
// write and its acknowledgement. Built by hack/bench.sh only; never part
// of a release.
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

func main() { runner.Main("floor", setup) }

// config is empty: the floor needs no broker.
type config struct{}

func setup(_ context.Context, _ config, log *slog.Logger) (http.Handler, io.Closer, error) {
	f := neworder.New(acked{}, "order", 10*time.Second, time.Now, log)
	return f.Handler(), runner.CloserFunc(func() error { return nil }), nil
}

// acked is a publisher whose every write is acknowledged at once.
type acked struct{}

func (acked) Publish(context.Context, string, cloudevents.Event) error { return nil }
