package main

import (
	"context"
	"time"
)

// scenarioBrokerRestart: the only broker is SIGKILLed a third of the way
// into the load and restarted after a short outage. newOrder answers 503
// meanwhile; clients retry the same order; nothing acknowledged may be
// lost, nothing counted twice.
func scenarioBrokerRestart(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	l := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: 1_000_000, Count: h.opts.orders, Vendors: 100,
		Concurrency: h.opts.concurrency, Deadline: 4 * time.Minute,
	})
	done := runLoad(ctx, l)
	if err := waitAcked(ctx, l, h.opts.orders/3); err != nil {
		return err
	}
	down, err := killAndRestart(ctx, k, 1, 2*time.Second, l)
	if err != nil {
		return err
	}
	res := <-done
	loadNotes(row, res)
	row.note("broker down %s", down.Round(100*time.Millisecond))
	_, err = verifyOrders(ctx, row, k.brokers, p.orderTopic, p.summary.url("/dailySummary"), res, 100)
	return err
}

// killAndRestart SIGKILLs node i, waits pause, restarts it, and returns how
// long it was down (until it served again).
func killAndRestart(ctx context.Context, k *kafkaCluster, i int, pause time.Duration, l *load) (time.Duration, error) {
	acked := l.Acked()
	start := time.Now()
	if err := k.killNode(ctx, i); err != nil {
		return 0, err
	}
	logf("broker node %d SIGKILLed at %d orders acknowledged", i, acked)
	if err := sleep(ctx, pause); err != nil {
		return 0, err
	}
	if err := k.restartNode(ctx, i); err != nil {
		return 0, err
	}
	down := time.Since(start)
	logf("broker node %d serving again after %s (%d orders acknowledged, %d failed attempts so far)",
		i, down.Round(100*time.Millisecond), l.Acked(), l.FailedAttempts())
	return down, nil
}
