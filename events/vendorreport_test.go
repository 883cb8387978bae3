package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// vendorDay is a report of n vendors, each with orders counted orders
// listed in full and two uncounted versions.
func vendorDay(n, orders int) VendorReport {
	r := VendorReport{Fecha: "13/11/2021", Vendedores: map[string]VendorOrders{}}
	at := time.Date(2021, 11, 13, 9, 0, 0, 0, time.FixedZone("-03", -3*3600))
	for v := range n {
		o := VendorOrders{Ordenes: []ListedOrder{}, NoContadas: []UncountedOrder{
			{OrderID: int64(1_000_000 + v), NumeroSopaipillas: 10, Motivo: ReasonLowerPartition, Contada: &CountedOrder{EmailVendedor: "otra@b.cl", NumeroSopaipillas: 20}},
			{OrderID: int64(2_000_000 + v), NumeroSopaipillas: 3, Motivo: ReasonLaterInPartition},
		}}
		for i := range orders {
			o.Ordenes = append(o.Ordenes, ListedOrder{OrderID: int64(v*orders + i + 1), Hora: at.Add(time.Duration(i) * time.Second).Format(time.RFC3339), NumeroSopaipillas: int64(1 + i%1000)})
			o.NOrdenes++
			o.NSopaipillas += int64(1 + i%1000)
		}
		r.Vendedores[fmt.Sprintf("vendor%04d@b.cl", v)] = o
	}
	return r
}

// TestVendorReportSplit: every part is within the bound, the parts hold
// exactly the report's vendors, sorted across parts, each part as full as
// the next vendor allows (checked by marshalling, not by Split's own
// arithmetic), and the same report splits the same way with the same ids.
func TestVendorReportSplit(t *testing.T) {
	for _, tt := range []struct{ vendors, orders, max int }{
		{1, 1, MaxVendorReportEventBytes},
		{40, MaxOrdersListed, MaxVendorReportEventBytes},
		{300, 3, 2000},
		{7, 0, 800},
	} {
		t.Run(fmt.Sprintf("%d vendors %d orders %d bytes", tt.vendors, tt.orders, tt.max), func(t *testing.T) {
			r := vendorDay(tt.vendors, tt.orders)
			parts, err := r.Split(tt.max)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			size := func(p VendorReport) int {
				b, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				return len(b)
			}
			for i, p := range parts {
				if n := size(p); n > tt.max {
					t.Errorf("part %d: %d bytes > %d", i, n, tt.max)
				}
				if p.Fecha != r.Fecha {
					t.Errorf("part %d: fecha %q", i, p.Fecha)
				}
				all = append(all, p.Vendors()...)
				if i+1 < len(parts) {
					next := parts[i+1].Vendors()[0]
					fuller := VendorReport{Fecha: p.Fecha, Vendedores: maps.Clone(p.Vendedores)}
					fuller.Vendedores[next] = r.Vendedores[next]
					if n := size(fuller); n <= tt.max {
						t.Errorf("part %d: %s would still fit (%d bytes)", i, next, n)
					}
				}
			}
			if d := cmp.Diff(r.Vendors(), all); d != "" {
				t.Errorf("vendors over the parts, in order (-want, +got):\n%s", d)
			}
			again, _ := r.Split(tt.max)
			if d := cmp.Diff(parts, again); d != "" {
				t.Errorf("a second split differs:\n%s", d)
			}
		})
	}
	big := vendorDay(1, MaxOrdersListed)
	if _, err := big.Split(1000); err == nil || !strings.Contains(err.Error(), "vendor0000@b.cl alone") {
		t.Errorf("a vendor over the bound: %v", err)
	}
}

// TestVendorReportEvents: the events carry the report attributes, read
// back as they were; ids are stable and differ between parts and between
// partial and final.
func TestVendorReportEvents(t *testing.T) {
	start := time.Date(2021, 11, 13, 3, 0, 0, 0, time.UTC)
	final := NewReportMeta(start, start.Add(24*time.Hour), start.Add(25*time.Hour))
	partial := NewReportMeta(start, start.Add(24*time.Hour), start.Add(14*time.Hour))
	r := vendorDay(40, MaxOrdersListed)
	ids := map[string]bool{}
	for _, meta := range []ReportMeta{partial, final} {
		evs, err := NewVendorReportEvents(r, meta)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) < 2 {
			t.Fatalf("%d events, want the report split", len(evs))
		}
		back := VendorReport{Fecha: r.Fecha, Vendedores: map[string]VendorOrders{}}
		for _, e := range evs {
			if ids[e.ID()] {
				t.Errorf("id %s twice", e.ID())
			}
			ids[e.ID()] = true
			wantPrefix := "vendorreport-2021-11-13-"
			if !meta.Final() {
				wantPrefix += "partial-"
			}
			if !strings.HasPrefix(e.ID(), wantPrefix) || e.Type() != TypeVendorReportCreated || e.Source() != SourceDailySummary || e.Subject() != r.Fecha {
				t.Errorf("event %s: type %s source %s subject %s", e.ID(), e.Type(), e.Source(), e.Subject())
			}
			if len(e.Data()) > MaxVendorReportEventBytes {
				t.Errorf("event %s: %d bytes of data", e.ID(), len(e.Data()))
			}
			if got, err := ReportMetaOf(e); err != nil || !cmp.Equal(meta, got) {
				t.Errorf("meta %+v, %v; want %+v", got, err, meta)
			}
			p, err := VendorReportFromEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			maps.Copy(back.Vendedores, p.Vendedores)
		}
		if d := cmp.Diff(r, back); d != "" {
			t.Errorf("read back (-want, +got):\n%s", d)
		}
		again, _ := NewVendorReportEvents(r, meta)
		for i := range again {
			if again[i].ID() != evs[i].ID() {
				t.Errorf("event %d: ids %s then %s", i, evs[i].ID(), again[i].ID())
			}
		}
	}
	if evs, err := NewVendorReportEvents(VendorReport{Fecha: r.Fecha, Vendedores: map[string]VendorOrders{}}, final); err != nil || len(evs) != 0 {
		t.Errorf("a day without vendors: %d events, %v", len(evs), err)
	}
}

// TestVendorReportValidate names the field of each rule a schema cannot
// say.
func TestVendorReportValidate(t *testing.T) {
	ok := func() VendorReport { return vendorDay(1, 3) }
	const v = "vendedores[vendor0000@b.cl]"
	tests := []struct {
		name  string
		edit  func(o *VendorOrders)
		field string
	}{
		{"valid", func(*VendorOrders) {}, ""},
		{"not listed in full", func(o *VendorOrders) { o.Ordenes = o.Ordenes[:1]; o.OrdenesNoListadas = 2 }, ""},
		{"no_listadas wrong", func(o *VendorOrders) { o.OrdenesNoListadas = 1 }, v + ".ordenes_no_listadas"},
		{"more sopaipillas listed than sold", func(o *VendorOrders) { o.NSopaipillas = 5 }, v + ".ordenes"},
		{"out of time order", func(o *VendorOrders) { o.Ordenes[0], o.Ordenes[1] = o.Ordenes[1], o.Ordenes[0] }, v + ".ordenes[1].hora"},
		{"hora not a time", func(o *VendorOrders) { o.Ordenes[0].Hora = "2021-02-30T10:00:00Z" }, v + ".ordenes[0].hora"},
		{"hora lower case t", func(o *VendorOrders) { o.Ordenes[0].Hora = "2021-11-13t10:00:00Z" }, v + ".ordenes[0].hora"},
		{"only uncounted", func(o *VendorOrders) { *o = VendorOrders{Ordenes: []ListedOrder{}, NoContadas: o.NoContadas} }, ""},
		{"nothing at all", func(o *VendorOrders) { *o = VendorOrders{Ordenes: []ListedOrder{}, NoContadas: []UncountedOrder{}} }, v + ".no_contadas"},
		{"orders without sopaipillas", func(o *VendorOrders) { o.Ordenes, o.OrdenesNoListadas, o.NSopaipillas = []ListedOrder{}, 3, 2 }, v + ".n_ordenes"},
		{"motivo", func(o *VendorOrders) { o.NoContadas[0].Motivo = "other" }, v + ".no_contadas[0].motivo"},
		{"contada upper case", func(o *VendorOrders) { o.NoContadas[0].Contada.EmailVendedor = "Otra@b.cl" }, v + ".no_contadas[0].contada.email_vendedor"},
		{"ordenes null", func(o *VendorOrders) { o.Ordenes = nil; o.OrdenesNoListadas = 3 }, v + ".ordenes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			o := r.Vendedores["vendor0000@b.cl"]
			tt.edit(&o)
			r.Vendedores["vendor0000@b.cl"] = o
			err := r.Validate()
			var got []string
			for _, f := range Fields(err) {
				got = append(got, f.Field)
			}
			var want []string
			if tt.field != "" {
				want = []string{tt.field}
			}
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
}

// TestSplitVendorsStops: an error from yield stops the split at once and
// is returned; entries after it are never built.
func TestSplitVendorsStops(t *testing.T) {
	r := vendorDay(40, MaxOrdersListed)
	stop := fmt.Errorf("publish failed")
	built, parts := 0, 0
	err := SplitVendors(r.Fecha, r.Vendors(), func(v string) VendorOrders { built++; return r.Vendedores[v] }, MaxVendorReportEventBytes,
		func(VendorReport) error { parts++; return stop })
	if err != stop || parts != 1 || built == len(r.Vendedores) {
		t.Errorf("err %v after %d parts and %d of %d entries built; want the yield's error after the first part", err, parts, built, len(r.Vendedores))
	}
}
