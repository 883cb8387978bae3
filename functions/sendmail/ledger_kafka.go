package sendmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
)

// kafkaJournal keeps the ledger in a compacted Kafka topic.
//
// Record key: the JSON array [book, reader, email key] (for a renew or end
// record, [book, "", claim id]), so compaction keeps the latest record of
// each email (its settle, once there is one), and every email a reader was
// sent stays. Partition: FNV-1a of the book modulo the partition count, so
// one book's records (one kind of reader, one day) share a partition and
// are totally ordered. (Changing the topic's partition count moves books:
// do it only when no report of the retention window can be redelivered.)
// Compaction may drop a superseded claim, which is harmless: a later
// record of the same email is its release, its settle or a later claim.
//
// Cost: a delivery reads its book's partition from the oldest record the
// topic keeps to the end, then only what was appended since, after its
// claims and each renewal. No offset is looked up by timestamp, so record
// timestamps (the broker's or a writer's clock) never hide a record. With
// 1,000 vendors a day, the default 8 days of retention and 3 partitions,
// that is some tens of thousands of small records per delivery.
type kafkaJournal struct {
	client      sarama.Client
	producer    sarama.AsyncProducer
	topic       string
	readTimeout time.Duration
	done        sync.WaitGroup
}

// LedgerSaramaConfig is the shared client configuration with the partition
// chosen by the ledger rather than by the record key.
func LedgerSaramaConfig(clientID string) *sarama.Config {
	c := kafka.NewSaramaConfig(clientID)
	c.Producer.Partitioner = sarama.NewManualPartitioner
	return c
}

// NewKafkaLedger returns the ledger kept in topic. client must be built with
// LedgerSaramaConfig; the ledger does not close it.
func NewKafkaLedger(client sarama.Client, topic string, lease time.Duration, now func() time.Time) (Ledger, func() error, error) {
	producer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the ledger producer: %w", err)
	}
	j := &kafkaJournal{client: client, producer: producer, topic: topic, readTimeout: 20 * time.Second}
	j.done.Add(2)
	go func() {
		defer j.done.Done()
		for m := range producer.Successes() {
			m.Metadata.(chan error) <- nil
		}
	}()
	go func() {
		defer j.done.Done()
		for e := range producer.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}()
	return newProtocolLedger(j, lease, now), j.close, nil
}

func (j *kafkaJournal) close() error {
	j.producer.AsyncClose()
	j.done.Wait()
	return nil
}

func (j *kafkaJournal) partition(book string) (int32, error) {
	parts, err := j.client.Partitions(j.topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %q: %w", j.topic, err)
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("topic %q has no partitions", j.topic)
	}
	h := fnv.New32a()
	h.Write([]byte(book))
	return parts[h.Sum32()%uint32(len(parts))], nil
}

func (j *kafkaJournal) Append(ctx context.Context, key string, recs []record) error {
	p, err := j.partition(key)
	if err != nil {
		return err
	}
	results := make([]chan error, len(recs))
	for i, r := range recs {
		k, _ := json.Marshal(recordKey(r))
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding ledger record: %w", err)
		}
		results[i] = make(chan error, 1)
		msg := &sarama.ProducerMessage{Topic: j.topic, Partition: p, Key: sarama.ByteEncoder(k), Value: sarama.ByteEncoder(v), Timestamp: r.At, Metadata: results[i]}
		select {
		case j.producer.Input() <- msg:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", kafka.ErrNotAcknowledged, ctx.Err())
		}
	}
	for _, res := range results {
		select {
		case err := <-res:
			if err != nil {
				return fmt.Errorf("%w: %w", kafka.ErrNotAcknowledged, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", kafka.ErrNotAcknowledged, ctx.Err())
		}
	}
	return nil
}

// recordKey is a record's Kafka key: [book, reader, email key], or
// [book, "", claim id] for a record of no reader (renew, end).
func recordKey(r record) []string {
	if r.To == "" {
		return []string{r.Book, "", r.Claim}
	}
	return []string{r.Book, r.To, r.Email}
}

func (j *kafkaJournal) Read(ctx context.Context, key string, cursor any, visit func(record)) (any, error) {
	p, err := j.partition(key)
	if err != nil {
		return nil, err
	}
	end, err := kafka.GetOffset(ctx, j.client, j.topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, fmt.Errorf("end of %s/%d: %w", j.topic, p, err)
	}
	start, ok := cursor.(int64)
	if !ok {
		if start, err = kafka.GetOffset(ctx, j.client, j.topic, p, sarama.OffsetOldest); err != nil {
			return nil, fmt.Errorf("oldest offset of %s/%d: %w", j.topic, p, err)
		}
	}
	if start >= end {
		return end, nil
	}
	consumer, err := sarama.NewConsumerFromClient(j.client)
	if err != nil {
		return nil, fmt.Errorf("starting the ledger reader: %w", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(j.topic, p, start)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) && !ok {
		// Retention deleted the oldest records meanwhile: those it keeps.
		pc, err = consumer.ConsumePartition(j.topic, p, sarama.OffsetOldest)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%d from %d: %w", j.topic, p, start, err)
	}
	defer pc.AsyncClose()
	ctx, cancel := context.WithTimeout(ctx, j.readTimeout)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading %s/%d up to %d: %w", j.topic, p, end, ctx.Err())
		case err := <-pc.Errors():
			return nil, fmt.Errorf("reading %s/%d: %w", j.topic, p, err)
		case m, ok := <-pc.Messages():
			if !ok {
				return nil, errors.New("ledger reader closed")
			}
			var r record
			if json.Unmarshal(m.Value, &r) == nil && r.Book == key {
				visit(r)
			}
			if m.Offset+1 >= end {
				return end, nil
			}
		}
	}
}
