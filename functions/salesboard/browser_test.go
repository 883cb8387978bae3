package salesboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/browsertest"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka"
	"github.com/sopaipillas/sopaipillas/functions/internal/kafka/kafkatest"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/server"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

// updateBound is the promise: the bar moves within 2 s of
// newOrder's 201.
const updateBound = 2 * time.Second

// browserRig is newOrder and salesBoard on an embedded broker, the board
// behind a proxy that stays up while the board restarts (as Knative's
// ingress does: it answers 502/503 meanwhile).
type browserRig struct {
	t        *testing.T
	brokers  []string
	topic    string
	newOrder *httptest.Server
	clock    atomic.Pointer[time.Time] // newOrder's clock; nil is now
	front    *httptest.Server
	backend  atomic.Pointer[url.URL]
	stopped  func() // stops the running board
	token    string // BOARD_TOKEN of the boards started
	// vendorsFile is the VENDORS_FILE of the boards started ("": none).
	vendorsFile string
}

func newBrowserRig(t *testing.T) *browserRig {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	r := &browserRig{t: t, brokers: cluster.ListenAddrs(), topic: "order-" + hex.EncodeToString(b)}

	cfg := kafka.NewSaramaConfig("board-test")
	// newOrder's clock places the orders of "yesterday": on a topic
	// stamped by the producer (the embedded broker stamps as the producer
	// says anyway).
	spec := kafka.TopicsConfig{OrderTopic: r.topic, OrderPartitions: 3, Retention: 72 * time.Hour}.OrderTopicSpec()
	spec.TimestampType = ""
	if err := kafka.EnsureTopics(r.brokers, cfg, -1, spec); err != nil {
		t.Fatal(err)
	}
	pub, _ := kafkatest.NewPublisher(t, r.brokers, cfg)
	now := func() time.Time {
		if at := r.clock.Load(); at != nil {
			return *at
		}
		return time.Now()
	}
	r.newOrder = httptest.NewServer(neworder.New(pub, r.topic, 10*time.Second, now, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(r.newOrder.Close)

	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(r.backend.Load())
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: nil,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	r.front = httptest.NewServer(proxy)
	t.Cleanup(r.front.Close)
	r.backend.Store(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}) // nothing listens: 502 until started
	return r
}

// startBoard sets salesBoard up as its binary does and serves it.
func (r *browserRig) startBoard() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	handler, closer, err := Setup(ctx, Config{
		Config:     kafka.Config{Brokers: r.brokers, ClientID: "salesboard-test", ReplicationFactor: -1},
		OrderTopic: r.topic, OrderPartitions: 3, Retention: 72 * time.Hour,
		TimeZone: "America/Santiago", Timeout: 10 * time.Second, Token: runner.Secret(r.token),
		VendorsConfig: VendorsConfig{File: r.vendorsFile, ReloadInterval: time.Second},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, server.New(handler), ln, slog.New(slog.DiscardHandler)) }()
	r.backend.Store(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	var once sync.Once
	r.stopped = func() {
		once.Do(func() {
			cancel() // SIGTERM: the server shuts down, which ends the streams
			if err := <-served; err != nil {
				r.t.Errorf("board server: %v", err)
			}
			closer.Close()
		})
	}
	r.t.Cleanup(r.stopped)
}

// order posts an order to newOrder and returns when it answered 201.
func (r *browserRig) order(id int64, vendor string, n int) time.Time {
	r.t.Helper()
	body := fmt.Sprintf(`{"order_id": %d, "email_vendedor": %q, "email_cocinero": "cocina@sopaipillas.cl", "numero_sopaipillas": %d}`, id, vendor, n)
	res, err := http.Post(r.newOrder.URL+"/newOrder", "application/json", strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(res.Body)
		r.t.Fatalf("newOrder: %d %s", res.StatusCode, b)
	}
	return time.Now()
}

// artifactDir is where test artifacts go: .artifacts/ at the repository's
// root, git-ignored.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", ".artifacts", "salesboard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shown is what the page shows, read from its DOM and its chart.
type shown struct {
	Fecha       string   `json:"fecha"`
	Sopaipillas string   `json:"sopaipillas"`
	Ordenes     string   `json:"ordenes"`
	Vendedores  string   `json:"vendedores"`
	Rows        []string `json:"rows"`
	Labels      []string `json:"labels"`
	Bars        []int64  `json:"bars"`
	Live        string   `json:"live"`
	Marker      bool     `json:"marker"` // set once: a reload loses it
}

const readShown = `(() => {
  const g = Chart.getChart('grafico');
  return {
    fecha: document.getElementById('fecha').value,
    sopaipillas: document.getElementById('t-sopaipillas').textContent,
    ordenes: document.getElementById('t-ordenes').textContent,
    vendedores: document.getElementById('t-vendedores').textContent,
    rows: [...document.querySelectorAll('#tabla tbody tr')].map(tr => [...tr.cells].map(c => c.textContent).join(' | ')),
    labels: g ? g.data.labels : [],
    bars: g ? g.data.datasets[0].data : [],
    live: document.getElementById('vivo').dataset.estado,
    marker: window.marcadorDeLaPrueba === true,
  };
})()`

// waitShown polls the page until its totals read sopaipillas, and
// returns what it shows and how long that took.
func waitShown(t *testing.T, ctx context.Context, sopaipillas string, bound time.Duration) (shown, time.Duration) {
	t.Helper()
	start := time.Now()
	expr := fmt.Sprintf(`document.getElementById('t-sopaipillas').textContent === %q && document.getElementById('vivo').dataset.estado === 'conectado'`, sopaipillas)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(bound))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[shown](readShown))
		t.Fatalf("the page did not show %s sopaipillas within %v: %v; it shows %+v", sopaipillas, bound, err, got)
	}
	took := time.Since(start)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](readShown))
	if err != nil {
		t.Fatal(err)
	}
	return got, took
}

// TestBrowser drives the board in headless Chromium: orders posted through
// newOrder move the bars and totals without a reload, within 2 s; the day
// picker shows yesterday; a restart of the board is recovered from by the
// page itself. It saves a screenshot in .artifacts/salesboard/.
func TestBrowser(t *testing.T) {
	browsertest.Path(t)
	r := newBrowserRig(t)
	r.startBoard()
	ctx := browsertest.Start(t, 412, 915, 2*time.Minute) // a phone

	var (
		consoleMu sync.Mutex
		console   []string
	)
	cctx, stopConsole := context.WithCancel(ctx)
	defer stopConsole()
	messages := chromedp.Console(cctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			consoleMu.Lock()
			console = append(console, m.String())
			consoleMu.Unlock()
		}
	}()

	loc, _ := time.LoadLocation("America/Santiago")
	today := events.DateOf(time.Now(), loc)
	yesterday := today.AddDays(-1)
	ystart, _ := yesterday.Bounds(loc)
	yNoon := ystart.Add(12 * time.Hour)
	r.clock.Store(&yNoon)
	r.order(1, "ayer@feria.cl", 7)
	r.order(2, "ayer@feria.cl", 8)
	r.clock.Store(nil)

	if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/")); err != nil {
		t.Fatal(err)
	}
	got, _ := waitShown(t, ctx, "0", 10*time.Second)
	if got.Fecha != today.URL() || len(got.Rows) != 0 {
		t.Errorf("an empty today: %+v", got)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marcadorDeLaPrueba = true`)); err != nil {
		t.Fatal(err)
	}

	// Orders move the bars and totals, without a reload, each within 2 s.
	steps := []struct {
		vendor string
		n      int
		total  string
	}{
		{"ana@feria.cl", 120, "120"},
		{"beto@carrito.cl", 45, "165"},
		{"ana@feria.cl", 30, "195"},
		{"Luz@Carrito.CL", 1000, "1.195"}, // one vendor, whatever the case
		{"pedro.gonzalez.de.la.fuente@sopaipillas-del-sur.cl", 15, "1.210"},
		{"luz@carrito.cl", 2, "1.212"},
	}
	var worst time.Duration
	for i, s := range steps {
		acked := r.order(int64(100+i), s.vendor, s.n)
		got, _ = waitShown(t, ctx, s.total, updateBound+time.Second)
		if took := time.Since(acked); took > worst {
			worst = took
		}
	}
	t.Logf("newOrder's 201 to the page's totals: at most %v over %d orders", worst.Round(time.Millisecond), len(steps))
	if worst > updateBound {
		t.Errorf("an order took %v to show, more than %v", worst, updateBound)
	}
	want := shown{Fecha: today.URL(), Sopaipillas: "1.212", Ordenes: "6", Vendedores: "4",
		Rows: []string{
			"1 | luz@carrito.cl | 1.002 | 2",
			"2 | ana@feria.cl | 150 | 2",
			"3 | beto@carrito.cl | 45 | 1",
			"4 | pedro.gonzalez.de.la.fuente@sopaipillas-del-sur.cl | 15 | 1",
		},
		Labels: []string{"luz@carrito.cl", "ana@feria.cl", "beto@carrito.cl", "pedro.gonzalez.de.la.fuente@sopaipillas-del-sur.cl"},
		Bars:   []int64{1002, 150, 45, 15}, Live: "conectado", Marker: true}
	if d := diffShown(want, got); d != "" {
		t.Errorf("after the orders: %s", d)
	}
	shot(t, ctx, "tablero-hoy.png")

	// Yesterday, from the picker.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { const s = document.getElementById('fecha'); s.value = %q; s.dispatchEvent(new Event('change')); return true })()`, yesterday.URL()))); err != nil {
		t.Fatal(err)
	}
	got, _ = waitShown(t, ctx, "15", 10*time.Second)
	if d := diffShown(shown{Fecha: yesterday.URL(), Sopaipillas: "15", Ordenes: "2", Vendedores: "1",
		Rows: []string{"1 | ayer@feria.cl | 15 | 2"}, Labels: []string{"ayer@feria.cl"}, Bars: []int64{15}, Live: "conectado", Marker: true}, got); d != "" {
		t.Errorf("yesterday: %s", d)
	}
	location, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if err != nil || location != "?fecha="+yesterday.URL() {
		t.Errorf("the address says %q (%v), want ?fecha=%s so a reload keeps the day", location, err, yesterday.URL())
	}

	// Back to today; the board restarts while an order arrives; the page
	// reconnects by itself and shows it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { const s = document.getElementById('fecha'); s.value = %q; s.dispatchEvent(new Event('change')); return true })()`, today.URL()))); err != nil {
		t.Fatal(err)
	}
	waitShown(t, ctx, "1.212", 10*time.Second)
	r.stopped()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('vivo').dataset.estado === 'desconectado'`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the page did not notice the board stopped: %v", err)
	}
	r.order(200, "beto@carrito.cl", 5)
	r.startBoard()
	got, took := waitShown(t, ctx, "1.217", 20*time.Second)
	t.Logf("recovered from the restart %v after the board was up again", took.Round(time.Millisecond))
	if !got.Marker || got.Live != "conectado" || got.Rows[2] != "3 | beto@carrito.cl | 50 | 2" {
		t.Errorf("after the restart: %+v", got)
	}
	shot(t, ctx, "tablero.png")

	consoleMu.Lock()
	defer consoleMu.Unlock()
	for _, m := range console {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("console: %s", m)
		}
	}
}

func diffShown(want, got shown) string {
	w, g := fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", got)
	if w == g {
		return ""
	}
	return "\nwant " + w + "\ngot  " + g
}

// shot saves a full-page screenshot as a test artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG")
	}
	file := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

// TestBrowserForms: in Chromium, the owner enters the key on the form of
// a day's page and lands on that day; a page of another site that posts a
// form to /logout as it loads gets 403 and the owner stays signed in.
func TestBrowserForms(t *testing.T) {
	browsertest.Path(t)
	r := newBrowserRig(t)
	r.token = "clave-del-dueno-0123456789abcdef"
	r.startBoard()
	ctx := browsertest.Start(t, 800, 900, 2*time.Minute)
	loc, _ := time.LoadLocation("America/Santiago")
	yesterday := events.DateOf(time.Now(), loc).AddDays(-1)
	isBoard := `document.getElementById('t-sopaipillas') !== null`

	// The key, entered on the form of yesterday's page.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/?fecha="+yesterday.URL())); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { document.getElementById('clave').value = %q; document.forms[0].submit(); return true })()`, r.token))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, isBoard+` && document.getElementById('fecha').value === `+strconv.Quote(yesterday.URL()))

	// Another site's page posts a form to /logout as it loads.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/logout"></form><script>document.forms[0].submit()</script>`, r.front.URL)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site than 127.0.0.1
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `location.origin === `+strconv.Quote(r.front.URL)+` && document.readyState === 'complete'`)
	answer, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + ' ' + document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(answer, "/logout ") || !strings.Contains(answer, `"status":403`) {
		t.Errorf("the other site's post got %.300q, want /logout's 403", answer)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if signedIn, err := chromedp.Run(ctx, chromedp.Evaluate[bool](isBoard)); err != nil || !signedIn {
		t.Errorf("after another site posted to /logout the owner is signed out (%v)", err)
	}

	// The board's own button still signs out, and keeps the day.
	if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/?fecha="+yesterday.URL())); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.getElementById('olvidar').submit(); return true })()`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.getElementById('clave') !== null && location.search === `+strconv.Quote("?fecha="+yesterday.URL()))
}

// waitFor polls the page until expr is true; a page being replaced (a
// form's navigation) is polled again.
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			where, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' ' + document.body.innerText`))
			t.Fatalf("not within 20 s: %s (%v); the page: %.300q", expr, err, where)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserCounting: while today is counted whole, the page says how far
// the count has got (#estado[data-contando]), following the stream's
// "contando"; once counted, the numbers replace it.
func TestBrowserCounting(t *testing.T) {
	browsertest.Path(t)
	topic := newHeldTopic(0)
	day := events.DateOf(noon, santiago)
	topic.sell(day, "ana@feria.cl", 5)
	topic.sell(day, "beto@feria.cl", 3)
	b := newHeldBoard(t, topic, topic)
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	if _, err := b.Get(context.Background(), day); err == nil {
		t.Fatal("Get counted a day held back")
	}
	<-topic.started
	ctx := browsertest.Start(t, 800, 900, 2*time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	estado := `document.getElementById('estado')`
	waitFor(t, ctx, estado+`.dataset.contando === '' && `+estado+`.textContent === 'Contando las ventas de hoy… 40 de 100 registros'`)
	topic.read(20) // shown by the next "contando", not by the page as served
	waitFor(t, ctx, estado+`.dataset.contando === '' && `+estado+`.textContent === 'Contando las ventas de hoy… 60 de 100 registros'`)
	close(topic.release)
	waitFor(t, ctx, `!('contando' in `+estado+`.dataset) && document.getElementById('t-sopaipillas').textContent === '8' && `+estado+`.textContent.startsWith('Resumen')`)
}
