package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGatewayKeepsTheDay: /tablero without its slash is redirected to the
// board with the query it came with, so ?fecha= is not lost (it showed
// today instead); the method is kept.
func TestGatewayKeepsTheDay(t *testing.T) {
	board := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Method + " " + r.URL.RequestURI()))
	}))
	defer board.Close()
	gw := gateway(map[string]string{"newOrder": board.URL, "dailySummary": board.URL, "salesBoard": board.URL})
	var got []string
	for _, c := range []struct{ method, target string }{
		{"GET", "/tablero?fecha=04-12-2026"},
		{"GET", "/tablero"},
		{"POST", "/tablero?fecha=04%2F12%2F2026&x=1"},
		{"GET", "/tablero/?fecha=04-12-2026"},
	} {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest(c.method, c.target, nil))
		answer := http.StatusText(w.Code) + " " + w.Header().Get("Location")
		if w.Code == http.StatusOK {
			answer += w.Body.String()
		}
		got = append(got, answer)
	}
	want := []string{
		"Temporary Redirect /tablero/?fecha=04-12-2026",
		"Temporary Redirect /tablero/",
		"Temporary Redirect /tablero/?fecha=04%2F12%2F2026&x=1",
		"OK GET /?fecha=04-12-2026",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the gateway's answers (-want, +got):\n%s", diff)
	}
}

// TestGatewayHome: the gateway's / is a page pointing to the board and
// the mail view (it was a bare 404); other unknown paths stay 404.
func TestGatewayHome(t *testing.T) {
	for _, tc := range []struct {
		name, mail string
		want       []string
	}{
		{name: "mail catcher", mail: "http://127.0.0.1:8025", want: []string{`href="tablero/"`, `href="http://127.0.0.1:8025"`}},
		{name: "own SMTP_HOST", want: []string{`href="tablero/"`, "SMTP_HOST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gateway(map[string]string{"newOrder": "http://x", "dailySummary": "http://x", "salesBoard": "http://x", "mail": tc.mail})
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("GET /: %d %s", w.Code, w.Header().Get("Content-Type"))
			}
			for _, want := range tc.want {
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("the page lacks %q:\n%s", want, w.Body)
				}
			}
			w = httptest.NewRecorder()
			gw.ServeHTTP(w, httptest.NewRequest("GET", "/nada", nil))
			if w.Code != http.StatusNotFound {
				t.Errorf("GET /nada: %d, want 404", w.Code)
			}
		})
	}
}

// TestPortTaken: a port already in use names the setting that moves it,
// and the gateway's default port says why it may be taken on macOS.
func TestPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	for _, setting := range []string{"DEV_GATEWAY_PORT", "DEV_SALESBOARD_PORT", "DEV_MAIL_WEB_PORT"} {
		ln, err := listen("127.0.0.1", port, setting)
		if err == nil {
			ln.Close()
			t.Fatalf("listened on a port in use")
		}
		want := fmt.Sprintf("port %d is already in use by another program; choose a free one with %s, e.g. %s=%d make dev", port, setting, setting, port+1)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	err = portError(5000, "DEV_GATEWAY_PORT", fmt.Errorf("listen tcp 127.0.0.1:5000: bind: %w", syscall.EADDRINUSE))
	if !strings.Contains(err.Error(), "AirPlay") || !strings.Contains(err.Error(), "DEV_GATEWAY_PORT=5001 make dev") {
		t.Errorf("port 5000: %q, want the AirPlay hint and DEV_GATEWAY_PORT", err)
	}
	if other := errors.New("permission denied"); portError(80, "DEV_GATEWAY_PORT", other) != other {
		t.Error("an error other than a port in use was changed")
	}
}

// TestTryCurls: the banner's examples carry a key placeholder in the mode
// that wants one, and none otherwise.
func TestTryCurls(t *testing.T) {
	for _, tc := range []struct {
		name        string
		vendors     string
		summary     bool
		has, hasNot []string
	}{
		{name: "open", hasNot: []string{"Authorization"}},
		{name: "registry", vendors: "/tmp/v.yaml", has: []string{"-H 'Authorization: Bearer <vendor_tarea2 key>'", "/tmp/v.yaml"}},
		{name: "summary token", summary: true, has: []string{"/dailySummary -H 'Authorization: Bearer <SUMMARY_TOKEN>'"}, hasNot: []string{"vendor_tarea2 key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tryCurls("http://127.0.0.1:5000", tc.vendors, tc.summary)
			for _, s := range tc.has {
				if !strings.Contains(got, s) {
					t.Errorf("lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(got, s) {
					t.Errorf("has %q:\n%s", s, got)
				}
			}
		})
	}
}
