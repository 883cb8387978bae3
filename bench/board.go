package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
// person watching the totals sees). Every count re-reads the whole topic,
// which grows during the run: the figure is for a topic of at most
// 5,000 × the run's seconds orders.
func (b *bench) board(ctx context.Context) error {
	topic := "bench-board-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return err
	}
	env := b.functionEnv("neworder")
	env["ORDER_TOPIC"] = topic
	no, err := startFunction(ctx, b.binDir, b.workDir, "neworder", env)
	if err != nil {
		return err
	}
	defer no.stop()
	benv := b.functionEnv("salesboard")
	benv["ORDER_TOPIC"] = topic
	sb, err := startFunction(ctx, b.binDir, b.workDir, "salesboard", benv)
	if err != nil {
		return err
	}
	defer sb.stop()
	if err := waitReady(ctx, sb.addr); err != nil {
		return err
	}

	// The board's view of today: each event's orders, with when it came.
	type seen struct {
		at     time.Time
		orders int64
	}
	var (
		mu     sync.Mutex
		events []seen
	)
	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, "http://"+sb.addr+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return fmt.Errorf("salesBoard /events answered %d", res.StatusCode)
	}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var v struct {
				Totales struct {
					NOrdenes int64 `json:"n_ordenes"`
				} `json:"totales"`
			}
			if json.Unmarshal([]byte(data), &v) == nil {
				mu.Lock()
				events = append(events, seen{time.Now(), v.Totales.NOrdenes})
				mu.Unlock()
			}
		}
	}()

	openFor := 20 * time.Second
	if b.quick {
		openFor = 5 * time.Second
	}
	var nextID, acked atomic.Int64
	var ackMu sync.Mutex
	type ack struct {
		at   time.Time
		rank int64 // orders acknowledged by then
	}
	var acks []ack
	err = openLoopFn(no.addr, 5000, openFor, 256, &nextID, func() {
		ackMu.Lock()
		acks = append(acks, ack{time.Now(), acked.Add(1)})
		ackMu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("open loop: %w", err)
	}
	total := acked.Load()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(events) > 0 && events[len(events)-1].orders >= total
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the board did not show the %d orders within 60 s of the last", total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
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
			return fmt.Errorf("order %d of %d never shown", a.rank, total)
		}
		lat = append(lat, events[i].at.Sub(a.at))
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	b.logf("board: %d orders at 5000/s in %s, %d board updates; 201 to the totals: p50 %s, p99 %s, max %s",
		total, openFor, len(events), lat[len(lat)/2].Round(time.Millisecond), p99.Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	b.add(figure{name: "board_update_p50_ms_at_5000_per_s", value: ms(lat[len(lat)/2]), unit: "ms"})
	b.add(figure{name: "board_update_p99_ms_at_5000_per_s", value: ms(p99), unit: "ms", target: targetFor("board_update_p99_ms_at_5000_per_s")})
	return nil
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
