package dayread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sopaipillas/sopaipillas/events"
)

// growingLog is an order topic in memory that grows: each partition shows
// its records below its end, as a topic shows those below its last stable
// offset. Offsets may have gaps (aborted transactions, markers).
type growingLog struct {
	partitions int32
	recs       []Record // in offset order within each partition
	ends       []int64
}

func (l *growingLog) visible(p int32, from, to int64) []Record {
	var out []Record
	for _, r := range l.recs {
		if r.Partition == p && r.Offset >= from && r.Offset < to {
			out = append(out, r)
		}
	}
	return out
}

func (l *growingLog) Scan(ctx context.Context, start, end time.Time, visitor func(int32, Expect) func(Record)) error {
	_, err := l.ScanFrom(ctx, start, end, nil, nil, visitor)
	return err
}

func (l *growingLog) ScanFrom(_ context.Context, _, _ time.Time, from, to []int64, visitor func(int32, Expect) func(Record)) ([]int64, error) {
	if to == nil {
		to = slices.Clone(l.ends)
	}
	for p := range l.partitions {
		var start int64
		if int(p) < len(from) {
			start = from[p]
		}
		rs := l.visible(p, start, to[p])
		if visit := visitor(p, Expect{Day: len(rs)}); visit != nil {
			for _, r := range rs {
				visit(r)
			}
		}
	}
	return to, nil
}

// TestLiveMatchesSummarize grows random topics (orders in several
// partitions, retries, other versions, letter case, poison, stamps over
// four days in any order, gaps in the offsets) in steps, and checks after
// each step that the live day says what Summarize says of the same
// records, and that every other day whose numbers changed was reported.
func TestLiveMatchesSummarize(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, _ := day.Bounds(loc)
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 22))
			log := &growingLog{partitions: int32(1 + rng.IntN(4))}
			log.ends = make([]int64, log.partitions)
			next := make([]int64, log.partitions)
			vendors := []string{seedVendor, "Vendor_Tarea2@Yopmail.com", "ana@feria.cl", "beto@feria.cl"}
			var past []events.Order
			add := func() {
				p := rng.Int32N(log.partitions)
				at := start.Add(time.Duration(rng.Int64N(int64(4*24*time.Hour))) - 2*24*time.Hour)
				next[p] += 1 + rng.Int64N(2) // gaps: markers, aborted records
				var m *sarama.ConsumerMessage
				o := events.Order{OrderID: 1 + rng.Int64N(25), EmailVendedor: vendors[rng.IntN(len(vendors))], EmailCocinero: seedCook, NumeroSopaipillas: 1 + rng.Int64N(9)}
				if len(past) > 0 && rng.IntN(3) == 0 {
					o = past[rng.IntN(len(past))] // a retry
				}
				past = append(past, o)
				switch rng.IntN(8) {
				case 0:
					m = &sarama.ConsumerMessage{Value: []byte("not an order")}
				case 1:
					m = &sarama.ConsumerMessage{Value: fmt.Appendf(nil, `{"order_id": %d, "email_vendedor": %q, "email_cocinero": %q, "numero_sopaipillas": %d}`,
						o.OrderID, o.EmailVendedor, o.EmailCocinero, o.NumeroSopaipillas)}
				default:
					m = orderRecord(t, o, at, 0)
				}
				m.Topic, m.Partition, m.Offset, m.Timestamp = "order", p, next[p], at
				log.recs = append(log.recs, recordOf(context.Background(), kgoRecord(m)))
			}
			counter := New(log, loc)
			summarize := func(d events.Date) Result {
				res, err := counter.Summarize(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			publish := func() {
				for p := range log.partitions {
					log.ends[p] = next[p] + 1
				}
			}
			for range rng.IntN(10) {
				add()
			}
			publish()
			live, err := counter.Follow(context.Background(), day)
			if err != nil {
				t.Fatal(err)
			}
			// The live day leaves the vendor report out.
			opts := cmp.Options{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Result{}, "Vendors")}
			if d := cmp.Diff(summarize(day), live.Result(), opts); d != "" {
				t.Fatalf("first count (-Summarize, +Live):\n%s", d)
			}
			before := map[events.Date]Result{}
			for _, d := range []events.Date{day.AddDays(-2), day.AddDays(-1)} {
				before[d] = summarize(d)
			}
			for step := range 8 {
				for range rng.IntN(12) {
					add()
				}
				publish()
				moved, err := live.Update(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(summarize(day), live.Result(), opts); d != "" {
					t.Fatalf("step %d (-Summarize, +Live):\n%s", step, d)
				}
				if !slices.Equal(moved.Ends, log.ends) {
					t.Errorf("step %d: ends %v, want %v", step, moved.Ends, log.ends)
				}
				for d, was := range before {
					now := summarize(d)
					reported := moved.Earlier || slices.Contains(moved.Days, d)
					if !reported && !cmp.Equal(was, now, opts) {
						t.Errorf("step %d: %s changed and was not reported (moved %+v):\n%s", step, d, moved, cmp.Diff(was, now, opts))
					}
					before[d] = now
				}
			}
		})
	}
}
