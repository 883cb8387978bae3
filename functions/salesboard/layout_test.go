package salesboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/browsertest"
)

// widths are the screens the board must fit: phones of 360, 390 and 414
// CSS px, a tablet of 768, a laptop of 1280.
var widths = []struct {
	width, height int64
	name          string
}{
	{360, 780, "360"}, {390, 844, "390"}, {414, 896, "414"}, {768, 1024, "768"}, {1280, 800, "1280"},
}

// checkLayout is run in the page: every visible element inside its
// parent's box (nothing clipped, nothing poking out), no text wider than
// its own box, no horizontal scrolling, the header's and totals' boxes not
// overlapping, and the chart's labels and numbers inside the canvas. It
// returns what is wrong, one line each, measured with
// getBoundingClientRect and scrollWidth.
const checkLayout = `(() => {
  const bad = [];
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '');
  const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) bad.push('the page scrolls sideways: ' + doc.scrollWidth + ' > ' + window.innerWidth);
  for (const e of document.body.querySelectorAll('*')) {
    if (!visible(e) || e.tagName === 'OPTION' || e.tagName === 'WBR') continue;
    const r = e.getBoundingClientRect(), p = e.parentElement.getBoundingClientRect();
    if (r.left < p.left - 0.5 || r.right > p.right + 0.5) bad.push(name(e) + ' [' + r.left.toFixed(1) + ', ' + r.right.toFixed(1) + '] outside ' + name(e.parentElement) + ' [' + p.left.toFixed(1) + ', ' + p.right.toFixed(1) + ']');
    if (e.tagName !== 'CANVAS' && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0) bad.push(name(e) + ': content ' + e.scrollWidth + ' px in ' + e.clientWidth + ' px');
  }
  const boxes = [...document.querySelectorAll('h1, label[for=fecha], #fecha, .total, .titulo h2, #descargar, .estado')].filter(visible);
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].getBoundingClientRect(), b = boxes[j].getBoundingClientRect();
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) bad.push(name(boxes[i]) + ' overlaps ' + name(boxes[j]));
  }
  const g = Chart.getChart('grafico');
  if (g && visible(g.canvas)) {
    const y = g.scales.y, ctx = g.ctx;
    ctx.save();
    ctx.font = Chart.helpers.toFont(y.options.ticks.font).string;
    y.ticks.forEach((t) => {
      const label = Array.isArray(t.label) ? t.label.join(' ') : t.label;
      const left = y.right - y.options.ticks.padding - ctx.measureText(label).width;
      if (left < -0.5) bad.push('chart label "' + label + '" cut at the left edge (' + left.toFixed(1) + ' px)');
    });
    ctx.font = '600 13px system-ui, sans-serif';
    g.getDatasetMeta(0).data.forEach((bar, i) => {
      const right = bar.x + 6 + ctx.measureText(new Intl.NumberFormat('es-CL').format(g.data.datasets[0].data[i])).width;
      if (right > g.width + 0.5) bad.push('the number of bar ' + i + ' ends at ' + right.toFixed(1) + ' px, past the chart (' + g.width + ')');
    });
    ctx.restore();
  }
  return bad;
})()`

// TestBrowserWidths: the board, with names from the registry, fits each
// of widths: nothing outside its box, no text wider than its box, no
// sideways scrolling, the chart's labels not cut (checkLayout); a day
// without sales says so once, with neither chart nor table. Screenshots of
// each width go to .artifacts/salesboard/ (tablero-<width>.png; the
// README's docs/tablero.png and docs/tablero-phone.png are those of 1280
// and 390).
func TestBrowserWidths(t *testing.T) {
	browsertest.Path(t)
	r := newBrowserRig(t)
	r.vendorsFile = filepath.Join(t.TempDir(), "vendors.yaml")
	registry := `vendors:
  - email: ana.maria@sopaipillas.cl
    name: Ana María Fuenzalida
  - email: pedro.gonzalez.de.la.fuente@sopaipillas-del-sur.cl
    name: Pedro González de la Fuente Valenzuela
  - email: luz@carrito.cl
    name: Luz
`
	if err := os.WriteFile(r.vendorsFile, []byte(registry), 0o600); err != nil {
		t.Fatal(err)
	}
	r.startBoard()
	ctx := browsertest.Start(t, 1280, 800, 3*time.Minute)

	for i, o := range []struct {
		vendor string
		n      int
	}{
		{"ana.maria@sopaipillas.cl", 1000}, {"ana.maria@sopaipillas.cl", 250}, {"pedro.gonzalez.de.la.fuente@sopaipillas-del-sur.cl", 987},
		{"luz@carrito.cl", 120}, {"sin.nombre.registrado.y.largo@un-dominio-bastante-largo.cl", 45}, {"beto@feria.cl", 3},
	} {
		r.order(int64(i+1), o.vendor, o.n)
	}
	// Two order_ids sent again with other bodies, one by another vendor
	// with a long address: listed as not counted, the totals unchanged.
	r.order(2, "sin.nombre.registrado.y.largo@un-dominio-bastante-largo.cl", 7)
	r.order(1, "ana.maria@sopaipillas.cl", 999)
	loc, _ := time.LoadLocation("America/Santiago")
	yesterday := events.DateOf(time.Now(), loc).AddDays(-1)

	for _, w := range widths {
		t.Run(w.name, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(w.width, w.height, chromedp.EmulateScale(1))); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/")); err != nil {
				t.Fatal(err)
			}
			waitUpdated(t, ctx)
			got, _ := waitShown(t, ctx, "2.405", 10*time.Second)
			if len(got.Labels) != 5 || got.Labels[0] != "Ana María Fuenzalida" || got.Labels[3] != "sin.nombre.registrado.y.largo@un-dominio-bastante-largo.cl" {
				t.Errorf("chart labels %q: want the registry's names, the address where there is none", got.Labels)
			}
			if want := "1 | Ana María Fuenzalidaana.maria@sopaipillas.cl | 1.250 | 2"; len(got.Rows) == 0 || got.Rows[0] != want {
				t.Errorf("first row %q, want %q", got.Rows, want)
			}
			waitChartDrawn(t, ctx)
			uncounted, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#lista-no-contadas li')].map((li) => li.innerText.replace(/\s+/g, ' ').trim())`))
			if err != nil {
				t.Fatal(err)
			}
			wantUncounted := []string{
				"Orden 1 Ana María Fuenzalida ana.maria@sopaipillas.cl Envió 999 sopaipillas; cuenta la versión con 1.000 sopaipillas. Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero.",
				"Orden 2 sin.nombre.registrado.y.largo@un-dominio-bastante-largo.cl Envió 7 sopaipillas; cuenta la de ana.maria@sopaipillas.cl, con 250 sopaipillas. Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero.",
			}
			if fmt.Sprint(uncounted) != fmt.Sprint(wantUncounted) {
				t.Errorf("uncounted orders shown:\n%q\nwant\n%q", uncounted, wantUncounted)
			}
			for _, b := range layoutProblems(t, ctx) {
				t.Errorf("%d px: %s", w.width, b)
			}
			shot(t, ctx, "tablero-"+w.name+".png")

			// A day without sales.
			if err := chromedp.Do(ctx, chromedp.Navigate(r.front.URL+"/?fecha="+yesterday.URL())); err != nil {
				t.Fatal(err)
			}
			waitUpdated(t, ctx)
			waitShown(t, ctx, "0", 10*time.Second)
			shownParts, err := chromedp.Run(ctx, chromedp.Evaluate[[]bool](`['vacio', 'grafico-caja', 'tabla'].map((id) => document.getElementById(id).getBoundingClientRect().height > 0)`))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(shownParts) != "[true false false]" {
				t.Errorf("an empty day shows [sentence chart table] = %v, want only the sentence", shownParts)
			}
			for _, b := range layoutProblems(t, ctx) {
				t.Errorf("%d px, empty day: %s", w.width, b)
			}
			if w.name == "390" {
				shot(t, ctx, "tablero-vacio-390.png")
			}
		})
	}
}

// waitUpdated waits until the page's script has shown a day from its
// event stream: the numbers served in the page are there before it, the
// chart's bars are not.
func waitUpdated(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.actualizado !== undefined`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page's script showed no day: %v", err)
	}
}

// waitChartDrawn waits until the chart has its bars laid out at the
// canvas's current size (it resizes after the viewport changes).
func waitChartDrawn(t *testing.T, ctx context.Context) {
	t.Helper()
	expr := `(() => { const g = Chart.getChart('grafico'); if (!g) return false;
  const box = document.getElementById('grafico-caja').getBoundingClientRect();
  return Math.abs(g.width - box.width) < 1 && g.getDatasetMeta(0).data.length === g.data.labels.length })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the chart was not drawn at the page's width: %v", err)
	}
	// The bars' animation (300 ms) ends before the numbers are measured.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!Chart.animator.running(Chart.getChart('grafico'))`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the chart's animation did not end: %v", err)
	}
}

func layoutProblems(t *testing.T, ctx context.Context) []string {
	t.Helper()
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](checkLayout))
	if err != nil {
		t.Fatal(err)
	}
	return bad
}
