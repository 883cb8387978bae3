package dayread

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/telemetry"
)

// KafkaLog is the order topic on Kafka.
type KafkaLog struct {
	// Reader reads the topic; when nil, each Scan opens one of its own on
	// Brokers, named and bounded as Client (if set) is configured.
	Reader  *kafka.Reader
	Brokers []string
	Client  sarama.Client
	Topic   string
}

// reader returns the Reader to scan with and a function to release it.
func (l KafkaLog) reader() (*kafka.Reader, func(), error) {
	if l.Reader != nil {
		return l.Reader, func() {}, nil
	}
	cfg, bound := kafka.Config{Brokers: l.Brokers, ClientID: "sopaipillas"}, 30*time.Second
	if l.Client != nil {
		cfg.ClientID, bound = l.Client.Config().ClientID, l.Client.Config().Metadata.Timeout
	}
	rd, err := kafka.NewReader(cfg, bound)
	if err != nil {
		return nil, nil, err
	}
	return rd, func() { rd.Close() }, nil
}

// Scan reads every committed record of every partition (but those whose
// visitor is nil), from the oldest the topic keeps to its last stable
// offset when Scan starts (kafka.Reader.Read). from and to only size the
// tally: the broker's time index estimates how many records the day has.
func (l KafkaLog) Scan(ctx context.Context, from, to time.Time, visitor func(partition int32, expect Expect) func(Record)) error {
	rd, release, err := l.reader()
	if err != nil {
		return err
	}
	defer release()
	// Estimates only: without them the tally grows as it goes.
	dayStart, err1 := rd.OffsetsAfter(ctx, l.Topic, from)
	dayEnd, err2 := rd.OffsetsAfter(ctx, l.Topic, to)
	if err1 != nil || err2 != nil {
		dayStart, dayEnd = nil, nil
	}
	links := orderLinks{DayRead: telemetry.OrderLinks(ctx), from: from, to: to}
	progress := ProgressFrom(ctx)
	return rd.Read(ctx, l.Topic, func(r kafka.Range) func(*kgo.Record) error {
		visit := visitor(r.Partition, estimate(r, dayStart, dayEnd))
		if visit == nil {
			return nil
		}
		count := progress.partition(r.End - r.Start)
		return func(m *kgo.Record) error {
			count()
			r := recordOf(ctx, m)
			if !r.fast.ok || r.fast.traced { // the fast path saw the headers
				links.add(m)
			}
			visit(r)
			return nil
		}
	})
}

// orderLinks links the read span to the day's orders that carry trace
// context (telemetry.DayRead), offering it at most twice its bound of
// candidates so that the rest of the day costs a counter's load.
type orderLinks struct {
	*telemetry.DayRead
	from, to time.Time
	offered  atomic.Int32
}

func (l *orderLinks) add(m *kgo.Record) {
	if l.DayRead == nil || l.offered.Load() >= 2*telemetry.MaxOrderLinks || m.Timestamp.Before(l.from) || !m.Timestamp.Before(l.to) {
		return
	}
	for _, h := range m.Headers {
		if h.Key == "ce_traceparent" {
			l.offered.Add(1)
			l.Add(m.Timestamp, kafka.ConsumerMessage(m).Headers)
			return
		}
	}
}

// estimate places r's records before, in and after a day whose first
// offsets are start and end by partition (from the broker's time index:
// exact when timestamps are in offset order, a hint otherwise).
func estimate(r kafka.Range, start, end []int64) Expect {
	size := int(r.End - r.Start)
	if int(r.Partition) >= len(start) || int(r.Partition) >= len(end) {
		return Expect{Day: size}
	}
	clamp := func(o int64) int64 {
		if o < 0 || o > r.End { // -1: nothing stamped at or after
			return r.End
		}
		return max(o, r.Start)
	}
	s, e := clamp(start[r.Partition]), clamp(end[r.Partition])
	return Expect{Before: int(s - r.Start), Day: int(max(0, e-s)), After: int(r.End - max(e, s))}
}

// recordOf decodes one record of the order topic. A record exactly as
// newOrder writes it is decoded by the fast path without building a
// CloudEvent. Otherwise, by what the record is (README, "Legacy records"):
//   - a header the CloudEvents binding reads given twice: not one
//     CloudEvent (events.RepeatedKafkaHeader), skipped as invalid;
//   - a binary-mode CloudEvent (ce_ headers) or one whose content-type says
//     structured mode: through the CloudEvents Kafka binding;
//   - a JSON object with a "specversion" member, whatever the content-type
//     header says (older SDKs write application/json): a structured-mode
//     CloudEvent;
//   - any other value: a plain-JSON order, as the seed's API wrote them.
func recordOf(ctx context.Context, m *kgo.Record) Record {
	var r Record
	if r.fast.decode(m.Headers, m.Value) {
		r.Partition, r.Offset, r.Timestamp = m.Partition, m.Offset, m.Timestamp
		return r
	}
	return slowRecordOf(ctx, m)
}

// slowRecordOf is recordOf without the fast path.
func slowRecordOf(ctx context.Context, m *kgo.Record) Record {
	r := Record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp}
	keys := func(yield func(string) bool) {
		for _, h := range m.Headers {
			if !yield(h.Key) {
				return
			}
		}
	}
	if events.RepeatedKafkaHeader(keys) != "" {
		r.Skip = SkipInvalidCloudEvent
		return r
	}
	msg := kafka_sarama.NewMessageFromConsumerMessage(kafka.ConsumerMessage(m))
	if msg.ReadEncoding() != binding.EncodingUnknown {
		event, err := binding.ToEvent(ctx, msg)
		if err == nil {
			err = event.Validate() // ToEvent does not check the required attributes
		}
		if err != nil {
			r.Skip = SkipInvalidCloudEvent
			return r
		}
		r.Event = event
		return r
	}
	if events.IsStructuredEvent(m.Value) {
		event, order, err := events.OrderFromStructured(m.Value)
		var syntax *events.SyntaxError
		switch {
		case errors.As(err, &syntax):
			r.Skip = SkipInvalidCloudEvent
		case event.Type() != events.TypeOrderCreated:
			r.Skip = SkipOtherEventType
		case err != nil:
			r.Skip = SkipInvalidOrder
		default:
			r.Order, r.EventID = &order, event.ID()
		}
		return r
	}
	order, err := events.DecodeOrder(m.Value)
	var syntax *events.SyntaxError
	switch {
	case errors.As(err, &syntax):
		r.Skip = SkipNotAnOrder
	case err != nil:
		r.Skip = SkipInvalidOrder
	default:
		r.Order = &order
	}
	return r
}
