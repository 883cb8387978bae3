package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
	srv, ready := Pending(Options{})
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
		srv, ready := Pending(Options{})
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
	srv, ready := Pending(Options{})
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

// TestShedsPastMaxConcurrentRequests: with n requests in progress, the next
// one is answered 503 with Retry-After and problem+json at once, its body
// unread; probes are still answered; once one finishes, requests are
// served again.
func TestShedsPastMaxConcurrentRequests(t *testing.T) {
	const n = 3
	srv, ready := Pending(Options{MaxConcurrentRequests: n})
	entered, release := make(chan struct{}), make(chan struct{})
	var bodies atomic.Int64
	ready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies.Add(int64(len(b)))
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusCreated)
	}))
	addr := serve(t, srv)
	post := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	held := make(chan int, n)
	for range n {
		go func() {
			resp, _ := post("/hold")
			held <- resp.StatusCode
		}()
		<-entered
	}
	before := bodies.Load()
	resp, body := post("/newOrder")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "too many requests") {
		t.Errorf("request past the bound: %d, Retry-After %q, %s %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
	if got := bodies.Load(); got != before {
		t.Errorf("a shed request reached the handler (%d body bytes read)", got-before)
	}
	// A shed request whose body has not all arrived is answered at once
	// and its connection closed, not after net/http waited for the body.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /newOrder HTTP/1.1\r\nHost: x\r\nContent-Length: 111\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(3 * time.Second)) // BodyTimeout is 10 s
	shed, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("shed request with a body still arriving: %v", err)
	}
	shed.Body.Close()
	if shed.StatusCode != http.StatusServiceUnavailable || !shed.Close {
		t.Errorf("shed request with a body still arriving: %d, close %v; want 503 and Connection: close", shed.StatusCode, shed.Close)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		r, err := http.Get("http://" + addr + probe)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNoContent {
			t.Errorf("%s with the bound reached: %d, want 204", probe, r.StatusCode)
		}
	}
	close(release)
	for range n {
		if s := <-held; s != http.StatusCreated {
			t.Errorf("held request: %d, want 201", s)
		}
	}
	if resp, _ := post("/newOrder"); resp.StatusCode != http.StatusCreated {
		t.Errorf("after the held requests finished: %d, want 201", resp.StatusCode)
	}
}

func TestMemoryBound(t *testing.T) {
	for _, c := range []struct {
		name              string
		configured        int
		memoryLimit, each int64
		fallback, want    int
	}{
		{"configured wins", 7, 230 << 20, 128 << 10, 1000, 7},
		{"chart's 230MiB", 0, 230 << 20, 128 << 10, 1000, 920},
		{"no limit", 0, math.MaxInt64, 128 << 10, 1000, 1000},
		{"tiny limit keeps 16", 0, 1 << 20, 128 << 10, 1000, 16},
	} {
		if got := MemoryBound(c.configured, c.memoryLimit, c.each, c.fallback); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
