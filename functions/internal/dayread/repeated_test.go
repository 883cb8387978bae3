package dayread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sopaipillas/sopaipillas/events"
)

// TestRepeatedHeadersAreNotOneCloudEvent: an order record with a header the
// CloudEvents binding reads given twice (any such header, in either order,
// any letter case, the same value or another) is skipped as
// invalid_cloudevent and counted by reason; a repeated header the binding
// does not read changes nothing. Records come from a seeded generator.
func TestRepeatedHeadersAreNotOneCloudEvent(t *testing.T) {
	loc := santiago(t)
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	start, end := day.Bounds(loc)
	ts := start.Add(time.Hour)
	base := events.Order{OrderID: 3, EmailVendedor: seedVendor, EmailCocinero: seedCook, NumeroSopaipillas: 15}
	// Values a second copy may carry: the same, another valid one, one
	// the fast path alone would refuse.
	others := map[string][]string{
		"content-type":    {"application/json", "text/plain", "application/cloudevents+json"},
		"ce_specversion":  {"1.0", "0.3"},
		"ce_id":           {"order-3", "other-id"},
		"ce_source":       {events.SourceNewOrder, "/elsewhere"},
		"ce_type":         {events.TypeOrderCreated, "other.type"},
		"ce_time":         {"2021-11-13T10:00:00Z", "2021-11-14T10:00:00Z"},
		"ce_subject":      {"3", "4"},
		"ce_partitionkey": {"3", "4"},
		"ce_traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"ce_somextension": {"a", "b"},
	}
	names := make([]string, 0, len(others))
	for k := range others {
		names = append(names, k)
	}
	rng := rand.New(rand.NewPCG(23, 5))
	for i := range 400 {
		m := kgoRecord(orderRecord(t, base, ts, 0))
		name := names[rng.IntN(len(names))]
		value := others[name][rng.IntN(len(others[name]))]
		if rng.IntN(2) == 0 {
			name = strings.ToUpper(name[:1]) + name[1:] // the binding reads names in any case
		}
		binding := true
		switch rng.IntN(5) {
		case 0: // a header no binding reads, repeated
			name, binding = []string{"traceparent", "x-request-id", "ce-type", "cetype"}[rng.IntN(4)], false
		}
		// Present once already unless it is an extension newOrder does
		// not write: then it is added twice.
		have := false
		for _, h := range m.Headers {
			have = have || strings.EqualFold(h.Key, name)
		}
		copies := 1
		if !have {
			copies = 2
		}
		for range copies {
			at := rng.IntN(len(m.Headers) + 1)
			m.Headers = append(m.Headers[:at], append([]kgo.RecordHeader{{Key: name, Value: []byte(value)}}, m.Headers[at:]...)...)
		}
		tally := newPartitionTally(0, start, end, Expect{})
		tally.add(recordOf(context.Background(), m))
		got := mustMerge(t, day, tally)
		want := map[string]int{SkipInvalidCloudEvent: 1}
		if !binding {
			want = map[string]int{}
		}
		if d := cmp.Diff(want, got.SkippedByReason); d != "" {
			t.Fatalf("case %d, %s=%q repeated in %s: skipped by reason (-want, +got):\n%s", i, name, value, headerKeys(m), d)
		}
		if counted := len(got.Summary.Ventas) == 1; counted == binding {
			t.Fatalf("case %d, %s=%q repeated: counted = %v", i, name, value, counted)
		}
	}
}

func headerKeys(m *kgo.Record) string {
	var ks []string
	for _, h := range m.Headers {
		ks = append(ks, fmt.Sprintf("%s=%s", h.Key, h.Value))
	}
	return strings.Join(ks, ",")
}
