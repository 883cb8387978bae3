package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/events"
)

// steadyDays is how many days the steady topic holds: what the order topic
// keeps in a deployment (events.DefaultRetentionMs, three days).
const steadyDays = 3

// steady measures the steady state of a deployment, where the order topic
// always holds three days of orders (issue 22): a topic preloaded with three
// past days of the summary bench's generator (retries, conflicts, poison;
// order_ids dense and distinct across days), then
//   - dailySummary, at the chart's GOMEMLIMIT, on the middle day: its time,
//     its peak RSS, and its read rate beside kafka-consumer-perf-test over
//     the same topic (alternateReads: medians of rounds alternating the
//     two), the answer checked exact each time;
//   - salesBoard on the same topic while newOrder takes 5,000 orders/s
//     (boardLatency): the first numbers of today (board_first_view_s_steady:
//     from its start, ready at once, to the first "dia" of /events, read as
//     a browser reads it), each order's 201 to the board showing it, and
//     salesBoard's peak RSS at the chart's GOMEMLIMIT.
//
// The topic is deleted at the end: 10.8 GiB of broker data at full size.
func (b *bench) steady(ctx context.Context) error {
	if err := checkTemplate(); err != nil {
		return err
	}
	perDay, label := 10_000_000, "3x10m"
	if b.quick {
		perDay, label = 200_000, "3x200k"
	}
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		return err
	}
	topic := "bench-steady-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return err
	}
	defer b.deleteTopic(topic)

	// The three days before today: today stays empty for the board. Each
	// day's order_ids follow the previous day's, as one sequence would.
	today := events.DateOf(time.Now().In(loc), loc)
	var plans []dayPlan
	records := 0
	t0 := time.Now()
	for d := range steadyDays {
		day := today.AddDays(d - steadyDays)
		b.logf("steady %s: writing %d orders for %s onto %s", label, perDay, day, topic)
		plan, err := writeDay(b.brokers, topic, day, loc, int64(d*perDay), perDay, 1000)
		if err != nil {
			return fmt.Errorf("writing the orders of %s: %w", day, err)
		}
		plans = append(plans, plan)
		records += plan.records
	}
	wrote := time.Since(t0)
	b.logf("steady %s: wrote %d records in %s (%.0f records/s); broker data %s", label, records, wrote.Round(time.Millisecond), float64(records)/wrote.Seconds(), diskUse(b.workDir))

	middle := plans[steadyDays/2]
	fn, err := startFunction(ctx, b.binDir, b.workDir, "dailysummary", map[string]string{
		"KAFKA_BROKERS": strings.Join(b.brokers, ","), "ORDER_TOPIC": topic, "SUMMARY_TOPIC": "bench-summary-" + b.runID,
		"SUMMARY_TIMEOUT": "10m",
		"GOMEMLIMIT":      dailySummaryMemLimit,
		// For the live heap of each collection (maxLiveHeapMB).
		"GODEBUG": "gctrace=1",
	})
	if err != nil {
		return err
	}
	perf, took, err := b.alternateReads(ctx, "steady "+label, topic, records, func() (time.Duration, error) { return runSummary(fn.addr, middle) })
	peak, _ := fn.peakRSSMB()
	fn.stop()
	live, liveErr := fn.maxLiveHeapMB()
	if err != nil {
		return fmt.Errorf("the summary of %s: %w", middle.day, err)
	}
	b.logf("steady %s: the summary of %s read %d records in %s (median), exact (%d orders of the day, %d retries, %d conflicts, %d poison); peak RSS %.1f MiB",
		label, middle.day, records, took.Round(time.Millisecond), middle.orders, middle.retries, middle.conflict, middle.poison, peak)
	b.add(figure{name: "consumer_perf_records_per_s_steady_" + label, value: perf, unit: "records/s"})
	b.add(figure{name: "summary_seconds_steady_" + label, value: took.Seconds(), unit: "s", target: targetFor("summary_seconds_steady_" + label)})
	// Issue 22: the summary at >= 0.9 x kafka-consumer-perf-test, as in the
	// one-day section.
	b.add(figure{name: "summary_orders_per_s_steady_" + label, value: float64(records) / took.Seconds(), unit: "records/s", ref: perf, target: "≥ 90% of consumer-perf"})
	b.add(figure{name: "summary_peak_rss_mb_steady_" + label, value: peak, unit: "MiB", target: targetFor("summary_peak_rss_mb_steady_" + label)})
	if liveErr == nil {
		b.add(figure{name: "summary_live_heap_mb_steady_" + label, value: live, unit: "MiB"})
	}

	// The board: newOrder's order_ids follow the three days'.
	got, err := b.boardLatency(ctx, boardRun{
		topic: topic, firstID: int64(steadyDays * perDay),
		// As deployed: the chart sets GOMEMLIMIT at 90% of its 256Mi
		// limit; BOARD_TIMEOUT and STARTUP_TIMEOUT (30 s each) are
		// salesBoard's defaults, and bound neither its start nor its
		// count of today.
		env: map[string]string{"GOMEMLIMIT": salesBoardMemLimit},
		// It is ready at once and counts today in the background, a read
		// of the whole topic: board_first_view_s_steady.
		firstDay: 5 * time.Minute,
	})
	if errors.Is(err, errBoardNotUp) {
		// Measured as it is: a board that never shows an order.
		b.logf("steady %s: %v", label, err)
		got = boardResult{firstView: never, p50: never, p99: never, max: never}
	} else if err != nil {
		return fmt.Errorf("board: %w", err)
	}
	b.add(figure{name: "board_first_view_s_steady", value: msOrInf(got.firstView) / 1000, unit: "s"})
	b.add(figure{name: "board_update_p50_ms_at_5000_per_s_steady", value: msOrInf(got.p50), unit: "ms"})
	b.add(figure{name: "board_update_p99_ms_at_5000_per_s_steady", value: msOrInf(got.p99), unit: "ms", target: targetFor("board_update_p99_ms_at_5000_per_s_steady")})
	if got.peakRSSMB > 0 { // not known of a salesBoard that exited
		b.add(figure{name: "board_peak_rss_mb_steady", value: got.peakRSSMB, unit: "MiB", target: targetFor("board_peak_rss_mb_steady")})
	}
	return nil
}

// salesBoardMemLimit is the GOMEMLIMIT the chart gives salesBoard
// (charts/sopaipillas, 90% of limits.memory 256Mi).
const salesBoardMemLimit = "230MiB"

// deleteTopic deletes a bench topic, so that its records leave the disk
// before the next section; a failure is only logged.
func (b *bench) deleteTopic(topic string) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(b.brokers, cfg)
	if err == nil {
		err = admin.DeleteTopic(topic)
		admin.Close()
	}
	if err != nil {
		b.logf("deleting %s: %v", topic, err)
	}
}

// diskUse is how much dir holds (the broker's data is under it), for the
// log: the full steady topic takes about 11 GiB.
func diskUse(dir string) string {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%.1f GiB under %s", float64(n)/(1<<30), dir)
}
