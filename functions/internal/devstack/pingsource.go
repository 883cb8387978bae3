package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/robfig/cron/v3"

	"github.com/sopaipillas/sopaipillas/events"
)

// PingSource does locally what a Knative PingSource does in the cluster:
// on a cron schedule in a time zone it POSTs a dev.knative.sources.ping
// CloudEvent to a sink.
type PingSource struct {
	Schedule string // standard 5-field cron, e.g. "5 0 * * *"
	Location *time.Location
	Sink     string
	Log      *slog.Logger
}

// Run fires until ctx is done.
func (p *PingSource) Run(ctx context.Context) error {
	client, err := cloudevents.NewClientHTTP(cehttp.WithClient(http.Client{Timeout: deliveryTimeout}))
	if err != nil {
		return fmt.Errorf("pingsource: %w", err)
	}
	c := cron.New(cron.WithLocation(p.Location))
	if _, err := c.AddFunc(p.Schedule, func() { p.fire(ctx, client) }); err != nil {
		return fmt.Errorf("pingsource: schedule %q: %w", p.Schedule, err)
	}
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	return nil
}

func (p *PingSource) fire(ctx context.Context, client cloudevents.Client) {
	e := cloudevents.NewEvent()
	now := time.Now()
	e.SetID(fmt.Sprintf("ping-%d", now.Unix()))
	e.SetType(events.TypePing)
	e.SetSource("/devstack/pingsource")
	e.SetTime(now)
	result := client.Send(cloudevents.ContextWithTarget(ctx, p.Sink), e)
	p.Log.Info("pingsource fired", "sink", p.Sink, "result", fmt.Sprint(result))
}
