package main

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// scenarioSummarySingle runs the summary scenario on the single broker: while
// it is down every summary must fail.
func scenarioSummarySingle(ctx context.Context, h *harness, row *Row) error {
	k, err := h.singleBroker(ctx)
	if err != nil {
		return err
	}
	return summaryScenario(ctx, h, row, k, 4_000_000)
}

// scenarioSummaryCluster runs it on the three-node cluster: partitions
// change leader while summaries read them.
func scenarioSummaryCluster(ctx context.Context, h *harness, row *Row) error {
	k, err := h.threeBrokers(ctx)
	if err != nil {
		return err
	}
	return summaryScenario(ctx, h, row, k, 4_500_000)
}

// summaryOrders is how many orders the summary scenario puts on its topic.
const summaryOrders = 10000

// summaryScenario: two dailySummary replicas asked for the same day at the
// same time must give identical answers; while a broker is SIGKILLed and
// restarted, each answer must be a 5xx or exactly the summary of the
// (unchanged) topic: never a partial one.
func summaryScenario(ctx context.Context, h *harness, row *Row, k *kafkaCluster, firstID int64) error {
	p, err := h.startPipeline(ctx, k)
	if err != nil {
		return err
	}
	replica, err := h.newFunction(p.name("dailysummary-2"), "dailysummary", p.env("dailysummary-2")...)
	if err != nil {
		return err
	}
	if err := replica.start(ctx); err != nil {
		return err
	}
	urls := []string{p.summary.url("/dailySummary"), replica.url("/dailySummary")}

	// The orders, all written before any summary is asked for.
	res := newLoad(loadConfig{
		URL: p.newOrder.url("/newOrder"), FirstID: firstID, Count: summaryOrders, Vendors: 100,
		Concurrency: h.opts.concurrency, Deadline: time.Minute,
	}).Run(ctx)
	loadNotes(row, res)
	row.Unavailable = -1 // no fault during this load
	v, err := verifyOrders(ctx, row, k.brokers, p.orderTopic, urls[0], res, 100)
	if err != nil {
		return err
	}
	want := v.answers
	days := slices.Sorted(maps.Keys(want))

	// Both replicas, the same day, at the same time.
	const rounds = 5
	same := 0
	for range rounds {
		for _, day := range days {
			got, errs := askAll(ctx, urls, day)
			if errs[0] != nil || errs[1] != nil {
				return fmt.Errorf("replicas asked at once: %v / %v", errs[0], errs[1])
			}
			if reflect.DeepEqual(got[0], got[1]) && reflect.DeepEqual(got[0], want[day]) {
				same++
			}
		}
	}
	if same != rounds*len(days) {
		row.fail("replicas asked at once agreed in %d of %d rounds", same, rounds*len(days))
	}
	row.note("two replicas asked at once: identical and exact in %d of %d rounds", same, rounds*len(days))

	// Summaries all through a broker's SIGKILL and restart.
	node := 1
	if k.nodes > 1 {
		leaders, err := checkReplication(k.brokers, p.orderTopic, 3, "2")
		if err != nil {
			return err
		}
		node = leaders[0]
	}
	tally := &duringFault{want: want, phases: [3]string{"before the kill", "while down", "after the restart"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, url := range urls {
		for _, day := range days {
			wg.Add(1)
			go func() { defer wg.Done(); tally.askUntil(ctx, stop, url, day) }()
		}
	}
	start := time.Now()
	if err := k.killNode(ctx, node); err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	tally.setPhase(1)
	logf("broker node %d SIGKILLed while summaries are asked for", node)
	_ = sleep(ctx, 3*time.Second)
	if err := k.restartNode(ctx, node); err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	tally.setPhase(2)
	logf("broker node %d serving again after %s", node, time.Since(start).Round(100*time.Millisecond))
	_ = sleep(ctx, 5*time.Second)
	close(stop)
	wg.Wait()
	row.note("during node %d's restart: %s", node, tally)
	if tally.wrong > 0 {
		row.fail("%d summaries during the restart were 200 but not exact, e.g. %s", tally.wrong, tally.example)
	}
	if tally.other > 0 {
		row.fail("%d summaries during the restart answered neither 200 nor 5xx, e.g. %s", tally.other, tally.example)
	}

	// Afterwards both replicas give the exact summary again.
	for _, day := range days {
		for i, url := range urls {
			got, _, err := summaryUntilOK(ctx, url, day)
			if err != nil {
				row.fail("replica %d after the restart: %v", i+1, err)
			} else if !reflect.DeepEqual(got, want[day]) {
				row.fail("replica %d after the restart: %d orders counted, want %d", i+1, got.counted(), want[day].counted())
			}
		}
	}
	return nil
}

// askAll asks every url for day at the same moment.
func askAll(ctx context.Context, urls []string, day string) ([]summaryAnswer, []error) {
	got := make([]summaryAnswer, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, url := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			_, got[i], errs[i] = askSummary(ctx, url, day)
		}()
	}
	close(ready)
	wg.Wait()
	return got, errs
}

// duringFault counts the answers to summaries asked around a fault, by
// the phase of the fault when each was asked.
type duringFault struct {
	want   map[string]summaryAnswer
	phases [3]string

	mu      sync.Mutex
	phase   int
	counts  [3]answerCounts
	longest time.Duration
	example string
	wrong   int // 200 but not exact, in any phase
	other   int // neither 200 nor 5xx nor no answer
}

type answerCounts struct{ exact, unavailable, refused, wrong int }

func (d *duringFault) setPhase(p int) {
	d.mu.Lock()
	d.phase = p
	d.mu.Unlock()
}

// askUntil asks url for day again and again until stop is closed.
func (d *duringFault) askUntil(ctx context.Context, stop <-chan struct{}, url, day string) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		d.mu.Lock()
		phase := d.phase
		d.mu.Unlock()
		start := time.Now()
		status, got, err := askSummary(ctx, url, day)
		took := time.Since(start)
		d.mu.Lock()
		c := &d.counts[phase]
		d.longest = max(d.longest, took)
		switch {
		case err == nil && reflect.DeepEqual(got, d.want[day]):
			c.exact++
		case err == nil:
			c.wrong++
			d.wrong++
			d.example = fmt.Sprintf("%s: %d orders counted of %d", day, got.counted(), d.want[day].counted())
		case status >= 500:
			c.unavailable++
		case status == 0:
			c.refused++ // no answer: a client retries, as on a 5xx
		default:
			d.other++
			d.example = err.Error()
		}
		d.mu.Unlock()
		if err != nil {
			_ = sleep(ctx, 200*time.Millisecond)
		}
	}
}

func (d *duringFault) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []string
	for i, c := range d.counts {
		parts = append(parts, fmt.Sprintf("asked %s %d exact/%d 5xx/%d no answer/%d wrong", d.phases[i], c.exact, c.unavailable, c.refused, c.wrong))
	}
	return fmt.Sprintf("summaries %s (slowest answer %s)", strings.Join(parts, ", "), d.longest.Round(100*time.Millisecond))
}
