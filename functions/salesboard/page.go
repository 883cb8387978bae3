package salesboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// web holds the page: templates, its script and styles, and the chart
// library, vendored from npm (web/static/vendor/chart.js/README.md) so the
// page loads nothing from another site.
//
//go:embed web
var web embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"miles":  miles,
	"inc":    func(i int) int { return i + 1 },
	"partes": addressParts,
}).ParseFS(web, "web/templates/*.html"))

// staticFiles serves web/static under /static/.
func staticFiles() http.Handler {
	sub, err := fs.Sub(web, "web/static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Embedded files have no modification time: revalidate cheaply.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// dayOption is one day of the page's picker.
type dayOption struct {
	Value, Label string
	Selected     bool
}

// pageData is what the board's page shows.
type pageData struct {
	Days  []dayOption
	Fecha string // dd-mm-aaaa
	// View is the day when it could be counted for the page; otherwise
	// the page shows placeholders until its event stream brings it.
	View *View
	// Vendedores is View's ranking with the vendors' names.
	Vendedores []namedSales
	// NoContadas are View's uncounted versions with the vendors' names;
	// Mas how many more the day has than are listed.
	NoContadas []namedUncounted
	Mas        int
	Status     string
	// Contando says the day is being counted whole: Status then says how
	// far the count has got.
	Contando bool
	Private  bool // the page is behind the key: offer to forget it
	// Asked is the day the request asked for (as sent), kept through the
	// logout; "" is today.
	Asked string
	// Zone is the business time zone, for the hours the script shows.
	Zone string
}

// loginData is what the key's form shows: Fecha, the day asked for (as
// sent), is kept through the login.
type loginData struct {
	Wrong bool
	Fecha string
}

var weekdays = [...]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}

// dayLabel names a day in the picker: "hoy, 13/11/2021", "ayer, ...",
// "jueves 11/11/2021".
func dayLabel(d, today events.Date) string {
	switch d {
	case today:
		return "hoy, " + d.String()
	case today.AddDays(-1):
		return "ayer, " + d.String()
	}
	wd := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
	return weekdays[wd] + " " + d.String()
}

// statusText says what the numbers are, in Spanish: "Resumen parcial,
// hasta las 14:32" (as the vendors' emails say it) or "Resumen final".
func statusText(v View, loc *time.Location) string {
	if v.ReportStatus == events.StatusPartial {
		return "Resumen parcial, hasta las " + v.CountedUntil.In(loc).Format("15:04:05")
	}
	return "Resumen final"
}

// countingStatus says, in Spanish, how far the whole count of a day has
// got: "Contando las ventas de hoy… 1.234 de 5.678 registros" (app.js says
// the same of an event "contando").
func countingStatus(c *CountingError, today events.Date) string {
	s := "Contando las ventas del " + c.Day.String() + "…"
	if c.Day == today {
		s = "Contando las ventas de hoy…"
	}
	if total := c.Leidos + c.PorLeer; total > 0 {
		s += " " + miles(c.Leidos) + " de " + miles(total) + " registros"
	}
	return s
}

// addressParts splits an address where a line may break: before "@" and
// each ".", so that a narrow table wraps "ana@sopaipillas.cl" as
// "ana" / "@sopaipillas.cl", never mid-word (the page puts <wbr> between the
// parts; app.js does the same).
func addressParts(email string) []string {
	var parts []string
	start := 0
	for i, c := range email {
		if (c == '@' || c == '.') && i > start {
			parts = append(parts, email[start:i])
			start = i
		}
	}
	return append(parts, email[start:])
}

// miles writes n the Chilean way: 12.345.
func miles(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, '.')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// page answers GET /: the board for the owner, the key's form for anyone
// else.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	if !authorized(r, h.board.opts.Token) {
		h.render(w, http.StatusOK, "login.html", loginData{Fecha: r.URL.Query().Get("fecha")})
		return
	}
	day, err := h.queryDay(r)
	if err != nil {
		problem.WriteInput(w, err)
		return
	}
	data := pageData{Fecha: day.URL(), Asked: r.URL.Query().Get("fecha"), Private: h.board.opts.Token != "", Zone: h.board.opts.Location.String()}
	today := h.board.Today()
	for _, d := range h.board.Days() {
		data.Days = append(data.Days, dayOption{Value: d.URL(), Label: dayLabel(d, today), Selected: d == day})
	}
	if v, err := h.viewForPage(r.Context(), day); err == nil {
		data.View = &v
		named := h.named(v)
		data.Vendedores, data.NoContadas = named.Vendedores, named.NoContadas
		data.Mas = v.ConflictsTotal - len(v.NoContadas)
		data.Status = statusText(v, h.board.opts.Location)
	} else if c := (*CountingError)(nil); errors.As(err, &c) {
		data.Status, data.Contando = countingStatus(c, today), true
	} else {
		h.board.log.Warn("page without numbers", "fecha", day.String(), "error", err)
		data.Status = "Contando…"
	}
	h.render(w, http.StatusOK, "tablero.html", data)
}

// render executes a template into a buffer first, so that a failure is a
// clean 500 and not half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		h.board.log.Error("page not rendered", "template", name, "error", err)
		problem.Write(w, http.StatusInternalServerError, "the page could not be rendered", nil)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
