package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// serve runs srv on a loopback listener until the test ends.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// TestSlowBodyIs408: a client that sends its body too slowly gets 408, which
// it may retry, as problem+json that names no socket address; the handler
// never sees the request.
func TestSlowBodyIs408(t *testing.T) {
	srv, ready := Pending(nil)
	called := false
	ready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	srv.ReadTimeout = 300 * time.Millisecond // the test's own, short bound
	addr := serve(t, srv)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"order_id": 1, "email_vendedor": "a@b.cl", "email_cocinero": "c@d.cl", "numero_sopaipillas": 1}`
	if _, err := io.WriteString(conn, "POST /newOrder HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: "+itoa(len(body))+"\r\n\r\n"+body[:10]); err != nil {
		t.Fatal(err)
	}
	// The rest never comes (a stalled client); the answer must.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var got struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || got.Status != http.StatusRequestTimeout {
		t.Errorf("status %d (body %d), want 408", resp.StatusCode, got.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "cloudevent") {
		t.Errorf("the answer leaks an address or blames a field: %s", raw)
	}
	if called {
		t.Error("the handler ran on a body that never arrived")
	}
}

// TestBodyReachesHandler: a body that arrives whole reaches the handler
// byte for byte, including one larger than what is buffered.
func TestBodyReachesHandler(t *testing.T) {
	for _, size := range []int{0, 150, maxBuffered, maxBuffered + 4321} {
		srv, ready := Pending(nil)
		var got int
		ready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got = len(b)
			if len(b) > 0 && (b[0] != 'a' || b[len(b)-1] != 'z') {
				got = -1
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		addr := serve(t, srv)
		body := ""
		if size > 0 {
			body = "a" + strings.Repeat("m", size-2) + "z"
		}
		resp, err := http.Post("http://"+addr+"/newOrder", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || got != size {
			t.Errorf("size %d: status %d, handler read %d bytes", size, resp.StatusCode, got)
		}
	}
}

// TestNotReadyUntilSetUp: before ready, /readyz and every request answer
// 503 with Retry-After at once and /healthz 204; after, the handler.
func TestNotReadyUntilSetUp(t *testing.T) {
	srv, ready := Pending(nil)
	addr := serve(t, srv)
	status := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	type answer struct {
		Status     int
		RetryAfter string
	}
	check := func(when string, want map[string]answer) {
		t.Helper()
		got := map[string]answer{}
		for _, p := range []string{"GET /healthz", "GET /readyz", "POST /newOrder"} {
			m, path, _ := strings.Cut(p, " ")
			s, ra := status(m, path)
			got[p] = answer{s, ra}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want, +got):\n%s", when, diff)
		}
	}
	check("starting", map[string]answer{"GET /healthz": {204, ""}, "GET /readyz": {503, "1"}, "POST /newOrder": {503, "1"}})
	ready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	check("ready", map[string]answer{"GET /healthz": {204, ""}, "GET /readyz": {204, ""}, "POST /newOrder": {201, ""}})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestProbesAnswerOnlyGET: the probes answer GET and HEAD; any other
// method is 405 with Allow and a problem body, as on every path.
func TestProbesAnswerOnlyGET(t *testing.T) {
	srv := New(http.NotFoundHandler())
	for _, path := range []string{"/healthz", "/readyz"} {
		for method, want := range map[string]int{http.MethodGet: 204, http.MethodHead: 204, http.MethodPost: 405, http.MethodDelete: 405} {
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			if rec.Code != want {
				t.Errorf("%s %s: %d, want %d", method, path, rec.Code, want)
			}
			if want == 405 && (rec.Header().Get("Allow") != "GET, HEAD" || rec.Header().Get("Content-Type") != "application/problem+json") {
				t.Errorf("%s %s: Allow %q, Content-Type %q", method, path, rec.Header().Get("Allow"), rec.Header().Get("Content-Type"))
			}
		}
	}
}
