package dayread

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// streamLog is synthLog's topic made up as it is read into one reused
// record, cheaply, so that a scan of millions of records costs what the
// read costs (decode, tally) and holds no records: the day's tables are
// as large as a busy day's, out of the processor's caches as they are
// then. The tally copies what it keeps of a record.
type streamLog struct {
	*synthLog
	starts []time.Time // synthLog's day d starts at starts[d]
}

func newStreamLog(l *synthLog) streamLog {
	s := streamLog{synthLog: l}
	for d := range l.days {
		// time.AddDate looks the zone up: once a day, not once a record.
		s.starts = append(s.starts, l.last.AddDate(0, 0, d-(l.days-1)))
	}
	return s
}

func (l streamLog) Scan(ctx context.Context, _, _ time.Time, visitor func(int32, Expect) func(Record)) error {
	n := l.total()
	for p := range l.partitions {
		size := (n - p + l.partitions - 1) / l.partitions
		visit := visitor(int32(p), Expect{Before: size / 3, Day: size / 3, After: size / 3})
		if visit == nil {
			continue
		}
		var m kgo.Record
		var value, eid []byte
		for i := p; i < n; i += l.partitions {
			l.fill(&m, i, value[:0], eid[:0])
			value, eid = m.Value, m.Headers[0].Value
			visit(recordOf(ctx, &m))
		}
	}
	return nil
}

// fill makes m synthLog's record i, appending its value and event id to
// the buffers given.
func (l streamLog) fill(m *kgo.Record, i int, value, eid []byte) {
	day := min(i/l.perDay, l.days-1)
	at := l.starts[day].Add(time.Duration(i%l.perDay) * (20 * time.Hour / time.Duration(l.perDay)))
	id := int64(i + 1)
	value = append(value, `{"email_cocinero":"`...)
	value = append(value, l.cook...)
	value = append(value, `","email_vendedor":"`...)
	value = append(value, l.vendors[i%len(l.vendors)]...)
	value = append(value, `","numero_sopaipillas":`...)
	value = strconv.AppendInt(value, int64(1+i%50), 10)
	value = append(value, `,"order_id":`...)
	value = strconv.AppendInt(value, id, 10)
	value = append(value, '}')
	eid = strconv.AppendInt(append(eid, "order-"...), id, 10)
	if m.Headers == nil {
		// In the order newOrder's binding writes them.
		m.Headers = []kgo.RecordHeader{
			{Key: "ce_id"}, {Key: "ce_source", Value: []byte(vSource)}, {Key: "ce_specversion", Value: []byte(vSpecVersion)},
			{Key: "ce_type", Value: []byte(vType)}, {Key: "content-type", Value: []byte(vJSON)}, {Key: "ce_subject"},
			{Key: "ce_time", Value: []byte("2021-11-13T15:04:05.123Z")}, {Key: "ce_partitionkey"},
		}
	}
	m.Headers[0].Value, m.Headers[5].Value, m.Headers[7].Value = eid, eid, eid
	m.Partition, m.Offset, m.Timestamp, m.Value = int32(i%l.partitions), int64(i/l.partitions), at, value
}

// BenchmarkSummarize counts the middle one of three days of
// SOPAIPILLAS_SUMMARY_PER_DAY orders each (default 1,000,000) of
// newOrder's shape, ids in sequence, as the steady bench's topic holds
// them: one op is one whole read, reported also as records/s.
func BenchmarkSummarize(b *testing.B) {
	perDay := 1_000_000
	if s := os.Getenv("SOPAIPILLAS_SUMMARY_PER_DAY"); s != "" {
		perDay, _ = strconv.Atoi(s)
	}
	loc, _ := time.LoadLocation("America/Santiago")
	last := events.Date{Year: 2021, Month: 11, Day: 14}
	start, _ := last.Bounds(loc)
	c := New(newStreamLog(newSynthLog(3, perDay, start.Add(time.Hour))), loc)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := c.Summarize(context.Background(), last.AddDays(-1))
		if err != nil {
			b.Fatal(err)
		}
		if res.OrdersRead != perDay {
			b.Fatalf("%d orders read in the day, want %d", res.OrdersRead, perDay)
		}
	}
	b.ReportMetric(float64(3*perDay*b.N)/b.Elapsed().Seconds(), "records/s")
}
