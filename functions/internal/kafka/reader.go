package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/eapache/go-resiliency/retrier"

	"github.com/sopaipillas/sopaipillas/functions/internal/retry"
)

// Range is the part of one partition a read covers: [Start, End).
type Range struct {
	Partition int32
	// Start is the log start offset: the oldest record the topic keeps.
	Start int64
	// End is the last stable offset (LSO) when the read started: every
	// record before it is either committed or aborted, none undecided.
	End int64
}

// Fetch sizes of a read's clients: what one fetch returns of a partition
// and in all (the broker still sends a whole first batch when it is
// larger, KIP-74). A client holds one fetch in flight and one decoded,
// so a read holds about 2 × fetchMaxBytes per core of records at a time.
const (
	fetchMaxPartitionBytes = 1 << 20
	fetchMaxBytes          = 2 << 20
)

// Reader reads whole topics read_committed with franz-go's kgo consumer.
// It keeps one client for metadata and offsets; each read consumes over
// clients of its own, so that reads never share a consumer's positions.
// Every wait on a broker is bounded by the caller's context.
type Reader struct {
	opts  []kgo.Opt
	cl    *kgo.Client
	admin *kadm.Client
}

// NewReader returns a Reader of the brokers in cfg, named cfg.ClientID,
// with its waits fitted to bound as SizeTimeouts fits sarama's: one
// request unanswered for a third of bound is given up on. It connects
// lazily: the first read or listing does.
func NewReader(cfg Config, bound time.Duration) (*Reader, error) {
	read := readTimeout(bound)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(min(read, 5*time.Second)),
		kgo.Dialer(newDialer(min(read, 5*time.Second), read).d.DialContext),
		kgo.RequestTimeoutOverhead(read),
		kgo.RetryTimeout(min(max(bound, 2*time.Second), 30*time.Second)),
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("Kafka client for %v: %w", cfg.Brokers, err)
	}
	return &Reader{opts: opts, cl: cl, admin: kadm.NewClient(cl)}, nil
}

// Close closes the Reader's client; reads in flight fail.
func (rd *Reader) Close() error {
	rd.cl.Close()
	return nil
}

// Ends returns the last stable offset of every partition of topic, in
// partition order: ListOffsets with isolation READ_COMMITTED, so that an
// open transaction does not move it and its commit does.
func (rd *Reader) Ends(ctx context.Context, topic string) ([]int64, error) {
	listed, err := rd.list(ctx, topic, rd.admin.ListCommittedOffsets)
	if err != nil {
		return nil, fmt.Errorf("last stable offsets of %q: %w", topic, err)
	}
	return offsetsOf(listed), nil
}

// OffsetsAfter returns, in partition order, the first offset of each
// partition of topic stamped at or after at (its end when none is), as the
// broker's time index tells: exact only when timestamps are in offset
// order.
func (rd *Reader) OffsetsAfter(ctx context.Context, topic string, at time.Time) ([]int64, error) {
	listed, err := rd.list(ctx, topic, func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return rd.admin.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topics...)
	})
	if err != nil {
		return nil, fmt.Errorf("offsets of %q after %s: %w", topic, at.Format(time.RFC3339), err)
	}
	return offsetsOf(listed), nil
}

// offsetsOf is a listing's offsets in partition order.
func offsetsOf(listed map[int32]kadm.ListedOffset) []int64 {
	out := make([]int64, len(listed))
	for p, o := range listed {
		out[p] = o.Offset
	}
	return out
}

// list lists topic's offsets with f, and asks again while a partition has
// no usable leader (right after the topic was created, during a leader
// election), for at most offsetRetryFor.
func (rd *Reader) list(ctx context.Context, topic string, f func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]kadm.ListedOffset, error) {
	deadline := time.Now().Add(offsetRetryFor)
	// Waits of 50 ms doubling to 1 s, then 1 s until the deadline, as GetOffset.
	r := retrier.New(retrier.LimitedExponentialBackoff(6, 50*time.Millisecond, time.Second), retry.Classifier(func(err error) retrier.Action {
		switch {
		case err == nil:
			return retrier.Succeed
		case ctx.Err() == nil && (kerr.IsRetriable(err) || errors.Is(err, kerr.UnknownTopicOrPartition)) && time.Now().Before(deadline):
			return retrier.Retry
		}
		return retrier.Fail
	})).WithInfiniteRetry()
	var ps map[int32]kadm.ListedOffset
	err := retry.Run(ctx, r, func(ctx context.Context, _ int) error {
		listed, err := f(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return err
		}
		ps = listed[topic]
		if len(ps) == 0 {
			return kerr.UnknownTopicOrPartition
		}
		for p := range int32(len(ps)) {
			if _, ok := ps[p]; !ok {
				return fmt.Errorf("partition %d missing from the listing", p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// Read reads every partition of topic from its log start offset up to its
// last stable offset as of the call, and hands each committed data record
// to the function visitor(r) returns for the partition's Range (nil skips
// the partition), in offset order. A record is only valid during the call.
//
// It is read_committed (KIP-98): records of aborted transactions and
// control markers are never visited. The end is fixed by offsets, not
// timestamps, so the read never depends on timestamps being in offset
// order. A partition is done once the record just before its end was
// delivered: a data record or, kept for this purpose, the COMMIT or ABORT
// marker that closes a transaction (every offset below the LSO is decided).
//
// Partitions are read concurrently over up to one client per core, each
// partition on one goroutine. Any error fails the whole read: a partial
// read is never returned as if it were complete.
func (rd *Reader) Read(ctx context.Context, topic string, visitor func(r Range) func(*kgo.Record) error) error {
	// Every end is fixed before any record is read.
	ends, err := rd.list(ctx, topic, rd.admin.ListCommittedOffsets)
	if err != nil {
		return fmt.Errorf("last stable offsets of %q: %w", topic, err)
	}
	starts, err := rd.list(ctx, topic, rd.admin.ListStartOffsets)
	if err != nil {
		return fmt.Errorf("log start offsets of %q: %w", topic, err)
	}
	type part struct {
		Range
		visit func(*kgo.Record) error
	}
	var parts []part
	for p := range int32(len(ends)) {
		r := Range{Partition: p, Start: starts[p].Offset, End: ends[p].Offset}
		visit := visitor(r)
		if visit != nil && r.Start < r.End {
			parts = append(parts, part{r, visit})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	groups := max(1, min(runtime.GOMAXPROCS(0), len(parts)))
	for i := range groups {
		var mine []part
		for j := i; j < len(parts); j += groups {
			mine = append(mine, parts[j])
		}
		if len(mine) == 0 {
			continue
		}
		g.Go(func() error {
			ranges := make(map[int32]Range, len(mine))
			visits := make(map[int32]func(*kgo.Record) error, len(mine))
			for _, p := range mine {
				ranges[p.Partition], visits[p.Partition] = p.Range, p.visit
			}
			return rd.readPartitions(gctx, topic, ranges, visits)
		})
	}
	return g.Wait()
}

// readPartitions reads ranges over one consumer client of its own.
func (rd *Reader) readPartitions(ctx context.Context, topic string, ranges map[int32]Range, visits map[int32]func(*kgo.Record) error) error {
	at := make(map[int32]kgo.Offset, len(ranges))
	for p, r := range ranges {
		at[p] = kgo.NewOffset().At(r.Start)
	}
	cl, err := kgo.NewClient(append(slices.Clip(rd.opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes),
		kgo.FetchMaxBytes(fetchMaxBytes),
		// Everything asked for is below the LSO: a fetch has no reason
		// to wait for more.
		kgo.FetchMaxWait(100*time.Millisecond),
		// Retention may delete the oldest segment under the read: those
		// records are older than any day that can be summarized.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return fmt.Errorf("consumer of %q: %w", topic, err)
	}
	defer cl.Close()
	left := len(ranges)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %q: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			if errors.As(err, &loss) && loss.ResetTo > loss.ConsumedTo {
				return // the log start passed the read: retention
			}
			if ferr == nil {
				ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var done []int32
		var verr error
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			r, ok := ranges[fp.Partition]
			if !ok || verr != nil {
				return
			}
			visit := visits[fp.Partition]
			for _, rec := range fp.Records {
				if rec.Offset >= r.End {
					break
				}
				if !rec.Attrs.IsControl() {
					if verr = visit(rec); verr != nil {
						return
					}
				}
				if rec.Offset == r.End-1 {
					break
				}
			}
			if n := len(fp.Records); n > 0 && fp.Records[n-1].Offset >= r.End-1 {
				delete(ranges, fp.Partition)
				done = append(done, fp.Partition)
			}
		})
		if verr != nil {
			return verr
		}
		if len(done) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{topic: done})
			left -= len(done)
		}
	}
	return nil
}

// Visit is called for each committed data record of one partition, in
// offset order. The message and its slices are only valid during the call.
type Visit func(m *sarama.ConsumerMessage) error

// ReadCommitted is Reader.Read on a Reader of its own, for callers that
// decode with sarama's types (the CloudEvents kafka_sarama binding): each
// record comes as a sarama.ConsumerMessage (ConsumerMessage). client
// gives the client id and the bound (its Metadata.Timeout).
func ReadCommitted(ctx context.Context, client sarama.Client, bootstrap []string, topic string, visitor func(r Range) Visit) error {
	rd, err := NewReader(Config{Brokers: bootstrap, ClientID: client.Config().ClientID}, client.Config().Metadata.Timeout)
	if err != nil {
		return err
	}
	defer rd.Close()
	return rd.Read(ctx, topic, func(r Range) func(*kgo.Record) error {
		visit := visitor(r)
		if visit == nil {
			return nil
		}
		return func(rec *kgo.Record) error { return visit(ConsumerMessage(rec)) }
	})
}

// ConsumerMessage is rec as sarama's consumer gives a record: what the
// CloudEvents kafka_sarama binding reads. Its slices are rec's.
func ConsumerMessage(rec *kgo.Record) *sarama.ConsumerMessage {
	m := &sarama.ConsumerMessage{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp,
		Headers: make([]*sarama.RecordHeader, len(rec.Headers)),
	}
	hs := make([]sarama.RecordHeader, len(rec.Headers))
	for i, h := range rec.Headers {
		hs[i] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		m.Headers[i] = &hs[i]
	}
	return m
}
