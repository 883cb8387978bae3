package server

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLimitConnections: with n connections open (idle, kept alive), the
// next client's request is answered 503 with Retry-After, Connection: close
// and a problem body, read whole by a stock net/http client (no reset);
// once one of the n is closed, a new connection is served.
func TestLimitConnections(t *testing.T) {
	const n = 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	limited := LimitConnections(ln, n, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(limited) }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := ln.Addr().String()

	// n clients that keep their connection open after an answer.
	var kept []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /newOrder HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("connection %d: %v %v", len(kept), resp, err)
		}
		resp.Body.Close()
		kept = append(kept, c)
	}

	post := func() (*http.Response, string) {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Post("http://"+addr+"/newOrder", "application/json", strings.NewReader(`{"order_id": 1}`))
		if err != nil {
			t.Fatalf("past the bound: %v, want an answer", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i := range 20 { // never a reset instead of the answer
		resp, body := post()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close ||
			!strings.Contains(body, `"status":503`) {
			t.Fatalf("attempt %d past the bound: %d, Retry-After %q, %s, close %v: %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), resp.Close, body)
		}
	}
	// Past the bound a liveness probe is answered 204 (the process is alive),
	// readiness 503 (busy is not ready), and a client that sends nothing
	// within 5 s gets 408, which clients take on an idle connection as
	// the server closing it (a pooled connection dialled and not used yet),
	// rather than an answer to no request or an empty close.
	for _, c := range []struct {
		send   string
		status int
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNoContent},
		{"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNoContent},
		{"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusServiceUnavailable},
		{"GET /healthzz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusServiceUnavailable},
		{"", http.StatusRequestTimeout},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, c.send)
		conn.SetReadDeadline(time.Now().Add(waitForRequest + 5*time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: strings.Fields(c.send + "GET")[0]})
		if err != nil {
			t.Fatalf("%q past the bound: %v", c.send, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%q past the bound: %d, want %d", c.send, resp.StatusCode, c.status)
		}
		if c.status != http.StatusNoContent && (!resp.Close || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Content-Type") != "application/problem+json") {
			t.Errorf("%q past the bound: close %v, Retry-After %q, %s", c.send, resp.Close, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
		}
	}
	kept[0].Close()
	// The server notices the close when its read ends; a few tries.
	for i := 0; ; i++ {
		resp, _ := post()
		if resp.StatusCode == http.StatusCreated {
			break
		}
		if i == 200 {
			t.Fatalf("a slot freed by a closed connection was not given back: %d", resp.StatusCode)
		}
	}
}

// TestLimitConnectionsPooledIdle: a stock Go client whose connection pool
// holds a connection it dialled and never used (the request that dialled it
// was cancelled; after a stall clients do this by the thousand) must see the
// server close it as an idle connection is closed, not get an answer to no
// request: with the 503 that came there before, Go's transport logged
// "Unsolicited response received on idle HTTP channel" and a request it put
// on that connection meanwhile failed with EOF (fault scenario 9).
func TestLimitConnectionsPooledIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(LimitConnections(ln, 1, nil)) }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := ln.Addr().String()
	held, err := net.Dial("tcp", addr) // the one connection served
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	io.WriteString(held, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(held), nil); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("first connection: %v %v", resp, err)
	}

	var logged strings.Builder
	var mu sync.Mutex
	prev := log.Writer() // Go's transport logs there
	log.SetOutput(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logged.Write(p) }))
	t.Cleanup(func() { log.SetOutput(prev) })
	client := pooledUnused(t, addr)
	time.Sleep(waitForRequest + 1500*time.Millisecond) // the server's wait, and its answer
	resp, err := client.Post("http://"+addr+"/newOrder", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("after the pooled connection was refused: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("past the bound: %d, want 503", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logged.String(), "Unsolicited") {
		t.Errorf("the client saw an answer to no request: %s", logged.String())
	}
}

// TestUnusedConnectionIsKept: within the bound, a connection a stock Go
// client dialled and pooled without using it is still served after
// ReadHeaderTimeout (net/http alone closed it then, and a request put on it
// at that moment failed), the same connection; closing the server closes
// a connection that sent nothing.
func TestUnusedConnectionIsKept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(LimitConnections(ln, 3, nil)) }()
	addr := ln.Addr().String()

	client := pooledUnused(t, addr)
	time.Sleep(readHeaderTimeout + time.Second)
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused && i.WasIdle }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, "http://"+addr+"/newOrder", strings.NewReader("{}"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("on the pooled connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !reused {
		t.Errorf("on the pooled connection: %d, reused %v; want 201 on the connection dialled %s before", resp.StatusCode, reused, readHeaderTimeout+time.Second)
	}

	// Closing the server closes a connection that sent nothing.
	waiting, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	time.Sleep(100 * time.Millisecond)
	srv.Close()
	<-done
	waiting.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := waiting.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after Close, a connection that sent nothing: read %d, %v; want EOF", n, err)
	}
}

// TestSilentConnections: a connection that sends nothing is closed after
// the idle time and gives its slot back; at the bound, one silent for
// evictAfter is answered 408 and closed to make room for a new client,
// which is served; one silent for less is not.
func TestSilentConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	limited := LimitConnections(ln, 1, nil).(*limitListener)
	const idleFor, evictAfter = 600 * time.Millisecond, 300 * time.Millisecond
	limited.idleFor, limited.evictAfter = idleFor, evictAfter
	done := make(chan error, 1)
	go func() { done <- srv.Serve(limited) }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := ln.Addr().String()
	post := func() int {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := client.Post("http://"+addr+"/newOrder", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	silent := dial()
	opened := time.Now()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("silent connection: read %d, %v; want EOF", n, err)
	}
	if took := time.Since(opened); took < idleFor-50*time.Millisecond {
		t.Errorf("silent connection closed after %s, want %s", took, idleFor)
	}
	for i := 0; limited.open.Load() != 0; i++ {
		if i == 100 {
			t.Fatalf("%d connections counted open after the silent one closed, want 0", limited.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// At the bound, silent for less than evictAfter: the newcomer is refused.
	young := dial()
	time.Sleep(50 * time.Millisecond)
	if got := post(); got != http.StatusServiceUnavailable {
		t.Errorf("at the bound, the only other connection silent for 50 ms: %d, want 503", got)
	}
	// Silent for more: it is answered 408 and closed; the newcomer is served.
	time.Sleep(evictAfter)
	if got := post(); got != http.StatusCreated {
		t.Errorf("at the bound, the other connection silent for %s: %d, want 201", evictAfter, got)
	}
	young.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(young), nil)
	if err != nil {
		t.Fatalf("the evicted connection: %v, want a 408", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("the evicted connection: %d, close %v; want 408 and close", resp.StatusCode, resp.Close)
	}
}

// pooledUnused returns a stock Go client whose pool holds one connection
// to addr that it dialled and never used: the request that dialled it was
// cancelled before the dial ended (after a stall clients do this by the
// thousand).
func pooledUnused(t *testing.T, addr string) *http.Client {
	t.Helper()
	dialled := make(chan struct{}, 1)
	transport := &http.Transport{DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
		time.Sleep(200 * time.Millisecond) // outlives the request below
		c, err := (&net.Dialer{}).DialContext(context.Background(), network, address)
		dialled <- struct{}{}
		return c, err
	}}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/newOrder", strings.NewReader("{}"))
	if _, err := client.Do(req); err == nil {
		t.Fatal("the request that dialled should have been cancelled")
	}
	<-dialled
	time.Sleep(50 * time.Millisecond) // into the pool
	return client
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
