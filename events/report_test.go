package events

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReportMeta: before the day ends a report is partial, counted up to
// now; from its end on, final, counted up to the end.
func TestReportMeta(t *testing.T) {
	start := time.Date(2021, 11, 13, 3, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	tests := []struct {
		name string
		now  time.Time
		want ReportMeta
	}{
		{name: "during the day", now: start.Add(14 * time.Hour), want: ReportMeta{Status: StatusPartial, CountedUntil: start.Add(14 * time.Hour), Computed: start.Add(14 * time.Hour)}},
		{name: "at its end", now: end, want: ReportMeta{Status: StatusFinal, CountedUntil: end, Computed: end}},
		{name: "the next morning", now: end.Add(65 * time.Minute), want: ReportMeta{Status: StatusFinal, CountedUntil: end, Computed: end.Add(65 * time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, NewReportMeta(start, end, tt.now)); d != "" {
				t.Errorf("(-want, +got):\n%s", d)
			}
		})
	}
}

// TestReportEvents: both report events carry time and the report
// extensions, read back as they were; partial and final of the same numbers
// have different ids, the same report twice the same id.
func TestReportEvents(t *testing.T) {
	day := Date{Year: 2021, Month: 11, Day: 13}
	start := time.Date(2021, 11, 13, 3, 0, 0, 0, time.UTC)
	partial := NewReportMeta(start, start.Add(24*time.Hour), start.Add(14*time.Hour+32*time.Minute))
	final := NewReportMeta(start, start.Add(24*time.Hour), start.Add(25*time.Hour))
	cookDay := NewCookDay(day)
	cookDay.Add("c@d.cl", "a@b.cl", Sales{NSopaipillas: 10, NOrdenes: 1})
	cookDay.Add("c@d.cl", "e@f.cl", Sales{NSopaipillas: 5, NOrdenes: 1})
	cookDay.Add("g@h.cl", "a@b.cl", Sales{NSopaipillas: 1, NOrdenes: 1})
	reports := cookDay.Reports()
	if len(reports) != 2 || reports[0].Cocinero != "c@d.cl" || reports[1].Cocinero != "g@h.cl" {
		t.Fatalf("reports %+v, want c@d.cl's then g@h.cl's", reports)
	}
	cooks := reports[0]
	wantCooks := `{"cocinero":"c@d.cl","n_sopaipillas":15,"n_ordenes":2,"vendedores":{"a@b.cl":{"n_sopaipillas":10,"n_ordenes":1},"e@f.cl":{"n_sopaipillas":5,"n_ordenes":1}},"fecha":"13/11/2021"}`
	ids := map[string]string{}
	for _, meta := range []ReportMeta{partial, final} {
		se, err := NewSummaryEvent(seedSummaryValue(), meta)
		if err != nil {
			t.Fatal(err)
		}
		ce, err := NewCookReportEvent(cooks, meta)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(ce.Data()); got != wantCooks {
			t.Errorf("cook report data %s, want %s", got, wantCooks)
		}
		for _, e := range []struct{ kind, id string }{{"summary", se.ID()}, {"cookreport", ce.ID()}} {
			if prev, ok := ids[e.id]; ok {
				t.Errorf("%s %s has the id of %s", e.kind, meta.Status, prev)
			}
			ids[e.id] = e.kind + " " + meta.Status
		}
		for _, e := range []struct {
			name string
			got  func() (ReportMeta, error)
		}{{"summary", func() (ReportMeta, error) { return ReportMetaOf(se) }}, {"cookreport", func() (ReportMeta, error) { return ReportMetaOf(ce) }}} {
			got, err := e.got()
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(meta, got); d != "" {
				t.Errorf("%s %s meta (-want, +got):\n%s", e.name, meta.Status, d)
			}
		}
		back, err := CookReportFromEvent(ce)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(cooks, back); d != "" {
			t.Errorf("cook report back (-want, +got):\n%s", d)
		}
		again, _ := NewCookReportEvent(cooks, meta)
		if again.ID() != ce.ID() {
			t.Errorf("the same cook report got ids %s and %s", ce.ID(), again.ID())
		}
	}
	if id, _ := SummaryEventID(seedSummaryValue()); ids[id] != "summary final" {
		t.Errorf("SummaryEventID %s is not the final summary's id (%v)", id, ids)
	}
	cookDay.Add("c@d.cl", "a@b.cl", Sales{NSopaipillas: -10, NOrdenes: -1})
	cookDay.Add("g@h.cl", "a@b.cl", Sales{NSopaipillas: -1, NOrdenes: -1})
	want := map[string]CookSales{"c@d.cl": {NSopaipillas: 5, NOrdenes: 1, Vendedores: map[string]Sales{"e@f.cl": {NSopaipillas: 5, NOrdenes: 1}}}}
	if d := cmp.Diff(want, cookDay.Cocineros); d != "" {
		t.Errorf("taking orders back (-want, +got):\n%s", d)
	}
}
