package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// board measures how long the sales board takes to show an order: newOrder
// takes a steady 5,000 orders/s, an SSE client follows today on salesBoard,
// and each order's latency runs from its 201 to the first event whose
// n_ordenes reaches the number of orders acknowledged by then (what a
// person watching the totals sees). The topic holds only the orders of the
// run: at most 5,000 × the run's seconds (the steady section measures the
// same on a topic holding three days).
func (b *bench) board(ctx context.Context) error {
	topic := "bench-board-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return err
	}
	got, err := b.boardLatency(ctx, boardRun{topic: topic, firstDay: 60 * time.Second})
	if err != nil {
		return err
	}
	if got.unseen > 0 {
		return fmt.Errorf("the board did not show %d of the %d orders within 60 s of the last", got.unseen, got.orders)
	}
	b.add(figure{name: "board_update_p50_ms_at_5000_per_s", value: ms(got.p50), unit: "ms"})
	b.add(figure{name: "board_update_p99_ms_at_5000_per_s", value: ms(got.p99), unit: "ms", target: targetFor("board_update_p99_ms_at_5000_per_s")})
	return nil
}

// boardRun is one board measurement: the topic newOrder writes and
// salesBoard reads, the order_ids it may use (above firstID), salesBoard's
// extra environment, and how long its first numbers of today may take
// (salesBoard is ready at once and counts today in the background, a read
// of the whole topic).
type boardRun struct {
	topic    string
	firstID  int64
	env      map[string]string
	firstDay time.Duration
}

// errBoardNotUp is a salesBoard that never became ready or never showed
// today's numbers: on a big topic, a count that outlasts its bounds.
var errBoardNotUp = errors.New("salesBoard never showed today")

// boardResult is what a board measurement saw. An order the board never
// showed (within 60 s of the last 201) has an infinite latency: p99 is +Inf
// when more than 1% are unseen.
type boardResult struct {
	orders, unseen int64
	updates        int
	firstView      time.Duration // salesBoard's exec to the first day's numbers on /events
	p50, p99, max  time.Duration
	peakRSSMB      float64 // salesBoard's, over its whole life
}

// boardLatency runs newOrder and salesBoard on r.topic, opens today's
// event stream as the page does (GET /events), waits for the board's first
// numbers, then sends 5,000 orders/s for 20 s (5 s quick) and measures, for
// each order, its 201 to the first "dia" event whose totales.n_ordenes
// reaches the orders acknowledged by then.
func (b *bench) boardLatency(ctx context.Context, r boardRun) (boardResult, error) {
	var res boardResult
	env := b.functionEnv("neworder")
	env["ORDER_TOPIC"] = r.topic
	no, err := startFunction(ctx, b.binDir, b.workDir, "neworder", env)
	if err != nil {
		return res, err
	}
	defer no.stop()
	benv := b.functionEnv("salesboard")
	benv["ORDER_TOPIC"] = r.topic
	for k, v := range r.env {
		benv[k] = v
	}
	sb, err := startFunction(ctx, b.binDir, b.workDir, "salesboard", benv)
	if err != nil {
		return res, fmt.Errorf("%w: %w", errBoardNotUp, err)
	}
	defer sb.stop()
	if err := waitReady(ctx, sb.addr); err != nil {
		return res, err
	}

	// The board's view of today: each event's orders, with when it came.
	type seen struct {
		at     time.Time
		orders int64
	}
	var (
		mu     sync.Mutex
		events []seen
		// counting is the last "contando" (records read, left to read).
		counting string
	)
	first := make(chan struct{})
	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, "http://"+sb.addr+"/events", nil)
	res1, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, err
	}
	if res1.StatusCode != http.StatusOK {
		res1.Body.Close()
		return res, fmt.Errorf("salesBoard /events answered %d", res1.StatusCode)
	}
	go func() {
		defer res1.Body.Close()
		sc := bufio.NewScanner(res1.Body)
		sc.Buffer(nil, 16<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				if line == "" {
					event = ""
				}
				continue
			}
			// Only the day's numbers: "contando" says how far today's
			// whole count has got, "problema" that a count failed.
			if event == "contando" {
				mu.Lock()
				counting = data
				mu.Unlock()
			}
			if event != "dia" {
				continue
			}
			var v struct {
				Totales struct {
					NOrdenes int64 `json:"n_ordenes"`
				} `json:"totales"`
			}
			if json.Unmarshal([]byte(data), &v) == nil {
				mu.Lock()
				if len(events) == 0 {
					close(first)
				}
				events = append(events, seen{time.Now(), v.Totales.NOrdenes})
				mu.Unlock()
			}
		}
	}()
	// As a person would, look at the numbers before ordering: the first
	// count of a topic that holds days of orders is not an update. The
	// page shows "contando" meanwhile.
	select {
	case <-first:
		// From exec: what a page waits for after a scale from zero.
		res.firstView = time.Since(sb.started)
	case <-time.After(r.firstDay):
		mu.Lock()
		last := counting
		mu.Unlock()
		return res, fmt.Errorf("%w: no numbers within %s of opening /events (last contando: %s)", errBoardNotUp, r.firstDay, last)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	mu.Lock()
	base := int64(0)
	if len(events) > 0 {
		base = events[len(events)-1].orders
	}
	mu.Unlock()

	openFor := 20 * time.Second
	if b.quick {
		openFor = 5 * time.Second
	}
	var nextID, acked atomic.Int64
	nextID.Store(r.firstID)
	var ackMu sync.Mutex
	type ack struct {
		at   time.Time
		rank int64 // orders today acknowledged by then
	}
	var acks []ack
	err = openLoopFn(no.addr, 5000, openFor, 256, &nextID, func() {
		ackMu.Lock()
		acks = append(acks, ack{time.Now(), base + acked.Add(1)})
		ackMu.Unlock()
	})
	if err != nil {
		return res, fmt.Errorf("open loop: %w", err)
	}
	res.orders = acked.Load()
	total := base + res.orders
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(events) > 0 && events[len(events)-1].orders >= total
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.peakRSSMB, _ = sb.peakRSSMB()
	stopStream()
	mu.Lock()
	defer mu.Unlock()
	res.updates = len(events)
	// acks and events are both in time order, with growing ranks and
	// counts: the event that shows an ack comes no earlier than the one
	// that showed the ack before it.
	lat := make([]time.Duration, 0, len(acks))
	i := 0
	for _, a := range acks {
		for i < len(events) && (events[i].at.Before(a.at) || events[i].orders < a.rank) {
			i++
		}
		if i == len(events) {
			lat = append(lat, never)
			res.unseen++
			continue
		}
		lat = append(lat, events[i].at.Sub(a.at))
	}
	slices.Sort(lat)
	res.p50, res.p99, res.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	b.logf("board: %d orders at 5000/s in %s on %s, %d board updates (first numbers %s after opening), %d never shown; 201 to the totals: p50 %s, p99 %s, max %s; salesBoard peak RSS %.1f MiB",
		res.orders, openFor, r.topic, res.updates, showDur(res.firstView), res.unseen, showDur(res.p50), showDur(res.p99), showDur(res.max), res.peakRSSMB)
	return res, nil
}

// showDur prints a latency, "never" for one not seen.
func showDur(d time.Duration) string {
	if d == never {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// msOrInf is ms, with +Inf for an order never shown.
func msOrInf(d time.Duration) float64 {
	if d == never {
		return math.Inf(1)
	}
	return ms(d)
}

// waitReady polls a function's /readyz until 204.
func waitReady(ctx context.Context, addr string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready within 60 s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openLoopFn is openLoop calling acked after each 201.
func openLoopFn(addr string, rate int, d time.Duration, conns int, nextID *atomic.Int64, acked func()) error {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	due := make(chan time.Time, total)
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for range conns {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		defer c.conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range due {
				status, err := c.postOrder(nextID.Add(1))
				if err == nil && status != 201 {
					err = fmt.Errorf("newOrder answered %d", status)
				}
				if err != nil {
					errMu.Lock()
					first = err
					errMu.Unlock()
					return
				}
				acked()
			}
		}()
	}
	t0 := time.Now()
	for sent := 0; sent < total; {
		now := time.Now()
		for ; sent < total; sent++ {
			at := t0.Add(time.Duration(sent) * interval)
			if at.After(now) {
				break
			}
			due <- at
		}
		time.Sleep(interval)
	}
	close(due)
	wg.Wait()
	return first
}

// never is the latency of an order the board never showed.
const never = time.Duration(math.MaxInt64)
