package salesboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

var santiago = mustLoad("America/Santiago")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// fakeTopic is a Summarizer and Ends: sales per day, and an end that moves
// with every change.
type fakeTopic struct {
	mu     sync.Mutex
	sales  map[events.Date]map[string]events.Sales
	end    int64
	counts int
	fail   error
}

func newFakeTopic() *fakeTopic { return &fakeTopic{sales: map[events.Date]map[string]events.Sales{}} }

func (f *fakeTopic) sell(day events.Date, vendor string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sales[day] == nil {
		f.sales[day] = map[string]events.Sales{}
	}
	s := f.sales[day][vendor]
	s.NOrdenes++
	s.NSopaipillas += n
	f.sales[day][vendor] = s
	f.end++
}

func (f *fakeTopic) Summarize(_ context.Context, day events.Date) (dayread.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return dayread.Result{}, f.fail
	}
	f.counts++
	res := dayread.Result{Summary: events.NewSummary(day)}
	for v, s := range f.sales[day] {
		res.Summary.Ventas[v] = s
		res.OrdersRead += int(s.NOrdenes)
	}
	return res, nil
}

func (f *fakeTopic) Ends(context.Context) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return []int64{f.end, 0}, nil
}

func (f *fakeTopic) countsSoFar() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// noon is a fixed instant: 13 November 2021, 12:00 in Santiago.
var noon = time.Date(2021, 11, 13, 12, 0, 0, 0, santiago)

func newTestBoard(t *testing.T, topic *fakeTopic, token string) *Board {
	t.Helper()
	return New(topic, topic, Options{Location: santiago, Retention: 72 * time.Hour, Timeout: 5 * time.Second,
		Token: token, Now: func() time.Time { return noon }}, slog.New(slog.DiscardHandler))
}

func TestNewView(t *testing.T) {
	day := events.Date{Year: 2021, Month: 11, Day: 13}
	res := dayread.Result{Summary: events.Summary{Fecha: day.String(), Ventas: map[string]events.Sales{
		"b@x.cl": {NSopaipillas: 10, NOrdenes: 1},
		"a@x.cl": {NSopaipillas: 10, NOrdenes: 1},
		"c@x.cl": {NSopaipillas: 10, NOrdenes: 2},
		"d@x.cl": {NSopaipillas: 500, NOrdenes: 1},
	}}, OrdersRead: 7, ConflictsTotal: 3, Conflicts: []dayread.Conflict{
		{OrderID: 9, Partition: 2, Offset: 5, EmailVendedor: "d@x.cl", NumeroSopaipillas: 7,
			Counted: dayread.CountedVersion{Partition: 1, Offset: &[]int64{4}[0], EmailVendedor: "a@x.cl", NumeroSopaipillas: 1}, Reason: dayread.ReasonLowerPartition},
		{OrderID: 3, Partition: 0, Offset: 8, EmailVendedor: "d@x.cl", NumeroSopaipillas: 1,
			Counted: dayread.CountedVersion{Partition: 0}, Reason: dayread.ReasonLaterInPartition},
	}}
	start, end := day.Bounds(santiago)
	got := NewView(day, res, events.NewReportMeta(start, end, noon))
	want := View{
		Fecha: "13/11/2021", Summary: res.Summary,
		Totales: Totals{NOrdenes: 5, NSopaipillas: 530, NVendedores: 4},
		// Most sopaipillas first, then most orders, then by address.
		Vendedores: []VendorSales{
			{"d@x.cl", events.Sales{NSopaipillas: 500, NOrdenes: 1}},
			{"c@x.cl", events.Sales{NSopaipillas: 10, NOrdenes: 2}},
			{"a@x.cl", events.Sales{NSopaipillas: 10, NOrdenes: 1}},
			{"b@x.cl", events.Sales{NSopaipillas: 10, NOrdenes: 1}},
		},
		ReportStatus: events.StatusPartial, CountedUntil: noon.UTC(), OrdersRead: 7, ConflictsTotal: 3,
		// By vendor, then order_id; in Spanish.
		NoContadas: []Uncounted{
			{OrderID: 3, Vendedor: "d@x.cl", Enviadas: 1, Motivo: dayread.ReasonLaterInPartition,
				Texto:  "Envió 1 sopaipilla; cuenta la primera versión que llegó, con otros datos.",
				PorQue: "Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero."},
			{OrderID: 9, Vendedor: "d@x.cl", Enviadas: 7, Contadas: 1, ContadasPor: "a@x.cl", Motivo: dayread.ReasonLowerPartition,
				Texto:  "Envió 7 sopaipillas; cuenta la de a@x.cl, con 1 sopaipilla.",
				PorQue: "Este número de orden llegó el mismo día dos veces con otros datos: cuenta una sola de ellas."},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewView (-want, +got):\n%s", diff)
	}
	empty := NewView(day, dayread.Result{}, events.NewReportMeta(start, end, noon))
	if b, _ := json.Marshal(empty); !strings.Contains(string(b), `"ventas":{}`) || !strings.Contains(string(b), `"vendedores":[]`) || !strings.Contains(string(b), `"no_contadas":[]`) {
		t.Errorf("an empty day must have ventas {}, vendedores [] and no_contadas [], as the summary: %s", b)
	}
}

func TestDaysAreThoseInRetention(t *testing.T) {
	b := newTestBoard(t, newFakeTopic(), "")
	var got []string
	for _, d := range b.Days() {
		got = append(got, d.String())
	}
	// dailySummary's rule: a day whose first instant is older than the
	// retention is refused; 72h from noon keeps today and the two before.
	if diff := cmp.Diff([]string{"13/11/2021", "12/11/2021", "11/11/2021"}, got); diff != "" {
		t.Errorf("Days (-want, +got):\n%s", diff)
	}
}

// TestGetCountsOnlyWhenTheTopicMoved: the cache answers while the topic's
// ends stay; a new order makes the next Get count again.
func TestGetCountsOnlyWhenTheTopicMoved(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	today := b.Today()
	topic.sell(today, "ana@feria.cl", 12)
	ctx := context.Background()
	for range 3 {
		v, err := b.Get(ctx, today)
		if err != nil || v.Totales.NSopaipillas != 12 {
			t.Fatalf("Get = %+v, %v; want 12 sopaipillas", v.Totales, err)
		}
	}
	if n := topic.countsSoFar(); n != 1 {
		t.Errorf("%d counts for 3 Gets of an unchanged topic, want 1", n)
	}
	updates, stop := b.Watch(today)
	defer stop()
	topic.sell(today, "ana@feria.cl", 3)
	v, err := b.Get(ctx, today)
	if err != nil || v.Totales.NSopaipillas != 15 {
		t.Fatalf("Get after an order = %+v, %v; want 15 sopaipillas", v.Totales, err)
	}
	if n := topic.countsSoFar(); n != 2 {
		t.Errorf("%d counts, want 2", n)
	}
	select {
	case got := <-updates:
		if got.Totales.NSopaipillas != 15 {
			t.Errorf("watcher got %d sopaipillas, want 15", got.Totales.NSopaipillas)
		}
	default:
		t.Error("the watcher of the day was not told")
	}
}

// TestDueCoalesces: Run counts a watched day again only when the topic
// moved and not within MinInterval of its last count; unwatched days are
// not counted, days out of retention are forgotten.
func TestDueCoalesces(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	b.opts.MinInterval = time.Hour
	today := b.Today()
	ctx := context.Background()
	if _, err := b.Get(ctx, today); err != nil {
		t.Fatal(err)
	}
	_, stop := b.Watch(today)
	defer stop()
	ends, _ := topic.Ends(ctx)
	if due := b.due(markOf(ends)); len(due) != 0 {
		t.Errorf("due %v with the topic unchanged", due)
	}
	topic.sell(today, "ana@feria.cl", 1)
	ends, _ = topic.Ends(ctx)
	if due := b.due(markOf(ends)); len(due) != 0 {
		t.Errorf("due %v within MinInterval of the last count", due)
	}
	b.opts.MinInterval = time.Nanosecond
	if diff := cmp.Diff([]events.Date{today}, b.due(markOf(ends))); diff != "" {
		t.Errorf("due (-want, +got):\n%s", diff)
	}
	old := today.AddDays(-10)
	b.state(old)
	b.due(markOf(ends))
	b.mu.Lock()
	_, kept := b.days[old]
	b.mu.Unlock()
	if kept {
		t.Error("a day out of retention, watched by nobody, is still cached")
	}
}

func TestHandlerErrors(t *testing.T) {
	b := newTestBoard(t, newFakeTopic(), "")
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	cases := []struct {
		method, path string
		status       int
		allow        string // the Allow header of a 405
		field        string // errors[0].field of a 422, when set
	}{
		{method: "POST", path: "/", status: 405, allow: "GET, HEAD"},
		{method: "DELETE", path: "/api/days/13-11-2021", status: 405, allow: "GET"},
		{method: "POST", path: "/events", status: 405, allow: "GET"},
		{method: "GET", path: "/login", status: 405, allow: "POST"},
		{method: "GET", path: "/nada", status: 404},
		{method: "GET", path: "/api/days/31-02-2021", status: 422},     // not a day
		{method: "GET", path: "/api/days/2021-11-13", status: 422},     // another format
		{method: "GET", path: "/api/days/14-11-2021", status: 422},     // tomorrow
		{method: "GET", path: "/api/days/10-11-2021", status: 422},     // out of retention
		{method: "GET", path: "/events?fecha=10-11-2021", status: 422}, // out of retention
		{method: "GET", path: "/?fecha=hoy", status: 422},              // not a day
		// Newcomer pass, stop 30: the first of two was taken silently.
		{method: "GET", path: "/events?fecha=13-11-2021&fecha=12-11-2021", status: 422, field: "fecha"},
		{method: "GET", path: "/?fecha=13-11-2021&fecha=13-11-2021", status: 422, field: "fecha"},
		{method: "GET", path: "/static/no-existe.js", status: 404}, // FileServer's own 404
		{method: "POST", path: "/static/app.js", status: 405, allow: "GET, HEAD"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if ct := res.Header.Get("Content-Type"); tc.path != "/static/no-existe.js" && ct != problem.ContentType {
				t.Errorf("Content-Type %q, want %s", ct, problem.ContentType)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if tc.field != "" {
				var p problem.Details
				if err := json.NewDecoder(res.Body).Decode(&p); err != nil || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
					t.Errorf("problem %+v (%v), want one error naming %s", p, err, tc.field)
				}
			}
		})
	}
}

// TestAPIDay: GET /api/days/{fecha} answers the summary's numbers for the
// day asked, dd-mm-aaaa, today and the days before in retention.
func TestAPIDay(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	yesterday := b.Today().AddDays(-1)
	topic.sell(yesterday, "ana@feria.cl", 7)
	topic.sell(yesterday, "beto@feria.cl", 9)
	topic.sell(b.Today(), "ana@feria.cl", 100)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/days/12-11-2021")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got View
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	want := map[string]events.Sales{"ana@feria.cl": {NSopaipillas: 7, NOrdenes: 1}, "beto@feria.cl": {NSopaipillas: 9, NOrdenes: 1}}
	if diff := cmp.Diff(want, got.Summary.Ventas); diff != "" {
		t.Errorf("ventas (-want, +got):\n%s", diff)
	}
	if got.Fecha != "12/11/2021" || got.Summary.Fecha != "12/11/2021" || got.ReportStatus != events.StatusFinal || got.Totales.NSopaipillas != 16 {
		t.Errorf("got fecha %q/%q, status %q, totals %+v", got.Fecha, got.Summary.Fecha, got.ReportStatus, got.Totales)
	}
}

// TestAPIUnavailable: a day that cannot be read is 503 with Retry-After,
// never numbers of part of the topic.
func TestAPIUnavailable(t *testing.T) {
	topic := newFakeTopic()
	topic.fail = errors.New("broker down")
	srv := httptest.NewServer(newTestBoard(t, topic, "").Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/days/13-11-2021")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || res.Header.Get("Content-Type") != problem.ContentType {
		t.Errorf("status %d, Retry-After %q, Content-Type %q", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"))
	}
}

// TestEventStream: the stream starts with retry:, then the day at once,
// then the day again after each change; Close ends it.
func TestEventStream(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	today := b.Today()
	topic.sell(today, "ana@feria.cl", 5)
	h := b.Handler()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/events?fecha=13-11-2021")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	read := readEvents(t, res.Body)
	next := func() (string, View) {
		t.Helper()
		e := read()
		var v View
		if e.name != "" {
			if err := json.Unmarshal([]byte(e.data), &v); err != nil {
				t.Fatalf("event %s: %v", e.name, err)
			}
		}
		return e.name, v
	}
	if name, _ := next(); name != "" {
		t.Fatalf("first the retry, got event %q", name)
	}
	if name, v := next(); name != "dia" || v.Totales.NSopaipillas != 5 {
		t.Fatalf("then the day: event %q with %d sopaipillas, want dia with 5", name, v.Totales.NSopaipillas)
	}
	topic.sell(today, "beto@feria.cl", 4)
	if _, err := b.Get(context.Background(), today); err != nil { // as Run does when it sees the topic move
		t.Fatal(err)
	}
	if name, v := next(); name != "dia" || v.Totales.NSopaipillas != 9 || v.Totales.NVendedores != 2 {
		t.Fatalf("after an order: event %q with %+v, want dia with 9 sopaipillas of 2 vendors", name, v.Totales)
	}
	h.Close()
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("the stream did not end cleanly on Close: %v", err)
	}
}

// TestPage: the page in Spanish with the day's numbers as text, a picker
// of every day in retention, and nothing loaded from another site.
func TestPage(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	topic.sell(b.Today(), "ana@feria.cl", 1200)
	topic.sell(b.Today(), "beto@feria.cl", 15)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	for _, want := range []string{
		`<html lang="es">`, `id="t-sopaipillas">1.215<`, `id="t-ordenes">2<`, `id="t-vendedores">2<`,
		`<td class="vendedor"><span class="correo">ana<wbr>@feria<wbr>.cl</span></td><td class="n">1.200</td>`,
		`value="13-11-2021" selected>hoy, 13/11/2021`, `value="12-11-2021">ayer, 12/11/2021`, `value="11-11-2021">jueves 11/11/2021`,
		`src="static/vendor/chart.js/chart.umd.js"`, "Resumen parcial, hasta las 12:00:00",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"http://", "https://", "<script>", "style="} {
		if strings.Contains(page, banned) {
			t.Errorf("page has %q: it must load only its own files, with no inline script or style", banned)
		}
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestVendoredChartJS: the embedded chart library is the file its README
// names, byte for byte.
func TestVendoredChartJS(t *testing.T) {
	dir := filepath.Join("web", "static", "vendor", "chart.js")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := web.ReadFile("web/static/vendor/chart.js/chart.umd.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lib)
	if !strings.Contains(string(readme), "| sha256 of `chart.umd.js` | `"+hex.EncodeToString(sum[:])+"` |") {
		t.Errorf("chart.umd.js has sha256 %x, which its README does not record", sum)
	}
	if !strings.Contains(string(lib), "Chart.js v4.6.1") {
		t.Error("chart.umd.js is not Chart.js v4.6.1, the version its README records")
	}
}

func TestMiles(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1.000", 1234567: "1.234.567", -1500: "-1.500"} {
		if got := miles(n); got != want {
			t.Errorf("miles(%d) = %q, want %q", n, got, want)
		}
	}
}
