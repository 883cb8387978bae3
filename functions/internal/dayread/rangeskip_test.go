package dayread

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
)

// TestOtherDaysAroundTheDaysRange counts generated topics whose ids of the
// day hold a middle range, with records of other days whose ids fall
// below, inside and above it, in any order: ids first seen on another day
// and then on the day (by then inside the range, or widening it), and
// ids of the day retried on other days, alike or not. The day's table
// skips its probe for ids outside its range; an oracle that keeps a plain
// map from order_id to its first record says what must count.
func TestOtherDaysAroundTheDaysRange(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	vendors := []string{"ana@feria.cl", "Ana@Feria.cl", "beto@feria.cl"}
	const (
		below = iota
		inside
		above
	)
	var covered [3]int // other-day records by where their id falls in the day's final range
	var dayAfterOther int
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			partitions := 1 + rng.IntN(3)
			stamp := func(d int) time.Time { // d: -1 before the day, 0 in it, 1 after
				at := start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)))))
				return at.AddDate(0, 0, d)
			}
			// Ids 1000 to 1999 may be of any day from their first
			// record; the others start on another day, and may come
			// back on the day.
			type planned struct {
				id   int64
				days []int
			}
			var plans []planned
			for range 300 {
				id := 1 + rng.Int64N(3000)
				n := 1 + rng.IntN(3)
				days := make([]int, n)
				for i := range days {
					days[i] = rng.IntN(3) - 1
				}
				if (id < 1000 || id >= 2000) && days[0] == 0 {
					days[0] = []int{-1, 1}[rng.IntN(2)]
				}
				plans = append(plans, planned{id, days})
			}
			// Interleave the ids' records at random, each id's in its
			// order, each id in one partition (id mod partitions).
			var log memLog
			offsets := make([]int64, partitions)
			for len(plans) > 0 {
				i := rng.IntN(len(plans))
				pl := &plans[i]
				o := events.Order{OrderID: pl.id, EmailVendedor: vendors[rng.IntN(len(vendors))], EmailCocinero: seedCook, NumeroSopaipillas: 1 + rng.Int64N(2)}
				at := stamp(pl.days[0])
				p := int32(pl.id % int64(partitions))
				m := orderRecord(t, o, at, offsets[p])
				m.Partition = p
				offsets[p]++
				log = append(log, recordOf(context.Background(), kgoRecord(m)))
				if pl.days = pl.days[1:]; len(pl.days) == 0 {
					plans = append(plans[:i], plans[i+1:]...)
				}
			}

			res, err := New(log, loc).Summarize(context.Background(), day)
			if err != nil {
				t.Fatal(err)
			}

			// The oracle: the first record of an order_id (in offset
			// order; each id is in one partition) is its version, and
			// counts if stamped in the day; a later record of an order of
			// the day with another body is a conflict.
			type first struct {
				inDay  bool
				vendor string
				n      int64
				cook   string
			}
			firsts := map[int64]first{}
			want := Result{Summary: events.NewSummary(day)}
			var otherDay []int64
			for _, r := range log {
				o := r.order(t)
				inDay := !r.Timestamp.Before(start) && r.Timestamp.Before(end)
				if inDay {
					want.OrdersRead++
				} else {
					otherDay = append(otherDay, o.OrderID)
				}
				v := first{inDay: inDay, vendor: strings.ToLower(o.EmailVendedor), n: o.NumeroSopaipillas, cook: strings.ToLower(o.EmailCocinero)}
				f, seen := firsts[o.OrderID]
				switch {
				case !seen:
					firsts[o.OrderID] = v
					if inDay {
						s := want.Summary.Ventas[v.vendor]
						s.NOrdenes++
						s.NSopaipillas += v.n
						want.Summary.Ventas[v.vendor] = s
					}
				case f.inDay && (f.vendor != v.vendor || f.n != v.n || f.cook != v.cook):
					want.ConflictsTotal++
				case !f.inDay && inDay:
					dayAfterOther++
				}
			}
			got := Result{Summary: res.Summary, OrdersRead: res.OrdersRead, ConflictsTotal: res.ConflictsTotal}
			if d := cmp.Diff(want, got, cmp.AllowUnexported(VendorDay{})); d != "" {
				t.Errorf("(-oracle, +Summarize):\n%s", d)
			}

			lo, hi := int64(1<<62), int64(0)
			for id, f := range firsts {
				if f.inDay {
					lo, hi = min(lo, id), max(hi, id)
				}
			}
			for _, id := range otherDay {
				switch {
				case id < lo:
					covered[below]++
				case id > hi:
					covered[above]++
				default:
					covered[inside]++
				}
			}
		})
	}
	if covered[below] == 0 || covered[inside] == 0 || covered[above] == 0 || dayAfterOther == 0 {
		t.Errorf("the generator missed a case: other-day records below/inside/above the day's range %v, day records after another day's %d", covered, dayAfterOther)
	}
}

// order is the order a generated record carries, read as any client of
// the topic would: its JSON value, unmarshalled.
func (r Record) order(t *testing.T) events.Order {
	t.Helper()
	data := r.fast.value
	if !r.fast.ok {
		if r.Event == nil {
			t.Fatalf("record %d/%d is not an order: %+v", r.Partition, r.Offset, r)
		}
		data = r.Event.Data()
	}
	var v struct {
		ID     int64  `json:"order_id"`
		Vendor string `json:"email_vendedor"`
		Cook   string `json:"email_cocinero"`
		N      int64  `json:"numero_sopaipillas"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return events.Order{OrderID: v.ID, EmailVendedor: v.Vendor, EmailCocinero: v.Cook, NumeroSopaipillas: v.N}
}
