package dayread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
)

// genRecord is a record the generator wrote, as the oracle reads it.
type genRecord struct {
	partition int32
	offset    int64
	at        time.Time
	order     events.Order
	pos       float64 // where it goes in its partition
}

// genDay writes a random topic of four partitions around day: a vendor
// with more orders than are listed and more uncounted versions than are
// listed (only in its own partitions), small vendors with orders also in
// other partitions (same and other bodies, same and other days), retries,
// and a vendor that only ever sends other bodies of others' orders.
func genDay(seed uint64, start time.Time) []genRecord {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var recs []genRecord
	inDay := func() time.Time {
		return start.Add(time.Duration(rng.Int64N(int64(24*time.Hour/time.Millisecond))) * time.Millisecond)
	}
	anyDay := func() time.Time {
		switch rng.IntN(8) {
		case 0:
			return start.Add(-time.Duration(1+rng.Int64N(int64(20*time.Hour/time.Millisecond))) * time.Millisecond)
		case 1:
			return start.Add(24*time.Hour + time.Duration(rng.Int64N(int64(20*time.Hour/time.Millisecond)))*time.Millisecond)
		}
		return inDay()
	}
	id := int64(0)
	add := func(p int32, at time.Time, o events.Order, pos float64) genRecord {
		r := genRecord{partition: p, at: at, order: o, pos: pos}
		recs = append(recs, r)
		return r
	}
	order := func(vendor string, n int64) events.Order {
		id++
		return events.Order{OrderID: id, EmailVendedor: vendor, EmailCocinero: fmt.Sprintf("cook%d@c.cl", id%3), NumeroSopaipillas: n}
	}
	later := func(first genRecord) float64 { return first.pos + rng.Float64()*(1-first.pos) }
	// The big vendor: every version in its first partition.
	for range events.MaxOrdersListed + 400 {
		first := add(int32(rng.IntN(4)), anyDay(), order("big@b.cl", 1+rng.Int64N(1000)), rng.Float64())
		switch rng.IntN(10) {
		case 0: // a retry
			add(first.partition, anyDay(), first.order, later(first))
		case 1, 2, 3, 4: // another body, by the vendor or by someone else
			o := first.order
			o.NumeroSopaipillas = o.NumeroSopaipillas%1000 + 1
			if rng.IntN(3) == 0 {
				o.EmailVendedor = "solo@b.cl"
			}
			add(first.partition, anyDay(), o, later(first))
		}
	}
	for v := range 5 {
		vendor := fmt.Sprintf("small%d@b.cl", v)
		for range rng.IntN(40) {
			first := add(int32(rng.IntN(4)), anyDay(), order(vendor, 1+rng.Int64N(1000)), rng.Float64())
			for range rng.IntN(3) {
				o := first.order
				if rng.IntN(2) == 0 {
					o.NumeroSopaipillas = 1 + rng.Int64N(1000)
				}
				if rng.IntN(4) == 0 {
					o.EmailVendedor = fmt.Sprintf("small%d@b.cl", rng.IntN(5))
				}
				p := first.partition
				if rng.IntN(2) == 0 {
					p = int32(rng.IntN(4))
				}
				pos := rng.Float64()
				if p == first.partition {
					pos = later(first)
				}
				add(p, anyDay(), o, pos)
			}
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].pos < recs[j].pos })
	next := map[int32]int64{}
	for i := range recs {
		recs[i].offset = next[recs[i].partition]
		next[recs[i].partition]++
	}
	return recs
}

// oracleVendors is the vendor report of day by brute force over every
// record: the day rule (the earliest day's first version, then the
// lowest partition), every other body of a counted order uncounted.
func oracleVendors(recs []genRecord, loc *time.Location, day events.Date) (map[string]events.VendorOrders, map[[2]int64]*events.CountedOrder) {
	dayOf := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	target := fmt.Sprintf("%04d-%02d-%02d", day.Year, day.Month, day.Day)
	byID := map[int64][]genRecord{}
	for _, r := range recs {
		byID[r.order.OrderID] = append(byID[r.order.OrderID], r)
	}
	out := map[string]events.VendorOrders{}
	type entry struct {
		at        int64
		id        int64
		partition int32
		n         int64
	}
	listedBy := map[string][]entry{}
	type unc struct {
		partition int32
		offset    int64
		u         events.UncountedOrder
		counted   genRecord
		shared    bool
	}
	uncBy := map[string][]unc{}
	for _, rs := range byID {
		first := map[int32]genRecord{}
		for _, r := range rs {
			if f, ok := first[r.partition]; !ok || r.offset < f.offset {
				first[r.partition] = r
			}
		}
		var w *genRecord
		for _, f := range first {
			if w == nil || dayOf(f.at) < dayOf(w.at) || dayOf(f.at) == dayOf(w.at) && f.partition < w.partition {
				f := f
				w = &f
			}
		}
		if dayOf(w.at) != target {
			continue
		}
		v := w.order.EmailVendedor
		s := out[v]
		s.NOrdenes++
		s.NSopaipillas += w.order.NumeroSopaipillas
		out[v] = s
		listedBy[v] = append(listedBy[v], entry{w.at.UnixMilli(), w.order.OrderID, w.partition, w.order.NumeroSopaipillas})
		for _, r := range rs {
			if r.order.EmailVendedor == w.order.EmailVendedor && r.order.EmailCocinero == w.order.EmailCocinero && r.order.NumeroSopaipillas == w.order.NumeroSopaipillas {
				continue
			}
			motivo := events.ReasonLaterInPartition
			if r.partition != w.partition {
				motivo = events.ReasonLowerPartition
				if dayOf(first[r.partition].at) > dayOf(w.at) {
					motivo = events.ReasonEarlierDay
				}
			}
			uncBy[r.order.EmailVendedor] = append(uncBy[r.order.EmailVendedor], unc{r.partition, r.offset,
				events.UncountedOrder{OrderID: r.order.OrderID, NumeroSopaipillas: r.order.NumeroSopaipillas, Motivo: motivo}, *w, len(first) > 1})
		}
	}
	listedIDs := map[int64]bool{}
	for v, es := range listedBy {
		sort.Slice(es, func(i, j int) bool {
			a, b := es[i], es[j]
			if a.at != b.at {
				return a.at < b.at
			}
			return a.id < b.id
		})
		s := out[v]
		s.Ordenes = []events.ListedOrder{}
		for _, e := range es[:min(len(es), events.MaxOrdersListed)] {
			listedIDs[e.id] = true
			s.Ordenes = append(s.Ordenes, events.ListedOrder{OrderID: e.id, Hora: time.UnixMilli(e.at).In(loc).Format("2006-01-02T15:04:05.999Z07:00"), NumeroSopaipillas: e.n})
		}
		s.OrdenesNoListadas = s.NOrdenes - int64(len(s.Ordenes))
		out[v] = s
	}
	contada := map[[2]int64]*events.CountedOrder{} // by partition and offset, every uncounted version
	for v, us := range uncBy {
		for _, u := range us {
			if u.shared || listedIDs[u.u.OrderID] {
				contada[[2]int64{int64(u.partition), u.offset}] = &events.CountedOrder{EmailVendedor: u.counted.order.EmailVendedor, NumeroSopaipillas: u.counted.order.NumeroSopaipillas}
			} else {
				contada[[2]int64{int64(u.partition), u.offset}] = nil
			}
		}
		sort.Slice(us, func(i, j int) bool {
			return us[i].partition < us[j].partition || us[i].partition == us[j].partition && us[i].offset < us[j].offset
		})
		s := out[v]
		if s.Ordenes == nil {
			s.Ordenes = []events.ListedOrder{}
		}
		for _, u := range us[:min(len(us), events.MaxUncountedListed)] {
			// What counted is known across partitions, or when it is listed.
			if u.shared || listedIDs[u.u.OrderID] {
				u.u.Contada = &events.CountedOrder{EmailVendedor: u.counted.order.EmailVendedor, NumeroSopaipillas: u.counted.order.NumeroSopaipillas}
			}
			s.NoContadas = append(s.NoContadas, u.u)
		}
		out[v] = s
	}
	for v, s := range out {
		if s.NoContadas == nil {
			s.NoContadas = []events.UncountedOrder{}
			out[v] = s
		}
	}
	return out, contada
}

// TestVendorListings: the vendor report equals a brute-force one over
// random topics, for the day and the days around it.
func TestVendorListings(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, _ := day.Bounds(loc)
	seen := map[string]bool{} // the cases the generator must have made
	defer func() {
		for _, c := range []string{events.ReasonLaterInPartition, events.ReasonEarlierDay, events.ReasonLowerPartition, "unknown contada", "not all listed", "only uncounted"} {
			if !seen[c] {
				t.Errorf("no seed made the case %q", c)
			}
		}
	}()
	for seed := range uint64(6) {
		recs := genDay(seed, start)
		var log memLog
		for _, r := range recs {
			m := orderRecord(t, r.order, r.at, r.offset)
			m.Partition = r.partition
			log = append(log, recordOf(context.Background(), kgoRecord(m)))
		}
		for _, d := range []events.Date{day.AddDays(-1), day, day.AddDays(1)} {
			t.Run(fmt.Sprintf("seed %d %s", seed, d), func(t *testing.T) {
				res, err := New(log, loc).Summarize(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				want, contada := oracleVendors(recs, loc, d)
				for _, c := range res.Conflicts { // the answer's conflicts know what counted as the report does
					w, ok := contada[[2]int64{int64(c.Partition), c.Offset}]
					var got *events.CountedOrder
					if c.Counted.EmailVendedor != "" {
						got = &events.CountedOrder{EmailVendedor: c.Counted.EmailVendedor, NumeroSopaipillas: c.Counted.NumeroSopaipillas}
					}
					if !ok || !cmp.Equal(w, got) {
						t.Errorf("conflict of order %d at %d/%d: counted %+v, want %+v (known: %v)", c.OrderID, c.Partition, c.Offset, got, w, ok)
					}
				}
				if d == day && len(want["big@b.cl"].NoContadas) != events.MaxUncountedListed {
					t.Fatalf("the generator gave big@b.cl %d uncounted versions listed", len(want["big@b.cl"].NoContadas))
				}
				for _, vo := range want {
					seen["not all listed"] = seen["not all listed"] || vo.OrdenesNoListadas > 0
					seen["only uncounted"] = seen["only uncounted"] || vo.NOrdenes == 0
					for _, u := range vo.NoContadas {
						seen[u.Motivo] = true
						seen["unknown contada"] = seen["unknown contada"] || u.Contada == nil
					}
				}
				if d.String() != res.Vendors.Report().Fecha {
					t.Errorf("fecha %s", res.Vendors.Report().Fecha)
				}
				if diff := cmp.Diff(want, res.Vendors.Report().Vendedores); diff != "" {
					t.Errorf("vendors (-want, +got):\n%s", diff)
				}
				if len(want) > 0 {
					if err := res.Vendors.Report().Validate(); err != nil {
						t.Error(err)
					}
				}
				for v, s := range res.Summary.Ventas {
					if got := res.Vendors.Report().Vendedores[v].Sales(); got != s {
						t.Errorf("%s: %+v in the vendor report, %+v in the summary", v, got, s)
					}
				}
			})
		}
	}
}
