package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Visit is called for each committed data record of one partition, in
// offset order. The message and its slices are only valid during the call.
type Visit func(m *sarama.ConsumerMessage) error

// Range is the part of one partition a read covers: [Start, End).
type Range struct {
	Partition int32
	// Start is the log start offset: the oldest record the topic keeps.
	Start int64
	// End is the last stable offset (LSO) when the read started: every
	// record before it is either committed or aborted, none undecided.
	End int64
}

// fetchMaxBytes bounds one fetch of one partition. The broker still sends
// a whole first batch when it is larger (KIP-74).
const fetchMaxBytes = 1 << 20

// Reader reads topics with ReadCommitted over clients it keeps: the one it
// is given and up to one more per core, connected once and reused, so that
// no read waits for a client to connect (sarama.NewClient takes no context
// and waits out every retry when a broker stalls).
type Reader struct {
	client    sarama.Client
	bootstrap []string

	mu     sync.Mutex
	extra  []sarama.Client
	closed bool
}

// NewReader returns a Reader on client. The extra clients connect to
// bootstrap in the background (after a broker restart client.Brokers() can
// be empty until the next metadata refresh); until they have, or if they
// cannot, reads go on with fewer.
func NewReader(client sarama.Client, bootstrap []string) *Reader {
	r := &Reader{client: client, bootstrap: bootstrap}
	go r.grow(context.Background())
	return r
}

// grow connects the missing extra clients, each bounded by ctx, and stops
// at the first that fails.
func (r *Reader) grow(ctx context.Context) {
	for len(r.bootstrap) > 0 {
		r.mu.Lock()
		enough := r.closed || 1+len(r.extra) >= runtime.GOMAXPROCS(0)
		r.mu.Unlock()
		if enough {
			return
		}
		extra, err := bounded(ctx, func() (sarama.Client, error) { return sarama.NewClient(r.bootstrap, r.client.Config()) },
			nil, func(c sarama.Client) { c.Close() })
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			extra.Close()
			return
		}
		r.extra = append(r.extra, extra)
		r.mu.Unlock()
	}
}

// clients returns the client and the extra clients connected so far, at
// most n in all.
func (r *Reader) clients(n int) []sarama.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := append([]sarama.Client{r.client}, r.extra...)
	return all[:max(1, min(n, len(all)))]
}

// Close closes the extra clients; the one NewReader was given stays open.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, c := range r.extra {
		c.Close()
	}
	r.extra = nil
	return nil
}

// ReadCommitted is Reader.ReadCommitted on a Reader of its own: its extra
// clients connect first (bounded by ctx) and are closed at the end.
func ReadCommitted(ctx context.Context, client sarama.Client, bootstrap []string, topic string, visitor func(r Range) Visit) error {
	r := &Reader{client: client, bootstrap: bootstrap}
	defer r.Close()
	r.grow(ctx)
	return r.ReadCommitted(ctx, topic, visitor)
}

// ReadCommitted reads every partition of topic from its log start offset up
// to its last stable offset as of the call, and hands each committed data
// record to the Visit that visitor(r) returns for the partition's Range (a
// nil Visit skips the partition).
// It is read_committed (KIP-98): records of aborted transactions and control
// markers are never visited. The end is fixed by offsets, not timestamps,
// and reached whatever lies just before it (a commit marker, an aborted
// batch, a compacted gap), so the read never waits for an offset that will
// not be delivered and never depends on timestamps being in offset order.
//
// Partitions are read concurrently, over up to one connection per core.
// Any error fails the whole read: a partial read is never returned as if it
// were complete. Every wait on a broker is bounded by ctx: a broker that
// stops answering makes the read return ctx's error on time.
func (rd *Reader) ReadCommitted(ctx context.Context, topic string, visitor func(r Range) Visit) error {
	client := rd.client
	if err := RefreshMetadata(ctx, client, topic); err != nil {
		return fmt.Errorf("metadata of %q: %w", topic, err)
	}
	partitions, err := Partitions(ctx, client, topic)
	if err != nil {
		return fmt.Errorf("listing partitions of %q: %w", topic, err)
	}
	// Every end is fixed before any record is read.
	ranges := make([]Range, len(partitions))
	for i, p := range partitions {
		start, err := ListOffset(ctx, client, topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("log start of %s/%d: %w", topic, p, err)
		}
		end, err := ListOffset(ctx, client, topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("last stable offset of %s/%d: %w", topic, p, err)
		}
		ranges[i] = Range{Partition: p, Start: start, End: end}
	}
	clients := rd.clients(len(partitions))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, r := range ranges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			visit := visitor(r)
			if visit == nil {
				return // the caller needs nothing of this partition
			}
			if err := readRange(ctx, clients[i%len(clients)], topic, r, visit); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// readRange reads one partition's range with fetch requests of its own, so
// that it knows its position after every batch, control batches included
// (sarama's consumer skips those without telling).
func readRange(ctx context.Context, client sarama.Client, topic string, r Range, visit Visit) error {
	offset := r.Start
	msg := &sarama.ConsumerMessage{Topic: topic, Partition: r.Partition}
	var retry backoff
	for offset < r.End {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s/%d at offset %d: %w", topic, r.Partition, offset, err)
		}
		block, err := fetch(ctx, client, topic, r.Partition, offset)
		if err == nil && !errors.Is(block.Err, sarama.ErrNoError) {
			err = block.Err
		}
		switch {
		case errors.Is(err, sarama.ErrOffsetOutOfRange):
			// Retention deleted the oldest segment under the read: those
			// records are older than any day that can be summarized.
			start, lerr := ListOffset(ctx, client, topic, r.Partition, sarama.OffsetOldest)
			if lerr != nil {
				return fmt.Errorf("reading %s/%d at offset %d: %w", topic, r.Partition, offset, lerr)
			}
			if start <= offset {
				return fmt.Errorf("reading %s/%d at offset %d: %w", topic, r.Partition, offset, err)
			}
			offset = start
			continue
		case err != nil:
			if !retriable(err) {
				return fmt.Errorf("reading %s/%d at offset %d: %w", topic, r.Partition, offset, err)
			}
			_ = RefreshMetadata(ctx, client, topic)
			if werr := retry.wait(ctx); werr != nil {
				return fmt.Errorf("reading %s/%d at offset %d: %w (last error: %w)", topic, r.Partition, offset, werr, err)
			}
			continue
		}
		next, err := visitBlock(block, offset, r.End, msg, visit)
		if err != nil {
			return err
		}
		if next == offset {
			// Nothing whole came back below the LSO: the broker always sends
			// at least one batch (KIP-74), so this is a transient state.
			if werr := retry.wait(ctx); werr != nil {
				return fmt.Errorf("reading %s/%d: no data at offset %d below %d: %w", topic, r.Partition, offset, r.End, werr)
			}
			continue
		}
		retry = backoff{}
		offset = next
	}
	return nil
}

// fetch asks the partition's leader for the records from offset on.
func fetch(ctx context.Context, client sarama.Client, topic string, p int32, offset int64) (*sarama.FetchResponseBlock, error) {
	return onLeader(ctx, client, topic, p, func(broker *sarama.Broker) (*sarama.FetchResponseBlock, error) {
		return fetchFrom(broker, topic, p, offset)
	})
}

func fetchFrom(broker *sarama.Broker, topic string, p int32, offset int64) (*sarama.FetchResponseBlock, error) {
	req := &sarama.FetchRequest{
		Version:      11, // isolation level (v4), log start offset (v5), zstd (v10)
		MaxWaitTime:  0,  // everything asked for is below the LSO: no need to wait
		MinBytes:     1,
		MaxBytes:     fetchMaxBytes,
		Isolation:    sarama.ReadCommitted,
		SessionID:    0,
		SessionEpoch: -1, // no fetch session
	}
	req.AddBlock(topic, p, offset, fetchMaxBytes, -1)
	res, err := broker.Fetch(req)
	if err != nil {
		_ = broker.Close() // a broken connection is reopened by the next call
		return nil, err
	}
	block := res.GetBlock(topic, p)
	if block == nil {
		return nil, sarama.ErrIncompleteResponse
	}
	return block, nil
}

// visitBlock visits the committed data records of block in [offset, end)
// and returns the offset to fetch next: one past the last whole batch.
// Aborted transactions are filtered as the Java consumer does: a producer
// is aborted from the first offset of an aborted transaction until its
// ABORT marker, and its transactional batches in between are skipped.
func visitBlock(block *sarama.FetchResponseBlock, offset, end int64, msg *sarama.ConsumerMessage, visit Visit) (int64, error) {
	aborted := append([]*sarama.AbortedTransaction(nil), block.AbortedTransactions...)
	sortAborted(aborted)
	abortedProducers := map[int64]struct{}{}
	next := offset
	for _, records := range block.RecordsSet {
		batch := records.RecordBatch
		if batch == nil {
			// Kafka 4 no longer stores message format v0/v1.
			return 0, fmt.Errorf("partition %d offset %d: legacy message format", msg.Partition, next)
		}
		last := batch.LastOffset()
		if last < offset {
			continue // the fetch starts at the batch holding offset
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= last {
			abortedProducers[aborted[0].ProducerID] = struct{}{}
			aborted = aborted[1:]
		}
		next = last + 1
		if batch.Control {
			if len(batch.Records) > 0 && isAbortMarker(batch.Records[0].Key) {
				delete(abortedProducers, batch.ProducerID)
			}
			continue
		}
		if _, ok := abortedProducers[batch.ProducerID]; ok && batch.IsTransactional {
			continue
		}
		for _, rec := range batch.Records {
			o := batch.FirstOffset + rec.OffsetDelta
			if o < offset || o >= end {
				continue
			}
			msg.Offset = o
			msg.Key, msg.Value, msg.Headers = rec.Key, rec.Value, rec.Headers
			msg.BlockTimestamp = batch.MaxTimestamp
			if batch.LogAppendTime {
				msg.Timestamp = batch.MaxTimestamp
			} else {
				msg.Timestamp = batch.FirstTimestamp.Add(rec.TimestampDelta)
			}
			if err := visit(msg); err != nil {
				return 0, err
			}
		}
		if next >= end {
			break
		}
	}
	return next, nil
}

func sortAborted(a []*sarama.AbortedTransaction) {
	// Usually one or two: insertion sort keeps it allocation free.
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].FirstOffset < a[j-1].FirstOffset; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// isAbortMarker reads a control record's key: version int16, type int16
// (0 ABORT, 1 COMMIT), as in Kafka's ControlRecordType.
func isAbortMarker(key []byte) bool {
	return len(key) >= 4 && binary.BigEndian.Uint16(key[2:4]) == 0
}

// ListOffset returns the log start offset (at = sarama.OffsetOldest) or the
// last stable offset (sarama.OffsetNewest) of a partition: ListOffsets with
// isolation READ_COMMITTED, which sarama's Client.GetOffset does not ask
// for. It waits out a missing leader like GetOffset.
func ListOffset(ctx context.Context, client sarama.Client, topic string, p int32, at int64) (int64, error) {
	var retry backoff
	for {
		offset, err := onLeader(ctx, client, topic, p, func(broker *sarama.Broker) (int64, error) {
			return listOffset(broker, client.Config().Version, topic, p, at)
		})
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		if err == nil || !retriable(err) {
			return offset, err
		}
		_ = RefreshMetadata(ctx, client, topic)
		if werr := retry.wait(ctx); werr != nil {
			return 0, fmt.Errorf("%w (last error: %w)", werr, err)
		}
	}
}

func listOffset(broker *sarama.Broker, version sarama.KafkaVersion, topic string, p int32, at int64) (int64, error) {
	req := sarama.NewOffsetRequest(version)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(topic, p, at, 1)
	res, err := broker.GetAvailableOffsets(req)
	if err != nil {
		_ = broker.Close()
		return 0, err
	}
	block := res.GetBlock(topic, p)
	switch {
	case block == nil:
		return 0, sarama.ErrIncompleteResponse
	case !errors.Is(block.Err, sarama.ErrNoError):
		return 0, block.Err
	case block.Offset >= 0:
		return block.Offset, nil
	case len(block.Offsets) == 1:
		return block.Offsets[0], nil
	}
	return 0, sarama.ErrOffsetOutOfRange
}

// onLeader calls call on the leader of a partition, bounded by ctx. When
// ctx ends first, the leader's connection is closed, which ends the call
// still waiting on it (the next request reopens it).
func onLeader[T any](ctx context.Context, client sarama.Client, topic string, p int32, call func(*sarama.Broker) (T, error)) (T, error) {
	var (
		mu        sync.Mutex
		leader    *sarama.Broker
		abandoned bool
	)
	return bounded(ctx, func() (T, error) {
		broker, err := client.Leader(topic, p)
		if err != nil {
			var zero T
			return zero, err
		}
		mu.Lock()
		leader = broker
		gone := abandoned
		mu.Unlock()
		if gone {
			var zero T
			return zero, context.Canceled
		}
		return call(broker)
	}, func() {
		mu.Lock()
		abandoned = true
		broker := leader
		mu.Unlock()
		if broker != nil {
			go broker.Close()
		}
	}, nil)
}

// retriable reports errors that a metadata refresh and another try fix: a
// leader moving or not elected yet, a broken connection.
func retriable(err error) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		return leaderMissing(err) || errors.Is(err, sarama.ErrNotEnoughReplicas) ||
			errors.Is(err, sarama.ErrFencedLeaderEpoch) || errors.Is(err, sarama.ErrUnknownLeaderEpoch) ||
			errors.Is(err, sarama.ErrRequestTimedOut)
	}
	return true // network errors, closed broker, out of brokers
}

// backoff waits 50 ms, doubling to 1 s, for at most offsetRetryFor in all.
type backoff struct {
	since time.Time
	delay time.Duration
}

func (b *backoff) wait(ctx context.Context) error {
	if b.since.IsZero() {
		b.since, b.delay = time.Now(), 50*time.Millisecond
	}
	if time.Since(b.since) > offsetRetryFor {
		return errors.New("gave up after " + offsetRetryFor.String())
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.delay):
	}
	b.delay = min(2*b.delay, time.Second)
	return nil
}
