// Command publish is the bench's Kafka-write reference: newOrder's own
// publisher (kafka.Publisher, the same sarama configuration, timeouts and
// record) writing newOrder's order events at a steady rate, each from its
// own goroutine as newOrder's requests do, without HTTP. Beside the HTTP
// floor (functions/cmd/benchfloor) and kafka-producer-perf-test at the same rate it
// splits newOrder's latency into the server's part, the client library's
// and the broker's.
//
// It prints one line: "p50_ms p99_ms p999_ms n", latencies measured from
// each record's scheduled time to its acknowledgement, after a warmup.
// Built by hack/bench.sh only; never part of a release.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run() error {
	brokers := flag.String("brokers", "", "Kafka bootstrap servers (comma-separated)")
	topic := flag.String("topic", "", "topic to write (it must exist)")
	rate := flag.Int("rate", 5000, "records a second")
	warmup := flag.Duration("warmup", 3*time.Second, "time at rate before measuring")
	measure := flag.Duration("d", 10*time.Second, "time at rate measured")
	firstID := flag.Int64("first-id", 1_000_000_000, "order_id of the first record")
	flag.Parse()
	cfg := kafka.NewSaramaConfig("bench-publish")
	kafka.SizeTimeouts(cfg, 5*time.Second) // newOrder's PUBLISH_TIMEOUT default
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	client, err := kafka.Connect(ctx, strings.Split(*brokers, ","), cfg)
	cancel()
	if err != nil {
		return err
	}
	defer client.Close()
	pub, err := kafka.NewPublisher(client)
	if err != nil {
		return err
	}
	defer pub.Close()

	next := *firstID
	send := func(d time.Duration) ([]time.Duration, error) {
		total := int(float64(*rate) * d.Seconds())
		interval := time.Second / time.Duration(*rate)
		lat := make([]time.Duration, total)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
		)
		t0 := time.Now()
		for i := range total {
			at := t0.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(at))
			id := next
			next++
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := events.Order{OrderID: id, EmailVendedor: fmt.Sprintf("vendor%03d@example.com", id%1000),
					EmailCocinero: fmt.Sprintf("cook%02d@example.com", id%37), NumeroSopaipillas: 15}
				e, err := events.NewOrderEvent(o, time.Now())
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					err = pub.Publish(ctx, *topic, e)
					cancel()
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
				lat[i] = time.Since(at)
			}()
		}
		wg.Wait()
		return lat, first
	}
	if _, err := send(*warmup); err != nil {
		return err
	}
	lat, err := send(*measure)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	n := len(lat)
	ms := func(q float64) float64 { return float64(lat[min(n-1, int(q*float64(n)))].Microseconds()) / 1000 }
	fmt.Printf("%.3f %.3f %.3f %d\n", ms(0.5), ms(0.99), ms(0.999), n)
	return nil
}
