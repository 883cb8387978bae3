package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// client is one keep-alive HTTP/1.1 connection to newOrder. It is written by
// hand so that the load generator, which shares two cores with the broker
// and the function, spends as little CPU as it can per request.
type client struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	host string
}

func dial(addr string) (*client, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{conn: c, r: bufio.NewReaderSize(c, 4096), host: addr}, nil
}

// postOrder sends one order and returns the status code.
func (c *client) postOrder(id int64) (int, error) {
	body := orderRequest(nil, id)
	c.req = append(c.req[:0], "POST /newOrder HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.host...)
	c.req = append(c.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	return c.readResponse()
}

// readResponse reads a status line, headers and a Content-Length or chunked
// body, and returns the status.
func (c *client) readResponse() (int, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length, chunked := -1, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, err = strconv.Atoi(string(v))
			if err != nil {
				return 0, err
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")) && bytes.EqualFold(v, []byte("chunked")):
			chunked = true
		}
	}
	switch {
	case chunked:
		for {
			h, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimRight(h, "\r\n")), 16, 64)
			if err != nil {
				return 0, err
			}
			if _, err := c.r.Discard(int(n) + 2); err != nil {
				return 0, err
			}
			if n == 0 {
				return status, nil
			}
		}
	case length >= 0:
		_, err = c.r.Discard(length)
		return status, err
	}
	return 0, fmt.Errorf("response without a length")
}

// orderRequest is the seed's request body for order id.
func orderRequest(dst []byte, id int64) []byte {
	dst = append(dst, `{"order_id": `...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `, "email_vendedor": "`...)
	dst = append(dst, vendorAddr(int(id%1000))...)
	dst = append(dst, `", "email_cocinero": "`...)
	dst = append(dst, cookAddr(int(id%37))...)
	dst = append(dst, `", "numero_sopaipillas": `...)
	dst = strconv.AppendInt(dst, 1+id%100, 10)
	return append(dst, '}')
}

// latencies summarises one run.
type latencies struct {
	n              int
	took           time.Duration
	p50, p99, p999 time.Duration
	all            []time.Duration // sorted
}

func summarize(all []time.Duration, took time.Duration) latencies {
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return latencies{n: len(all), took: took, p50: q(0.50), p99: q(0.99), p999: q(0.999), all: all}
}

// merge summarises several runs as one: all their latencies, and the sum
// of their times.
func merge(runs []latencies) latencies {
	var (
		all  []time.Duration
		took time.Duration
	)
	for _, r := range runs {
		all = append(all, r.all...)
		took += r.took
	}
	return summarize(all, took)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// closedLoop sends orders orders from conc connections, each waiting for
// its answer before sending the next.
func closedLoop(addr string, conc, orders int, nextID *atomic.Int64) (latencies, error) {
	clients := make([]*client, conc)
	for i := range clients {
		c, err := dial(addr)
		if err != nil {
			return latencies{}, err
		}
		defer c.conn.Close()
		clients[i] = c
	}
	var (
		wg    sync.WaitGroup
		left  atomic.Int64
		errMu sync.Mutex
		first error
	)
	left.Store(int64(orders))
	lat := make([][]time.Duration, conc)
	t0 := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				s := time.Now()
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
				lat[i] = append(lat[i], time.Since(s))
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	if first != nil {
		return latencies{}, first
	}
	return summarize(slices.Concat(lat...), took), nil
}

// openLoop sends rate orders per second for d, each at its scheduled time
// whatever the answers to earlier ones, and measures each latency from its
// scheduled time (so a stall is not hidden by the sender waiting).
func openLoop(addr string, rate int, d time.Duration, conns int, nextID *atomic.Int64) (latencies, error) {
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	due := make(chan time.Time, total)
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	lat := make([][]time.Duration, conns)
	for i := range conns {
		c, err := dial(addr)
		if err != nil {
			return latencies{}, err
		}
		defer c.conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
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
				lat[i] = append(lat[i], time.Since(at))
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
	took := time.Since(t0)
	if first != nil {
		return latencies{}, first
	}
	return summarize(slices.Concat(lat...), took), nil
}

// ingest runs newOrder against the broker: closed loops at 1, 16, 64 and
// 256 connections, an open loop at 5,000 orders/s, then
// kafka-producer-perf-test with the same record size and acks.
func (b *bench) ingest(ctx context.Context) error {
	topic := "bench-ingest-" + b.runID
	if err := b.createTopic(topic, 6); err != nil {
		return err
	}
	env := b.functionEnv("neworder")
	env["ORDER_TOPIC"] = topic
	fn, err := startFunction(ctx, b.binDir, b.workDir, "neworder", env)
	if err != nil {
		return err
	}
	defer fn.stop()
	var nextID atomic.Int64
	counts := map[int]int{1: 3000, 16: 40000, 64: 100000, 256: 200000}
	openFor := 10 * time.Second
	if b.quick {
		counts = map[int]int{1: 500, 16: 5000, 64: 10000, 256: 20000}
		openFor = 3 * time.Second
	}
	if _, err := closedLoop(fn.addr, 16, 2000, &nextID); err != nil { // warm up
		return err
	}
	var l1 latencies
	for _, conc := range []int{1, 16, 64} {
		l, err := closedLoop(fn.addr, conc, counts[conc], &nextID)
		if err != nil {
			return fmt.Errorf("concurrency %d: %w", conc, err)
		}
		rate := float64(l.n) / l.took.Seconds()
		b.logf("ingest c%d: %d orders in %s", conc, l.n, l.took.Round(time.Millisecond))
		name := "ingest_orders_per_s_c" + strconv.Itoa(conc)
		if conc == 1 {
			l1 = l
		}
		b.add(figure{name: name, value: rate, unit: "orders/s"})
		b.addLatencies(conc, l)
	}
	// c256 and the open loop (what one instance answers at a steady,
	// realistic load) run beside the HTTP floor (functions/cmd/benchfloor), taking turns
	// in rounds, so that both meet the same machine load (issue 15).
	fl, err := b.startFloor(ctx)
	if err != nil {
		return err
	}
	defer fl.fn.stop()
	both, err := b.alternate(fn, fl, counts[256], openFor, &nextID)
	if err != nil {
		return err
	}
	c256, l256, cpu256, l := both.c256.rate(), both.c256, both.cpu, both.open
	b.logf("ingest c256: %d orders in %s; floor %d in %s", l256.n, l256.took.Round(time.Millisecond), fl.c256.n, fl.c256.took.Round(time.Millisecond))
	b.logf("ingest open loop: %d orders at 5000/s in %s", l.n, l.took.Round(time.Millisecond))
	sent := nextID.Load()
	if got, err := b.topicRecords(topic); err != nil {
		return err
	} else if got != sent {
		return fmt.Errorf("newOrder acknowledged %d orders but %s holds %d records", sent, topic, got)
	}
	fn.stop()
	if fl.c1, err = closedLoop(fl.fn.addr, 1, counts[1], fl.nextID); err != nil {
		return fmt.Errorf("floor c1: %w", err)
	}
	fl.fn.stop()
	profileFor := 10
	if b.quick {
		profileFor = 3
	}
	perBatch, err := b.profile(ctx, profileFor)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	size := len(orderBody(nil, 1234567, vendorAddr(1), cookAddr(1), 15))
	perfRecords := 500000
	if b.quick {
		perfRecords = 100000
	}
	perfTopic := "bench-perf-" + b.runID
	if err := b.createTopic(perfTopic, 6); err != nil {
		return err
	}
	perf, perfP99, err := b.producerPerf(ctx, perfTopic, perfRecords, size)
	if err != nil {
		return err
	}
	// Kafka's own write at the open loop's rate: 30 s after 5 s of warmup
	// (the tool's JIT), so that its p99 is the broker's, not the JVM's.
	steady := 5000 * 30
	if b.quick {
		steady = 5000 * 5
	}
	perfP99At5000, err := b.producerPerfAt(ctx, perfTopic, 5000, steady+25000, 25000, size)
	if err != nil {
		return err
	}
	pubOnly, err := b.publishOnly(ctx, 5000, openFor)
	if err != nil {
		return err
	}
	b.add(figure{name: "producer_perf_records_per_s", value: perf, unit: "records/s"})
	b.add(figure{name: "producer_perf_p99_ms", value: perfP99, unit: "ms"})
	b.add(figure{name: "ingest_orders_per_s_c256", value: c256, unit: "orders/s", ref: perf, target: targetFor("ingest_orders_per_s_c256")})
	b.addLatencies(256, l256)
	b.add(figure{name: "ingest_p50_ms_at_5000_per_s", value: ms(l.p50), unit: "ms"})
	b.add(figure{name: "producer_perf_p99_ms_at_5000_per_s", value: perfP99At5000, unit: "ms"})
	b.add(figure{name: "ingest_p99_ms_at_5000_per_s", value: ms(l.p99), unit: "ms", ref: perfP99At5000, target: targetFor("ingest_p99_ms_at_5000_per_s")})
	b.add(figure{name: "ingest_p999_ms_at_5000_per_s", value: ms(l.p999), unit: "ms"})
	// Issue 15: against the HTTP floor (functions/cmd/benchfloor), same generator, same
	// server stack, no Kafka write.
	flRate := fl.c256.rate()
	b.add(figure{name: "http_floor_orders_per_s_c256", value: flRate, unit: "orders/s"})
	b.add(figure{name: "ingest_orders_per_s_c256_floor_ratio", value: c256 / flRate, unit: "× floor", target: targetFor("ingest_orders_per_s_c256_floor_ratio")})
	b.add(figure{name: "http_floor_p99_ms_c256", value: ms(fl.c256.p99), unit: "ms"})
	b.add(figure{name: "http_floor_p50_ms_c1", value: ms(fl.c1.p50), unit: "ms"})
	b.add(figure{name: "ingest_p50_ms_c1_minus_floor", value: ms(l1.p50) - ms(fl.c1.p50), unit: "ms"})
	b.add(figure{name: "http_floor_p50_ms_at_5000_per_s", value: ms(fl.open.p50), unit: "ms"})
	b.add(figure{name: "http_floor_p99_ms_at_5000_per_s", value: ms(fl.open.p99), unit: "ms"})
	// Where newOrder's p99 goes: its publisher alone (sarama and the broker,
	// no HTTP) beside Kafka's own producer at the same rate.
	b.add(figure{name: "publish_only_p50_ms_at_5000_per_s", value: ms(pubOnly.p50), unit: "ms"})
	b.add(figure{name: "publish_only_p99_ms_at_5000_per_s", value: ms(pubOnly.p99), unit: "ms", ref: perfP99At5000})
	b.add(figure{name: "ingest_p99_ms_at_5000_per_s_floor_ratio", value: ms(l.p99) / ms(fl.open.p99), unit: "× floor", target: targetFor("ingest_p99_ms_at_5000_per_s_floor_ratio")})
	b.addCPU("ingest_c256", cpu256)
	b.addCPU("http_floor_c256", fl.cpu)
	if perBatch > 0 {
		b.add(figure{name: "producer_records_per_batch_c256", value: perBatch, unit: "records"})
	}
	return nil
}

func (b *bench) addLatencies(conc int, l latencies) {
	c := "_c" + strconv.Itoa(conc)
	b.add(figure{name: "ingest_p50_ms" + c, value: ms(l.p50), unit: "ms"})
	b.add(figure{name: "ingest_p99_ms" + c, value: ms(l.p99), unit: "ms"})
	b.add(figure{name: "ingest_p999_ms" + c, value: ms(l.p999), unit: "ms"})
}

// topicRecords counts the records of a topic (it is never compacted or
// truncated during a run).
func (b *bench) topicRecords(topic string) (int64, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	c, err := sarama.NewClient(b.brokers, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		o, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, err
		}
		n += o
	}
	return n, nil
}
