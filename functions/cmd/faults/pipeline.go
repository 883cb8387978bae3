package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// pipeline is newOrder and dailySummary on their own topics, so that one
// scenario's orders never show up in another's summary.
type pipeline struct {
	tag          string // the scenario run, e.g. "1", or "1-2" when run again
	kafka        *kafkaCluster
	orderTopic   string
	summaryTopic string
	newOrder     *function
	summary      *function
	extra        []string // env on top of the shared one, last wins
}

// startPipeline starts newOrder and dailySummary for the current scenario
// run on k.
// Topics get replication factor 3 on the three-node cluster (whose brokers
// default to min.insync.replicas=2), 1 on the single node.
func (h *harness) startPipeline(ctx context.Context, k *kafkaCluster) (*pipeline, error) {
	return h.startPipelineWith(ctx, k)
}

// startPipelineWith is startPipeline with env ("KEY=value") overriding the
// shared configuration.
func (h *harness) startPipelineWith(ctx context.Context, k *kafkaCluster, env ...string) (*pipeline, error) {
	p := &pipeline{tag: h.tag, kafka: k, orderTopic: "order-" + h.tag, summaryTopic: "summary-" + h.tag, extra: env}
	var err error
	if p.newOrder, err = h.newFunction(p.name("neworder"), "neworder", p.env("neworder")...); err != nil {
		return nil, err
	}
	if err := p.newOrder.start(ctx); err != nil {
		return nil, err
	}
	if p.summary, err = h.newFunction(p.name("dailysummary"), "dailysummary", p.env("dailysummary")...); err != nil {
		return nil, err
	}
	if err := p.summary.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// name is the process name of a function of this run, e.g. "s1-neworder".
func (p *pipeline) name(role string) string { return "s" + p.tag + "-" + role }

// env is the configuration every function of the run shares.
func (p *pipeline) env(role string) []string {
	return append([]string{
		"KAFKA_BROKERS=" + p.kafka.bootstrap(),
		"KAFKA_CLIENT_ID=faults-" + p.name(role),
		"KAFKA_REPLICATION_FACTOR=" + strconv.Itoa(min(p.kafka.nodes, 3)),
		"ORDER_TOPIC=" + p.orderTopic,
		"SUMMARY_TOPIC=" + p.summaryTopic,
		"SUMMARY_TIMEOUT=60s",
	}, p.extra...)
}

// runLoad starts the load client in the background.
func runLoad(ctx context.Context, l *load) <-chan loadResult {
	done := make(chan loadResult, 1)
	go func() { done <- l.Run(ctx) }()
	return done
}

// waitAcked waits until the load has n orders acknowledged. It fails if
// the load ends first: a fault injected after the load proves nothing.
func waitAcked(ctx context.Context, l *load, n int) error {
	for l.Acked() < int64(n) {
		if l.finished.Load() {
			return fmt.Errorf("the load ended before the fault")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
