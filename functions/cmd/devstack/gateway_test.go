package main

import (
	"net/http"
	"net/http/httptest"
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
