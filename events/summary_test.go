package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
)

// seedSummary is the seed's summary JSON, as the contract publishes it.
const seedSummary = `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"13/11/2021"}`

func seedSummaryValue() Summary {
	return Summary{Ventas: map[string]Sales{"vendor_tarea2@yopmail.com": {NSopaipillas: 101, NOrdenes: 1}}, Fecha: "13/11/2021"}
}

func TestSummaryJSON(t *testing.T) {
	day := Date{2021, 11, 13}
	tests := []struct {
		name string  // what the case shows
		in   Summary // the summary
		want string  // its JSON, byte for byte
	}{
		{name: "seed", in: seedSummaryValue(), want: seedSummary},
		{name: "empty day", in: NewSummary(day), want: `{"ventas":{},"fecha":"13/11/2021"}`},
		{
			name: "vendors sorted",
			in: func() Summary {
				s := NewSummary(day)
				s.Add("zz@b.cl", Sales{NSopaipillas: 3, NOrdenes: 1})
				s.Add("aa@b.cl", Sales{NSopaipillas: 4, NOrdenes: 1})
				s.Add("zz@b.cl", Sales{NSopaipillas: 5, NOrdenes: 1})
				return s
			}(),
			want: `{"ventas":{"aa@b.cl":{"n_sopaipillas":4,"n_ordenes":1},"zz@b.cl":{"n_sopaipillas":8,"n_ordenes":2}},"fecha":"13/11/2021"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("summary JSON (-want, +got):\n%s", diff)
			}
		})
	}
}

func TestSummaryEventID(t *testing.T) {
	id := func(s Summary) string {
		t.Helper()
		got, err := SummaryEventID(s)
		if err != nil {
			t.Fatalf("SummaryEventID(%+v): %v", s, err)
		}
		return got
	}
	seed := id(seedSummaryValue())
	if !strings.HasPrefix(seed, "summary-2021-11-13-") || len(seed) != len("summary-2021-11-13-")+16 {
		t.Errorf("id %q: want summary-2021-11-13- and 16 hex digits", seed)
	}
	if again := id(seedSummaryValue()); again != seed {
		t.Errorf("same summary, ids %q and %q", seed, again)
	}

	changed := []struct {
		name string  // what differs from the seed summary
		s    Summary // the changed summary
	}{
		{name: "one more sopaipilla", s: Summary{Ventas: map[string]Sales{"vendor_tarea2@yopmail.com": {NSopaipillas: 102, NOrdenes: 1}}, Fecha: "13/11/2021"}},
		{name: "one more order", s: Summary{Ventas: map[string]Sales{"vendor_tarea2@yopmail.com": {NSopaipillas: 101, NOrdenes: 2}}, Fecha: "13/11/2021"}},
		{name: "other vendor", s: Summary{Ventas: map[string]Sales{"otro@yopmail.com": {NSopaipillas: 101, NOrdenes: 1}}, Fecha: "13/11/2021"}},
		{name: "other day", s: Summary{Ventas: map[string]Sales{"vendor_tarea2@yopmail.com": {NSopaipillas: 101, NOrdenes: 1}}, Fecha: "14/11/2021"}},
		{name: "no sales", s: NewSummary(Date{2021, 11, 13})},
	}
	seen := map[string]string{seed: "seed"}
	for _, c := range changed {
		got := id(c.s)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: id %q is also the id of %s", c.name, got, prev)
		}
		seen[got] = c.name
	}

	if got, err := SummaryEventID(Summary{Ventas: map[string]Sales{}, Fecha: "31/02/2025"}); err == nil {
		t.Errorf("SummaryEventID of 31/02/2025 = %q, want an error", got)
	}
}

func TestNewSummaryEvent(t *testing.T) {
	e, err := NewSummaryEvent(seedSummaryValue(), testFinal)
	if err != nil {
		t.Fatalf("NewSummaryEvent: %v", err)
	}
	wantID, _ := SummaryEventID(seedSummaryValue())
	pk, _ := e.Extensions()[PartitionKeyExtension].(string)
	got := []string{e.ID(), e.Type(), e.Source(), e.Subject(), e.DataContentType(), pk, string(e.Data())}
	want := []string{wantID, TypeSummaryCreated, SourceDailySummary, "13/11/2021", "application/json", "13/11/2021", seedSummary}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary event [id type source subject datacontenttype partitionkey data] (-want, +got):\n%s", diff)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("summary event is not a valid CloudEvent: %v", err)
	}
	back, err := SummaryFromEvent(e)
	if err != nil {
		t.Fatalf("SummaryFromEvent: %v", err)
	}
	if diff := cmp.Diff(seedSummaryValue(), back); diff != "" {
		t.Errorf("SummaryFromEvent (-want, +got):\n%s", diff)
	}

	for name, s := range map[string]Summary{
		"no ventas":         {Fecha: "13/11/2021"},
		"bad fecha":         {Ventas: map[string]Sales{}, Fecha: "2021-11-13"},
		"vendor not email":  {Ventas: map[string]Sales{"vendor": {1, 1}}, Fecha: "13/11/2021"},
		"vendor zero sales": {Ventas: map[string]Sales{"a@b.cl": {0, 0}}, Fecha: "13/11/2021"},
	} {
		if _, err := NewSummaryEvent(s, testFinal); err == nil {
			t.Errorf("NewSummaryEvent(%s) succeeded", name)
		}
	}
}

func TestSummaryFromEventRefuses(t *testing.T) {
	tests := []struct {
		name  string // what the case shows
		typ   string // event type
		data  string // event data
		field string // the field named
	}{
		{name: "wrong type", typ: TypeOrderCreated, data: seedSummary, field: "type"},
		{name: "no data", typ: TypeSummaryCreated, data: ``, field: ""},
		{name: "not JSON", typ: TypeSummaryCreated, data: `ventas`, field: ""},
		{name: "array", typ: TypeSummaryCreated, data: `[` + seedSummary + `]`, field: ""},
		{name: "duplicate fecha", typ: TypeSummaryCreated, data: `{"ventas":{},"fecha":"13/11/2021","fecha":"14/11/2021"}`, field: "fecha"},
		{name: "ventas missing", typ: TypeSummaryCreated, data: `{"fecha":"13/11/2021"}`, field: "ventas"},
		{name: "ventas null", typ: TypeSummaryCreated, data: `{"ventas":null,"fecha":"13/11/2021"}`, field: "ventas"},
		{name: "ventas array", typ: TypeSummaryCreated, data: `{"ventas":[],"fecha":"13/11/2021"}`, field: "ventas"},
		{name: "fecha missing", typ: TypeSummaryCreated, data: `{"ventas":{}}`, field: "fecha"},
		{name: "fecha not a day", typ: TypeSummaryCreated, data: `{"ventas":{},"fecha":"31/02/2025"}`, field: "fecha"},
		{name: "fecha number", typ: TypeSummaryCreated, data: `{"ventas":{},"fecha":13112021}`, field: "fecha"},
		{name: "extra field", typ: TypeSummaryCreated, data: `{"ventas":{},"fecha":"13/11/2021","total":1}`, field: "total"},
		{name: "vendor not an address", typ: TypeSummaryCreated, data: `{"ventas":{"Ana <a@b.cl>":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`, field: "ventas[Ana <a@b.cl>]"},
		{name: "vendor with CRLF", typ: TypeSummaryCreated, data: `{"ventas":{"a@b.cl\r\nBcc: x@y.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`, field: "ventas[a@b.cl\r\nBcc: x@y.cl]"},
		{name: "zero orders", typ: TypeSummaryCreated, data: `{"ventas":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":0}},"fecha":"13/11/2021"}`, field: "ventas[a@b.cl]"},
		{name: "fewer sopaipillas than orders", typ: TypeSummaryCreated, data: `{"ventas":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":2}},"fecha":"13/11/2021"}`, field: "ventas[a@b.cl]"},
		{name: "negative", typ: TypeSummaryCreated, data: `{"ventas":{"a@b.cl":{"n_sopaipillas":-1,"n_ordenes":-1}},"fecha":"13/11/2021"}`, field: "ventas[a@b.cl]"},
		{name: "fractional", typ: TypeSummaryCreated, data: `{"ventas":{"a@b.cl":{"n_sopaipillas":1.5,"n_ordenes":1}},"fecha":"13/11/2021"}`, field: "ventas[a@b.cl].n_sopaipillas"},
		// Names match exactly: encoding/json would take these for n_sopaipillas.
		{name: "upper-case duplicate of a count", typ: TypeSummaryCreated, data: `{"ventas":{"v@example.com":{"n_sopaipillas":3,"n_ordenes":1,"N_SOPAIPILLAS":999}},"fecha":"13/11/2021"}`, field: "ventas[v@example.com].N_SOPAIPILLAS"},
		{name: "counts in another case", typ: TypeSummaryCreated, data: `{"ventas":{"v@example.com":{"N_Sopaipillas":3,"N_Ordenes":1}},"fecha":"13/11/2021"}`, field: "ventas[v@example.com].N_Sopaipillas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := cloudevents.NewEvent()
			e.SetID("x")
			e.SetSource(SourceDailySummary)
			e.SetType(tt.typ)
			if tt.data != "" {
				e.SetDataContentType(cloudevents.ApplicationJSON)
				e.DataEncoded = []byte(tt.data)
			}
			s, err := SummaryFromEvent(e)
			if err == nil {
				t.Fatalf("SummaryFromEvent accepted %+v", s)
			}
			fields := Fields(err)
			if len(fields) == 0 {
				t.Fatalf("error %v names no field", err)
			}
			if fields[0].Field != tt.field {
				t.Errorf("field named %q, want %q (error %v)", fields[0].Field, tt.field, err)
			}
		})
	}
}

// testFinal is the meta of a report of a closed day.
var testFinal = ReportMeta{Status: StatusFinal, CountedUntil: time.Date(2021, 11, 14, 3, 0, 0, 0, time.UTC), Computed: time.Date(2021, 11, 14, 4, 5, 0, 0, time.UTC)}
