package main

import (
	"context"
	"strings"
	"time"
)

// scenarioNewOrderKill: newOrder itself is SIGKILLed under load, with
// requests in flight, and restarted on the same port. An order it
// acknowledged before dying must be on the topic; an order it wrote but
// never answered is retried by the client and must count once.
func scenarioNewOrderKill(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	n := h.opts.ordersSmall
	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 3_000_000, Count: n, Vendors: 100,
		Concurrency: h.opts.concurrency, Deadline: 3 * time.Minute,
	})
	done := runLoad(ctx, l)
	var downs []string
	for _, at := range []int{n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5} {
		if err := waitAcked(ctx, l, at); err != nil {
			return err
		}
		start := time.Now()
		p.newOrder.kill()
		logf("newOrder SIGKILLed at %d orders acknowledged", l.Acked())
		if err := p.newOrder.start(ctx); err != nil {
			return err
		}
		downs = append(downs, time.Since(start).Round(10*time.Millisecond).String())
		logf("newOrder ready again after %s", time.Since(start).Round(10*time.Millisecond))
	}
	res := <-done
	loadNotes(row, res)
	row.note("newOrder SIGKILLed %d times, ready again after %s", len(downs), strings.Join(downs, ", "))
	_, err = verifyOrders(ctx, row, k.brokers, p.orderTopic, p.summary.url("/dailySummary"), res, 100)
	return err
}
