package kafka

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Visit is called for each record of one partition, in offset order.
type Visit func(m *sarama.ConsumerMessage) error

// ReadWindow reads, from every partition of topic, the records from the first
// one stamped at or after from up to the first one stamped at or after to (or
// up to the end of the partition as it is now). It keeps no position of its
// own: the same window read twice gives the same records.
//
// Partitions are read concurrently; visitor(p) returns the Visit for
// partition p. Any error, a missing leader included, fails the whole read:
// a partial window is never returned as if it were complete. bootstrap is
// where the extra readers connect (see splitConsumers).
func ReadWindow(ctx context.Context, client sarama.Client, bootstrap []string, topic string, from, to time.Time, visitor func(partition int32) Visit) error {
	partitions, err := client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("listing partitions of %q: %w", topic, err)
	}
	consumers, closeAll, err := splitConsumers(client, bootstrap, len(partitions))
	if err != nil {
		return err
	}
	defer closeAll()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := consumers[i%len(consumers)]
			if err := readPartition(ctx, client, consumer, topic, p, from, to, visitor(p)); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// splitConsumers returns up to one consumer per CPU, each on a client of its
// own. sarama decodes everything fetched over one broker connection in one
// goroutine; separate clients give separate connections, so a large window
// is decoded on every core. The extra clients connect to bootstrap, the
// configured brokers: after a broker restart client.Brokers() can be empty
// until the next metadata refresh. If they cannot connect, the read goes on
// with the one consumer it always has.
func splitConsumers(client sarama.Client, bootstrap []string, partitions int) ([]sarama.Consumer, func(), error) {
	main, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, nil, fmt.Errorf("starting consumer: %w", err)
	}
	consumers := []sarama.Consumer{main}
	var clients []sarama.Client
	closeAll := func() {
		for _, c := range consumers {
			c.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}
	for len(consumers) < min(runtime.GOMAXPROCS(0), partitions) && len(bootstrap) > 0 {
		extra, err := sarama.NewClient(bootstrap, client.Config())
		if err != nil {
			break
		}
		consumer, err := sarama.NewConsumerFromClient(extra)
		if err != nil {
			extra.Close()
			break
		}
		clients = append(clients, extra)
		consumers = append(consumers, consumer)
	}
	return consumers, closeAll, nil
}

func readPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32, from, to time.Time, visit Visit) error {
	start, end, err := offsetRange(ctx, client, topic, p, from, to)
	if err != nil || start >= end {
		return err
	}
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		return fmt.Errorf("reading %s/%d from offset %d: %w", topic, p, start, err)
	}
	defer pc.AsyncClose()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reading %s/%d: %w", topic, p, ctx.Err())
		case err := <-pc.Errors():
			return fmt.Errorf("reading %s/%d: %w", topic, p, err)
		case m := <-pc.Messages():
			if err := visit(m); err != nil {
				return err
			}
			if m.Offset+1 >= end {
				return nil
			}
		}
	}
}

// offsetRange turns a time window into offsets [start, end) of one partition.
func offsetRange(ctx context.Context, client sarama.Client, topic string, p int32, from, to time.Time) (int64, int64, error) {
	newest, err := GetOffset(ctx, client, topic, p, sarama.OffsetNewest)
	if err != nil {
		return 0, 0, fmt.Errorf("end of %s/%d: %w", topic, p, err)
	}
	start, err := GetOffset(ctx, client, topic, p, from.UnixMilli())
	if err != nil {
		return 0, 0, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, from, err)
	}
	if start < 0 { // nothing stamped at or after from
		return 0, 0, nil
	}
	end, err := GetOffset(ctx, client, topic, p, to.UnixMilli())
	if err != nil {
		return 0, 0, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, to, err)
	}
	if end < 0 || end > newest {
		end = newest
	}
	return start, end, nil
}
