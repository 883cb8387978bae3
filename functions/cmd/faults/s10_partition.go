package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// scenarioPartition: newOrder and dailySummary reach the broker through a
// proxy that, for 20 s, stops forwarding without closing anything (a
// network partition that drops packets) while clients send 200 new orders
// a second; a summary is asked during it. Every answer must come within
// its bound, the first 2xx within 2 s of the heal (a function must notice
// its dead connections itself), memory stay under the limit, and nothing
// be lost or counted twice.
func scenarioPartition(ctx context.Context, h *harness, row *Row) error {
	var k *kafkaCluster
	var err error
	if h.proxied == "" || h.single == nil {
		// A broker of its own, restarted with the proxied listener while it
		// is empty: the shared one, holding every earlier scenario's topics,
		// once took over KAFKA_START_TIMEOUT (60 s) to load them on restart.
		k, err = h.newSingleBroker(ctx, "kafka1-proxied")
	} else {
		k, err = h.singleBroker(ctx)
	}
	if err != nil {
		return err
	}
	if h.proxied == "" {
		listen, err1 := freePort()
		advertise, err2 := freePort()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("no free port: %v %v", err1, err2)
		}
		h.proxied, h.proxyAddr = "127.0.0.1:"+strconv.Itoa(listen), "127.0.0.1:"+strconv.Itoa(advertise)
		start := time.Now()
		if err := k.addListener(ctx, h.proxied, h.proxyAddr); err != nil {
			h.proxied = ""
			// What the broker said is in its log, which the run removes.
			return fmt.Errorf("adding the proxied listener: %w; the broker's log ends:\n%s", err,
				fileTail(filepath.Join(k.state, "node1", "broker.log"), 30))
		}
		logf("broker restarted with a listener behind the proxy in %s", time.Since(start).Round(100*time.Millisecond))
	}
	proxy, err := newSilentProxy(h.proxyAddr, h.proxied)
	if err != nil {
		return err
	}
	h.onClose(proxy.close)
	env := append(stallEnv(), "KAFKA_BROKERS="+h.proxyAddr)
	p, err := h.startPipelineWith(ctx, k, env...)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	l := newOpenLoad(p.newOrder.url("/newOrder"), 10_000_000, 100, stallRate)
	l.start(lctx)
	c := &stallChecks{strict: h.opts.strictTiming}
	var wg sync.WaitGroup
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	const cut = 20 * time.Second
	proxy.partition()
	h.onClose(proxy.heal)
	start := time.Now()
	c.mark("the partition began")
	logf("partition: the proxy stops forwarding at %d orders sent", l.next.Load())
	c.summaryDuring(ctx, &wg, "during the partition (at +1s)", p.summary.url("/dailySummary"), time.Second)
	_ = sleep(ctx, cut)
	proxy.heal()
	healed := time.Now()
	c.mark("the partition healed")
	r := l.waitOKAfter(ctx, healed, 30*time.Second)
	logf("partition healed after %s; first 2xx %s later", healed.Sub(start).Round(100*time.Millisecond), r.Round(10*time.Millisecond))
	c.summaryDuring(ctx, &wg, "just after the heal", p.summary.url("/dailySummary"), 0)
	_ = sleep(ctx, 10*time.Second-r)
	return finishStall(ctx, h, p, row, l, c, &wg, []time.Duration{r})
}
