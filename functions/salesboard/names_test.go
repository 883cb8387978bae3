package salesboard

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// testNames is a registry naming two of the test's vendors.
func testNames(t *testing.T) Names {
	t.Helper()
	reg, err := vendors.File{Vendors: []vendors.Vendor{
		{Email: "Ana@Feria.cl", Name: "Ana Pérez"},
		{Email: "coma@feria.cl", Name: `Pérez, "la Coma"`},
		{Email: "sin.nombre@feria.cl"},
	}}.Registry()
	if err != nil {
		t.Fatal(err)
	}
	return RegistryNames(func() *vendors.Registry { return reg })
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// dayVendor is one line of the day JSON's ranking, as a client reads it.
type dayVendor struct {
	Email       string `json:"email_vendedor"`
	Nombre      string `json:"nombre"`
	Ordenes     int64  `json:"n_ordenes"`
	Sopaipillas int64  `json:"n_sopaipillas"`
}

// TestNames: the day JSON names each vendor the registry names (and only
// those); the page shows the name with the address beneath it, the
// address alone without a name; ventas stays keyed by address.
func TestNames(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	topic.sell(b.Today(), "ana@feria.cl", 1200)
	topic.sell(b.Today(), "beto@feria.cl", 15)
	topic.sell(b.Today(), "sin.nombre@feria.cl", 3)
	srv := httptest.NewServer(b.Handler().WithNames(testNames(t)))
	defer srv.Close()

	_, body := get(t, srv.URL+"/api/days/13-11-2021")
	var day struct {
		Summary struct {
			Ventas map[string]json.RawMessage `json:"ventas"`
		} `json:"summary"`
		Vendedores []dayVendor `json:"vendedores"`
	}
	if err := json.Unmarshal(body, &day); err != nil {
		t.Fatal(err)
	}
	want := []dayVendor{
		{Email: "ana@feria.cl", Nombre: "Ana Pérez", Ordenes: 1, Sopaipillas: 1200},
		{Email: "beto@feria.cl", Ordenes: 1, Sopaipillas: 15},
		{Email: "sin.nombre@feria.cl", Ordenes: 1, Sopaipillas: 3},
	}
	if d := cmp.Diff(want, day.Vendedores); d != "" {
		t.Errorf("vendedores (-want, +got):\n%s", d)
	}
	if _, ok := day.Summary.Ventas["ana@feria.cl"]; !ok || len(day.Summary.Ventas) != 3 {
		t.Errorf("ventas is no longer keyed by address: %s", body)
	}
	if n := strings.Count(string(body), `"nombre"`); n != 1 {
		t.Errorf("%d names in %s, want only Ana's", n, body)
	}

	_, page := get(t, srv.URL+"/")
	for _, want := range []string{
		`<td class="vendedor"><span class="nombre">Ana Pérez</span><span class="correo">ana<wbr>@feria<wbr>.cl</span></td>`,
		`<td class="vendedor"><span class="correo">beto<wbr>@feria<wbr>.cl</span></td>`,
		`href="api/days/13-11-2021.csv" download`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestEmptyDay: a day without sales says so once, with neither chart nor
// table shown; a day with sales hides the sentence.
func TestEmptyDay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sell  bool
		shown []string // elements without hidden
	}{
		{name: "no sales", shown: []string{`<p id="vacio" class="vacio">Sin ventas este día.</p>`, `<div id="grafico-caja" class="grafico" hidden>`, `<table id="tabla" hidden>`}},
		{name: "sales", sell: true, shown: []string{`<p id="vacio" class="vacio" hidden>`, `<div id="grafico-caja" class="grafico">`, `<table id="tabla">`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := newFakeTopic()
			b := newTestBoard(t, topic, "")
			if tc.sell {
				topic.sell(b.Today(), "ana@feria.cl", 1)
			}
			srv := httptest.NewServer(b.Handler())
			defer srv.Close()
			_, page := get(t, srv.URL+"/")
			for _, want := range tc.shown {
				if !strings.Contains(string(page), want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if n := strings.Count(string(page), "Sin ventas"); n != 1 {
				t.Errorf("the empty day is said %d times", n)
			}
			script, _ := web.ReadFile("web/static/app.js")
			if strings.Contains(string(page), "Kafka") || strings.Contains(string(script), "Kafka") {
				t.Error("the page speaks of Kafka to the owner")
			}
		})
	}
}

// TestCSV: GET /api/days/{fecha}.csv is the day JSON's ranking, read back
// by encoding/csv and, where the project's Python is set up
// (SOPAIPILLAS_PYTHON), by Python's csv module, which shares no code with
// the writer: the same rows, header first, BOM, CRLF, quoting of a comma
// and a quote, and a formula defused.
func TestCSV(t *testing.T) {
	topic := newFakeTopic()
	b := newTestBoard(t, topic, "")
	topic.sell(b.Today(), "ana@feria.cl", 1200)
	topic.sell(b.Today(), "ana@feria.cl", 34)
	topic.sell(b.Today(), "coma@feria.cl", 15)
	topic.sell(b.Today(), "=cmd@feria.cl", 2)
	srv := httptest.NewServer(b.Handler().WithNames(testNames(t)))
	defer srv.Close()

	_, jbody := get(t, srv.URL+"/api/days/13-11-2021")
	var day struct {
		Vendedores []dayVendor `json:"vendedores"`
	}
	if err := json.Unmarshal(jbody, &day); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Correo", "Nombre", "Órdenes", "Sopaipillas"}}
	for _, v := range day.Vendedores {
		email := v.Email
		if strings.HasPrefix(email, "=") {
			email = "'" + email // defused: a spreadsheet shows it as text
		}
		want = append(want, []string{email, v.Nombre, strconv.FormatInt(v.Ordenes, 10), strconv.FormatInt(v.Sopaipillas, 10)})
	}
	if len(want) != 4 {
		t.Fatalf("the day JSON has %d vendors, want 3", len(want)-1)
	}

	res, body := get(t, srv.URL+"/api/days/13-11-2021.csv")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8; header=present" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="ventas-13-11-2021.csv"` {
		t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
	}
	rest, ok := bytes.CutPrefix(body, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Error("no UTF-8 BOM: Excel would read the accents as Windows-1252")
	}
	if lines := bytes.Count(rest, []byte("\r\n")); lines != len(want) || bytes.Count(rest, []byte("\n")) != lines {
		t.Errorf("%d CRLF line ends, want %d and no bare LF (RFC 4180): %q", lines, len(want), rest)
	}
	got, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("encoding/csv reads (-want, +got):\n%s", d)
	}

	py := os.Getenv("SOPAIPILLAS_PYTHON")
	if py == "" {
		t.Log("SOPAIPILLAS_PYTHON not set: the CSV is not read by Python's csv module")
		return
	}
	cmd := exec.Command(py, "-c", `import csv, io, json, sys
rows = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), strict=True))
json.dump(rows, sys.stdout)`)
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var pyRows [][]string
	if err := json.Unmarshal(out, &pyRows); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, pyRows); d != "" {
		t.Errorf("Python's csv reads (-want, +got):\n%s", d)
	}
}

// TestCSVAuth: the CSV is behind the owner's key as the day JSON is, and
// a bad day is the JSON's 422.
func TestCSVAuth(t *testing.T) {
	srv := httptest.NewServer(newTestBoard(t, newFakeTopic(), testToken).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, bearer string
		status       int
	}{
		{path: "/api/days/13-11-2021.csv", status: 401},
		{path: "/api/days/13-11-2021.csv", bearer: testToken, status: 200},
		{path: "/api/days/10-11-2021.csv", bearer: testToken, status: 422},
		{path: "/api/days/13-11-2021.xls", bearer: testToken, status: 422},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s (key %v): %d, want %d: %s", tc.path, tc.bearer != "", res.StatusCode, tc.status, body)
		}
		if res.StatusCode == 401 && !strings.Contains(string(body), "Bearer <BOARD_TOKEN>") {
			t.Errorf("401 body %s: want Bearer <BOARD_TOKEN> as written, not HTML-escaped", body)
		}
	}
}

func TestAddressParts(t *testing.T) {
	for in, want := range map[string][]string{
		"ana@feria.cl":      {"ana", "@feria", ".cl"},
		"a.b@c.d.cl":        {"a", ".b", "@c", ".d", ".cl"},
		".raro@x":           {".raro", "@x"},
		"sinarroba":         {"sinarroba"},
		"pedro@sopa-sur.cl": {"pedro", "@sopa-sur", ".cl"},
	} {
		if d := cmp.Diff(want, addressParts(in)); d != "" || strings.Join(addressParts(in), "") != in {
			t.Errorf("addressParts(%q) (-want, +got):\n%s", in, d)
		}
	}
}
