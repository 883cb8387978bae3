package dayread

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// synthLog is an order topic made up as it is read: perDay orders of
// newOrder's shape on each of days consecutive days ending with the day
// counted, ids in sequence, spread over partitions as keys spread them,
// then extra orders of the last day (what arrives while the board is
// open). It holds no records, so that a benchmark measures what the
// count keeps.
type synthLog struct {
	partitions  int
	days        int
	perDay      int
	extra       int // orders after the preload, readable
	last        time.Time
	vendors     [][]byte
	cook, value []byte
}

func newSynthLog(days, perDay int, last time.Time) *synthLog {
	l := &synthLog{partitions: 6, days: days, perDay: perDay, last: last}
	for i := range 500 {
		l.vendors = append(l.vendors, fmt.Appendf(nil, "vendedor%03d@sopaipillas.cl", i))
	}
	l.cook = []byte("cocina@sopaipillas.cl")
	return l
}

// total is the orders readable now; order i (from 0) is in partition
// i % partitions at offset i / partitions.
func (l *synthLog) total() int { return l.days*l.perDay + l.extra }

func (l *synthLog) record(i int) *kgo.Record {
	day := min(i/l.perDay, l.days-1)
	at := l.last.AddDate(0, 0, day-(l.days-1)).Add(time.Duration(i%l.perDay) * (20 * time.Hour / time.Duration(l.perDay)))
	id := int64(i + 1)
	value := fmt.Appendf(nil, `{"email_cocinero":%q,"email_vendedor":%q,"numero_sopaipillas":%d,"order_id":%d}`, l.cook, l.vendors[i%len(l.vendors)], 1+i%50, id)
	eid := []byte("order-" + strconv.FormatInt(id, 10))
	return &kgo.Record{Partition: int32(i % l.partitions), Offset: int64(i / l.partitions), Timestamp: at, Value: value, Headers: []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte(vSpecVersion)}, {Key: "ce_id", Value: eid}, {Key: "ce_source", Value: []byte(vSource)},
		{Key: "ce_type", Value: []byte(vType)}, {Key: "content-type", Value: []byte(vJSON)}, {Key: "ce_time", Value: []byte("2021-11-13T15:04:05.123Z")},
		{Key: "ce_subject", Value: eid}, {Key: "ce_partitionkey", Value: eid},
	}}
}

func (l *synthLog) Scan(ctx context.Context, start, end time.Time, visitor func(int32, Expect) func(Record)) error {
	_, err := l.ScanFrom(ctx, start, end, nil, nil, visitor)
	return err
}

func (l *synthLog) ScanFrom(ctx context.Context, _, _ time.Time, from, to []int64, visitor func(int32, Expect) func(Record)) ([]int64, error) {
	n := l.total()
	ends := make([]int64, l.partitions)
	for p := range l.partitions {
		ends[p] = int64((n - p + l.partitions - 1) / l.partitions)
	}
	if to != nil {
		ends = to
	}
	for p := range l.partitions {
		var start int64
		if p < len(from) {
			start = from[p]
		}
		visit := visitor(int32(p), Expect{Before: int(ends[p]) * (l.days - 1) / l.days, Day: int(ends[p]) / l.days})
		if visit == nil {
			continue
		}
		for o := start; o < ends[p]; o++ {
			visit(recordOf(ctx, l.record(int(o)*l.partitions+p)))
		}
	}
	return ends, nil
}

// BenchmarkLiveMemory follows the last of three days of
// SOPAIPILLAS_LIVE_PER_DAY orders each (default 200,000) and reports
// what the live day keeps (live_bytes, bytes_per_order of the topic,
// after a collection), what one whole count of another day keeps beside
// it (recount_bytes, its peak heap), and what an update of 2,500 new
// orders (half a second at 5,000/s) costs (ns/op).
func BenchmarkLiveMemory(b *testing.B) {
	perDay := 200_000
	if s := os.Getenv("SOPAIPILLAS_LIVE_PER_DAY"); s != "" {
		perDay, _ = strconv.Atoi(s)
	}
	loc, _ := time.LoadLocation("America/Santiago")
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, _ := day.Bounds(loc)
	log := newSynthLog(3, perDay, start.Add(time.Hour))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	live, err := New(log, loc).Follow(context.Background(), day)
	if err != nil {
		b.Fatal(err)
	}
	kept := heap() - base
	if got := live.Result().Summary.Ventas; len(got) != len(log.vendors) {
		b.Fatalf("%d vendors counted, want %d", len(got), len(log.vendors))
	}

	// A whole count of yesterday beside the live day: its peak is what it
	// keeps at the end of the read.
	var peak uint64
	res, err := New(peakLog{log, &peak}, loc).Summarize(context.Background(), day.AddDays(-1))
	if err != nil || res.Summary.Ventas == nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for range b.N {
		log.extra += 2500
		if _, err := live.Update(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.KeepAlive(live)
	// After the loop: ResetTimer drops the metrics reported before it.
	b.ReportMetric(float64(kept), "live_bytes")
	b.ReportMetric(float64(kept)/float64(3*perDay), "bytes_per_order")
	b.ReportMetric(float64(peak-base-kept), "recount_bytes")
}

// peakLog is a log whose scan notes the heap in use once read, before
// the count is summed up.
type peakLog struct {
	*synthLog
	peak *uint64
}

func (l peakLog) Scan(ctx context.Context, start, end time.Time, visitor func(int32, Expect) func(Record)) error {
	err := l.synthLog.Scan(ctx, start, end, visitor)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	*l.peak = max(*l.peak, m.HeapAlloc)
	return err
}
