package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The oracle is a deliberately simple second reader of the order topic. It
// shares no code with dailySummary: it reads with franz-go (not sarama), the
// whole topic from its start offsets to its end offsets with read_committed,
// decodes JSON on its own and applies the day rules of the issue:
//
//  1. only committed data records count;
//  2. an order is a binary CloudEvent, a structured CloudEvent (whatever the
//     content-type) or a legacy plain-JSON order, of a valid order;
//  3. the vendor is the whole address lower-cased;
//  4. within a partition the first record of an order_id by offset is its
//     version there, in the day of that record's timestamp;
//  5. across partitions the earliest day wins, then the lowest partition;
//  6. a day's summary counts the orders of that day; records stamped in it
//     that are not orders are skipped;
//  7. a record giving a header the CloudEvents Kafka binding reads
//     (content-type, ce_*) twice is not a CloudEvent;
//  8. every other record of a counted order whose body (order_id, vendor
//     and cook lower-cased, count) differs from the counted version's is a
//     conflict of the counted version's day, wherever it is, with the
//     version that counted and why.

// oracleTypeOrder is the CloudEvent type of an order, spelled out here
// rather than taken from the events package.
const oracleTypeOrder = "cl.sopaipillas.order.created.v1"

// oracleRecord is one committed data record as the oracle read it.
type oracleRecord struct {
	Partition int32
	Offset    int64
	At        time.Time
	Headers   []kgo.RecordHeader
	Value     []byte
}

// oracleSales is a vendor's numbers for a day, as dailySummary answers them.
type oracleSales struct {
	Sopaipillas int `json:"n_sopaipillas"`
	Ordenes     int `json:"n_ordenes"`
}

// oracleDay is what the oracle expects a day's summary to say.
type oracleDay struct {
	Ventas    map[string]oracleSales
	Skipped   int
	Reasons   map[string]int
	Conflicts []oracleConflict
}

// oracleConflict is a conflict as dailySummary lists it.
type oracleConflict struct {
	OrderID   int64  `json:"order_id"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Vendor    string `json:"email_vendedor"`
	Count     int    `json:"numero_sopaipillas"`
	Counted   struct {
		Partition int32  `json:"partition"`
		Offset    *int64 `json:"offset"`
		Vendor    string `json:"email_vendedor"`
		Count     int    `json:"numero_sopaipillas"`
	} `json:"counted"`
	Reason string `json:"reason"`
}

// oracleResult is the whole topic judged by the oracle: every day with
// records (keyed "2006-01-02" in Santiago) and the distinct order ids.
type oracleResult struct {
	Days     map[string]*oracleDay
	OrderIDs map[int64]bool
}

func (r oracleResult) day(key string) oracleDay {
	if d, ok := r.Days[key]; ok {
		return *d
	}
	return oracleDay{Ventas: map[string]oracleSales{}}
}

// oracleRead reads every committed data record of topic.
func oracleRead(ctx context.Context, brokers []string, topic string) ([]oracleRecord, error) {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("oracle: start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("oracle: end offsets: %w", err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > start.Offset {
			from[o.Partition] = kgo.NewOffset().At(start.Offset)
			until[o.Partition] = o.Offset
		}
	})
	if len(until) == 0 {
		return nil, nil
	}
	// Control records are kept so that a commit marker at the end of a
	// partition is seen and the read knows it reached the end; they are
	// dropped below. Aborted data records are never returned.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []oracleRecord
	for len(until) > 0 {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			return nil, fmt.Errorf("oracle: fetching %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := until[r.Partition]; ok && r.Offset+1 >= end {
				delete(until, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, oracleRecord{Partition: r.Partition, Offset: r.Offset, At: r.Timestamp, Headers: r.Headers, Value: r.Value})
			}
		})
	}
	return out, nil
}

// oracleOrder is a valid order as the oracle decodes it.
type oracleOrder struct {
	ID     int64
	Vendor string
	Cook   string
	Count  int
}

// oracleJudge applies the day rules to the committed records.
func oracleJudge(recs []oracleRecord) oracleResult {
	recs = append([]oracleRecord(nil), recs...)
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Partition != recs[j].Partition {
			return recs[i].Partition < recs[j].Partition
		}
		return recs[i].Offset < recs[j].Offset
	})
	type version struct {
		day       string
		partition int32
		offset    int64
		order     oracleOrder
	}
	res := oracleResult{Days: map[string]*oracleDay{}, OrderIDs: map[int64]bool{}}
	dayOf := func(key string) *oracleDay {
		d, ok := res.Days[key]
		if !ok {
			d = &oracleDay{Ventas: map[string]oracleSales{}, Reasons: map[string]int{}}
			res.Days[key] = d
		}
		return d
	}
	seen := map[int32]map[int64]bool{}
	winner := map[int64]version{}
	all := map[int64][]version{}             // every valid record of an order
	firstIn := map[int64]map[int32]version{} // its first record in each partition
	for _, r := range recs {
		key := oracleDayKey(r.At)
		o, reason := oracleClassify(r)
		if reason != "" {
			d := dayOf(key)
			d.Skipped++
			d.Reasons[reason]++
			continue
		}
		res.OrderIDs[o.ID] = true
		all[o.ID] = append(all[o.ID], version{day: key, partition: r.Partition, offset: r.Offset, order: o})
		if seen[r.Partition] == nil {
			seen[r.Partition] = map[int64]bool{}
		}
		if seen[r.Partition][o.ID] {
			continue // a retry or another version: the first one stands
		}
		seen[r.Partition][o.ID] = true
		v := version{day: key, partition: r.Partition, offset: r.Offset, order: o}
		if firstIn[o.ID] == nil {
			firstIn[o.ID] = map[int32]version{}
		}
		firstIn[o.ID][r.Partition] = v
		if w, ok := winner[o.ID]; !ok || v.day < w.day || (v.day == w.day && v.partition < w.partition) {
			winner[o.ID] = v
		}
	}
	for _, v := range winner {
		d := dayOf(v.day)
		s := d.Ventas[v.order.Vendor]
		s.Ordenes++
		s.Sopaipillas += v.order.Count
		d.Ventas[v.order.Vendor] = s
		for _, o := range all[v.order.ID] {
			if o.partition == v.partition && o.offset == v.offset || o.order == v.order {
				continue
			}
			c := oracleConflict{OrderID: o.order.ID, Partition: o.partition, Offset: o.offset, Vendor: o.order.Vendor, Count: o.order.Count,
				Reason: "later_in_partition"}
			c.Counted.Partition = v.partition
			if len(firstIn[o.order.ID]) > 1 {
				// Read again across partitions: what counted is known. In
				// one partition the read keeps no body of the first record.
				c.Counted.Vendor, c.Counted.Count = v.order.Vendor, v.order.Count
			}
			if o.partition != v.partition {
				c.Counted.Offset = &v.offset
				c.Reason = "lower_partition"
				if firstIn[o.order.ID][o.partition].day > v.day {
					c.Reason = "earlier_day"
				}
			}
			d.Conflicts = append(d.Conflicts, c)
		}
	}
	for _, d := range res.Days {
		sort.Slice(d.Conflicts, func(i, j int) bool {
			a, b := d.Conflicts[i], d.Conflicts[j]
			return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
		})
	}
	return res
}

// oracleDayKey is the calendar day of t in Santiago, "2006-01-02", which
// sorts as the days do.
func oracleDayKey(t time.Time) string { return t.In(santiago).Format("2006-01-02") }

// oracleClassify returns the order a record carries, or why it is none.
func oracleClassify(r oracleRecord) (oracleOrder, string) {
	headers := map[string]string{}
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if _, twice := headers[k]; twice && (k == "content-type" || strings.HasPrefix(k, "ce_")) {
			return oracleOrder{}, "invalid_cloudevent"
		}
		headers[k] = string(h.Value)
	}
	if _, binary := headers["ce_specversion"]; binary {
		if headers["ce_specversion"] != "1.0" || headers["ce_id"] == "" || headers["ce_source"] == "" || headers["ce_type"] == "" {
			return oracleOrder{}, "invalid_cloudevent"
		}
		if headers["ce_type"] != oracleTypeOrder {
			return oracleOrder{}, "other_event_type"
		}
		if o, ok := oracleDecodeOrder(r.Value); ok {
			return o, ""
		}
		return oracleOrder{}, "invalid_order"
	}
	obj, ok := oracleObject(r.Value)
	if !ok {
		return oracleOrder{}, "not_an_order"
	}
	if _, structured := obj["specversion"]; !structured {
		if o, ok := oracleDecodeOrder(r.Value); ok {
			return o, ""
		}
		return oracleOrder{}, "invalid_order"
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(obj[k], &s) != nil {
			return ""
		}
		return s
	}
	if str("specversion") != "1.0" || str("id") == "" || str("source") == "" || str("type") == "" {
		return oracleOrder{}, "invalid_cloudevent"
	}
	if str("type") != oracleTypeOrder {
		return oracleOrder{}, "other_event_type"
	}
	if o, ok := oracleDecodeOrder(obj["data"]); ok {
		return o, ""
	}
	return oracleOrder{}, "invalid_order"
}

func oracleObject(b []byte) (map[string]json.RawMessage, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return nil, false
	}
	return obj, true
}

var (
	oracleEmail   = regexp.MustCompile(`^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
	oracleInteger = regexp.MustCompile(`^-?[0-9]+$`)
)

func oracleDecodeOrder(b []byte) (oracleOrder, bool) {
	obj, ok := oracleObject(b)
	if !ok {
		return oracleOrder{}, false
	}
	integer := func(k string, lo, hi int64) (int64, bool) {
		raw := string(obj[k])
		if !oracleInteger.MatchString(raw) {
			return 0, false
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		return n, err == nil && n >= lo && n <= hi
	}
	email := func(k string) (string, bool) {
		var s string
		if json.Unmarshal(obj[k], &s) != nil {
			return "", false
		}
		return s, oracleEmail.MatchString(s)
	}
	id, ok1 := integer("order_id", 1, 1<<53-1)
	n, ok2 := integer("numero_sopaipillas", 1, 1000)
	vendor, ok3 := email("email_vendedor")
	cook, ok4 := email("email_cocinero")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return oracleOrder{}, false
	}
	return oracleOrder{ID: id, Vendor: strings.ToLower(vendor), Cook: strings.ToLower(cook), Count: int(n)}, true
}
