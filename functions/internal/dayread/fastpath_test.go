package dayread

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
)

// orderRecord is the record newOrder writes for o accepted at ts, as read
// back from the topic.
func orderRecord(t testing.TB, o events.Order, ts time.Time, offset int64) *sarama.ConsumerMessage {
	t.Helper()
	e, err := events.NewOrderEvent(o, ts)
	if err != nil {
		t.Fatal(err)
	}
	var pm sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&e), &pm); err != nil {
		t.Fatal(err)
	}
	m := &sarama.ConsumerMessage{Topic: "order", Partition: 0, Offset: offset, Timestamp: ts}
	m.Key, _ = pm.Key.Encode()
	m.Value, _ = pm.Value.Encode()
	for _, h := range pm.Headers {
		m.Headers = append(m.Headers, &sarama.RecordHeader{Key: bytes.Clone(h.Key), Value: bytes.Clone(h.Value)})
	}
	return m
}

func header(m *sarama.ConsumerMessage, key string) *sarama.RecordHeader {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return h
		}
	}
	return nil
}

// TestFastPathMatchesBinding checks that reading records through the fast
// path gives exactly what the CloudEvents binding and events.OrderFromEvent
// give: same counts, same skipped records, same conflicts.
func TestFastPathMatchesBinding(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	ts := start.Add(time.Hour)
	base := events.Order{OrderID: 3, EmailVendedor: seedVendor, EmailCocinero: seedCook, NumeroSopaipillas: 15}
	tests := []struct {
		name   string                          // what is unusual about the second record
		fast   bool                            // whether the fast path takes the second record
		mutate func(m *sarama.ConsumerMessage) // applied to a copy of the order's record
	}{
		{name: "a retry, byte for byte", fast: true, mutate: func(*sarama.ConsumerMessage) {}},
		{name: "another body", fast: true, mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`:15,`), []byte(`:16,`), 1)
		}},
		{name: "headers in another order", fast: true, mutate: func(m *sarama.ConsumerMessage) { slices.Reverse(m.Headers) }},
		{name: "header in upper case", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_type").Key = []byte("CE_TYPE") }},
		{name: "header twice", mutate: func(m *sarama.ConsumerMessage) {
			m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte("ce_type"), Value: []byte("other")})
		}},
		{name: "another type", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_type").Value = []byte("other") }},
		{name: "type with spaces", mutate: func(m *sarama.ConsumerMessage) {
			header(m, "ce_type").Value = []byte(" " + events.TypeOrderCreated + " ")
		}},
		{name: "bad time", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_time").Value = []byte("2021-02-30T10:00:00Z") }},
		{name: "time with offset", mutate: func(m *sarama.ConsumerMessage) {
			header(m, "ce_time").Value = []byte("2021-11-13T10:00:00-03:00")
		}},
		{name: "empty id", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_id").Value = nil }},
		{name: "id with spaces", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_id").Value = []byte(" order-3 ") }},
		{name: "no specversion", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_specversion").Key = []byte("x") }},
		{name: "structured mode", mutate: func(m *sarama.ConsumerMessage) {
			header(m, "content-type").Value = []byte("application/cloudevents+json")
		}},
		{name: "extra field", mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`{`), []byte(`{"a":1,`), 1)
		}},
		{name: "escaped address", mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`vendor_`), []byte(`vendor\u005f`), 1)
		}},
		{name: "invalid address", fast: true, mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`@yopmail.com","email_vendedor`), []byte(`","email_vendedor`), 1)
		}},
		{name: "leading zero", mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`:15,`), []byte(`:015,`), 1)
		}},
		{name: "too many sopaipillas", mutate: func(m *sarama.ConsumerMessage) {
			m.Value = bytes.Replace(m.Value, []byte(`:15,`), []byte(`:1001,`), 1)
		}},
		{name: "trailing data", mutate: func(m *sarama.ConsumerMessage) { m.Value = append(m.Value, ' ') }},
		{name: "not JSON", mutate: func(m *sarama.ConsumerMessage) { m.Value = []byte("nope") }},
		{name: "no headers", mutate: func(m *sarama.ConsumerMessage) { m.Headers = nil }},
		{name: "no id header", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_id").Key = []byte("x_id") }},
		{name: "no source header", mutate: func(m *sarama.ConsumerMessage) { header(m, "ce_source").Key = []byte("x_source") }},
		{name: "trace context", fast: true, mutate: func(m *sarama.ConsumerMessage) {
			m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte("ce_traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
				&sarama.RecordHeader{Key: []byte("ce_tracestate"), Value: []byte("congo=t61rcWkgMzE")})
		}},
		{name: "traceparent twice", mutate: func(m *sarama.ConsumerMessage) {
			tp := &sarama.RecordHeader{Key: []byte("ce_traceparent"), Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}
			m.Headers = append(m.Headers, tp, tp)
		}},
		{name: "traceparent instead of the id", mutate: func(m *sarama.ConsumerMessage) {
			h := header(m, "ce_id")
			h.Key, h.Value = []byte("ce_traceparent"), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := orderRecord(t, base, ts, 0)
			second := orderRecord(t, base, ts.Add(time.Second), 1)
			tc.mutate(second)
			// alone: the unusual record as the first version of the order.
			for _, msgs := range [][]*sarama.ConsumerMessage{{first, second}, {second}} {
				slow, fast := newPartitionTally(0, start, end, Expect{}), newPartitionTally(0, start, end, Expect{})
				for _, m := range msgs {
					slow.add(slowRecordOf(context.Background(), kgoRecord(m)))
					fr := recordOf(context.Background(), kgoRecord(m))
					if m == second && fr.fast.ok != tc.fast {
						t.Errorf("fast path taken = %v, want %v", fr.fast.ok, tc.fast)
					}
					fast.add(fr)
				}
				want, got := mustMerge(t, day, slow), mustMerge(t, day, fast)
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("fast path differs from the binding (-want, +got):\n%s", d)
				}
			}
		})
	}
}

// TestMergeKeepsEarliestAcrossPartitions checks the merge of an order found
// in two partitions (a repartitioned topic): the version of the earliest
// day counts, the lowest partition's among versions of the same day.
func TestMergeKeepsEarliestAcrossPartitions(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	o := func(id, n int64, vendor string) events.Order {
		return events.Order{OrderID: id, EmailVendedor: vendor, EmailCocinero: seedCook, NumeroSopaipillas: n}
	}
	var records []Record
	put := func(partition int32, msgs ...*sarama.ConsumerMessage) {
		for _, m := range msgs {
			m.Partition = partition
			records = append(records, recordOf(context.Background(), kgoRecord(m)))
		}
	}
	put(0,
		orderRecord(t, o(1, 10, "a@x.cl"), start.Add(2*time.Hour), 0),
		orderRecord(t, o(2, 20, "a@x.cl"), start.Add(time.Hour), 1),
		orderRecord(t, o(4, 40, "a@x.cl"), start.Add(time.Hour), 2),
		orderRecord(t, o(5, 50, "a@x.cl"), start.Add(time.Hour), 3),
	)
	put(1,
		orderRecord(t, o(1, 11, "b@x.cl"), start.Add(time.Hour), 0),    // same day: partition 0's counts
		orderRecord(t, o(2, 21, "b@x.cl"), start.Add(-time.Minute), 1), // before the day: the order is not today's
		orderRecord(t, o(3, 30, "b@x.cl"), start.Add(time.Hour), 2),    // only here
		orderRecord(t, o(4, 41, "b@x.cl"), start.Add(time.Hour), 3),    // as early: partition 0's counts
		orderRecord(t, o(5, 51, "b@x.cl"), end.Add(time.Hour), 4),      // after the day: partition 0's counts
	)
	res, err := New(memLog(records), loc).Summarize(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]events.Sales{
		"a@x.cl": {NOrdenes: 3, NSopaipillas: 100},
		"b@x.cl": {NOrdenes: 1, NSopaipillas: 30},
	}
	if d := cmp.Diff(want, res.Summary.Ventas); d != "" {
		t.Errorf("merged ventas (-want, +got):\n%s", d)
	}
	wantCooks := map[string]events.CookSales{seedCook: {NOrdenes: 4, NSopaipillas: 130, Vendedores: want}}
	if d := cmp.Diff(wantCooks, res.Cooks.Cocineros); d != "" {
		t.Errorf("merged cook report (-want, +got):\n%s", d)
	}
}

// TestOrderWithoutRequiredAttributesIsSkipped: a record with the order type
// and valid order data but no ce_id or ce_source is not a CloudEvent, so it
// is skipped and reported, never counted (found by make test-faults).
func TestOrderWithoutRequiredAttributesIsSkipped(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	base := events.Order{OrderID: 3, EmailVendedor: seedVendor, EmailCocinero: seedCook, NumeroSopaipillas: 15}
	for _, drop := range []string{"ce_id", "ce_source"} {
		t.Run(drop, func(t *testing.T) {
			m := orderRecord(t, base, start.Add(time.Hour), 0)
			var kept []*sarama.RecordHeader
			for _, h := range m.Headers {
				if string(h.Key) != drop {
					kept = append(kept, h)
				}
			}
			m.Headers = kept
			tally := newPartitionTally(0, start, end, Expect{})
			tally.add(recordOf(context.Background(), kgoRecord(m)))
			got := mustMerge(t, day, tally)
			if len(got.Summary.Ventas) != 0 || got.SkippedRecords != 1 {
				t.Errorf("ventas %v, skipped %d; want none counted and 1 skipped", got.Summary.Ventas, got.SkippedRecords)
			}
		})
	}
}

func mustMerge(t *testing.T, day events.Date, parts ...*partitionTally) Result {
	t.Helper()
	res, shared := merge(day, parts)
	if shared != nil {
		t.Fatalf("merge: orders in several partitions: %v", shared.ids)
	}
	return res
}

// TestLegacyRecordsAndVendorIdentity: plain-JSON orders and structured-mode
// CloudEvents count whatever their content-type; letter case never splits a
// vendor; everything else is skipped with its reason (README, "Which day an
// order counts in").
func TestLegacyRecordsAndVendorIdentity(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	structured := func(typ, data string) string {
		return `{"specversion":"1.0","id":"legacy-1","source":"/legacy","type":"` + typ + `","datacontenttype":"application/json","data":` + data + `}`
	}
	order := func(id int, vendor string, n int) string {
		return fmt.Sprintf(`{"order_id": %d, "email_vendedor": %q, "email_cocinero": "c@x.cl", "numero_sopaipillas": %d}`, id, vendor, n)
	}
	tests := []struct {
		name        string // the record
		contentType string // its content-type header, if any
		value       string
		wantVendor  string // the vendor counted, or ""
		wantReason  string // the skip reason, or ""
	}{
		{name: "plain JSON order, no headers", value: order(1, "Pedro@EXAMPLE.com", 10), wantVendor: "pedro@example.com"},
		{name: "plain JSON order, application/json", contentType: "application/json", value: order(2, "pedro@example.com", 5), wantVendor: "pedro@example.com"},
		{name: "structured, application/json", contentType: "application/json", value: structured(events.TypeOrderCreated, order(3, "PEDRO@example.com", 1)), wantVendor: "pedro@example.com"},
		{name: "structured, application/cloudevents+json", contentType: "application/cloudevents+json", value: structured(events.TypeOrderCreated, order(4, "ana@x.cl", 2)), wantVendor: "ana@x.cl"},
		{name: "structured, no content-type", value: structured(events.TypeOrderCreated, order(5, "ana@x.cl", 3)), wantVendor: "ana@x.cl"},
		{name: "structured, other type", contentType: "application/json", value: structured("com.example.other", order(6, "ana@x.cl", 3)), wantReason: SkipOtherEventType},
		{name: "structured, no id", value: `{"specversion":"1.0","source":"/x","type":"` + events.TypeOrderCreated + `","data":` + order(7, "ana@x.cl", 3) + `}`, wantReason: SkipInvalidCloudEvent},
		{name: "structured, invalid order", value: structured(events.TypeOrderCreated, order(8, "ana@x.cl", 0)), wantReason: SkipInvalidOrder},
		{name: "plain JSON, invalid order", value: order(9, "not an address", 3), wantReason: SkipInvalidOrder},
		{name: "not JSON", value: "not a cloudevent", wantReason: SkipNotAnOrder},
		{name: "binary CloudEvent without id", contentType: "application/json", value: order(10, "ana@x.cl", 3), wantReason: SkipInvalidCloudEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &sarama.ConsumerMessage{Value: []byte(tt.value), Timestamp: start.Add(time.Hour)}
			if tt.contentType != "" {
				m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte("content-type"), Value: []byte(tt.contentType)})
			}
			if strings.HasPrefix(tt.name, "binary") {
				m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte("ce_specversion"), Value: []byte("1.0")},
					&sarama.RecordHeader{Key: []byte("ce_type"), Value: []byte(events.TypeOrderCreated)})
			}
			tally := newPartitionTally(0, start, end, Expect{})
			tally.add(recordOf(context.Background(), kgoRecord(m)))
			got := mustMerge(t, day, tally)
			var vendors []string
			for v := range got.Summary.Ventas {
				vendors = append(vendors, v)
			}
			var wantVendors []string
			if tt.wantVendor != "" {
				wantVendors = []string{tt.wantVendor}
			}
			wantReasons := map[string]int{}
			if tt.wantReason != "" {
				wantReasons[tt.wantReason] = 1
			}
			if d := cmp.Diff(wantVendors, vendors); d != "" {
				t.Errorf("vendors counted (-want, +got):\n%s", d)
			}
			if d := cmp.Diff(wantReasons, got.SkippedByReason); d != "" {
				t.Errorf("skipped by reason (-want, +got):\n%s", d)
			}
		})
	}
	t.Run("letter case variants are one vendor", func(t *testing.T) {
		tally := newPartitionTally(0, start, end, Expect{})
		for i, v := range []string{"pedro@EXAMPLE.com", "pedro@example.com", "Pedro@Example.Com"} {
			tally.add(recordOf(context.Background(), kgoRecord(&sarama.ConsumerMessage{Offset: int64(i), Value: []byte(order(20+i, v, 5*(i+1))), Timestamp: start.Add(time.Hour)})))
		}
		want := map[string]events.Sales{"pedro@example.com": {NOrdenes: 3, NSopaipillas: 30}}
		if d := cmp.Diff(want, mustMerge(t, day, tally).Summary.Ventas); d != "" {
			t.Errorf("ventas (-want, +got):\n%s", d)
		}
	})
}

// TestConflictsAcrossPartitions: every version of a counted order with
// another body is listed in the counted order's day, wherever it is, with
// the version that counted and why (issue 23, point 6): 10 sopaipillas on
// partition 5, then 20 on partition 1, counts 20 and lists the 10.
func TestConflictsAcrossPartitions(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, _ := day.Bounds(loc)
	o := func(id, n int64) events.Order {
		return events.Order{OrderID: id, EmailVendedor: seedVendor, EmailCocinero: seedCook, NumeroSopaipillas: n}
	}
	var records []Record
	put := func(partition int32, m *sarama.ConsumerMessage) {
		m.Partition = partition
		records = append(records, recordOf(context.Background(), kgoRecord(m)))
	}
	put(5, orderRecord(t, o(7, 10), start.Add(time.Hour), 0))
	put(1, orderRecord(t, o(7, 20), start.Add(2*time.Hour), 0))
	put(1, orderRecord(t, o(7, 20), start.Add(3*time.Hour), 1)) // a retry of the counted version
	put(5, orderRecord(t, o(7, 30), start.Add(3*time.Hour), 1))
	put(2, orderRecord(t, o(8, 5), start.Add(time.Hour), 0))
	put(2, orderRecord(t, o(8, 6), start.Add(2*time.Hour), 1))   // the same pair in one partition
	put(0, orderRecord(t, o(9, 4), start.Add(-time.Hour), 0))    // the day before
	put(3, orderRecord(t, o(9, 3), start.Add(time.Hour), 0))     // ... so this one is not of the day
	put(4, orderRecord(t, o(10, 1), start.Add(time.Hour), 0))    // counted
	put(0, orderRecord(t, o(10, 2), start.Add(25*time.Hour), 1)) // a later day's version elsewhere
	at := func(o int64) *int64 { return &o }
	// What counted is known: read again across partitions, or (order 8,
	// in one partition) listed among the vendor's orders.
	counted := func(p int32, offset *int64, n int64) CountedVersion {
		return CountedVersion{Partition: p, Offset: offset, EmailVendedor: seedVendor, NumeroSopaipillas: n}
	}
	tests := []struct {
		day       events.Date
		ventas    events.Sales
		conflicts []Conflict
	}{
		{day, events.Sales{NOrdenes: 3, NSopaipillas: 20 + 5 + 1}, []Conflict{
			{OrderID: 10, EventID: "order-10", Partition: 0, Offset: 1, EmailVendedor: seedVendor, NumeroSopaipillas: 2, Counted: counted(4, at(0), 1), Reason: ReasonEarlierDay},
			{OrderID: 7, EventID: "order-7", Partition: 5, Offset: 0, EmailVendedor: seedVendor, NumeroSopaipillas: 10, Counted: counted(1, at(0), 20), Reason: ReasonLowerPartition},
			{OrderID: 8, EventID: "order-8", Partition: 2, Offset: 1, EmailVendedor: seedVendor, NumeroSopaipillas: 6, Counted: counted(2, nil, 5), Reason: ReasonLaterInPartition},
			{OrderID: 7, EventID: "order-7", Partition: 5, Offset: 1, EmailVendedor: seedVendor, NumeroSopaipillas: 30, Counted: counted(1, at(0), 20), Reason: ReasonLowerPartition},
		}},
		{day.AddDays(-1), events.Sales{NOrdenes: 1, NSopaipillas: 4}, []Conflict{
			{OrderID: 9, EventID: "order-9", Partition: 3, Offset: 0, EmailVendedor: seedVendor, NumeroSopaipillas: 3, Counted: counted(0, at(0), 4), Reason: ReasonEarlierDay},
		}},
		{day.AddDays(1), events.Sales{}, []Conflict{}},
	}
	for _, tt := range tests {
		t.Run(tt.day.String(), func(t *testing.T) {
			res, err := New(memLog(records), loc).Summarize(context.Background(), tt.day)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.ventas, res.Summary.Ventas[seedVendor]); d != "" {
				t.Errorf("ventas (-want, +got):\n%s", d)
			}
			sort.Slice(tt.conflicts, func(i, j int) bool {
				a, b := tt.conflicts[i], tt.conflicts[j]
				return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
			})
			if d := cmp.Diff(tt.conflicts, res.Conflicts); d != "" {
				t.Errorf("conflicts (-want, +got):\n%s", d)
			}
			if res.ConflictsTotal != len(tt.conflicts) {
				t.Errorf("conflicts_total %d, want %d", res.ConflictsTotal, len(tt.conflicts))
			}
		})
	}
}

// TestTimeCheckMatchesTimeParse: isRFC3339UTC accepts a "…Z" time exactly
// when time.Parse(time.RFC3339Nano) does (the binding's parse), across
// month ends, leap years and out-of-range fields.
func TestTimeCheckMatchesTimeParse(t *testing.T) {
	for _, year := range []int{1900, 1996, 2000, 2023, 2024, 2100, 2400} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				for _, clock := range []string{"00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60"} {
					for _, frac := range []string{"", ".5", ".123456789"} {
						s := fmt.Sprintf("%04d-%02d-%02dT%s%sZ", year, month, day, clock, frac)
						_, err := time.Parse(time.RFC3339Nano, s)
						if got := isRFC3339UTC([]byte(s)); got != (err == nil) {
							t.Errorf("isRFC3339UTC(%q) = %v, time.Parse error %v", s, got, err)
						}
					}
				}
			}
		}
	}
}

// TestTimeCheckMutations: mutated times (a byte replaced, removed or
// added) against time.Parse and the shape the check claims: whatever it
// accepts, time.Parse accepts; whatever time.Parse accepts of that shape
// (UTC, "Z", 0 to 9 fraction digits), it accepts.
func TestTimeCheckMutations(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$`)
	rng := rand.New(rand.NewPCG(22, 6))
	alphabet := []byte("0123456789-:.TZz+ /a\x00\xff")
	for range 200_000 {
		b := []byte(time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC().Format(time.RFC3339Nano))
		for range 1 + rng.IntN(2) {
			i := rng.IntN(len(b) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				if i < len(b) {
					b[i] = c
				}
			case 1:
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			default:
				b = append(b[:i], append([]byte{c}, b[i:]...)...)
			}
		}
		_, err := time.Parse(time.RFC3339Nano, string(b))
		got := isRFC3339UTC(b)
		if got && err != nil || err == nil && shape.Match(b) && !got {
			t.Fatalf("isRFC3339UTC(%q) = %v, time.Parse error %v", b, got, err)
		}
	}
}

// TestPlainStringBytes: a one-byte address is plain exactly when
// it is printable ASCII that json.Marshal leaves as it is, not upper case.
func TestPlainStringBytes(t *testing.T) {
	for c := range 256 {
		in := []byte{byte(c), '"', 'x'}
		b, _ := json.Marshal(string(rune(c)))
		want := c < 0x80 && unicode.IsPrint(rune(c)) && string(b) == `"`+string(rune(c))+`"` && !unicode.IsUpper(rune(c)) && c != '"'
		s, rest, ok := plainString(in)
		if ok != want || ok && (string(s) != string(rune(c)) || string(rest) != "x") {
			t.Errorf("plainString(%q) = %q, %q, %v; want plain %v", in, s, rest, ok, want)
		}
	}
	if _, _, ok := plainString([]byte(`"`)); ok {
		t.Error("an empty string is plain")
	}
	if _, _, ok := plainString([]byte(`abc`)); ok {
		t.Error("a string without its closing quote is plain")
	}
}
